//! Metadata: reading an identity provider's (entity ID, sign-in URL, signing certificates) and
//! writing Roster's own for the admin to give the provider.

use crate::dsig::DSIG_NS;
use crate::xml::{parse, Element};
use crate::{Certificate, SamlError};

pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The largest metadata document read.
pub const MAX_METADATA_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// Where sign-in requests go (HTTP-Redirect binding).
    pub sso_url: String,
    pub certificates: Vec<Certificate>,
}

fn unusable(why: impl Into<String>) -> SamlError {
    SamlError::Metadata(why.into())
}

/// HTTPS, or plain HTTP on this machine only (tests and local identity providers).
pub fn acceptable_url(url: &str) -> bool {
    url.starts_with("https://")
        || ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| url.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/'])))
}

pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, SamlError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(unusable(format!("it is larger than {} KiB", MAX_METADATA_BYTES / 1024)));
    }
    let root = parse(xml).map_err(|e| unusable(e.0))?;
    let entity = if root.is(METADATA_NS, "EntityDescriptor") {
        &root
    } else if root.is(METADATA_NS, "EntitiesDescriptor") {
        let mut idps = root.children_named(METADATA_NS, "EntityDescriptor").filter(|e| e.only_child(METADATA_NS, "IDPSSODescriptor").is_some());
        let first = idps.next().ok_or_else(|| unusable("it describes no identity provider"))?;
        if idps.next().is_some() {
            return Err(unusable("it describes several identity providers; give the metadata of the one app"));
        }
        first
    } else {
        return Err(unusable("it is not SAML 2.0 metadata (no EntityDescriptor)"));
    };
    let entity_id =
        entity.attr("entityID").map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| unusable("the EntityDescriptor has no entityID"))?.to_owned();
    let idp = entity
        .only_child(METADATA_NS, "IDPSSODescriptor")
        .ok_or_else(|| unusable("it has no IDPSSODescriptor: is this a service provider's metadata?"))?;
    let sso_url = idp
        .children_named(METADATA_NS, "SingleSignOnService")
        .find(|s| s.attr("Binding") == Some(REDIRECT_BINDING))
        .and_then(|s| s.attr("Location"))
        .ok_or_else(|| unusable("it offers no SingleSignOnService with the HTTP-Redirect binding"))?
        .to_owned();
    if !acceptable_url(&sso_url) {
        return Err(unusable(format!("the sign-in URL {sso_url} is not HTTPS")));
    }
    let certificates = signing_certificates(idp)?;
    if certificates.is_empty() {
        return Err(unusable("it has no signing certificate, so no response could be verified"));
    }
    Ok(IdpMetadata { entity_id, sso_url, certificates })
}

fn signing_certificates(idp: &Element) -> Result<Vec<Certificate>, SamlError> {
    let mut out: Vec<Certificate> = Vec::new();
    for key in idp.children_named(METADATA_NS, "KeyDescriptor").filter(|k| k.attr("use").is_none_or(|u| u == "signing")) {
        let certs = key
            .children_named(DSIG_NS, "KeyInfo")
            .flat_map(|i| i.children_named(DSIG_NS, "X509Data"))
            .flat_map(|d| d.children_named(DSIG_NS, "X509Certificate"));
        for cert in certs {
            let cert = Certificate::from_base64(&cert.text())?;
            if !out.contains(&cert) {
                out.push(cert);
            }
        }
    }
    Ok(out)
}

/// Roster's service-provider metadata for one organisation.
pub fn sp_metadata(entity_id: &str, acs_url: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{METADATA_NS}" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>{format}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{POST_BINDING}" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = crate::xml::escape(entity_id),
        acs = crate::xml::escape(acs_url),
        format = crate::response::EMAIL_FORMAT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_this_machine() {
        assert!(acceptable_url("https://idp.example/sso"));
        assert!(acceptable_url("http://127.0.0.1:9000/sso"));
        assert!(!acceptable_url("http://127.0.0.1.evil.example/sso"));
        assert!(!acceptable_url("http://idp.example/sso"));
    }

    #[test]
    fn sp_metadata_is_well_formed_and_names_the_acs() {
        let xml = sp_metadata("https://acme.roster.test/saml/metadata", "https://acme.roster.test/saml/acs?x=1&y=2");
        let root = parse(&xml).unwrap();
        let sp = root.only_child(METADATA_NS, "SPSSODescriptor").unwrap();
        assert_eq!(sp.attr("WantAssertionsSigned"), Some("true"));
        assert_eq!(
            sp.only_child(METADATA_NS, "AssertionConsumerService").unwrap().attr("Location"),
            Some("https://acme.roster.test/saml/acs?x=1&y=2")
        );
    }
}
