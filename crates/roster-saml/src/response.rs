//! The Web SSO profile's rules for a Response POSTed to the assertion consumer service. The
//! answer is read only from the one assertion whose signature (its own, or the Response's)
//! was verified, in the same tree that was verified.

use crate::dsig::{enveloped_signature, verify};
use crate::xml::{parse, Element};
use crate::{Certificate, SamlError, ASSERTION_NS, PROTOCOL_NS};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashSet};

/// The largest `SAMLResponse` form value read; real responses are a few kilobytes.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// What a response must say to be accepted.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    pub idp_entity_id: &'a str,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub certificates: &'a [Certificate],
    pub now: DateTime<Utc>,
    /// Tolerated clock difference with the identity provider.
    pub skew: Duration,
}

/// A verified assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// The request this answers; `None` for an unsolicited (IdP-initiated) response.
    pub in_response_to: Option<String>,
    /// Until when its ID must be remembered to refuse a replay.
    pub remember_until: DateTime<Utc>,
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl Assertion {
    /// The address the person is matched by: the NameID when it is one, else a usual attribute.
    pub fn email(&self) -> Option<&str> {
        let looks_like = |s: &str| s.contains('@') && !s.chars().any(char::is_whitespace);
        if self.name_id_format.as_deref().is_none_or(|f| f == EMAIL_FORMAT || f.ends_with(":unspecified")) && looks_like(&self.name_id) {
            return Some(&self.name_id);
        }
        const NAMES: [&str; 4] = ["email", "mail", "emailaddress", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"];
        self.attributes
            .iter()
            .find(|(name, _)| NAMES.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .and_then(|(_, values)| values.first())
            .map(String::as_str)
            .filter(|v| looks_like(v))
    }
}

fn rejected(why: impl Into<String>) -> SamlError {
    SamlError::Rejected(why.into())
}

/// Decodes and parses a POSTed `SAMLResponse`, before any signature work.
pub fn decode_post(form_value: &str) -> Result<Element, SamlError> {
    if form_value.len() > MAX_RESPONSE_BYTES {
        return Err(SamlError::Malformed(format!("it is larger than {} KiB", MAX_RESPONSE_BYTES / 1024)));
    }
    let compact: String = form_value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| SamlError::Malformed("SAMLResponse is not base64".into()))?;
    let text = String::from_utf8(bytes).map_err(|_| SamlError::Malformed("it is not UTF-8 text".into()))?;
    Ok(parse(&text)?)
}

fn time(e: &Element, name: &str) -> Result<Option<DateTime<Utc>>, SamlError> {
    e.attr(name)
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| SamlError::Malformed(format!("{}@{name} is not a time", e.local)))
        })
        .transpose()
}

fn issuer_of(e: &Element) -> Option<String> {
    e.only_child(ASSERTION_NS, "Issuer").map(|i| i.text().trim().to_owned())
}

/// IDs must be unique in the whole document: two elements with one ID is a wrapping attempt.
fn check_unique_ids(root: &Element) -> Result<(), SamlError> {
    let mut seen = HashSet::new();
    for e in std::iter::once(root).chain(root.descendants()) {
        if let Some(id) = e.attr("ID") {
            if !seen.insert(id) {
                return Err(SamlError::Signature(format!("two elements share the ID {id}")));
            }
        }
    }
    Ok(())
}

fn check_status(response: &Element) -> Result<(), SamlError> {
    let status = response.only_child(PROTOCOL_NS, "Status").ok_or_else(|| SamlError::Malformed("the Response has no Status".into()))?;
    let code = status.only_child(PROTOCOL_NS, "StatusCode");
    if code.and_then(|c| c.attr("Value")) == Some(SUCCESS) {
        return Ok(());
    }
    let mut codes = Vec::new();
    let mut next = code;
    while let Some(c) = next {
        codes.push(c.attr("Value").unwrap_or("?").rsplit(':').next().unwrap_or("?").to_owned());
        next = c.only_child(PROTOCOL_NS, "StatusCode");
    }
    let message = status
        .only_child(PROTOCOL_NS, "StatusMessage")
        .map(|m| format!(": {}", m.text().trim().chars().take(200).collect::<String>()))
        .unwrap_or_default();
    Err(rejected(format!("the identity provider did not sign the person in (status {}{message})", codes.join("/"))))
}

/// Verifies `response` (from `decode_post`) and returns its assertion.
pub fn validate(response: &Element, expect: &Expectations<'_>) -> Result<Assertion, SamlError> {
    if !response.is(PROTOCOL_NS, "Response") {
        return Err(SamlError::Malformed(format!("expected a samlp:Response, found {}", response.qname())));
    }
    check_unique_ids(response)?;
    let response_signed = enveloped_signature(response)?.is_some();
    if response_signed {
        verify(response, expect.certificates)?;
    }
    match response.attr("Destination") {
        Some(d) if d != expect.acs_url => {
            return Err(rejected(format!("the Response is addressed to {d}, not to this organisation's ACS URL {}", expect.acs_url)))
        }
        None if response_signed => return Err(rejected("the signed Response has no Destination")),
        _ => {}
    }
    if let Some(issuer) = issuer_of(response) {
        if issuer != expect.idp_entity_id {
            return Err(rejected(format!("the Response was issued by {issuer}, not by the configured identity provider {}", expect.idp_entity_id)));
        }
    }
    check_status(response)?;
    if response.elements().any(|e| e.is(ASSERTION_NS, "EncryptedAssertion")) {
        return Err(rejected(
            "the assertion is encrypted, which Roster does not support: turn off assertion encryption in the identity provider's app",
        ));
    }
    let mut assertions = response.children_named(ASSERTION_NS, "Assertion");
    let assertion = assertions.next().ok_or_else(|| rejected("the Response carries no assertion"))?;
    if assertions.next().is_some() {
        return Err(rejected("the Response carries more than one assertion"));
    }
    if enveloped_signature(assertion)?.is_some() {
        verify(assertion, expect.certificates)?;
    } else if !response_signed {
        return Err(SamlError::Signature("neither the assertion nor the Response is signed: have the identity provider sign the assertion".into()));
    }
    read_assertion(response, assertion, expect)
}

fn read_assertion(response: &Element, assertion: &Element, expect: &Expectations<'_>) -> Result<Assertion, SamlError> {
    // The ID is required (SAML core 2.7.3) and keys the replay check: none is refused.
    let id = assertion.attr("ID").ok_or_else(|| rejected("the assertion has no ID"))?.to_owned();
    let issuer = issuer_of(assertion).ok_or_else(|| rejected("the assertion names no Issuer"))?;
    if issuer != expect.idp_entity_id {
        return Err(rejected(format!("the assertion was issued by {issuer}, not by the configured identity provider {}", expect.idp_entity_id)));
    }
    let (now, skew) = (expect.now, expect.skew);

    let subject = assertion.only_child(ASSERTION_NS, "Subject").ok_or_else(|| rejected("the assertion has no Subject"))?;
    let name_id = subject
        .only_child(ASSERTION_NS, "NameID")
        .ok_or_else(|| rejected("the assertion's Subject has no NameID (encrypted NameIDs are not supported)"))?;
    if name_id.elements().next().is_some() {
        return Err(rejected("the NameID holds markup"));
    }
    let mut confirmed: Option<(Option<String>, Option<DateTime<Utc>>)> = None;
    let mut why_not = String::from("the assertion has no bearer SubjectConfirmation");
    for confirmation in subject.children_named(ASSERTION_NS, "SubjectConfirmation").filter(|c| c.attr("Method") == Some(BEARER)) {
        match check_bearer(confirmation, expect) {
            Ok(found) => {
                confirmed = Some(found);
                break;
            }
            Err(e) => why_not = e,
        }
    }
    let (confirmation_request, confirmation_expiry) = confirmed.ok_or_else(|| rejected(why_not))?;
    let response_request = response.attr("InResponseTo").map(str::to_owned);
    if let (Some(a), Some(b)) = (&response_request, &confirmation_request) {
        if a != b {
            return Err(rejected("the Response and its assertion answer different requests"));
        }
    }

    let conditions = assertion.only_child(ASSERTION_NS, "Conditions").ok_or_else(|| rejected("the assertion has no Conditions"))?;
    if let Some(not_before) = time(conditions, "NotBefore")? {
        if now + skew < not_before {
            return Err(rejected(format!("the assertion is not valid before {not_before} (check the clocks)")));
        }
    }
    let conditions_expiry = time(conditions, "NotOnOrAfter")?;
    if let Some(end) = conditions_expiry {
        if now - skew >= end {
            return Err(rejected(format!("the assertion expired at {end}")));
        }
    }
    let restrictions: Vec<&Element> = conditions.children_named(ASSERTION_NS, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(rejected("the assertion has no AudienceRestriction"));
    }
    for restriction in restrictions {
        let audiences: Vec<String> = restriction.children_named(ASSERTION_NS, "Audience").map(|a| a.text().trim().to_owned()).collect();
        if !audiences.iter().any(|a| a == expect.sp_entity_id) {
            return Err(rejected(format!(
                "the assertion is meant for {}, not for this organisation's entity ID {}: set the Audience URI to it",
                audiences.join(", "),
                expect.sp_entity_id
            )));
        }
    }

    let mut statements = assertion.children_named(ASSERTION_NS, "AuthnStatement");
    let statement = statements.next().ok_or_else(|| rejected("the assertion has no AuthnStatement"))?;
    let session_not_on_or_after = time(statement, "SessionNotOnOrAfter")?;
    if session_not_on_or_after.is_some_and(|end| now >= end) {
        return Err(rejected("the identity provider's session for this sign-in has ended"));
    }

    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in assertion.children_named(ASSERTION_NS, "AttributeStatement") {
        for attribute in statement.children_named(ASSERTION_NS, "Attribute") {
            let Some(name) = attribute.attr("Name") else { continue };
            let values = attribute.children_named(ASSERTION_NS, "AttributeValue").map(|v| v.text().trim().to_owned());
            attributes.entry(name.to_owned()).or_default().extend(values);
        }
    }

    let latest = [conditions_expiry, confirmation_expiry].into_iter().flatten().max().unwrap_or(now);
    Ok(Assertion {
        id,
        issuer,
        name_id: name_id.text().trim().to_owned(),
        name_id_format: name_id.attr("Format").map(str::to_owned),
        in_response_to: confirmation_request.or(response_request),
        remember_until: latest.max(now) + skew,
        session_not_on_or_after,
        attributes,
    })
}

/// A bearer confirmation's data: for our ACS, not expired, no NotBefore. Returns the request it
/// answers and its expiry.
fn check_bearer(confirmation: &Element, expect: &Expectations<'_>) -> Result<(Option<String>, Option<DateTime<Utc>>), String> {
    let data = confirmation.only_child(ASSERTION_NS, "SubjectConfirmationData").ok_or("the bearer confirmation has no SubjectConfirmationData")?;
    match data.attr("Recipient") {
        Some(r) if r == expect.acs_url => {}
        Some(r) => return Err(format!("the assertion's Recipient is {r}, not this organisation's ACS URL {}", expect.acs_url)),
        None => return Err("the bearer confirmation names no Recipient".into()),
    }
    if data.attr("NotBefore").is_some() {
        return Err("a bearer confirmation must not carry NotBefore".into());
    }
    let end = time(data, "NotOnOrAfter").map_err(|e| e.to_string())?.ok_or("the bearer confirmation has no NotOnOrAfter")?;
    if expect.now - expect.skew >= end {
        return Err(format!("the assertion's confirmation expired at {end}"));
    }
    Ok((data.attr("InResponseTo").map(str::to_owned), Some(end)))
}
