//! The User (RFC 7643 §4.1), Enterprise User (§4.3) and Group (§4.2) schemas, with the
//! attributes Okta and Entra map by default.

use super::{AttrType, AttributeDef as A, Mutability, Returned, Schema, SchemaDef, SchemaExtension, Uniqueness};

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// RFC 7643 §3.1: part of every resource, with characteristics that override any schema.
fn common_attributes() -> Vec<A> {
    vec![
        A::string("id")
            .case_exact()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server)
            .describe("Issued by the service provider; stable and never reused."),
        A::string("externalId").case_exact().describe("The client's identifier for the resource (Okta's user id, Entra's objectId)."),
        A::reference("schemas", &["uri"]).multi().returned(Returned::Always),
        A::complex(
            "meta",
            vec![
                A::string("resourceType").case_exact().mutability(Mutability::ReadOnly),
                A::new("created", AttrType::DateTime).mutability(Mutability::ReadOnly),
                A::new("lastModified", AttrType::DateTime).mutability(Mutability::ReadOnly),
                A::reference("location", &["uri"]).mutability(Mutability::ReadOnly),
                A::string("version").case_exact().mutability(Mutability::ReadOnly),
            ],
        )
        .mutability(Mutability::ReadOnly),
    ]
}

fn typed_values(name: &'static str, types: &'static [&'static str], description: &'static str) -> A {
    A::complex(name, vec![A::string("value"), A::string("display"), A::string("type").canonical(types), A::boolean("primary")])
        .multi()
        .describe(description)
}

fn user_core() -> SchemaDef {
    SchemaDef {
        id: USER_URN,
        name: "User",
        description: "User Account",
        attributes: vec![
            A::string("userName")
                .required()
                .uniqueness(Uniqueness::Server)
                .describe("Unique identifier for the User, typically used to sign in. Case-insensitive."),
            A::complex(
                "name",
                vec![
                    A::string("formatted"),
                    A::string("familyName"),
                    A::string("givenName"),
                    A::string("middleName"),
                    A::string("honorificPrefix"),
                    A::string("honorificSuffix"),
                ],
            )
            .describe("The components of the user's real name."),
            A::string("displayName"),
            A::string("nickName"),
            A::reference("profileUrl", &["external"]),
            A::string("title"),
            A::string("userType"),
            A::string("preferredLanguage"),
            A::string("locale"),
            A::string("timezone"),
            A::boolean("active").describe("Whether the user may sign in; false deactivates."),
            A::string("password")
                .mutability(Mutability::WriteOnly)
                .returned(Returned::Never)
                .describe("Accepted and discarded: Roster never stores passwords."),
            typed_values("emails", &["work", "home", "other"], "Email addresses for the user."),
            typed_values("phoneNumbers", &["work", "home", "mobile", "fax", "pager", "other"], "Phone numbers for the user."),
            A::complex(
                "addresses",
                vec![
                    A::string("formatted"),
                    A::string("streetAddress"),
                    A::string("locality"),
                    A::string("region"),
                    A::string("postalCode"),
                    A::string("country"),
                    A::string("type").canonical(&["work", "home", "other"]),
                    A::boolean("primary"),
                ],
            )
            .multi(),
            A::complex(
                "groups",
                vec![
                    A::string("value").mutability(Mutability::ReadOnly),
                    A::reference("$ref", &["User", "Group"]).mutability(Mutability::ReadOnly),
                    A::string("display").mutability(Mutability::ReadOnly),
                    A::string("type").canonical(&["direct", "indirect"]).mutability(Mutability::ReadOnly),
                ],
            )
            .multi()
            .mutability(Mutability::ReadOnly)
            .describe("Groups the user belongs to; changed through the Group resource only."),
        ],
    }
}

fn enterprise_user() -> SchemaDef {
    SchemaDef {
        id: ENTERPRISE_USER_URN,
        name: "EnterpriseUser",
        description: "Enterprise User",
        attributes: vec![
            A::string("employeeNumber"),
            A::string("costCenter"),
            A::string("organization"),
            A::string("division"),
            A::string("department"),
            A::complex(
                "manager",
                vec![
                    A::string("value").case_exact().describe("The manager's SCIM id."),
                    A::reference("$ref", &["User"]),
                    A::string("displayName").mutability(Mutability::ReadOnly),
                ],
            ),
        ],
    }
}

pub(super) fn user() -> Schema {
    Schema {
        name: "User",
        endpoint: "/Users",
        description: "User Account",
        common: common_attributes(),
        core: user_core(),
        extensions: vec![SchemaExtension { def: enterprise_user(), required: false }],
    }
}

fn group_core() -> SchemaDef {
    SchemaDef {
        id: GROUP_URN,
        name: "Group",
        description: "Group",
        attributes: vec![
            // Entra requires a unique displayName to match groups, so Roster enforces it.
            A::string("displayName").required().uniqueness(Uniqueness::Server),
            A::complex(
                "members",
                vec![
                    A::string("value").case_exact().mutability(Mutability::Immutable),
                    A::reference("$ref", &["User", "Group"]).mutability(Mutability::Immutable),
                    A::string("display"),
                    A::string("type").canonical(&["User", "Group"]).mutability(Mutability::Immutable),
                ],
            )
            .multi(),
        ],
    }
}

pub(super) fn group() -> Schema {
    Schema { name: "Group", endpoint: "/Groups", description: "Group", common: common_attributes(), core: group_core(), extensions: Vec::new() }
}
