//! SP-initiated sign-in: an AuthnRequest sent by the HTTP-Redirect binding (raw DEFLATE,
//! base64, URL-encoded). It is not signed (`AuthnRequestsSigned="false"`); what protects the
//! flow is that its ID is stored and the answer's `InResponseTo` must redeem it, once.

use chrono::{DateTime, SecondsFormat, Utc};
use flate2::write::DeflateEncoder;
use flate2::Compression;
use std::io::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    /// The request's ID, which the response must answer.
    pub id: String,
    /// Where to send the browser.
    pub redirect_url: String,
}

/// Builds the request and the identity provider's address carrying it. `relay_state` is
/// opaque; Roster never redirects to it.
pub fn authn_request(
    idp_sso_url: &str,
    sp_entity_id: &str,
    acs_url: &str,
    relay_state: &str,
    now: DateTime<Utc>,
    rng: &mut impl rand::RngCore,
) -> Result<AuthnRequest, String> {
    let mut raw = [0u8; 20];
    rng.fill_bytes(&mut raw);
    // An xs:ID must not start with a digit.
    let id = format!("_{}", hex::encode(raw));
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{protocol}" xmlns:saml="{assertion}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{binding}"><saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>"#,
        protocol = crate::PROTOCOL_NS,
        assertion = crate::ASSERTION_NS,
        instant = now.to_rfc3339_opts(SecondsFormat::Secs, true),
        destination = crate::xml::escape(idp_sso_url),
        acs = crate::xml::escape(acs_url),
        binding = crate::metadata::POST_BINDING,
        issuer = crate::xml::escape(sp_entity_id),
    );
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(xml.as_bytes()).map_err(|e| e.to_string())?;
    let deflated = encoder.finish().map_err(|e| e.to_string())?;
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, deflated);
    let mut url = url::Url::parse(idp_sso_url).map_err(|_| format!("the sign-in URL {idp_sso_url} is not a URL"))?;
    url.query_pairs_mut().append_pair("SAMLRequest", &encoded).append_pair("RelayState", relay_state);
    Ok(AuthnRequest { id, redirect_url: url.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::DeflateDecoder;
    use std::io::Read;

    #[test]
    fn the_request_round_trips_through_the_redirect_binding() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let r = authn_request("https://idp.example/sso?app=1", "https://sp/saml/metadata", "https://sp/saml/acs", "r1", now, &mut rand::rngs::OsRng)
            .unwrap();
        let url = url::Url::parse(&r.redirect_url).unwrap();
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["app"], "1");
        assert_eq!(pairs["RelayState"], "r1");
        let deflated = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &pairs["SAMLRequest"]).unwrap();
        let mut xml = String::new();
        DeflateDecoder::new(&deflated[..]).read_to_string(&mut xml).unwrap();
        let root = crate::xml::parse(&xml).unwrap();
        assert_eq!(root.attr("ID"), Some(r.id.as_str()));
        assert_eq!(root.attr("AssertionConsumerServiceURL"), Some("https://sp/saml/acs"));
        assert!(r.id.starts_with('_'));
    }
}
