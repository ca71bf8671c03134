//! Attribute metadata (RFC 7643 §2 and §7) for the resources Roster serves, and the
//! lookups the evaluator, PATCH, PUT and projection share.

mod defs;
mod discovery;
#[cfg(test)]
mod tests;

pub use defs::{ENTERPRISE_USER_URN, GROUP_URN, USER_URN};
pub use discovery::{resource_types_json, schemas_json, service_provider_config_json, DiscoveryLimits};

use crate::filter::AttrPath;
use serde_json::{Map, Value};
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute's characteristics (RFC 7643 §2.2). Built with the chained setters below,
/// which start from the RFC's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDef {
    pub name: &'static str,
    pub attr_type: AttrType,
    pub multi_valued: bool,
    pub description: &'static str,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    pub fn new(name: &'static str, attr_type: AttrType) -> Self {
        AttributeDef {
            name,
            attr_type,
            multi_valued: false,
            description: "",
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: Vec::new(),
        }
    }

    pub fn string(name: &'static str) -> Self {
        Self::new(name, AttrType::String)
    }

    pub fn boolean(name: &'static str) -> Self {
        Self::new(name, AttrType::Boolean)
    }

    pub fn reference(name: &'static str, types: &'static [&'static str]) -> Self {
        AttributeDef { reference_types: types, case_exact: true, ..Self::new(name, AttrType::Reference) }
    }

    pub fn complex(name: &'static str, sub_attributes: Vec<AttributeDef>) -> Self {
        AttributeDef { sub_attributes, ..Self::new(name, AttrType::Complex) }
    }

    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    pub fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }

    pub fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }

    pub fn uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }

    pub fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    pub fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    pub fn is_complex(&self) -> bool {
        self.attr_type == AttrType::Complex
    }

    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// One schema as `/Schemas` lists it: the core User, the enterprise extension, Group.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchemaExtension {
    pub def: SchemaDef,
    pub required: bool,
}

/// A resource type with everything that describes its attributes: the common attributes
/// (`id`, `externalId`, `meta`, `schemas`), the core schema and its extensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub common: Vec<AttributeDef>,
    pub core: SchemaDef,
    pub extensions: Vec<SchemaExtension>,
}

/// Where an attribute lives in a resource's JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved<'s> {
    /// `None` for the top level; `Some(urn)` when the attribute sits under an extension's
    /// object, e.g. `"urn:...:enterprise:2.0:User": {"employeeNumber": ..}`.
    pub extension: Option<&'static str>,
    pub attr: &'s AttributeDef,
    /// Set when the path names a sub-attribute of a complex attribute.
    pub sub: Option<&'s AttributeDef>,
}

impl<'s> Resolved<'s> {
    /// The definition the path finally names.
    pub fn leaf(&self) -> &'s AttributeDef {
        self.sub.unwrap_or(self.attr)
    }
}

static USER: LazyLock<Schema> = LazyLock::new(defs::user);
static GROUP: LazyLock<Schema> = LazyLock::new(defs::group);

impl Schema {
    pub fn user() -> &'static Schema {
        &USER
    }

    pub fn group() -> &'static Schema {
        &GROUP
    }

    /// All schema URNs of this resource type, core first.
    pub fn schema_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.core.id).chain(self.extensions.iter().map(|e| e.def.id))
    }

    /// The extension whose URN is `urn` (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&SchemaExtension> {
        self.extensions.iter().find(|e| e.def.id.eq_ignore_ascii_case(urn))
    }

    /// Resolves a path. A bare name is looked up in the common attributes, the core schema,
    /// then the extensions, so `employeeNumber` works as well as its URN-qualified form.
    pub fn resolve(&self, path: &AttrPath) -> Option<Resolved<'_>> {
        let (extension, attr) = match &path.urn {
            Some(urn) if urn.eq_ignore_ascii_case(self.core.id) => {
                (None, self.core.attribute(&path.attr).or_else(|| self.common_attribute(&path.attr))?)
            }
            Some(urn) => {
                let ext = self.extension(urn)?;
                (Some(ext.def.id), ext.def.attribute(&path.attr)?)
            }
            None => self.find_bare(&path.attr)?,
        };
        let sub = match &path.sub_attr {
            Some(name) => Some(attr.sub_attribute(name)?),
            None => None,
        };
        Some(Resolved { extension, attr, sub })
    }

    fn common_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.common.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn find_bare(&self, name: &str) -> Option<(Option<&'static str>, &AttributeDef)> {
        if let Some(attr) = self.common_attribute(name).or_else(|| self.core.attribute(name)) {
            return Some((None, attr));
        }
        self.extensions.iter().find_map(|e| e.def.attribute(name).map(|a| (Some(e.def.id), a)))
    }

    /// Top-level attributes (common and core) in declaration order.
    pub fn top_level(&self) -> impl Iterator<Item = &AttributeDef> + '_ {
        self.common.iter().chain(self.core.attributes.iter())
    }
}

/// Case-insensitive key lookup: attribute names are case-insensitive (RFC 7643 §2.1) and
/// clients do not always send the canonical spelling.
pub fn get_ci<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.get(name).or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// The key under which `name` is stored, if any spelling of it is.
pub fn key_ci(object: &Map<String, Value>, name: &str) -> Option<String> {
    object.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Removes every spelling of `name`; returns the first value removed.
pub fn remove_ci(object: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let keys: Vec<String> = object.keys().filter(|k| k.eq_ignore_ascii_case(name)).cloned().collect();
    let mut first = None;
    for key in keys {
        let value = object.remove(&key);
        if first.is_none() {
            first = value;
        }
    }
    first
}
