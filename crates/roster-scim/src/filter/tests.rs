use super::*;
use crate::error::ScimType;
use crate::schema::Schema;
use proptest::prelude::*;
use serde_json::json;

fn parse(s: &str) -> Filter {
    parse_filter(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn parse_err(s: &str) -> crate::ScimError {
    match parse_filter(s) {
        Ok(f) => panic!("{s:?} should not parse, got {f:?}"),
        Err(e) => e,
    }
}

fn eq(path: AttrPath, v: &str) -> Filter {
    Filter::compare(path, CompareOp::Eq, CompValue::Str(v.into()))
}

#[test]
fn operators_and_attribute_names_are_case_insensitive() {
    let expected = eq(AttrPath::attr("username"), "x");
    assert_eq!(parse(r#"Username EQ "x""#), expected);
    assert_eq!(parse(r#"userName eq "x""#), expected);
    assert_eq!(parse(r#"USERNAME Eq "x""#), expected);
}

#[test]
fn every_operator_parses() {
    for op in CompareOp::ALL {
        let f = parse(&format!(r#"title {} "x""#, op.as_str().to_uppercase()));
        assert_eq!(f, Filter::compare(AttrPath::attr("title"), op, CompValue::Str("x".into())));
    }
    assert_eq!(parse("title pr"), Filter::Present(AttrPath::attr("title")));
    assert_eq!(parse("title PR"), Filter::Present(AttrPath::attr("title")));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let a = || Filter::Present(AttrPath::attr("a"));
    let b = || Filter::Present(AttrPath::attr("b"));
    let c = || Filter::Present(AttrPath::attr("c"));
    assert_eq!(parse("a pr or b pr and c pr"), Filter::or(a(), Filter::and(b(), c())));
    assert_eq!(parse("a pr and b pr or c pr"), Filter::or(Filter::and(a(), b()), c()));
    assert_eq!(parse("(a pr or b pr) and c pr"), Filter::and(Filter::or(a(), b()), c()));
    assert_eq!(parse("not (a pr) and b pr"), Filter::and(Filter::not(a()), b()));
    assert_eq!(parse("a pr and b pr and c pr"), Filter::and(Filter::and(a(), b()), c()));
}

#[test]
fn reference_example_with_grouping_and_value_path() {
    let f = parse(r#"userName eq "b@x" and (emails[type eq "work" and value co "@x"] or title pr)"#);
    let value_path = Filter::ValuePath {
        attr: AttrPath::attr("emails"),
        filter: Box::new(Filter::and(
            eq(AttrPath::attr("type"), "work"),
            Filter::compare(AttrPath::attr("value"), CompareOp::Co, CompValue::Str("@x".into())),
        )),
    };
    assert_eq!(f, Filter::and(eq(AttrPath::attr("username"), "b@x"), Filter::or(value_path, Filter::Present(AttrPath::attr("title")))));
}

#[test]
fn urn_paths_split_at_the_last_colon() {
    let f = parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#);
    let Filter::Compare { path, .. } = f else { panic!("expected a comparison") };
    assert_eq!(path.urn.as_deref(), Some("urn:ietf:params:scim:schemas:core:2.0:user"));
    assert_eq!(path.attr, "username");
    let f = parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#);
    let Filter::Compare { path, .. } = f else { panic!("expected a comparison") };
    assert_eq!(path.urn.as_deref(), Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"));
    assert_eq!((path.attr.as_str(), path.sub_attr.as_deref()), ("manager", Some("value")));
}

#[test]
fn sub_attributes_and_dollar_ref() {
    assert_eq!(
        parse(r#"name.familyName co "O'Malley""#),
        Filter::compare(AttrPath::new(None, "name", Some("familyName")), CompareOp::Co, CompValue::Str("O'Malley".into()))
    );
    assert_eq!(parse("manager.$ref pr"), Filter::Present(AttrPath::new(None, "manager", Some("$ref"))));
}

#[test]
fn comp_values_cover_every_json_literal() {
    let value = |s: &str| match parse(&format!("x eq {s}")) {
        Filter::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(value("true"), CompValue::Bool(true));
    assert_eq!(value("false"), CompValue::Bool(false));
    assert_eq!(value("null"), CompValue::Null);
    assert_eq!(value("42"), CompValue::Number(42.into()));
    assert_eq!(value("-1.5e2"), CompValue::Number(serde_json::Number::from_f64(-150.0).unwrap()));
    assert_eq!(value(r#""a \"quoted\" \\ \u00e9 \t""#), CompValue::Str("a \"quoted\" \\ é \t".into()));
    assert_eq!(value(r#""with ) and ] inside""#), CompValue::Str("with ) and ] inside".into()));
}

#[test]
fn entra_value_path_with_trailing_sub_attribute_parses() {
    let f = parse(r#"emails[type eq "work"].value eq "u@x""#);
    assert_eq!(
        f,
        Filter::ValuePath {
            attr: AttrPath::attr("emails"),
            filter: Box::new(Filter::and(eq(AttrPath::attr("type"), "work"), eq(AttrPath::attr("value"), "u@x"))),
        }
    );
    // It composes like any other term.
    assert!(parse_filter(r#"emails[type eq "work"].value eq "u@x" and active eq true"#).is_ok());
    // The sub-attribute is an attribute name like any other: it starts with a letter (a fuzzed
    // "].1e999value" was accepted, and printed as a filter that no longer parsed).
    for bad in [r#"emails[type eq "work"].1e999value eq "u@x""#, r#"emails[type eq "work"].-x eq "u@x""#] {
        let error = parse_filter(bad).expect_err(bad);
        assert!(error.detail.contains("not a valid attribute name"), "{}", error.detail);
    }
}

#[test]
fn unquoted_values_are_taken_as_strings() {
    assert_eq!(parse("externalId eq jyoung"), eq(AttrPath::attr("externalid"), "jyoung"));
    assert_eq!(parse("(userName eq a@b.com)"), eq(AttrPath::attr("username"), "a@b.com"));
    assert_eq!(parse("active eq True"), Filter::compare(AttrPath::attr("active"), CompareOp::Eq, CompValue::Bool(true)));
}

#[test]
fn an_attribute_called_not_is_still_an_attribute() {
    assert_eq!(parse("not pr"), Filter::Present(AttrPath::attr("not")));
}

#[test]
fn unknown_operator_is_invalid_filter_with_a_helpful_detail() {
    let e = parse_err(r#"userName regex "x""#);
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidFilter)));
    assert!(e.detail.contains("'regex' is not supported"), "{}", e.detail);
}

#[test]
fn ordering_and_substring_operators_on_booleans_are_refused() {
    for op in ["gt", "ge", "lt", "le", "co", "sw", "ew"] {
        let e = parse_err(&format!("active {op} true"));
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(e.detail.contains(op), "{}", e.detail);
    }
    parse_err("title gt null");
}

#[test]
fn malformed_filters_are_refused() {
    for bad in [
        "",
        "   ",
        r#"userName eq "x" garbage"#,
        r#"userName eq "x"#,
        "userName eq",
        r#"(userName eq "x""#,
        r#"userName eq "x")"#,
        r#"emails[type eq "work""#,
        r#"emails[type eq "work"][primary eq true]"#,
        r#"emails[type[value eq "x"] pr]"#,
        r#"1abc eq "x""#,
        r#"a.b.c eq "x""#,
        r#"userName"x""#,
        r#"not userName eq "x""#,
        r#"name.givenName[value eq "x"]"#,
        r#"userName eq "bad \q escape""#,
    ] {
        let e = parse_err(bad);
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad:?}");
    }
}

#[test]
fn trailing_garbage_detail_names_the_garbage() {
    let e = parse_err(r#"userName eq "x" garbage"#);
    assert!(e.detail.contains("garbage") && e.detail.contains("position 17"), "{}", e.detail);
}

#[test]
fn depth_and_size_are_bounded() {
    let deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
    assert!(parse_err(&deep).detail.contains("nested"));
    let wide = vec!["a pr"; 500].join(" or ");
    assert!(parse_err(&wide).detail.contains("comparisons"));
}

#[test]
fn patch_paths() {
    let p = parse_patch_path(r#"members[value eq "2819c223"].displayName"#).unwrap();
    assert_eq!(p.path, AttrPath::new(None, "members", Some("displayName")));
    assert_eq!(p.filter, Some(eq(AttrPath::attr("value"), "2819c223")));
    let p = parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber").unwrap();
    assert_eq!(p.path.attr, "employeenumber");
    assert!(p.filter.is_none());
    assert_eq!(parse_patch_path("name.givenName").unwrap().path.sub_attr.as_deref(), Some("givenname"));
    let e = parse_patch_path("members[value eq").unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    assert!(parse_patch_path("emails[type eq \"work\"] junk").is_err());
}

fn alice() -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "00uAbC",
        "userName": "Alice@Example.com",
        "name": {"givenName": "Alice", "familyName": "O'Hara"},
        "active": true,
        "title": "Engineer",
        "emails": [
            {"value": "alice@example.com", "type": "work", "primary": true},
            {"value": "alice@home.org", "type": "home"}
        ],
        "meta": {"lastModified": "2024-05-13T04:42:34Z"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984", "manager": {"value": "m-1"}
        }
    })
}

fn matches(filter: &str) -> bool {
    parse(filter).matches(&alice(), Schema::user())
}

#[test]
fn user_name_is_case_insensitive_and_id_is_case_exact() {
    assert!(matches(r#"userName eq "ALICE@EXAMPLE.COM""#));
    assert!(matches(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
    assert!(!matches(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
    assert!(!matches(r#"externalId eq "00uabc""#));
}

#[test]
fn multi_valued_attributes_match_if_any_value_does() {
    assert!(matches(r#"emails co "home.org""#));
    assert!(matches(r#"emails.value ew "@example.com""#));
    assert!(matches(r#"emails[type eq "work" and value co "@example"]"#));
    assert!(!matches(r#"emails[type eq "home" and value co "@example"]"#));
    assert!(matches(r#"emails[type eq "work"].value eq "ALICE@example.com""#));
    assert!(!matches(r#"emails[type eq "home"].value eq "alice@example.com""#));
}

#[test]
fn evaluation_covers_operators_types_and_logic() {
    assert!(matches("title pr"));
    assert!(!matches("nickName pr"));
    assert!(matches(r#"name.familyName co "o'h""#));
    assert!(matches(r#"userName sw "alice" and not (title eq "Manager")"#));
    assert!(matches(r#"title eq "nobody" or active eq true"#));
    assert!(matches("active eq true") && !matches("active eq false") && matches("active ne false"));
    assert!(matches(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
    assert!(!matches(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#));
    assert!(matches(r#"employeeNumber eq "701984""#));
    assert!(matches(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1""#));
    assert!(matches(r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#));
    assert!(matches(r#"nickName ne "x""#) && matches("nickName eq null") && !matches("title eq null"));
    assert!(!matches(r#"active eq "true""#), "a string never equals a boolean attribute");
    assert!(matches("externalId eq 00uAbC"));
}

#[test]
fn string_booleans_in_stored_data_still_compare_as_booleans() {
    let user = json!({"userName": "a", "active": "False"});
    assert!(parse("active eq false").matches(&user, Schema::user()));
}

#[test]
fn validate_rejects_what_the_schema_rules_out() {
    let user = Schema::user();
    let check = |s: &str| parse(s).validate(user);
    assert!(check(r#"userName eq "x" and emails[type eq "work"].value eq "y""#).is_ok());
    assert!(check(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#).is_ok());
    for bad in [
        r#"active gt "x""#,
        r#"shoeSize eq "9""#,
        r#"name eq "Alice""#,
        r#"password eq "hunter2""#,
        r#"title[value eq "x"]"#,
        r#"emails[colour eq "red"]"#,
    ] {
        let e = check(bad).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad}");
    }
    assert!(parse(r#"displayName eq "Admins""#).validate(Schema::group()).is_ok());
    assert!(parse(r#"members[value eq "u1"]"#).validate(Schema::group()).is_ok());
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,6}".prop_map(|s| s)
}

fn path_strategy() -> impl Strategy<Value = AttrPath> {
    let urn = prop_oneof![
        Just(None),
        Just(Some("urn:ietf:params:scim:schemas:core:2.0:user".to_owned())),
        Just(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user".to_owned())),
    ];
    (urn, name_strategy(), proptest::option::of(name_strategy())).prop_map(|(urn, attr, sub_attr)| AttrPath { urn, attr, sub_attr })
}

fn value_strategy() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        (-1.0e12f64..1.0e12).prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(CompValue::Number)),
        // The parser refuses control characters other than tab, even escaped.
        any::<String>().prop_map(|s| CompValue::Str(s.chars().filter(|c| !c.is_control() || *c == '\t').collect())),
    ]
}

fn leaf_strategy(path: BoxedStrategy<AttrPath>) -> impl Strategy<Value = Filter> {
    prop_oneof![
        path.clone().prop_map(Filter::Present),
        (path, proptest::sample::select(CompareOp::ALL.to_vec()), value_strategy()).prop_filter_map(
            "operator must suit the value",
            |(path, op, value)| {
                let allowed = match &value {
                    CompValue::Null | CompValue::Bool(_) => {
                        matches!(op, CompareOp::Eq | CompareOp::Ne)
                    }
                    CompValue::Number(_) => !op.is_substring(),
                    CompValue::Str(_) => true,
                };
                allowed.then_some(Filter::compare(path, op, value))
            }
        ),
    ]
}

fn logic_strategy(leaf: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(depth, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::and(l, r)),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::or(l, r)),
            inner.prop_map(Filter::not),
        ]
    })
    .boxed()
}

fn filter_strategy() -> BoxedStrategy<Filter> {
    let top_leaf = leaf_strategy(path_strategy().boxed()).boxed();
    let inner_path =
        (name_strategy(), proptest::option::of(name_strategy())).prop_map(|(attr, sub_attr)| AttrPath { urn: None, attr, sub_attr }).boxed();
    let inner = logic_strategy(leaf_strategy(inner_path).boxed(), 2);
    let value_path = (path_strategy(), inner)
        .prop_map(|(mut attr, filter)| {
            attr.sub_attr = None;
            Filter::ValuePath { attr, filter: Box::new(filter) }
        })
        .boxed();
    logic_strategy(prop_oneof![3 => top_leaf, 1 => value_path].boxed(), 3)
}

proptest! {
    #[test]
    fn parser_never_panics(input in any::<String>()) {
        let _ = parse_filter(&input);
        let _ = parse_patch_path(&input);
    }

    #[test]
    fn parser_never_panics_on_filter_like_input(
        input in r#"[a-zA-Z:.\[\]() "\\0-9]{0,60}"#
    ) {
        let _ = parse_filter(&input);
    }

    #[test]
    fn display_round_trips_through_the_parser(filter in filter_strategy()) {
        let text = filter.to_string();
        let reparsed = parse_filter(&text);
        prop_assert_eq!(reparsed.as_ref().ok(), Some(&filter), "text: {}", text);
    }
}

fn user_named(name: &str) -> serde_json::Value {
    json!({"userName": name, "emails": [{"value": format!("{name}@x.org"), "type": "work"}]})
}

fn or_chain(terms: usize, term: impl Fn(usize) -> String) -> String {
    (0..terms).map(term).collect::<Vec<_>>().join(" or ")
}

#[test]
fn a_hundred_term_or_chain_parses_and_evaluates() {
    let text = or_chain(100, |i| format!(r#"userName eq "u{i}""#));
    let filter = parse(&text);
    assert!(filter.matches(&user_named("U57"), Schema::user()));
    assert!(filter.matches(&user_named("u99"), Schema::user()));
    assert!(!filter.matches(&user_named("u100"), Schema::user()));
    assert!(filter.validate(Schema::user()).is_ok());
    assert_eq!(parse(&filter.to_string()), filter);
    // Two hundred comparisons are the limit; the parser walks chains without recursing.
    assert!(parse_filter(&or_chain(200, |i| format!("userName eq u{i}"))).is_ok());
    assert!(parse_err(&or_chain(201, |i| format!("userName eq u{i}"))).detail.contains("more than 200 comparisons"));
}

#[test]
fn filters_longer_than_the_limit_are_refused_before_parsing() {
    use crate::limits::MAX_FILTER_CHARS;
    let at_limit = format!(r#"title eq "{}""#, "x".repeat(MAX_FILTER_CHARS - 11));
    assert_eq!(at_limit.chars().count(), MAX_FILTER_CHARS);
    assert!(parse_filter(&at_limit).is_ok());
    let over = format!(r#"title eq "{}""#, "x".repeat(MAX_FILTER_CHARS - 10));
    assert_eq!(over.chars().count(), 16_385);
    let e = parse_err(&over);
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidFilter)));
    assert_eq!(e.detail, "the filter is longer than 16384 characters");
    // Characters, not bytes, are counted.
    let wide = format!(r#"title eq "{}""#, "é".repeat(MAX_FILTER_CHARS - 11));
    assert!(parse_filter(&wide).is_ok());
    assert!(parse_patch_path(&"a".repeat(MAX_FILTER_CHARS + 1)).is_err());
}

#[test]
fn control_characters_are_refused_in_literals_and_anywhere_else() {
    for bad in [
        "userName eq \"a\u{0}b\"",
        r#"userName eq "a\u0000b""#,
        r#"userName eq "line\nbreak""#,
        "userName eq \"\u{85}\"",
        "userName eq a\u{1b}b",
        "userName eq \"x\"\nor title pr",
        "user\u{0}Name eq \"x\"",
    ] {
        let e = parse_err(bad);
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad:?}");
        assert!(e.detail.contains("control character"), "{}", e.detail);
        assert!(!e.detail.contains('\u{0}'), "{}", e.detail);
    }
    // Tab is whitespace between tokens and may be escaped in a literal.
    assert_eq!(parse("userName\teq \"a\\tb\""), eq(AttrPath::attr("username"), "a\tb"));
    let e = parse_patch_path("members[value eq \"\u{0}\"]").unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
}

/// The deepest AST the parser builds: `not` at every nesting level the limit allows,
/// around a value filter holding a chain of the most comparisons allowed.
fn deepest_filter_text() -> String {
    let levels = crate::limits::MAX_FILTER_DEPTH - 1;
    let chain = or_chain(crate::limits::MAX_FILTER_TERMS, |i| format!(r#"value eq "u{i}@x.org""#));
    format!("{}emails[{chain}]{}", "not (".repeat(levels), ")".repeat(levels))
}

#[test]
fn walking_the_deepest_filter_needs_little_stack() {
    // A quarter of the 2 MiB a tokio worker or a test thread has, in an unoptimised build.
    let worker = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let text = deepest_filter_text();
            let filter = parse(&text);
            let printed = filter.to_string();
            assert_eq!(parse(&printed), filter);
            let copy = filter.clone();
            assert_eq!(copy, filter);
            assert!(!format!("{filter:?}").is_empty());
            // An odd number of `not`s around a match.
            assert!(!filter.matches(&user_named("u199"), Schema::user()));
            assert!(filter.matches(&user_named("nobody"), Schema::user()));
            assert!(filter.validate(Schema::user()).is_ok());
            drop(copy);
            drop(filter);
        })
        .unwrap();
    worker.join().unwrap();
}

mod fuzz {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Parses `input` (and walks what it gets) on a thread of its own with a quarter of the
    /// usual stack, and fails if that takes more than a few seconds: a loop, not slowness,
    /// is what that catches.
    fn parse_in_bounded_time(input: String) -> Result<(), TestCaseError> {
        let (done, finished) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || {
                if let Ok(filter) = parse_filter(&input) {
                    let printed = filter.to_string();
                    let _ = filter.matches(&alice(), Schema::user());
                    let _ = filter.validate(Schema::user());
                    // What the parser accepts, its printer writes back.
                    let _ = done.send(parse_filter(&printed).ok() == Some(filter));
                } else {
                    let _ = parse_patch_path(&input);
                    let _ = done.send(true);
                }
            })
            .map_err(|e| TestCaseError::fail(format!("spawn: {e}")))?;
        match finished.recv_timeout(Duration::from_secs(10)) {
            Ok(round_trips) => {
                prop_assert!(round_trips, "printing and re-parsing changed the filter");
                worker.join().map_err(|_| TestCaseError::fail("the parser panicked"))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(TestCaseError::fail("the parser panicked")),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail("the parser did not finish in 10 s")),
        }
    }

    const SEEDS: &[&str] = &[
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J" and not (title pr)"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp"]"#,
        r#"emails[type eq "work"].value eq "x@y.org""#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#,
        r#"(a pr or b pr) and (c eq 1 or d eq true) and e ne null"#,
        "externalId eq jyoung",
        r#"members[value eq "2819c223"].displayName"#,
    ];

    /// Characters that matter to the grammar, and a few that must never be let through.
    const PIECES: &[&str] = &[
        "(", ")", "[", "]", "\"", "\\", ".", ":", " ", " and ", " or ", "not (", " eq ", " pr", "\\u0000", "\\ud800", "\u{0}", "\t", "\n", "é", "𝄞",
        "1e999", "-0", "true", "null",
    ];

    #[derive(Debug, Clone)]
    enum Mutation {
        Insert(usize, &'static str),
        Delete(usize, usize),
        /// Repeats a slice, to make long chains and deep nesting.
        Repeat(usize, usize, usize),
        Char(usize, char),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), proptest::sample::select(PIECES)).prop_map(|(at, s)| Mutation::Insert(at, s)),
            (any::<usize>(), 1usize..8).prop_map(|(at, n)| Mutation::Delete(at, n)),
            (any::<usize>(), 1usize..12, 2usize..300).prop_map(|(at, n, times)| Mutation::Repeat(at, n, times)),
            (any::<usize>(), any::<char>()).prop_map(|(at, c)| Mutation::Char(at, c)),
        ]
    }

    fn mutate(seed: &str, mutations: &[Mutation]) -> String {
        let mut chars: Vec<char> = seed.chars().collect();
        for m in mutations {
            let at = |i: usize, len: usize| i % (len + 1);
            match *m {
                Mutation::Insert(i, s) => {
                    let i = at(i, chars.len());
                    chars.splice(i..i, s.chars());
                }
                Mutation::Delete(i, n) => {
                    let i = at(i, chars.len());
                    let end = (i + n).min(chars.len());
                    chars.drain(i..end);
                }
                Mutation::Repeat(i, n, times) => {
                    let i = at(i, chars.len());
                    let end = (i + n).min(chars.len());
                    let slice: Vec<char> = chars.get(i..end).unwrap_or(&[]).to_vec();
                    let repeated = std::iter::repeat_n(slice, times).flatten();
                    chars.splice(i..end, repeated);
                }
                Mutation::Char(i, c) => {
                    let i = at(i, chars.len());
                    chars.insert(i, c);
                }
            }
            chars.truncate(40_000);
        }
        chars.into_iter().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn fuzz_filter_parser_on_arbitrary_strings(input in any::<String>()) {
            parse_in_bounded_time(input)?;
        }

        #[test]
        fn fuzz_filter_parser_on_mutated_filters(
            seed in proptest::sample::select(SEEDS),
            mutations in proptest::collection::vec(mutation(), 1..6),
        ) {
            parse_in_bounded_time(mutate(seed, &mutations))?;
        }
    }
}
