//! A throwaway identity provider for tests: it writes responses and signs them the way real
//! providers do (enveloped, exclusive c14n, RSA-SHA256), so tests can also break them the way
//! attackers do. Its keys were generated for these tests only and protect nothing.

use crate::c14n::exclusive;
use crate::dsig::{DSIG_NS, ENVELOPED, EXC_C14N, RSA_SHA256, SHA256};
use crate::metadata::{METADATA_NS, REDIRECT_BINDING};
use crate::response::EMAIL_FORMAT;
use crate::xml::{parse, Element};
use crate::{Certificate, ASSERTION_NS, PROTOCOL_NS};
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};

const IDP_KEY: &str = include_str!("testing/idp-key.pem");
const IDP_CERT: &str = include_str!("testing/idp-cert.pem");
const OTHER_KEY: &str = include_str!("testing/other-key.pem");
const OTHER_CERT: &str = include_str!("testing/other-cert.pem");

pub struct TestIdp {
    pub entity_id: String,
    pub certificate: Certificate,
    key: RsaPrivateKey,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn find_by_id<'a>(root: &'a Element, id: &str) -> Option<&'a Element> {
    std::iter::once(root).chain(root.descendants()).find(|e| e.attr("ID") == Some(id))
}

impl TestIdp {
    fn with(entity_id: &str, key: &str, cert: &str) -> Self {
        #[allow(clippy::expect_used)] // fixed test fixtures
        let key = RsaPrivateKey::from_pkcs8_pem(key).expect("the test key parses");
        #[allow(clippy::expect_used)]
        let certificate = Certificate::from_pem(cert).expect("the test certificate parses");
        Self { entity_id: entity_id.to_owned(), certificate, key }
    }

    /// The provider whose certificate a test connection pins.
    pub fn new(entity_id: &str) -> Self {
        Self::with(entity_id, IDP_KEY, IDP_CERT)
    }

    /// Another key pair, for signatures the connection must not trust.
    pub fn impostor(entity_id: &str) -> Self {
        Self::with(entity_id, OTHER_KEY, OTHER_CERT)
    }

    pub fn metadata(&self, sso_url: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="{METADATA_NS}" entityID="{entity}"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{PROTOCOL_NS}"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="{DSIG_NS}"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>{EMAIL_FORMAT}</md:NameIDFormat><md:SingleSignOnService Binding="{REDIRECT_BINDING}" Location="{sso_url}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            entity = self.entity_id,
            cert = self.certificate.to_base64(),
        )
    }

    /// Signs the element whose ID is `id`, placing the signature at the `<!--sign:ID-->` marker
    /// (right after its Issuer, where SAML's schema wants it). Returns `xml` unchanged when the
    /// marker or the element is missing.
    pub fn sign(&self, xml: &str, id: &str) -> String {
        let marker = format!("<!--sign:{id}-->");
        let Ok(root) = parse(xml) else { return xml.to_owned() };
        let Some(element) = find_by_id(&root, id) else { return xml.to_owned() };
        if !xml.contains(&marker) {
            return xml.to_owned();
        }
        let digest = b64(&Sha256::digest(exclusive(element, None, &[]).as_bytes()));
        let info = format!(
            r##"<ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="{RSA_SHA256}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms><ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"##
        );
        let unsigned = format!(r#"<ds:Signature xmlns:ds="{DSIG_NS}">{info}</ds:Signature>"#);
        let Ok(parsed) = parse(&unsigned) else { return xml.to_owned() };
        let Some(signed_info) = parsed.elements().next() else { return xml.to_owned() };
        let hashed = Sha256::digest(exclusive(signed_info, None, &[]).as_bytes());
        let Ok(value) = self.key.sign(Pkcs1v15Sign::new::<Sha256>(), &hashed) else { return xml.to_owned() };
        let signature = format!(
            r#"<ds:Signature xmlns:ds="{DSIG_NS}">{info}<ds:SignatureValue>{value}</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"#,
            value = b64(&value),
            cert = self.certificate.to_base64(),
        );
        xml.replacen(&marker, &signature, 1)
    }
}

/// The parts of a response tests vary. Text fields are inserted as written (so a test can put
/// markup or a comment in them).
#[derive(Debug, Clone)]
pub struct ResponseSpec {
    pub response_id: String,
    pub assertion_id: String,
    pub issuer: String,
    pub destination: Option<String>,
    pub recipient: String,
    pub audience: String,
    pub name_id: String,
    pub in_response_to: Option<String>,
    pub issued: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    pub status: String,
}

impl ResponseSpec {
    pub fn new(idp: &TestIdp, sp_entity_id: &str, acs_url: &str, name_id: &str, now: DateTime<Utc>) -> Self {
        let unique = uuid_like(now, name_id);
        Self {
            response_id: format!("_r{unique}"),
            assertion_id: format!("_a{unique}"),
            issuer: idp.entity_id.clone(),
            destination: Some(acs_url.to_owned()),
            recipient: acs_url.to_owned(),
            audience: sp_entity_id.to_owned(),
            name_id: name_id.to_owned(),
            in_response_to: None,
            issued: now,
            not_before: now - Duration::seconds(30),
            not_on_or_after: now + Duration::minutes(5),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
        }
    }

    /// The unsigned response, with signature markers after both Issuers.
    pub fn xml(&self) -> String {
        let t = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
        let answers = self.in_response_to.as_ref().map(|r| format!(r#" InResponseTo="{r}""#)).unwrap_or_default();
        let destination = self.destination.as_ref().map(|d| format!(r#" Destination="{d}""#)).unwrap_or_default();
        format!(
            r#"<samlp:Response xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="{rid}" Version="2.0" IssueInstant="{issued}"{destination}{answers}><saml:Issuer>{issuer}</saml:Issuer><!--sign:{rid}--><samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status><saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{issued}"><saml:Issuer>{issuer}</saml:Issuer><!--sign:{aid}--><saml:Subject><saml:NameID Format="{EMAIL_FORMAT}">{name}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData Recipient="{recipient}" NotOnOrAfter="{end}"{answers}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{start}" NotOnOrAfter="{end}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}" SessionIndex="{aid}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{name}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#,
            rid = self.response_id,
            aid = self.assertion_id,
            issued = t(self.issued),
            issuer = self.issuer,
            status = self.status,
            name = self.name_id,
            recipient = self.recipient,
            audience = self.audience,
            start = t(self.not_before),
            end = t(self.not_on_or_after),
        )
    }

    /// Signed by `idp` on the assertion only, as most providers do by default.
    pub fn signed_assertion(&self, idp: &TestIdp) -> String {
        idp.sign(&self.xml(), &self.assertion_id)
    }
}

/// The form value a browser posts to the ACS.
pub fn post_value(xml: &str) -> String {
    b64(xml.as_bytes())
}

fn uuid_like(now: DateTime<Utc>, salt: &str) -> String {
    let mut random = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
    let digest = Sha256::digest(format!("{now}{salt}{}", hex::encode(random)).as_bytes());
    hex::encode(&digest[..12])
}
