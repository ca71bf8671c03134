use super::*;
use crate::error::ScimType;
use crate::schema::{AttributeDef, Schema, SchemaDef, ENTERPRISE_USER_URN, USER_URN};
use serde_json::{json, Value};

fn user() -> Value {
    json!({
        "schemas": [USER_URN],
        "id": "u-1",
        "externalId": "00u1",
        "userName": "alice@example.com",
        "name": {"givenName": "Alice", "familyName": "Hara"},
        "displayName": "Alice Hara",
        "active": true,
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "meta": {"resourceType": "User", "version": "W/\"1\""}
    })
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g-1",
        "displayName": "Engineering",
        "members": [
            {"value": "u1", "display": "One"},
            {"value": "u2", "display": "Two"},
            {"value": "u1091", "display": "Three"}
        ],
        "meta": {"resourceType": "Group"}
    })
}

fn ops(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": operations})
}

fn patch_user(operations: Value) -> Result<Value, crate::ScimError> {
    apply_patch(&user(), &ops(operations), Schema::user(), PatchMode::strict())
}

fn patch_user_entra(operations: Value) -> Result<Value, crate::ScimError> {
    apply_patch(&user(), &ops(operations), Schema::user(), PatchMode::entra())
}

fn patch_group(operations: Value) -> Result<Value, crate::ScimError> {
    apply_patch(&group(), &ops(operations), Schema::group(), PatchMode::strict())
}

fn member_ids(group: &Value) -> Vec<&str> {
    group["members"].as_array().map_or_else(Vec::new, |m| m.iter().filter_map(|v| v["value"].as_str()).collect())
}

#[test]
fn okta_deactivate_without_path() {
    let out = patch_user(json!([{"op":"replace","value":{"active":false}}])).unwrap();
    assert_eq!(out["active"], false);
    assert_eq!(out["userName"], "alice@example.com", "everything else stays");
}

#[test]
fn entra_replace_active_with_string_booleans_in_any_case() {
    for (given, expected) in [("False", false), ("True", true), ("FALSE", false), ("true", true)] {
        let out = patch_user(json!([{"op":"Replace","path":"active","value":given}])).unwrap();
        assert_eq!(out["active"], expected, "{given}");
    }
}

#[test]
fn ops_are_case_insensitive() {
    let out = patch_user(json!([
        {"op":"Add","path":"title","value":"Engineer"},
        {"op":"REPLACE","path":"displayName","value":"A. Hara"},
        {"op":"Remove","path":"title"}
    ]))
    .unwrap();
    assert_eq!(out["displayName"], "A. Hara");
    assert!(out.get("title").is_none());
}

#[test]
fn unknown_op_is_invalid_syntax() {
    let e = patch_user(json!([{"op":"merge","path":"title","value":"x"}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
}

#[test]
fn entra_replace_work_email_value_edits_only_the_work_email() {
    let mut with_home = user();
    with_home["emails"] = json!([
        {"value": "alice@example.com", "type": "work", "primary": true},
        {"value": "alice@home.org", "type": "home"}
    ]);
    let out = apply_patch(
        &with_home,
        &ops(json!([{"op":"Replace","path":"emails[type eq \"work\"].value","value":"x@y"}])),
        Schema::user(),
        PatchMode::entra(),
    )
    .unwrap();
    assert_eq!(out["emails"], json!([{"value":"x@y","type":"work","primary":true},{"value":"alice@home.org","type":"home"}]));
}

#[test]
fn replace_through_a_filter_that_matches_nothing() {
    let body = json!([{"op":"Replace","path":"emails[type eq \"home\"].value","value":"a@home.org"}]);
    let e = patch_user(body.clone()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let out = patch_user_entra(body).unwrap();
    assert_eq!(out["emails"], json!([{"value":"alice@example.com","type":"work","primary":true},{"type":"home","value":"a@home.org"}]));
}

#[test]
fn entra_quirk_adds_a_work_email_to_a_user_without_one() {
    let mut bare = user();
    bare.as_object_mut().unwrap().remove("emails");
    let out =
        apply_patch(&bare, &ops(json!([{"op":"Replace","path":"emails[type eq \"work\"].value","value":"x@y"}])), Schema::user(), PatchMode::entra())
            .unwrap();
    assert_eq!(out["emails"], json!([{"type":"work","value":"x@y"}]));
}

#[test]
fn entra_add_through_a_filter_sets_or_creates() {
    let out = patch_user(json!([
        {"op":"Replace","path":"title","value":"tester"},
        {"op":"Add","path":"emails[type eq \"work\"].value","value":"new@joe.com"}
    ]))
    .unwrap();
    assert_eq!(out["emails"], json!([{"value":"new@joe.com","type":"work","primary":true}]));
    let out = patch_user(json!([{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555"}])).unwrap();
    assert_eq!(out["phoneNumbers"], json!([{"type":"mobile","value":"+1 555"}]));
}

#[test]
fn entra_opt_flag_no_path_replace_with_dotted_and_urn_keys() {
    let out = patch_user(json!([{"op":"replace","value":{
        "name.givenName":"K",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"A"
    }}]))
    .unwrap();
    assert_eq!(out["name"], json!({"givenName":"K","familyName":"Hara"}));
    assert_eq!(out[ENTERPRISE_USER_URN]["employeeNumber"], "A");
    assert_eq!(out["schemas"], json!([USER_URN, ENTERPRISE_USER_URN]), "the extension joins schemas");
}

#[test]
fn no_path_value_with_a_nested_extension_object() {
    let out = patch_user(json!([{"op":"add","value":{
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "m-1"}},
        "nickName": "Al"
    }}]))
    .unwrap();
    assert_eq!(out[ENTERPRISE_USER_URN], json!({"department":"R&D","manager":{"value":"m-1"}}));
    assert_eq!(out["nickName"], "Al");
}

#[test]
fn urn_qualified_path_and_sub_attribute_path() {
    let out = patch_user(json!([
        {"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"IT"},
        {"op":"replace","path":"name.familyName","value":"Smith"},
        {"op":"add","path":"urn:ietf:params:scim:schemas:core:2.0:User:title","value":"Boss"}
    ]))
    .unwrap();
    assert_eq!(out[ENTERPRISE_USER_URN]["department"], "IT");
    assert_eq!(out["name"]["familyName"], "Smith");
    assert_eq!(out["title"], "Boss");
    let out = apply_patch(
        &out,
        &ops(json!([{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}])),
        Schema::user(),
        PatchMode::strict(),
    )
    .unwrap();
    assert!(out.get(ENTERPRISE_USER_URN).is_none(), "an emptied extension disappears");
    assert_eq!(out["schemas"], json!([USER_URN]));
}

#[test]
fn entra_manager_as_add_with_an_array_value() {
    let out = patch_user(json!([{"op":"Add","path":"manager","value":[{"$ref":null,"value":"m-42"}]}])).unwrap();
    assert_eq!(out[ENTERPRISE_USER_URN]["manager"], json!({"value":"m-42"}));
}

#[test]
fn manager_as_a_plain_string_and_by_urn_path() {
    let out = patch_user(json!([{
        "op":"add",
        "path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value":"m-7"
    }]))
    .unwrap();
    assert_eq!(out[ENTERPRISE_USER_URN]["manager"], json!({"value":"m-7"}));
    let out = apply_patch(&out, &ops(json!([{"op":"remove","path":"manager"}])), Schema::user(), PatchMode::strict()).unwrap();
    assert!(out.get(ENTERPRISE_USER_URN).is_none());
}

#[test]
fn remove_without_path_is_no_target() {
    let e = patch_user(json!([{"op":"remove","value":{"title":"x"}}])).unwrap_err();
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::NoTarget)));
}

#[test]
fn okta_member_remove_by_filter_then_add() {
    let out = patch_group(json!([
        {"op":"remove","path":"members[value eq \"u1\"]"},
        {"op":"add","path":"members","value":[{"value":"u9"}]}
    ]))
    .unwrap();
    assert_eq!(member_ids(&out), ["u2", "u1091", "u9"]);
}

#[test]
fn removing_a_non_member_changes_nothing() {
    let out = patch_group(json!([{"op":"remove","path":"members[value eq \"nobody\"]"}])).unwrap();
    assert_eq!(out, group());
}

#[test]
fn entra_remove_members_with_a_value_list_removes_only_those() {
    let out = patch_group(json!([{"op":"Remove","path":"members","value":[{"value":"u1091"}]}])).unwrap();
    assert_eq!(member_ids(&out), ["u1", "u2"]);
}

#[test]
fn remove_members_without_value_clears_them_all() {
    let out = patch_group(json!([{"op":"remove","path":"members"}])).unwrap();
    assert!(out.get("members").is_none());
}

#[test]
fn okta_replace_members_including_empty() {
    let out = patch_group(json!([{"op":"replace","path":"members","value":[{"value":"u5"},{"value":"u6"}]}])).unwrap();
    assert_eq!(member_ids(&out), ["u5", "u6"]);
    let out = patch_group(json!([{"op":"replace","path":"members","value":[]}])).unwrap();
    assert!(member_ids(&out).is_empty());
    assert_eq!(out["displayName"], "Engineering");
}

#[test]
fn okta_group_rename_repeats_the_id() {
    let out = patch_group(json!([{"op":"replace","value":{"id":"g-1","displayName":"Platform"}}])).unwrap();
    assert_eq!(out["displayName"], "Platform");
    assert_eq!(out["id"], "g-1");
    let e = patch_group(json!([{"op":"replace","value":{"id":"g-2","displayName":"Platform"}}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn re_adding_an_existing_value_is_a_no_op() {
    let out = patch_group(json!([{"op":"add","path":"members","value":[{"value":"u2"}]}])).unwrap();
    assert_eq!(out, group());
    let out = patch_user(json!([{"op":"add","path":"emails","value":[{"value":"ALICE@example.com","type":"work"}]}])).unwrap();
    assert_eq!(out["emails"], user()["emails"]);
}

#[test]
fn add_to_a_multi_valued_attribute_appends() {
    let out = patch_user(json!([{"op":"add","path":"emails","value":[{"value":"a@home.org","type":"home"}]}])).unwrap();
    assert_eq!(out["emails"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_new_primary_value_demotes_the_old_one() {
    let out = patch_user(json!([{"op":"add","path":"emails","value":[{"value":"a@home.org","type":"home","primary":"True"}]}])).unwrap();
    assert_eq!(out["emails"][0]["primary"], false);
    assert_eq!(out["emails"][1]["primary"], true);
}

#[test]
fn replace_of_a_complex_attribute_keeps_unnamed_sub_attributes() {
    let out = patch_user(json!([{"op":"replace","path":"name","value":{"givenName":"Alicia"}}])).unwrap();
    assert_eq!(out["name"], json!({"givenName":"Alicia","familyName":"Hara"}));
}

#[test]
fn replace_of_a_missing_attribute_adds_it() {
    let out = patch_user(json!([{"op":"replace","path":"locale","value":"en-GB"}])).unwrap();
    assert_eq!(out["locale"], "en-GB");
}

#[test]
fn remove_a_sub_attribute_and_through_a_filter() {
    let out = patch_user(json!([
        {"op":"remove","path":"name.givenName"},
        {"op":"remove","path":"emails[type eq \"work\"]"}
    ]))
    .unwrap();
    assert_eq!(out["name"], json!({"familyName":"Hara"}));
    assert!(out.get("emails").is_none());
    let out = patch_group(json!([{"op":"remove","path":"members[value eq \"u2\"].display"}])).unwrap();
    assert_eq!(out["members"][1], json!({"value":"u2"}));
}

#[test]
fn read_only_attributes_cannot_be_patched_by_path() {
    for path in ["id", "meta", "meta.version", "groups", "manager.displayName"] {
        let e = patch_user(json!([{"op":"replace","path":path,"value":"x"}])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability), "{path}");
    }
}

#[test]
fn read_only_attributes_inside_a_no_path_value_are_ignored() {
    let out = patch_user(json!([{"op":"replace","value":{"meta":{"version":"x"},"groups":[{"value":"g"}],"title":"T"}}])).unwrap();
    assert_eq!(out["meta"], user()["meta"]);
    assert!(out.get("groups").is_none());
    assert_eq!(out["title"], "T");
}

#[test]
fn password_is_accepted_and_never_kept() {
    let out = patch_user(json!([
        {"op":"replace","path":"password","value":"hunter2"},
        {"op":"replace","value":{"password":"hunter3","active":false}}
    ]))
    .unwrap();
    assert!(out.get("password").is_none());
    assert_eq!(out["active"], false);
}

#[test]
fn a_failing_second_operation_leaves_the_resource_unchanged() {
    let original = user();
    let request = ops(json!([
        {"op":"replace","path":"displayName","value":"Changed"},
        {"op":"replace","path":"emails[type eq \"home\"].value","value":"x@y"}
    ]));
    let e = apply_patch(&original, &request, Schema::user(), PatchMode::strict()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    assert!(e.detail.starts_with("Operations[1]"), "{}", e.detail);
    assert_eq!(original, user(), "the caller's resource is untouched");
}

#[test]
fn removing_a_required_attribute_is_refused() {
    let e = patch_user(json!([{"op":"remove","path":"userName"}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn bad_paths_and_values() {
    let cases = [
        (json!([{"op":"replace","path":"shoeSize","value":"9"}]), ScimType::InvalidPath),
        (json!([{"op":"replace","path":"emails[type eq","value":"x"}]), ScimType::InvalidPath),
        (json!([{"op":"replace","path":"emails[colour eq \"red\"].value","value":"x"}]), ScimType::InvalidPath),
        (json!([{"op":"replace","path":"emails.value","value":"x"}]), ScimType::InvalidPath),
        (json!([{"op":"replace","path":"active","value":"maybe"}]), ScimType::InvalidValue),
        (json!([{"op":"replace","path":"name","value":[1, 2]}]), ScimType::InvalidValue),
        (json!([{"op":"add","path":"title"}]), ScimType::InvalidValue),
        (json!([{"op":"replace","value":"not an object"}]), ScimType::InvalidValue),
    ];
    for (operations, expected) in cases {
        let e = patch_user(operations.clone()).unwrap_err();
        assert_eq!(e.scim_type, Some(expected), "{operations}");
    }
}

#[test]
fn malformed_envelopes_are_invalid_syntax() {
    for body in [json!([]), json!({"schemas":["urn:wrong"],"Operations":[]}), json!({"schemas":[PATCH_OP_URN]})] {
        let e = apply_patch(&user(), &body, Schema::user(), PatchMode::strict()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "{body}");
    }
}

#[test]
fn unknown_attributes_in_a_no_path_value_are_tolerated() {
    let out = patch_user(json!([{"op":"Add","value":{"roles":[],"title":"T"}}])).unwrap();
    assert_eq!(out["title"], "T");
    assert!(out.get("roles").is_none());
}

#[test]
fn replace_with_null_unassigns() {
    let out = patch_user(json!([{"op":"replace","path":"displayName","value":null}])).unwrap();
    assert!(out.get("displayName").is_none());
}

#[test]
fn immutable_attributes_may_be_set_once_but_not_changed() {
    let schema = Schema {
        name: "Badge",
        endpoint: "/Badges",
        description: "",
        common: Vec::new(),
        core: SchemaDef {
            id: "urn:example:Badge",
            name: "Badge",
            description: "",
            attributes: vec![AttributeDef::string("serial").mutability(crate::schema::Mutability::Immutable), AttributeDef::string("label")],
        },
        extensions: Vec::new(),
    };
    let empty = json!({"label": "x"});
    let set = apply_patch(&empty, &ops(json!([{"op":"add","path":"serial","value":"S1"}])), &schema, PatchMode::strict()).unwrap();
    assert_eq!(set["serial"], "S1");
    let e = apply_patch(&set, &ops(json!([{"op":"replace","path":"serial","value":"S2"}])), &schema, PatchMode::strict()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn a_path_naming_the_whole_extension() {
    let out = patch_user(json!([{
        "op":"add",
        "path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "value":{"costCenter":"42","manager":"m-1"}
    }]))
    .unwrap();
    assert_eq!(out[ENTERPRISE_USER_URN], json!({"costCenter":"42","manager":{"value":"m-1"}}));
    let out = apply_patch(
        &out,
        &ops(json!([{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}])),
        Schema::user(),
        PatchMode::strict(),
    )
    .unwrap();
    assert!(out.get(ENTERPRISE_USER_URN).is_none());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            prop::sample::select(vec!["True", "false", "x@y", "u1", "", "work"]).prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec!["value", "type", "primary", "givenName", "display", "active", "x"]),
                    inner,
                    0..4
                )
                .prop_map(|m| json!(m)),
            ]
        })
    }

    fn operation() -> impl Strategy<Value = Value> {
        let op = prop::sample::select(vec!["add", "Remove", "REPLACE", "move"]);
        let path = proptest::option::of(prop::sample::select(vec![
            "active",
            "name",
            "name.givenName",
            "emails",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\"].value",
            "emails[value co \"x\" or primary eq true].primary",
            "members",
            "members[value eq \"u1\"]",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "manager.value",
            "meta",
            "bogus[",
        ]));
        (op, path, proptest::option::of(json_value())).prop_map(|(op, path, value)| {
            let mut o = json!({"op": op});
            if let Some(p) = path {
                o["path"] = json!(p);
            }
            if let Some(v) = value {
                o["value"] = v;
            }
            o
        })
    }

    proptest! {
        #[test]
        fn arbitrary_operations_return_ok_or_a_scim_error(operations in prop::collection::vec(operation(), 0..5)) {
            let original = user();
            let request = ops(Value::Array(operations));
            if let Ok(out) = apply_patch(&original, &request, Schema::user(), PatchMode::entra()) {
                prop_assert!(out.get("password").is_none());
                prop_assert!(out["userName"].is_string());
            }
            let _ = apply_patch(&group(), &request, Schema::group(), PatchMode::strict());
            prop_assert_eq!(original, user());
        }
    }
}
