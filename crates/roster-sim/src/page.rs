//! What both simulators' sign-in pages need: text made safe for HTML, and their own address.

use axum::http::{header, HeaderMap};

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `http://{Host}`: a simulator serves plain HTTP on loopback, at whatever address its client
/// used. A Host that could rewrite the path (an issuer's, say) is ignored.
pub(crate) fn loopback_base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c)))
        .unwrap_or("localhost");
    format!("http://{host}")
}
