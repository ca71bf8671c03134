//! The response rules and the attack checklist's SAML items, against responses signed the way
//! providers sign them and then broken the way attackers break them.

#![allow(clippy::unwrap_used, clippy::panic, clippy::type_complexity)]

use chrono::{DateTime, Duration, Utc};
use roster_saml::testing::{post_value, ResponseSpec, TestIdp};
use roster_saml::{decode_post, parse_idp_metadata, validate, Assertion, Certificate, Expectations, SamlError};

const IDP: &str = "https://idp.example/app/roster";
const SP: &str = "https://acme.roster.test/saml/metadata";
const ACS: &str = "https://acme.roster.test/saml/acs";
const ADA: &str = "ada.lovelace@acme.example";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn check_at(xml: &str, certs: &[Certificate], at: DateTime<Utc>) -> Result<Assertion, SamlError> {
    let root = decode_post(&post_value(xml))?;
    validate(&root, &Expectations { idp_entity_id: IDP, sp_entity_id: SP, acs_url: ACS, certificates: certs, now: at, skew: Duration::seconds(180) })
}

fn check(xml: &str) -> Result<Assertion, SamlError> {
    check_at(xml, std::slice::from_ref(&TestIdp::new(IDP).certificate), now())
}

fn spec() -> ResponseSpec {
    ResponseSpec::new(&TestIdp::new(IDP), SP, ACS, ADA, now())
}

fn refused(result: Result<Assertion, SamlError>, needle: &str) {
    match result {
        Ok(a) => panic!("accepted {a:?}, expected a refusal mentioning {needle:?}"),
        Err(e) => assert!(e.to_string().contains(needle), "{e} should mention {needle:?}"),
    }
}

#[test]
fn accepts_a_signed_assertion_and_reads_it() {
    let mut s = spec();
    s.in_response_to = Some("_req1".into());
    let a = check(&s.signed_assertion(&TestIdp::new(IDP))).unwrap();
    assert_eq!(a.name_id, ADA);
    assert_eq!(a.email(), Some(ADA));
    assert_eq!(a.in_response_to.as_deref(), Some("_req1"));
    assert_eq!(a.id, s.assertion_id);
    assert!(a.remember_until >= now() + Duration::minutes(5));
}

#[test]
fn accepts_a_signed_response_around_an_unsigned_assertion_and_both_signed() {
    let idp = TestIdp::new(IDP);
    let s = spec();
    assert!(check(&idp.sign(&s.xml(), &s.response_id)).is_ok());
    assert!(check(&idp.sign(&s.signed_assertion(&idp), &s.response_id)).is_ok());
}

#[test]
fn refuses_unsigned_foreign_and_weak_signatures() {
    let s = spec();
    refused(check(&s.xml()), "neither the assertion nor the Response is signed");
    refused(check(&s.signed_assertion(&TestIdp::impostor(IDP))), "certificate that Roster has on file");
    let signed = s.signed_assertion(&TestIdp::new(IDP));
    refused(check(&signed.replace("xmldsig-more#rsa-sha256", "xmldsig#rsa-sha1")), "not allowed");
    refused(
        check(&signed.replace("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")),
        "not allowed",
    );
    refused(check(&signed.replace("http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2000/09/xmldsig#sha1")), "not allowed");
}

#[test]
fn refuses_an_assertion_changed_after_signing() {
    let signed = spec().signed_assertion(&TestIdp::new(IDP));
    refused(check(&signed.replacen(ADA, "grace.hopper@acme.example", 1)), "changed after it was signed");
}

#[test]
fn signature_wrapping_never_yields_the_unsigned_assertion() {
    let idp = TestIdp::new(IDP);
    let good = spec();
    let signed = good.signed_assertion(&idp);
    let start = signed.find("<saml:Assertion").unwrap();
    let end = signed.find("</samlp:Response>").unwrap();
    let signed_assertion = &signed[start..end];
    let mut evil = spec();
    evil.name_id = "grace.hopper@acme.example".into();
    let evil_xml = evil.xml();
    let evil_assertion = &evil_xml[evil_xml.find("<saml:Assertion").unwrap()..evil_xml.find("</samlp:Response>").unwrap()];

    // A second, unsigned assertion beside the signed one.
    let two = signed.replace("</samlp:Response>", &format!("{evil_assertion}</samlp:Response>"));
    refused(check(&two), "more than one assertion");
    // The signed assertion hidden in Extensions, the forged one where it is read.
    let hidden = format!(
        "{}<samlp:Extensions>{signed_assertion}</samlp:Extensions>{}</samlp:Response>",
        &signed[..signed.find("<samlp:Status").unwrap()],
        &evil_xml[evil_xml.find("<samlp:Status").unwrap()..evil_xml.find("</samlp:Response>").unwrap()],
    );
    refused(check(&hidden), "neither the assertion nor the Response is signed");
    // The forged assertion reusing the signed one's ID, and carrying its signature.
    let sig_start = signed.find("<ds:Signature").unwrap();
    let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let stolen = evil_assertion
        .replace(&evil.assertion_id, &good.assertion_id)
        .replace(&format!("<!--sign:{}-->", good.assertion_id), &signed[sig_start..sig_end]);
    refused(check(&evil_xml.replace(evil_assertion, &stolen)), "changed after it was signed");
    let both = format!(
        "{}<samlp:Extensions>{signed_assertion}</samlp:Extensions>{}",
        &evil_xml[..evil_xml.find("<samlp:Status").unwrap()],
        &evil_xml[evil_xml.find("<samlp:Status").unwrap()..].replace(evil_assertion, &stolen)
    );
    refused(check(&both), "share the ID");
    // A signature whose reference points at another element.
    refused(check(&signed.replacen(&format!("URI=\"#{}\"", good.assertion_id), "URI=\"#elsewhere\"", 1)), "does not reference it");
}

#[test]
fn a_comment_in_the_name_id_does_not_shorten_it() {
    let mut s = spec();
    s.name_id = "ada.lovelace@acme.example<!---->.evil.example".into();
    let a = check(&s.signed_assertion(&TestIdp::new(IDP))).unwrap();
    assert_eq!(a.name_id, "ada.lovelace@acme.example.evil.example");
    assert_eq!(a.email(), Some("ada.lovelace@acme.example.evil.example"));
}

#[test]
fn refuses_the_wrong_audience_recipient_destination_and_issuer() {
    let idp = TestIdp::new(IDP);
    let cases: [(fn(&mut ResponseSpec), &str); 4] = [
        (|s| s.audience = "https://other.roster.test/saml/metadata".into(), "meant for"),
        (|s| s.recipient = "https://other.roster.test/saml/acs".into(), "Recipient"),
        (|s| s.destination = Some("https://other.roster.test/saml/acs".into()), "addressed to"),
        (|s| s.issuer = "https://evil.example/idp".into(), "issued by"),
    ];
    for (change, needle) in cases {
        let mut s = spec();
        change(&mut s);
        refused(check(&s.signed_assertion(&idp)), needle);
    }
    // A signed Response must name its Destination.
    let mut s = spec();
    s.destination = None;
    refused(check(&idp.sign(&s.xml(), &s.response_id)), "no Destination");
}

#[test]
fn refuses_expired_future_and_bearer_not_before() {
    let idp = TestIdp::new(IDP);
    let signed = spec().signed_assertion(&idp);
    let certs = std::slice::from_ref(&idp.certificate);
    refused(check_at(&signed, certs, now() + Duration::minutes(9)), "expired");
    refused(check_at(&signed, certs, now() - Duration::minutes(10)), "not valid before");
    // Inside the skew both ways it is fine.
    assert!(check_at(&signed, certs, now() + Duration::minutes(7)).is_ok());
    let s = spec();
    let with_not_before = s.xml().replace("<saml:SubjectConfirmationData ", "<saml:SubjectConfirmationData NotBefore=\"2020-01-01T00:00:00Z\" ");
    refused(check(&idp.sign(&with_not_before, &s.assertion_id)), "must not carry NotBefore");
}

#[test]
fn refuses_failures_encrypted_assertions_and_doctypes() {
    let idp = TestIdp::new(IDP);
    let mut s = spec();
    s.status = "urn:oasis:names:tc:SAML:2.0:status:Responder".into();
    refused(check(&s.signed_assertion(&idp)), "status Responder");
    let s = spec();
    let encrypted = s.xml().replace("<saml:Assertion ", "<saml:EncryptedAssertion><x/></saml:EncryptedAssertion><saml:Assertion ");
    refused(check(&idp.sign(&encrypted, &s.assertion_id)), "encrypted");
    let doctype = format!("<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}", s.signed_assertion(&idp));
    refused(check(&doctype), "DOCTYPE");
    let bomb = "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]><r>&b;</r>";
    refused(check(bomb), "DOCTYPE");
    refused(decode_post(&"A".repeat(roster_saml::response::MAX_RESPONSE_BYTES + 4)).map(|_| unreachable_assertion()), "larger than");
}

fn unreachable_assertion() -> Assertion {
    Assertion {
        id: String::new(),
        issuer: String::new(),
        name_id: String::new(),
        name_id_format: None,
        in_response_to: None,
        remember_until: now(),
        session_not_on_or_after: None,
        attributes: Default::default(),
    }
}

#[test]
fn metadata_gives_the_sign_in_url_and_pinned_certificate() {
    let idp = TestIdp::new(IDP);
    let m = parse_idp_metadata(&idp.metadata("https://idp.example/sso")).unwrap();
    assert_eq!(m.entity_id, IDP);
    assert_eq!(m.sso_url, "https://idp.example/sso");
    assert_eq!(m.certificates, vec![idp.certificate.clone()]);
    let without_key = idp.metadata("https://idp.example/sso").replace("use=\"signing\"", "use=\"encryption\"");
    assert!(parse_idp_metadata(&without_key).unwrap_err().to_string().contains("no signing certificate"));
    assert!(parse_idp_metadata(&idp.metadata("http://idp.example/sso")).unwrap_err().to_string().contains("not HTTPS"));
    assert!(parse_idp_metadata("<!DOCTYPE x><x/>").is_err());
}
