//! Exclusive XML canonicalisation without comments (xml-exc-c14n), the form SAML signatures
//! are computed over. An element declares only the namespaces it visibly uses (its own prefix
//! and its attributes'), plus any the signer listed as inclusive, and only where the nearest
//! rendered ancestor did not already declare the same binding.

use crate::xml::{Element, Node};
use std::collections::{BTreeMap, BTreeSet};

/// The canonical form of `apex`, leaving out `omit` (the enveloped signature) wherever it is.
/// `inclusive` is the transform's `InclusiveNamespaces PrefixList` (`#default` for the default
/// namespace).
pub fn exclusive(apex: &Element, omit: Option<&Element>, inclusive: &[String]) -> String {
    let mut out = String::with_capacity(4096);
    write_element(apex, omit, inclusive, &BTreeMap::new(), &mut out);
    out
}

fn write_element(e: &Element, omit: Option<&Element>, inclusive: &[String], rendered: &BTreeMap<String, String>, out: &mut String) {
    let mut wanted: BTreeSet<&str> = BTreeSet::new();
    wanted.insert(e.prefix.as_str());
    for a in &e.attributes {
        if !a.prefix.is_empty() && a.prefix != "xml" {
            wanted.insert(a.prefix.as_str());
        }
    }
    for p in inclusive {
        let p = if p == "#default" { "" } else { p.as_str() };
        if e.scope.contains_key(p) {
            wanted.insert(p);
        }
    }

    let mut declared = rendered.clone();
    let mut declarations = String::new();
    // BTreeSet order: the default namespace ("") first, then by prefix, as c14n sorts them.
    for prefix in wanted {
        let uri = e.scope.get(prefix).map(String::as_str).unwrap_or("");
        let before = rendered.get(prefix).map(String::as_str);
        let emit = if prefix.is_empty() && uri.is_empty() { before.is_some_and(|b| !b.is_empty()) } else { before != Some(uri) };
        if emit {
            declarations.push_str(if prefix.is_empty() { " xmlns" } else { " xmlns:" });
            declarations.push_str(prefix);
            declarations.push_str("=\"");
            escape_attribute(uri, &mut declarations);
            declarations.push('"');
            declared.insert(prefix.to_owned(), uri.to_owned());
        }
    }

    let qname = e.qname();
    out.push('<');
    out.push_str(&qname);
    out.push_str(&declarations);
    let mut attributes: Vec<_> = e.attributes.iter().collect();
    attributes
        .sort_by(|a, b| (a.namespace.as_deref().unwrap_or(""), a.local.as_str()).cmp(&(b.namespace.as_deref().unwrap_or(""), b.local.as_str())));
    for a in attributes {
        out.push(' ');
        out.push_str(&a.qname());
        out.push_str("=\"");
        escape_attribute(&a.value, out);
        out.push('"');
    }
    out.push('>');
    for child in &e.children {
        match child {
            Node::Element(c) if omit.is_some_and(|o| std::ptr::eq(o, c)) => {}
            Node::Element(c) => write_element(c, omit, inclusive, &declared, out),
            Node::Text(t) => escape_text(t, out),
            Node::Instruction { target, content } => {
                out.push_str("<?");
                out.push_str(target);
                if !content.is_empty() {
                    out.push(' ');
                    out.push_str(content);
                }
                out.push_str("?>");
            }
        }
    }
    out.push_str("</");
    out.push_str(&qname);
    out.push('>');
}

fn escape_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attribute(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    fn canon(xml: &str, inclusive: &[&str]) -> String {
        let inclusive: Vec<String> = inclusive.iter().map(|s| s.to_string()).collect();
        exclusive(&parse(xml).unwrap(), None, &inclusive)
    }

    #[test]
    fn declares_only_visibly_used_namespaces_sorted() {
        let xml = r#"<a:r xmlns:z="urn:z" xmlns:a="urn:a" xmlns:b="urn:b" b:y="2" x="1"><a:c/><z:d/></a:r>"#;
        assert_eq!(canon(xml, &[]), r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" x="1" b:y="2"><a:c></a:c><z:d xmlns:z="urn:z"></z:d></a:r>"#);
    }

    #[test]
    fn an_inner_apex_brings_the_bindings_it_uses() {
        let doc = parse(r#"<p:o xmlns:p="urn:p" xmlns:s="urn:s"><s:in ID="1">t</s:in></p:o>"#).unwrap();
        let inner = doc.elements().next().unwrap();
        assert_eq!(exclusive(inner, None, &[]), r#"<s:in xmlns:s="urn:s" ID="1">t</s:in>"#);
    }

    #[test]
    fn inclusive_prefixes_are_rendered_where_in_scope() {
        let xml = r#"<r xmlns:xs="urn:xs" xmlns:xsi="urn:xsi"><v xsi:type="xs:string">x</v></r>"#;
        assert_eq!(canon(xml, &["xs"]), r#"<r xmlns:xs="urn:xs"><v xmlns:xsi="urn:xsi" xsi:type="xs:string">x</v></r>"#);
    }

    #[test]
    fn escapes_and_drops_comments() {
        let xml = "<r a=\"&quot;&#xA;&lt;\">a&amp;b &gt; <!-- no -->c&#xD;</r>";
        assert_eq!(canon(xml, &[]), "<r a=\"&quot;&#xA;&lt;\">a&amp;b &gt; c&#xD;</r>");
    }

    #[test]
    fn the_default_namespace_is_undeclared_only_when_needed() {
        let xml = r#"<r xmlns="urn:d"><c xmlns=""><e/></c></r>"#;
        assert_eq!(canon(xml, &[]), r#"<r xmlns="urn:d"><c xmlns=""><e></e></c></r>"#);
    }

    #[test]
    fn leaves_out_the_omitted_element() {
        let doc = parse("<r><s>sig</s><k>v</k></r>").unwrap();
        let s = doc.elements().next().unwrap();
        assert_eq!(exclusive(&doc, Some(s), &[]), "<r><k>v</k></r>");
    }
}
