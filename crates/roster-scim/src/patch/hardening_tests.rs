//! The PATCH engine against hostile input: large requests stay linear, arbitrary bodies
//! never panic and never produce a document over the limits.

use super::*;
use crate::limits::{check_document, MAX_MEMBERS};
use crate::schema::{ENTERPRISE_USER_URN, GROUP_URN, USER_URN};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn request(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": operations})
}

fn member(i: usize) -> Value {
    json!({"value": format!("2819c223-7f76-453a-919d-{i:012}"), "display": format!("User {i}")})
}

fn group_with(members: impl Iterator<Item = usize>) -> Value {
    json!({
        "schemas": [GROUP_URN],
        "id": "g-1",
        "displayName": "Everyone",
        "members": members.map(member).collect::<Vec<_>>(),
        "meta": {"resourceType": "Group"}
    })
}

/// Half the added members are already there: the result has 20,000. Pairwise comparison
/// took minutes here; an unoptimised build should need well under a second or two.
#[test]
fn adding_twenty_thousand_members_to_ten_thousand_is_linear() {
    let group = group_with(0..10_000);
    let added: Vec<Value> = (0..20_000).map(member).collect();
    let body = request(json!([{"op": "add", "path": "members", "value": added}]));
    let started = Instant::now();
    let out = apply_patch(&group, &body, Schema::group(), PatchMode::entra()).unwrap();
    let elapsed = started.elapsed();
    let members = out["members"].as_array().unwrap();
    assert_eq!(members.len(), MAX_MEMBERS);
    assert_eq!(members[10_000], member(10_000));
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    eprintln!("adding 20,000 members to 10,000: {elapsed:?}");
}

/// Entra's removal form with a value list, and a value filter matching every member.
#[test]
fn removing_many_members_is_linear() {
    let group = group_with(0..MAX_MEMBERS);
    let listed: Vec<Value> = (0..MAX_MEMBERS).step_by(2).map(|i| json!({"value": member(i)["value"]})).collect();
    let body = request(json!([
        {"op": "remove", "path": "members", "value": listed},
        {"op": "remove", "path": "members[display sw \"user\"]"}
    ]));
    let started = Instant::now();
    let out = apply_patch(&group, &body, Schema::group(), PatchMode::entra()).unwrap();
    let elapsed = started.elapsed();
    assert!(out.get("members").is_none());
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    eprintln!("removing 20,000 members two ways: {elapsed:?}");
}

/// A thousand `add members` operations of one member each: one index serves them all.
#[test]
fn successive_adds_share_one_index() {
    let group = group_with(0..MAX_MEMBERS - 1_000);
    let operations: Vec<Value> = (0..1_000).map(|i| json!({"op": "add", "path": "members", "value": [member(100_000 + i)]})).collect();
    let started = Instant::now();
    let out = apply_patch(&group, &request(json!(operations)), Schema::group(), PatchMode::entra()).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(out["members"].as_array().map(Vec::len), Some(MAX_MEMBERS));
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    eprintln!("1000 single adds to a group of 19000: {elapsed:?}");
}

/// The most operations allowed, each touching a full group: adding a member alternates with
/// removing one by `members[value eq "…"]`, so every operation is one pass over the group
/// (successive adds alone would share one index). An unoptimised build runs a tenth.
#[test]
fn many_operations_on_a_full_group_finish() {
    let count = if cfg!(debug_assertions) { 100 } else { 1_000 };
    let group = group_with(0..MAX_MEMBERS - count);
    let operations: Vec<Value> = (0..count)
        .map(|i| {
            if i % 2 == 0 {
                json!({"op": "add", "path": "members", "value": [member(100_000 + i)]})
            } else {
                json!({"op": "remove", "path": format!("members[value eq \"{}\"]", member(i)["value"].as_str().unwrap_or(""))})
            }
        })
        .collect();
    let started = Instant::now();
    let out = apply_patch(&group, &request(json!(operations)), Schema::group(), PatchMode::entra()).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(out["members"].as_array().map(Vec::len), Some(MAX_MEMBERS - count));
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    eprintln!("{count} operations on a group of {}: {elapsed:?}", MAX_MEMBERS - count);
}

/// `same_value` semantics survive the index: case-insensitive emails (including a
/// non-ASCII letter that lower-cases to ASCII), `type` agreement, values without `value`.
#[test]
fn the_index_finds_exactly_what_pairwise_comparison_found() {
    let user = json!({
        "schemas": [USER_URN],
        "userName": "a",
        "emails": [
            {"value": "A@X.org", "type": "work"},
            {"value": "b@x.org"}
        ],
        "addresses": [{"locality": "Paris", "primary": true}]
    });
    let body = request(json!([
        {"op": "add", "path": "emails", "value": [
            {"value": "a@x.ORG", "type": "home"},
            {"value": "a@x.org", "type": "WORK", "display": "A"},
            {"value": "\u{212a}@x.org"},
            {"value": "k@X.org", "type": "other"},
            {"value": "B@x.org", "type": "home", "primary": true}
        ]},
        {"op": "add", "path": "addresses", "value": [
            {"locality": "Paris", "primary": true},
            {"locality": "Lyon"}
        ]}
    ]));
    let out = apply_patch(&user, &body, Schema::user(), PatchMode::strict()).unwrap();
    assert_eq!(
        out["emails"],
        json!([
            {"value": "A@X.org", "type": "work", "display": "A"},
            {"value": "b@x.org", "type": "home", "primary": true},
            {"value": "a@x.ORG", "type": "home"},
            {"value": "\u{212a}@x.org", "type": "other"}
        ])
    );
    assert_eq!(out["addresses"], json!([{"locality": "Paris", "primary": true}, {"locality": "Lyon"}]));
    let remove = request(json!([{"op": "remove", "path": "emails", "value": [
        {"value": "a@x.org", "type": "home"},
        {"value": "K@x.org"}
    ]}]));
    let out = apply_patch(&out, &remove, Schema::user(), PatchMode::strict()).unwrap();
    assert_eq!(
        out["emails"],
        json!([
            {"value": "A@X.org", "type": "work", "display": "A"},
            {"value": "b@x.org", "type": "home", "primary": true}
        ])
    );
}

/// The index, and the index kept between operations, against the pairwise comparison they
/// replaced, copied here as it was.
mod same_as_pairwise {
    use super::super::apply::{enforce_single_primary, whole_attribute};
    use super::*;
    use crate::coerce::coerce_attribute;
    use crate::schema::{get_ci, AttributeDef};
    use proptest::prelude::*;
    use serde_json::Map;

    fn old_same_value(a: &Value, b: &Value, attr: &AttributeDef) -> bool {
        let text_eq = |x: &Value, y: &Value, case_exact: bool| match (x, y) {
            (Value::String(x), Value::String(y)) if !case_exact => x.eq_ignore_ascii_case(y) || x.to_lowercase() == y.to_lowercase(),
            _ => x == y,
        };
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => match (get_ci(x, "value"), get_ci(y, "value")) {
                (Some(vx), Some(vy)) => {
                    let case_exact = attr.sub_attribute("value").is_some_and(|d| d.case_exact);
                    let types_agree = match (get_ci(x, "type"), get_ci(y, "type")) {
                        (Some(tx), Some(ty)) => text_eq(tx, ty, false),
                        _ => true,
                    };
                    text_eq(vx, vy, case_exact) && types_agree
                }
                _ => a == b,
            },
            _ => text_eq(a, b, attr.case_exact),
        }
    }

    fn old_add(mut items: Vec<Value>, new_items: Vec<Value>, attr: &AttributeDef) -> Vec<Value> {
        let mut touched = Vec::new();
        for new_item in new_items {
            match items.iter().position(|item| old_same_value(item, &new_item, attr)) {
                Some(i) => {
                    if let (Some(Value::Object(old)), Value::Object(new)) = (items.get_mut(i), new_item) {
                        for (k, v) in new {
                            if crate::schema::key_ci(old, &k).is_none() {
                                old.insert(k, v);
                            }
                        }
                    }
                    touched.push(i);
                }
                None => {
                    items.push(new_item);
                    touched.push(items.len() - 1);
                }
            }
        }
        enforce_single_primary(&mut items, &touched);
        items
    }

    fn text() -> impl Strategy<Value = Value> {
        proptest::sample::select(vec!["a@x.org", "A@X.ORG", "b@x.org", "\u{212a}@x.org", "k@x.org", "K@X.org", "ß", "SS", "Σa", "σa", "ΑΣ", "ας"])
            .prop_map(|s| json!(s))
    }

    fn item() -> impl Strategy<Value = Value> {
        let object = (
            proptest::option::of(prop_oneof![
                4 => text(),
                1 => Just(json!(5)),
                1 => Just(json!(-0.0)),
                1 => Just(json!(0.0)),
                1 => Just(json!(["a@x.org"])),
            ]),
            proptest::option::of(proptest::sample::select(vec!["work", "WORK", "home"])),
            proptest::option::of(any::<bool>()),
            proptest::option::of(proptest::sample::select(vec!["A", "B"])),
            any::<bool>(),
        )
            .prop_map(|(value, kind, primary, display, odd_case)| {
                let mut m = Map::new();
                if let Some(v) = value {
                    m.insert(if odd_case { "Value" } else { "value" }.into(), v);
                }
                if let Some(t) = kind {
                    m.insert("type".into(), json!(t));
                }
                if let Some(p) = primary {
                    m.insert("primary".into(), json!(p));
                }
                if let Some(d) = display {
                    m.insert("display".into(), json!(d));
                }
                Value::Object(m)
            });
        prop_oneof![6 => object, 1 => text(), 1 => Just(json!(1.0)), 1 => Just(json!(1))]
    }

    fn attr() -> impl Strategy<Value = &'static AttributeDef> {
        proptest::sample::select(vec![("emails", Schema::user()), ("addresses", Schema::user()), ("members", Schema::group())])
            .prop_filter_map("known", |(name, schema)| schema.core.attribute(name))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Stored values may be odd (a `Value` key, a number, a list); added ones are coerced
        /// first, as the engine does.
        #[test]
        fn adds_and_removes_match_pairwise_comparison(
            attr in attr(),
            existing in prop::collection::vec(item(), 0..8),
            batches in prop::collection::vec(
                (any::<bool>(), prop::collection::vec(item(), 0..6)),
                1..4,
            ),
        ) {
            let mut container = Map::new();
            container.insert(attr.name.into(), Value::Array(existing.clone()));
            let mut expected = existing;
            let mut kept = None;
            for (remove, batch) in batches {
                let value = Value::Array(batch);
                let Ok(coerced) = coerce_attribute(&value, attr) else {
                    continue;
                };
                // A `remove` whose list coerces to nothing removes the whole attribute.
                let (coerced, everything) = match coerced {
                    Some(Value::Array(c)) => (c, false),
                    _ => (Vec::new(), remove),
                };
                let kind = if remove { OpKind::Remove } else { OpKind::Add };
                let result = whole_attribute(&mut container, kind, attr, Some(&value), kept.take());
                prop_assert!(result.is_ok());
                kept = result.ok().flatten();
                if everything {
                    expected.clear();
                } else if remove {
                    expected.retain(|item| !coerced.iter().any(|l| old_same_value(item, l, attr)));
                } else if !coerced.is_empty() {
                    expected = old_add(expected, coerced, attr);
                }
                let now = container.get(attr.name).cloned().unwrap_or(json!([]));
                prop_assert_eq!(&now, &Value::Array(expected.clone()));
            }
        }

        /// Operations in one request, where indexes are kept between them, do what the
        /// same operations do one request at a time.
        #[test]
        fn one_request_does_what_one_operation_at_a_time_does(
            group in any::<bool>(),
            existing in prop::collection::vec(item(), 0..6),
            operations in prop::collection::vec(operation(), 1..6),
        ) {
            let (schema, name, mut doc) = if group {
                (Schema::group(), "members", json!({"schemas": [GROUP_URN], "displayName": "G"}))
            } else {
                (Schema::user(), "emails", json!({"schemas": [USER_URN], "userName": "u"}))
            };
            doc[name] = Value::Array(existing);
            let operations: Vec<Value> = operations
                .into_iter()
                .map(|op| serde_json::from_str(&op.to_string().replace("ATTR", name)).unwrap_or(Value::Null))
                .collect();
            let all_at_once = apply_patch(&doc, &request(json!(operations)), schema, PatchMode::entra());
            let mut one_at_a_time = Ok(doc);
            for op in &operations {
                one_at_a_time = one_at_a_time
                    .and_then(|d| apply_patch(&d, &request(json!([op])), schema, PatchMode::entra()));
            }
            match (all_at_once, one_at_a_time) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "{a:?} but one at a time {b:?}"),
            }
        }
    }

    fn operation() -> impl Strategy<Value = Value> {
        let items = prop::collection::vec(item(), 0..4).prop_map(Value::Array).boxed();
        prop_oneof![
            items.clone().prop_map(|v| json!({"op": "add", "path": "ATTR", "value": v})),
            items.clone().prop_map(|v| json!({"op": "remove", "path": "ATTR", "value": v})),
            items.clone().prop_map(|v| json!({"op": "replace", "path": "ATTR", "value": v})),
            items.prop_map(|v| json!({"op": "add", "value": {"ATTR": v}})),
            text().prop_map(|t| json!({"op": "remove", "path": format!("ATTR[value eq {t}]")})),
            text().prop_map(|t| json!({"op": "replace", "path": format!("ATTR[value eq {t}].display"), "value": "D"})),
            any::<bool>().prop_map(|p| json!({"op": "replace", "path": "ATTR[type eq \"work\"].primary", "value": p})),
            text().prop_map(|t| json!({"op": "add", "path": "ATTR[type eq \"home\"].value", "value": t})),
        ]
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn user() -> Value {
        json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "id": "u-1",
            "externalId": "00u1",
            "userName": "alice@example.com",
            "name": {"givenName": "Alice", "familyName": "Hara"},
            "active": true,
            "emails": [
                {"value": "alice@example.com", "type": "work", "primary": true},
                {"value": "alice@home.org", "type": "home"}
            ],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
            "meta": {"resourceType": "User"},
            ENTERPRISE_USER_URN: {"employeeNumber": "42", "manager": {"value": "m-1"}}
        })
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                "", "x", "work", "home", "True", "false", "alice@example.com", "ALICE@EXAMPLE.COM",
                "u1", "m-1", "\u{212a}", "a\u{0}b", "line\nbreak",
            ]).prop_map(str::to_owned),
            2 => any::<String>(),
            1 => (1usize..6_000).prop_map(|n| "y".repeat(n)),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                "value", "type", "primary", "display", "givenName", "name", "emails", "EMAILS",
                "phoneNumbers", "addresses", "active", "title", "userName", "members", "id",
                "meta", "password", "schemas", "name.givenName", "manager", "employeeNumber",
                ENTERPRISE_USER_URN,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "urn:ietf:params:scim:schemas:core:2.0:User:emails",
            ]).prop_map(str::to_owned),
            1 => any::<String>(),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..5).prop_map(|m| json!(m)),
            ]
        })
    }

    fn path() -> impl Strategy<Value = Value> {
        prop_oneof![
            6 => proptest::sample::select(vec![
                "active", "title", "name", "name.givenName", "emails", "emails.value",
                "emails[type eq \"work\"]", "emails[type eq \"work\"].value",
                "emails[value co \"x\" or primary eq true].primary", "emails[not (type pr)]",
                "phoneNumbers[type eq \"mobile\"].value", "addresses", "members",
                "members[value eq \"u1\"]", "groups", "id", "meta.version", "password",
                ENTERPRISE_USER_URN,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "manager.value", "userName", "bogus[", "emails[type eq \"work\"][x]", "",
            ]).prop_map(|p| json!(p)),
            1 => any::<String>().prop_map(Value::String),
            1 => json_value(),
        ]
    }

    fn operation() -> impl Strategy<Value = Value> {
        let op = prop_oneof![
            4 => proptest::sample::select(vec!["add", "Remove", "REPLACE", "replace", "remove", "move"])
                .prop_map(|o| json!(o)),
            1 => json_value(),
        ];
        (op, proptest::option::of(path()), proptest::option::of(json_value())).prop_map(|(op, path, value)| {
            let mut o = serde_json::Map::new();
            o.insert("op".into(), op);
            if let Some(p) = path {
                o.insert("path".into(), p);
            }
            if let Some(v) = value {
                o.insert("value".into(), v);
            }
            Value::Object(o)
        })
    }

    fn body() -> impl Strategy<Value = Value> {
        prop_oneof![
            8 => prop::collection::vec(operation(), 0..8).prop_map(|ops| request(json!(ops))),
            1 => prop::collection::vec(operation(), 0..4).prop_map(|ops| json!({"Operations": ops, "schemas": ["urn:x"]})),
            1 => json_value(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn fuzz_patch_engine(body in body()) {
            let original = user();
            for mode in [PatchMode::entra(), PatchMode::strict()] {
                match apply_patch(&original, &body, Schema::user(), mode) {
                    Ok(out) => {
                        prop_assert!(check_document(&out, Schema::user()).is_ok());
                        prop_assert!(crate::limits::check_text(&out).is_ok());
                        prop_assert!(out.get("password").is_none());
                        prop_assert!(out["userName"].is_string());
                    }
                    Err(e) => prop_assert!(matches!(e.status, 400 | 409 | 413), "{e}"),
                }
            }
            prop_assert_eq!(original, user());
        }
    }
}
