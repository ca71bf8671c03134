//! A Graph user as the mapping reads it: the JSON object Graph sent, with the property names
//! Graph uses, so admins write custom rules against the names they see in Graph Explorer.

use roster_entra::GraphUser;
use serde_json::{Map, Value};

pub fn graph_record(user: &GraphUser) -> Value {
    let mut record = Map::new();
    let text = |v: &Option<String>| v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()));
    record.insert("id".into(), Value::String(user.id.clone()));
    record.insert("accountEnabled".into(), user.account_enabled.map_or(Value::Null, Value::Bool));
    for (name, value) in [
        ("givenName", &user.given_name),
        ("surname", &user.surname),
        ("displayName", &user.display_name),
        ("userPrincipalName", &user.user_principal_name),
        ("mail", &user.mail),
        ("jobTitle", &user.job_title),
        ("department", &user.department),
        ("officeLocation", &user.office_location),
        ("preferredLanguage", &user.preferred_language),
        ("employeeHireDate", &user.employee_hire_date),
        ("employeeId", &user.employee_id),
    ] {
        record.insert(name.into(), text(value));
    }
    for (name, value) in &user.extra {
        record.insert(name.clone(), value.clone());
    }
    Value::Object(record)
}
