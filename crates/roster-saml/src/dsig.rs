//! Enveloped XML signatures, checked the narrow way SAML needs: the signature is a direct child
//! of the element it signs, its one reference names that element's ID, the transforms are the
//! enveloped-signature transform and exclusive canonicalisation, the algorithms are on an
//! allowlist (RSA with SHA-256 or stronger), and the key is one the admin pinned, never one the
//! message carries.

use crate::c14n::exclusive;
use crate::cert::Certificate;
use crate::xml::Element;
use crate::SamlError;
use base64::Engine;
use rsa::Pkcs1v15Sign;
use sha2::{Digest, Sha256, Sha384, Sha512};

pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn scheme(self) -> Pkcs1v15Sign {
        match self {
            Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
            Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
        }
    }

    fn of_signature(uri: &str) -> Result<Self, SamlError> {
        match uri {
            RSA_SHA256 => Ok(Hash::Sha256),
            RSA_SHA384 => Ok(Hash::Sha384),
            RSA_SHA512 => Ok(Hash::Sha512),
            other => Err(bad(format!("the signature algorithm {other} is not allowed (use RSA-SHA256; SHA-1 and HMAC are refused)"))),
        }
    }

    fn of_digest(uri: &str) -> Result<Self, SamlError> {
        match uri {
            SHA256 => Ok(Hash::Sha256),
            SHA384 => Ok(Hash::Sha384),
            SHA512 => Ok(Hash::Sha512),
            other => Err(bad(format!("the digest algorithm {other} is not allowed (use SHA-256)"))),
        }
    }
}

fn bad(why: impl Into<String>) -> SamlError {
    SamlError::Signature(why.into())
}

fn base64_body(e: &Element) -> Result<Vec<u8>, SamlError> {
    let compact: String = e.text().chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| bad(format!("{} is not base64", e.local)))
}

/// The `ds:Signature` directly inside `element`, if it has one; more than one is an error.
pub fn enveloped_signature(element: &Element) -> Result<Option<&Element>, SamlError> {
    let mut found = element.children_named(DSIG_NS, "Signature");
    let first = found.next();
    if found.next().is_some() {
        return Err(bad(format!("{} carries more than one signature", element.local)));
    }
    Ok(first)
}

fn algorithm<'a>(parent: &'a Element, local: &str) -> Result<&'a str, SamlError> {
    parent.only_child(DSIG_NS, local).and_then(|e| e.attr("Algorithm")).ok_or_else(|| bad(format!("the signature has no single {local}")))
}

/// The prefixes an exclusive-c14n method or transform lists as inclusive.
fn inclusive_prefixes(method: &Element) -> Vec<String> {
    method
        .children_named(EXC_C14N, "InclusiveNamespaces")
        .filter_map(|e| e.attr("PrefixList"))
        .flat_map(|list| list.split_whitespace().map(str::to_owned))
        .collect()
}

/// Checks the enveloped signature of `signed` against the pinned certificates.
pub fn verify(signed: &Element, pinned: &[Certificate]) -> Result<(), SamlError> {
    let id = signed.attr("ID").filter(|id| !id.is_empty()).ok_or_else(|| bad(format!("the signed {} has no ID", signed.local)))?;
    let signature = enveloped_signature(signed)?.ok_or_else(|| bad(format!("the {} is not signed", signed.local)))?;
    let info = signature.only_child(DSIG_NS, "SignedInfo").ok_or_else(|| bad("the signature has no single SignedInfo"))?;

    let canonicalization = info.only_child(DSIG_NS, "CanonicalizationMethod").ok_or_else(|| bad("the signature has no CanonicalizationMethod"))?;
    if canonicalization.attr("Algorithm") != Some(EXC_C14N) {
        return Err(bad("SignedInfo must be canonicalised with exclusive c14n (without comments)"));
    }
    let hash = Hash::of_signature(algorithm(info, "SignatureMethod")?)?;

    let mut references = info.children_named(DSIG_NS, "Reference");
    let reference = references.next().ok_or_else(|| bad("the signature references nothing"))?;
    if references.next().is_some() {
        return Err(bad("the signature has more than one reference"));
    }
    if reference.attr("URI") != Some(format!("#{id}").as_str()) {
        // The signature must cover the very element it sits in; a reference elsewhere is how
        // signature wrapping starts.
        return Err(bad(format!("the signature inside {} does not reference it", signed.local)));
    }
    let mut enveloped = false;
    let mut prefixes = Vec::new();
    if let Some(transforms) = reference.only_child(DSIG_NS, "Transforms") {
        for transform in transforms.children_named(DSIG_NS, "Transform") {
            match transform.attr("Algorithm") {
                Some(ENVELOPED) => enveloped = true,
                Some(EXC_C14N) => prefixes = inclusive_prefixes(transform),
                other => return Err(bad(format!("the transform {} is not allowed", other.unwrap_or("(none)")))),
            }
        }
    }
    if !enveloped {
        return Err(bad("the reference lacks the enveloped-signature transform"));
    }
    let digest_method = Hash::of_digest(algorithm(reference, "DigestMethod")?)?;
    let expected = base64_body(reference.only_child(DSIG_NS, "DigestValue").ok_or_else(|| bad("the reference has no DigestValue"))?)?;
    let actual = digest_method.digest(exclusive(signed, Some(signature), &prefixes).as_bytes());
    if actual != expected {
        return Err(bad(format!("the {} was changed after it was signed (its digest does not match)", signed.local)));
    }

    let value = base64_body(signature.only_child(DSIG_NS, "SignatureValue").ok_or_else(|| bad("the signature has no SignatureValue"))?)?;
    let canonical_info = exclusive(info, None, &inclusive_prefixes(canonicalization));
    let hashed = hash.digest(canonical_info.as_bytes());
    if pinned.iter().any(|cert| cert.key.verify(hash.scheme(), &hashed, &value).is_ok()) {
        Ok(())
    } else {
        Err(bad(
            "it was not made with the identity provider's certificate that Roster has on file (was the certificate renewed? update the metadata)",
        ))
    }
}
