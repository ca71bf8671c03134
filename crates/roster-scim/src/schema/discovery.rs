//! The discovery documents (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes` and
//! `/Schemas`. Each takes the tenant's SCIM base URL, because `meta.location` must be
//! absolute and Roster serves one base URL per organisation.

use super::{AttributeDef, Schema, SchemaDef};
use crate::error::ScimError;
use crate::list::ListResponse;
use serde_json::{json, Map, Value};

pub const SERVICE_PROVIDER_CONFIG_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// What `/ServiceProviderConfig` advertises that depends on configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryLimits {
    /// The largest page the server returns (`filter.maxResults`).
    pub max_results: usize,
    pub documentation_uri: Option<String>,
}

fn location(base_url: &str, rest: &str) -> String {
    format!("{}{rest}", base_url.trim_end_matches('/'))
}

/// `/ServiceProviderConfig`. Of Roster's limits ([`crate::limits`]) RFC 7643 §5 has a place
/// for two: bulk is unsupported (`maxOperations` and `maxPayloadSize` 0) and
/// `filter.maxResults` is the page size. The others are documented in this crate's
/// `CONFORMANCE.md`, not in invented fields.
pub fn service_provider_config_json(base_url: &str, limits: &DiscoveryLimits) -> Value {
    let mut body = json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_URN],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": limits.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a per-organisation bearer token in the Authorization header.",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": location(base_url, "/ServiceProviderConfig")
        }
    });
    if let (Some(uri), Some(map)) = (&limits.documentation_uri, body.as_object_mut()) {
        map.insert("documentationUri".to_owned(), Value::String(uri.clone()));
    }
    body
}

fn resource_type_json(base_url: &str, schema: &Schema) -> Value {
    let extensions: Vec<Value> = schema.extensions.iter().map(|e| json!({"schema": e.def.id, "required": e.required})).collect();
    json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": schema.name,
        "name": schema.name,
        "endpoint": schema.endpoint,
        "description": schema.description,
        "schema": schema.core.id,
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": location(base_url, &format!("/ResourceTypes/{}", schema.name))
        }
    })
}

fn resource_types() -> [&'static Schema; 2] {
    [Schema::user(), Schema::group()]
}

/// `/ResourceTypes` as a ListResponse, or one resource type for `/ResourceTypes/{name}`.
pub fn resource_types_json(base_url: &str, name: Option<&str>) -> Result<Value, ScimError> {
    match name {
        None => {
            let all: Vec<Value> = resource_types().iter().map(|s| resource_type_json(base_url, s)).collect();
            Ok(ListResponse::complete(all).to_json())
        }
        Some(name) => resource_types()
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| resource_type_json(base_url, s))
            .ok_or_else(|| ScimError::not_found(format!("Resource type {name} not found"))),
    }
}

fn attribute_json(attr: &AttributeDef) -> Value {
    let mut map = Map::new();
    map.insert("name".into(), attr.name.into());
    map.insert("type".into(), attr.attr_type.as_str().into());
    map.insert("multiValued".into(), attr.multi_valued.into());
    map.insert("description".into(), attr.description.into());
    map.insert("required".into(), attr.required.into());
    map.insert("caseExact".into(), attr.case_exact.into());
    map.insert("mutability".into(), attr.mutability.as_str().into());
    map.insert("returned".into(), attr.returned.as_str().into());
    map.insert("uniqueness".into(), attr.uniqueness.as_str().into());
    if !attr.canonical_values.is_empty() {
        map.insert("canonicalValues".into(), attr.canonical_values.into());
    }
    if !attr.reference_types.is_empty() {
        map.insert("referenceTypes".into(), attr.reference_types.into());
    }
    if attr.is_complex() {
        let subs: Vec<Value> = attr.sub_attributes.iter().map(attribute_json).collect();
        map.insert("subAttributes".into(), subs.into());
    }
    Value::Object(map)
}

fn schema_json(base_url: &str, def: &SchemaDef) -> Value {
    let attributes: Vec<Value> = def.attributes.iter().map(attribute_json).collect();
    json!({
        "schemas": [SCHEMA_URN],
        "id": def.id,
        "name": def.name,
        "description": def.description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": location(base_url, &format!("/Schemas/{}", def.id))
        }
    })
}

fn all_schema_defs() -> impl Iterator<Item = &'static SchemaDef> {
    resource_types().into_iter().flat_map(|s| std::iter::once(&s.core).chain(s.extensions.iter().map(|e| &e.def)))
}

/// `/Schemas` as a ListResponse, or one schema for `/Schemas/{urn}`.
pub fn schemas_json(base_url: &str, id: Option<&str>) -> Result<Value, ScimError> {
    match id {
        None => {
            let all: Vec<Value> = all_schema_defs().map(|d| schema_json(base_url, d)).collect();
            Ok(ListResponse::complete(all).to_json())
        }
        Some(id) => all_schema_defs()
            .find(|d| d.id.eq_ignore_ascii_case(id))
            .map(|d| schema_json(base_url, d))
            .ok_or_else(|| ScimError::not_found(format!("Schema {id} not found"))),
    }
}
