use super::*;
use crate::error::ScimType;
use crate::schema::ENTERPRISE_USER_URN;
use crate::{apply_patch, apply_put, prepare_create, PatchMode};
use serde_json::json;

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "u-1",
        "userName": "alice@example.com",
        "name": {"givenName": "Alice", "familyName": "Hara"},
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "meta": {"resourceType": "User"}
    })
}

fn group_of(members: usize) -> Value {
    let members: Vec<Value> = (0..members).map(|i| json!({"value": format!("u{i}"), "display": format!("User {i}")})).collect();
    json!({
        "schemas": [GROUP_URN],
        "id": "g-1",
        "displayName": "Everyone",
        "members": members,
        "meta": {"resourceType": "Group"}
    })
}

fn patch(operations: Value) -> Value {
    json!({"schemas": [crate::patch::PATCH_OP_URN], "Operations": operations})
}

fn assert_invalid_value(result: Result<impl std::fmt::Debug, ScimError>, detail_has: &[&str]) {
    let e = result.expect_err("should be refused");
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)), "{e}");
    for part in detail_has {
        assert!(e.detail.contains(part), "{:?} lacks {part:?}", e.detail);
    }
}

#[test]
fn control_characters_are_refused_with_the_attribute_path() {
    let body = json!({"userName": "a", "name": {"givenName": "Al\u{0}ice"}});
    let e = check_text(&body).unwrap_err();
    assert_eq!(e.detail, "\"name.givenName\" contains a control character");
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(!e.detail.contains("Al"), "never the value: {}", e.detail);

    let nested = json!({"Operations": [{"op": "add", "value": {"emails": [{"value": "x\u{1b}[2J"}]}}]});
    assert_invalid_value(check_text(&nested), &["\"Operations[0].value.emails[0].value\""]);
    let urn = json!({ENTERPRISE_USER_URN: {"department": "R\u{7f}D"}});
    assert_invalid_value(check_text(&urn), &[&format!("\"{ENTERPRISE_USER_URN}:department\"")]);
    for bad in ["\u{0}", "\u{8}", "\u{7f}", "\u{85}", "\u{9f}"] {
        assert!(check_text(&json!({"title": bad})).is_err(), "{bad:?}");
    }
    assert_invalid_value(check_text(&json!("x\u{0}")), &["the body"]);
}

#[test]
fn tab_line_feed_and_carriage_return_are_text() {
    let body = json!({"addresses": [{"formatted": "1 Main St\r\nSpringfield\tUSA"}]});
    assert!(check_text(&body).is_ok());
    assert!(check_text(&json!({"title": "Zoë 🎉 \u{200b}"})).is_ok());
}

#[test]
fn control_characters_in_keys_are_refused_without_echoing_the_key() {
    let body = json!({"name": {"given\u{0}Name": "Alice"}});
    let e = check_text(&body).unwrap_err();
    assert_eq!(e.detail, "an attribute name in \"name\" contains a control character");
    assert!(check_text(&json!({"\u{0}": 1})).is_err());
}

#[test]
fn deep_nesting_is_walked_without_recursion() {
    let mut deep = json!("x\u{0}");
    for i in 0..2_000 {
        deep = if i % 2 == 0 { json!([deep]) } else { json!({ "k": deep }) };
    }
    let e = check_text(&deep).unwrap_err();
    assert_eq!(e.detail, "\"k[0].k[0]…k[0].k[0]\" contains a control character");
    // Dropping a value this deep recurses in serde_json, and that is fine at 2,000 levels.
}

#[test]
fn long_paths_in_messages_are_cut() {
    let key = "k".repeat(10_000);
    let e = check_text(&json!({ key: "\u{0}" })).unwrap_err();
    assert!(e.detail.len() < 200, "{}", e.detail);
}

#[test]
fn strings_are_limited_in_characters_not_bytes() {
    let mut doc = user();
    doc["title"] = json!("é".repeat(MAX_STRING_CHARS));
    assert!(check_document(&doc, Schema::user()).is_ok());
    doc["title"] = json!("x".repeat(MAX_STRING_CHARS + 1));
    let e = check_document(&doc, Schema::user()).unwrap_err();
    assert_eq!(e.detail, "\"title\" is longer than 4096 characters");
    doc["title"] = json!("t");
    doc["emails"][0]["display"] = json!("x".repeat(MAX_STRING_CHARS + 1));
    assert_invalid_value(check_document(&doc, Schema::user()), &["\"emails[0].display\"", "4096"]);
}

#[test]
fn multi_valued_attributes_are_counted() {
    let mut doc = user();
    let emails = |n: usize| -> Value { (0..n).map(|i| json!({"value": format!("a{i}@x.org")})).collect() };
    doc["emails"] = emails(MAX_MULTI_VALUES);
    assert!(check_document(&doc, Schema::user()).is_ok());
    doc["emails"] = emails(MAX_MULTI_VALUES + 1);
    let e = check_document(&doc, Schema::user()).unwrap_err();
    assert_eq!(e.detail, "\"emails\" has 101 values; at most 100 are allowed");
    // `groups` is the server's: never counted.
    let mut doc = user();
    doc["groups"] = (0..500).map(|i| json!({"value": format!("g{i}")})).collect();
    assert!(check_document(&doc, Schema::user()).is_ok());
}

#[test]
fn members_are_counted_and_bounded_in_size_but_not_in_the_document_size() {
    let big = group_of(MAX_MEMBERS);
    assert!(json_len(&big).unwrap() > MAX_DOCUMENT_BYTES);
    assert!(check_document(&big, Schema::group()).is_ok());
    assert_invalid_value(check_document(&group_of(MAX_MEMBERS + 1), Schema::group()), &["\"members\"", "20000"]);
    let mut fat = group_of(2);
    fat["members"][1]["display"] = json!("x".repeat(2_000));
    assert_invalid_value(check_document(&fat, Schema::group()), &["\"members\"", "1024 bytes"]);
}

#[test]
fn a_document_too_large_is_413() {
    let mut doc = user();
    doc["addresses"] = (0..80).map(|_| json!({"formatted": "x".repeat(4_000)})).collect();
    let e = check_document(&doc, Schema::user()).unwrap_err();
    assert_eq!(e.status, 413);
    assert_eq!(e.detail, "the User is larger than 262144 bytes of JSON");
    let mut group = group_of(1);
    group["externalId"] = json!("x".repeat(4_000));
    assert!(check_document(&group, Schema::group()).is_ok());
}

#[test]
fn the_document_size_is_the_exact_json_length() {
    // Unknown attributes of 4,000 characters, then one sized to reach the limit exactly.
    let mut doc = json!({"userName": "a"});
    let mut total = json_len(&doc).unwrap();
    let mut i = 0;
    while total + 4_100 < MAX_DOCUMENT_BYTES {
        doc[format!("x{i}")] = json!("y".repeat(4_000));
        total = json_len(&doc).unwrap();
        i += 1;
    }
    let left = MAX_DOCUMENT_BYTES - total;
    // `,"z":""` is 7 bytes plus the string's length.
    doc["z"] = json!("y".repeat(left - 7));
    assert_eq!(json_len(&doc).unwrap(), MAX_DOCUMENT_BYTES);
    assert!(check_document(&doc, Schema::user()).is_ok());
    doc["z"] = json!("y".repeat(left - 6));
    assert_eq!(check_document(&doc, Schema::user()).unwrap_err().status, 413);
}

#[test]
fn every_write_path_checks_its_input_and_its_result() {
    let nul = json!({"userName": "a\u{0}b"});
    assert_invalid_value(prepare_create(&nul, Schema::user()), &["\"userName\""]);
    assert_invalid_value(apply_put(&user(), &nul, Schema::user()), &["\"userName\""]);
    let request = patch(json!([{"op": "replace", "path": "title", "value": "a\u{0}"}]));
    assert_invalid_value(apply_patch(&user(), &request, Schema::user(), PatchMode::entra()), &["\"Operations[0].value\""]);

    let many: Vec<Value> = (0..101).map(|i| json!(format!("a{i}@x.org"))).collect();
    let body = json!({"userName": "a", "emails": many});
    assert_invalid_value(prepare_create(&body, Schema::user()), &["\"emails\""]);
    assert_invalid_value(apply_put(&user(), &body, Schema::user()), &["\"emails\""]);
    let request = patch(json!([{"op": "add", "path": "emails", "value": many}]));
    assert_invalid_value(apply_patch(&user(), &request, Schema::user(), PatchMode::entra()), &["\"emails\"", "100"]);
    let long = json!({"userName": "x".repeat(MAX_STRING_CHARS + 1)});
    assert_invalid_value(prepare_create(&long, Schema::user()), &["\"userName\""]);
}

#[test]
fn a_patch_with_too_many_operations_is_refused_before_any_work() {
    // Every operation is malformed: the count is what is reported.
    let operations: Vec<Value> = (0..=MAX_OPERATIONS).map(|_| json!({"op": "bogus"})).collect();
    let e = apply_patch(&user(), &patch(json!(operations)), Schema::user(), PatchMode::entra()).unwrap_err();
    assert_eq!(e.status, 413);
    assert!(e.detail.contains("1000 operations"), "{}", e.detail);

    // A path-less operation counts once per attribute it sets.
    let mut fields = serde_json::Map::new();
    for i in 0..=MAX_OPERATIONS {
        fields.insert(format!("unknown{i}"), json!("x"));
    }
    let request = patch(json!([{"op": "replace", "value": fields}]));
    let e = apply_patch(&user(), &request, Schema::user(), PatchMode::entra()).unwrap_err();
    assert_eq!(e.status, 413);

    let operations: Vec<Value> = (0..MAX_OPERATIONS).map(|i| json!({"op": "replace", "path": "title", "value": format!("t{i}")})).collect();
    let out = apply_patch(&user(), &patch(json!(operations)), Schema::user(), PatchMode::entra()).unwrap();
    assert_eq!(out["title"], "t999");
}

#[test]
fn a_patch_carrying_too_many_values_is_refused() {
    let members: Vec<Value> = (0..=MAX_MEMBERS).map(|i| json!({"value": format!("n{i}")})).collect();
    let request = patch(json!([{"op": "remove", "path": "members", "value": members}]));
    assert_invalid_value(apply_patch(&group_of(3), &request, Schema::group(), PatchMode::entra()), &["20000 values"]);
}

#[test]
fn value_filters_cannot_multiply_a_request() {
    let request = patch(json!([{
        "op": "replace",
        "path": "members[value pr].display",
        "value": "x".repeat(1_000)
    }]));
    let e = apply_patch(&group_of(1_000), &request, Schema::group(), PatchMode::strict()).unwrap_err();
    assert_eq!(e.status, 413);
    assert!(e.detail.contains("\"members\""), "{}", e.detail);
    // The same edit on a few members is fine.
    let request = patch(json!([{
        "op": "replace",
        "path": "members[value pr].display",
        "value": "x".repeat(900)
    }]));
    let out = apply_patch(&group_of(10), &request, Schema::group(), PatchMode::strict()).unwrap();
    assert_eq!(out["members"][9]["display"].as_str().map(str::len), Some(900));
}
