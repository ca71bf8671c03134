use super::*;
use serde_json::json;

const BASE: &str = "https://acme.roster.example/scim/v2/";

fn limits() -> DiscoveryLimits {
    DiscoveryLimits { max_results: 200, documentation_uri: None }
}

#[test]
fn service_provider_config_advertises_what_is_supported() {
    let spc = service_provider_config_json(BASE, &limits());
    assert_eq!(spc["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]));
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"], json!({"supported": true, "maxResults": 200}));
    assert_eq!(spc["sort"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["bulk"], json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0}));
    assert_eq!(spc["changePassword"]["supported"], false);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert_eq!(spc["meta"]["location"], "https://acme.roster.example/scim/v2/ServiceProviderConfig");
    assert!(spc.get("documentationUri").is_none());
    let with_docs =
        service_provider_config_json(BASE, &DiscoveryLimits { max_results: 10, documentation_uri: Some("https://docs.example/scim".into()) });
    assert_eq!(with_docs["documentationUri"], "https://docs.example/scim");
}

#[test]
fn resource_types_list_user_and_group() {
    let list = resource_types_json(BASE, None).unwrap();
    assert_eq!(list["totalResults"], 2);
    assert_eq!(list["itemsPerPage"], 2);
    let user = &list["Resources"][0];
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], USER_URN);
    assert_eq!(user["schemaExtensions"], json!([{"schema": ENTERPRISE_USER_URN, "required": false}]));
    assert_eq!(user["meta"]["location"], "https://acme.roster.example/scim/v2/ResourceTypes/User");
    let group = resource_types_json(BASE, Some("group")).unwrap();
    assert_eq!(group["schema"], GROUP_URN);
    assert_eq!(resource_types_json(BASE, Some("Printer")).unwrap_err().status, 404);
}

#[test]
fn schemas_describe_every_attribute_with_its_characteristics() {
    let list = schemas_json(BASE, None).unwrap();
    assert_eq!(list["totalResults"], 3);
    let ids: Vec<&str> = list["Resources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [USER_URN, ENTERPRISE_USER_URN, GROUP_URN]);
    let user = schemas_json(BASE, Some(USER_URN)).unwrap();
    assert_eq!(user["meta"]["location"], format!("https://acme.roster.example/scim/v2/Schemas/{USER_URN}"));
    let attr = |name: &str| user["attributes"].as_array().unwrap().iter().find(|a| a["name"] == name).cloned().unwrap();
    let user_name = attr("userName");
    assert_eq!(
        (&user_name["required"], &user_name["caseExact"], &user_name["uniqueness"], &user_name["type"]),
        (&json!(true), &json!(false), &json!("server"), &json!("string"))
    );
    assert_eq!(attr("password")["mutability"], "writeOnly");
    assert_eq!(attr("password")["returned"], "never");
    assert_eq!(attr("groups")["mutability"], "readOnly");
    assert_eq!(attr("emails")["multiValued"], true);
    let emails = attr("emails");
    let email_subs: Vec<&str> = emails["subAttributes"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(email_subs, ["value", "display", "type", "primary"]);
    // externalId, id and meta are common attributes, not listed per schema (RFC 7643 §3.1).
    for name in ["name", "displayName", "active", "title", "preferredLanguage", "locale", "timezone", "phoneNumbers", "addresses"] {
        assert!(user["attributes"].as_array().unwrap().iter().any(|a| a["name"] == name), "{name}");
    }
    let enterprise = schemas_json(BASE, Some(&ENTERPRISE_USER_URN.to_lowercase())).unwrap();
    let manager = enterprise["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "manager").unwrap();
    let subs: Vec<&str> = manager["subAttributes"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(subs, ["value", "$ref", "displayName"]);
    let group = schemas_json(BASE, Some(GROUP_URN)).unwrap();
    assert!(group["attributes"].as_array().unwrap().iter().any(|a| a["name"] == "members"));
    assert_eq!(schemas_json(BASE, Some("urn:nope")).unwrap_err().status, 404);
}

#[test]
fn resolution_handles_case_urns_and_bare_extension_names() {
    let user = Schema::user();
    let r = user.resolve(&AttrPath::attr("USERNAME")).unwrap();
    assert_eq!((r.extension, r.attr.name), (None, "userName"));
    let r = user.resolve(&AttrPath::new(Some(USER_URN), "name", Some("GIVENNAME"))).unwrap();
    assert_eq!(r.leaf().name, "givenName");
    let r = user.resolve(&AttrPath::attr("employeenumber")).unwrap();
    assert_eq!(r.extension, Some(ENTERPRISE_USER_URN));
    let r = user.resolve(&AttrPath::new(Some(ENTERPRISE_USER_URN), "manager", Some("$ref"))).unwrap();
    assert_eq!(r.leaf().attr_type, AttrType::Reference);
    assert!(user.resolve(&AttrPath::new(Some(ENTERPRISE_USER_URN), "userName", None)).is_none());
    assert!(user.resolve(&AttrPath::new(None, "name", Some("nickname"))).is_none());
    assert!(user.resolve(&AttrPath::attr("id")).unwrap().attr.case_exact);
    assert_eq!(user.resolve(&AttrPath::attr("meta")).unwrap().attr.mutability, Mutability::ReadOnly);
}
