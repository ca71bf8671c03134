//! Stored resources as clients see them: `id` and `meta` added, `attributes` /
//! `excludedAttributes` applied, the ETag in a header.

use super::{scim_json, ScimResult};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::SecondsFormat;
use roster_scim::project;
use roster_store::{ScimResource, ScimResourceType};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// `attributes` / `excludedAttributes` from the query string.
#[derive(Debug, Default, Deserialize)]
pub struct Projection {
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

pub fn location(base_url: &str, resource: &ScimResource) -> String {
    let segment = match resource.resource_type {
        ScimResourceType::User => "Users",
        ScimResourceType::Group => "Groups",
    };
    format!("{base_url}/{segment}/{}", resource.id)
}

/// The full JSON of a resource. `groups` (read-only, Users only) lists the Groups the User is in.
pub fn to_json(resource: &ScimResource, base_url: &str, groups: &[(Uuid, String)]) -> Value {
    let mut body = resource.document.clone();
    if let Value::Object(map) = &mut body {
        map.insert("id".into(), Value::String(resource.id.to_string()));
        map.insert(
            "meta".into(),
            json!({
                "resourceType": resource.resource_type.as_str(),
                "created": resource.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "lastModified": resource.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "location": location(base_url, resource),
                "version": etag(resource.version),
            }),
        );
        if resource.resource_type == ScimResourceType::User && !groups.is_empty() {
            let groups = groups
                .iter()
                .map(|(id, name)| json!({"value": id.to_string(), "display": name, "$ref": format!("{base_url}/Groups/{id}"), "type": "direct"}))
                .collect();
            map.insert("groups".into(), Value::Array(groups));
        }
    }
    body
}

/// One resource in a response: projected, with its ETag, and `Location` after a create.
pub fn resource_response(
    status: StatusCode,
    resource: &ScimResource,
    base_url: &str,
    groups: &[(Uuid, String)],
    projection: &Projection,
) -> ScimResult<Response> {
    let body = to_json(resource, base_url, groups);
    let body = project(&body, projection.attributes.as_deref(), projection.excluded_attributes.as_deref(), resource.resource_type.schema())?;
    let mut response = scim_json(status, &body);
    // A quoted number, always a valid header value: the Err is unreachable.
    if let Ok(value) = HeaderValue::from_str(&etag(resource.version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if status == StatusCode::CREATED {
        // The configured base URL and a UUID: valid, and were it not, the body still carries `meta.location`.
        if let Ok(value) = HeaderValue::from_str(&location(base_url, resource)) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    Ok(response)
}
