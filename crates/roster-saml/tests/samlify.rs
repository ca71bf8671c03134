//! Responses written and signed by samlify (an independent implementation, run by
//! `tests/idp/saml.mjs`), recorded once and checked here at the time they were issued: proof
//! that Roster's canonicalisation and signature checks agree with another implementation's.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use roster_saml::{decode_post, parse_idp_metadata, validate, Assertion, Expectations, SamlError};

const SP: &str = "http://127.0.0.1:8080/o/acme/saml/metadata";
const ACS: &str = "http://127.0.0.1:8080/o/acme/saml/acs";

fn check(metadata: &str, response: &str, sp: &str, acs: &str) -> Result<Assertion, SamlError> {
    let idp = parse_idp_metadata(metadata).unwrap();
    let issued = response.split("IssueInstant=\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
    let now = DateTime::parse_from_rfc3339(issued).unwrap().with_timezone(&Utc) + Duration::seconds(10);
    let root = decode_post(&base64::Engine::encode(&base64::engine::general_purpose::STANDARD, response)).unwrap();
    validate(
        &root,
        &Expectations {
            idp_entity_id: &idp.entity_id,
            sp_entity_id: sp,
            acs_url: acs,
            certificates: &idp.certificates,
            now,
            skew: Duration::seconds(180),
        },
    )
}

#[test]
fn an_sp_initiated_response_with_a_signed_assertion() {
    let a = check(include_str!("samlify/metadata.xml"), include_str!("samlify/sp-initiated.xml"), SP, ACS).unwrap();
    assert_eq!(a.email(), Some("ada.lovelace@acme.example"));
    assert_eq!(a.in_response_to.as_deref(), Some("_reqb9c8192856edb"));
    assert_eq!(a.attributes["givenName"], vec!["Ada".to_owned()]);
}

#[test]
fn an_idp_initiated_response_answers_no_request() {
    let a = check(include_str!("samlify/metadata.xml"), include_str!("samlify/idp-initiated.xml"), SP, ACS).unwrap();
    assert_eq!(a.in_response_to, None);
}

#[test]
fn a_response_signed_twice() {
    let sp = "http://127.0.0.1:9/o/acme/saml/metadata";
    let acs = "http://127.0.0.1:9/o/acme/saml/acs";
    let a = check(include_str!("samlify/both-signed-metadata.xml"), include_str!("samlify/both-signed.xml"), sp, acs).unwrap();
    assert_eq!(a.email(), Some("ada.lovelace@acme.example"));
}

#[test]
fn a_cancelled_sign_in_is_refused_with_its_status() {
    let e = check(include_str!("samlify/metadata.xml"), include_str!("samlify/cancelled.xml"), SP, ACS).unwrap_err();
    assert!(e.to_string().contains("Responder/AuthnFailed"), "{e}");
}

#[test]
fn one_changed_character_breaks_it() {
    let tampered = include_str!("samlify/sp-initiated.xml").replace(">Ada<", ">Eve<");
    let e = check(include_str!("samlify/metadata.xml"), &tampered, SP, ACS).unwrap_err();
    assert!(matches!(e, SamlError::Signature(_)), "{e}");
}
