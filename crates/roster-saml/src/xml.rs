//! A small, hardened XML reader. SAML needs elements, attributes, namespaces and text, nothing
//! else: a document type declaration (the door to XXE and entity bombs) is refused outright,
//! only the five predefined entities and character references are expanded, and comments are
//! dropped while the text around them is kept whole, so `a@x.com<!---->.evil` reads as
//! `a@x.com.evil`, exactly what canonicalisation (and so the signature) covers.

use std::collections::BTreeMap;
use std::sync::Arc;
use xmlparser::{ElementEnd, Token, Tokenizer};

/// Documents deeper than this are refused rather than walked.
pub const MAX_DEPTH: usize = 64;
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct XmlError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, XmlError> {
    Err(XmlError(message.into()))
}

/// Prefix → namespace URI, as in scope on an element; the default namespace under "".
pub type Scope = Arc<BTreeMap<String, String>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub prefix: String,
    pub local: String,
    /// The namespace of a prefixed attribute; unprefixed attributes have none.
    pub namespace: Option<String>,
    /// After attribute-value normalisation and reference expansion.
    pub value: String,
}

impl Attribute {
    pub fn qname(&self) -> String {
        if self.prefix.is_empty() {
            self.local.clone()
        } else {
            format!("{}:{}", self.prefix, self.local)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    Instruction { target: String, content: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub prefix: String,
    pub local: String,
    pub namespace: Option<String>,
    /// Ordinary attributes, without namespace declarations.
    pub attributes: Vec<Attribute>,
    pub scope: Scope,
    pub children: Vec<Node>,
}

impl Element {
    pub fn qname(&self) -> String {
        if self.prefix.is_empty() {
            self.local.clone()
        } else {
            format!("{}:{}", self.prefix, self.local)
        }
    }

    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.local == local && self.namespace.as_deref() == Some(namespace)
    }

    /// An unprefixed attribute's value.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.namespace.is_none() && a.local == local).map(|a| a.value.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    pub fn children_named<'a>(&'a self, namespace: &'a str, local: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter_map(move |n| match n {
            Node::Element(e) if e.is(namespace, local) => Some(e),
            _ => None,
        })
    }

    /// The one child of that name; `None` when there is none or more than one.
    pub fn only_child(&self, namespace: &str, local: &str) -> Option<&Element> {
        let mut found = self.elements().filter(|e| e.is(namespace, local));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// All text directly inside, joined (comments between pieces removed, not splitting them).
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Every element below this one, depth first.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.elements().collect();
        stack.reverse();
        while let Some(e) = stack.pop() {
            out.push(e);
            let mut kids: Vec<&Element> = e.elements().collect();
            kids.reverse();
            stack.extend(kids);
        }
        out
    }
}

/// Escapes text for an attribute value or element content in XML that Roster writes.
pub fn escape(value: &str) -> String {
    value.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Line ends as XML defines them: CR LF and lone CR become LF.
fn normalize_newlines(raw: &str) -> String {
    raw.replace("\r\n", "\n").replace('\r', "\n")
}

/// Expands the predefined entities and character references; anything else is refused.
fn expand(raw: &str) -> Result<String, XmlError> {
    if !raw.contains('&') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(end) = after.find(';') else { return err("an '&' that starts no reference") };
        let name = &after[..end];
        let ch = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    return err(format!("the entity &{name}; is not one XML predefines (entities are not allowed)"));
                };
                match code.and_then(char::from_u32) {
                    Some(c) if c != '\0' => c,
                    _ => return err(format!("&{name}; is not a character")),
                }
            }
        };
        out.push(ch);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn attribute_value(raw: &str) -> Result<String, XmlError> {
    // Literal whitespace becomes a space; whitespace written as a reference survives.
    let literal = normalize_newlines(raw).replace(['\n', '\t'], " ");
    expand(&literal)
}

struct Open {
    prefix: String,
    local: String,
    raw_attributes: Vec<(String, String, String)>,
}

/// Parses a whole document and returns its root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    let mut stack: Vec<Element> = Vec::new();
    let mut pending: Option<Open> = None;
    let mut root: Option<Element> = None;
    let base: Scope = Arc::new(BTreeMap::from([("xml".to_owned(), XML_NS.to_owned())]));

    for token in Tokenizer::from(text) {
        let token = token.map_err(|e| XmlError(format!("not well-formed XML: {e}")))?;
        match token {
            Token::Declaration { .. } | Token::Comment { .. } => {}
            Token::DtdStart { .. } | Token::EmptyDtd { .. } | Token::EntityDeclaration { .. } | Token::DtdEnd { .. } => {
                return err("the document has a DOCTYPE, which SAML never needs (refused before any other work)");
            }
            Token::ProcessingInstruction { target, content, .. } => {
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Instruction {
                        target: target.as_str().to_owned(),
                        content: content.map(|c| c.as_str().to_owned()).unwrap_or_default(),
                    });
                }
            }
            Token::ElementStart { prefix, local, .. } => {
                if root.is_some() {
                    return err("content after the root element");
                }
                if stack.len() >= MAX_DEPTH {
                    return err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                pending = Some(Open { prefix: prefix.as_str().to_owned(), local: local.as_str().to_owned(), raw_attributes: Vec::new() });
            }
            Token::Attribute { prefix, local, value, .. } => {
                let Some(open) = pending.as_mut() else { return err("an attribute outside a start tag") };
                open.raw_attributes.push((prefix.as_str().to_owned(), local.as_str().to_owned(), attribute_value(value.as_str())?));
            }
            Token::ElementEnd { end, .. } => match end {
                ElementEnd::Open | ElementEnd::Empty => {
                    let Some(open) = pending.take() else { return err("a tag end without a start") };
                    let parent_scope = stack.last().map(|p| p.scope.clone()).unwrap_or_else(|| base.clone());
                    let element = build(&open, parent_scope)?;
                    if matches!(end, ElementEnd::Open) {
                        stack.push(element);
                    } else {
                        close(&mut stack, &mut root, element)?;
                    }
                }
                ElementEnd::Close(prefix, local) => {
                    let Some(element) = stack.pop() else { return err("a closing tag without an opening one") };
                    if element.prefix != prefix.as_str() || element.local != local.as_str() {
                        return err(format!("</{}> closes <{}>", qname(prefix.as_str(), local.as_str()), element.qname()));
                    }
                    close(&mut stack, &mut root, element)?;
                }
            },
            Token::Text { text } => {
                if let Some(parent) = stack.last_mut() {
                    push_text(parent, expand(&normalize_newlines(text.as_str()))?);
                } else if !text.as_str().trim().is_empty() {
                    return err("text outside the root element");
                }
            }
            Token::Cdata { text, .. } => {
                let Some(parent) = stack.last_mut() else { return err("CDATA outside the root element") };
                push_text(parent, normalize_newlines(text.as_str()));
            }
        }
    }
    if !stack.is_empty() {
        return err("the document ends inside an element");
    }
    root.ok_or_else(|| XmlError("the document has no root element".into()))
}

fn qname(prefix: &str, local: &str) -> String {
    if prefix.is_empty() {
        local.to_owned()
    } else {
        format!("{prefix}:{local}")
    }
}

/// Adjacent text (split only by a dropped comment) stays one string.
fn push_text(parent: &mut Element, text: String) {
    if let Some(Node::Text(last)) = parent.children.last_mut() {
        last.push_str(&text);
    } else if !text.is_empty() {
        parent.children.push(Node::Text(text));
    }
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(element)),
        None => *root = Some(element),
    }
    Ok(())
}

fn build(open: &Open, parent_scope: Scope) -> Result<Element, XmlError> {
    let mut scope = parent_scope;
    let declarations: Vec<(String, String)> = open
        .raw_attributes
        .iter()
        .filter_map(|(prefix, local, value)| match (prefix.as_str(), local.as_str()) {
            ("", "xmlns") => Some((String::new(), value.clone())),
            ("xmlns", p) => Some((p.to_owned(), value.clone())),
            _ => None,
        })
        .collect();
    if !declarations.is_empty() {
        let mut map = (*scope).clone();
        for (prefix, uri) in declarations {
            if prefix == "xml" || prefix == "xmlns" {
                return err("the xml and xmlns prefixes cannot be redeclared");
            }
            if uri.is_empty() && !prefix.is_empty() {
                return err(format!("the prefix {prefix} is undeclared with an empty URI"));
            }
            if uri.is_empty() {
                map.remove("");
            } else {
                map.insert(prefix, uri);
            }
        }
        scope = Arc::new(map);
    }
    let resolve = |prefix: &str| -> Result<Option<String>, XmlError> {
        match scope.get(prefix) {
            Some(uri) => Ok(Some(uri.clone())),
            None if prefix.is_empty() => Ok(None),
            None => err(format!("the prefix {prefix} is not declared")),
        }
    };
    let namespace = resolve(&open.prefix)?;
    let mut attributes: Vec<Attribute> = Vec::new();
    for (prefix, local, value) in &open.raw_attributes {
        if (prefix.is_empty() && local == "xmlns") || prefix == "xmlns" {
            continue;
        }
        let namespace = if prefix.is_empty() { None } else { resolve(prefix)? };
        if attributes.iter().any(|a| a.local == *local && a.namespace == namespace) {
            return err(format!("the attribute {} appears twice", qname(prefix, local)));
        }
        attributes.push(Attribute { prefix: prefix.clone(), local: local.clone(), namespace, value: value.clone() });
    }
    Ok(Element { prefix: open.prefix.clone(), local: open.local.clone(), namespace, attributes, scope, children: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_namespaces_attributes_and_text() {
        let doc = parse(r#"<?xml version="1.0"?><a:r xmlns:a="urn:a" xmlns="urn:d" x="1&amp;2"><c a:y="&#x9;t">hi &lt;there&gt;</c></a:r>"#).unwrap();
        assert!(doc.is("urn:a", "r"));
        assert_eq!(doc.attr("x"), Some("1&2"));
        let c = doc.elements().next().unwrap();
        assert!(c.is("urn:d", "c"));
        assert_eq!(c.attributes[0].namespace.as_deref(), Some("urn:a"));
        assert_eq!(c.attributes[0].value, "\tt");
        assert_eq!(c.text(), "hi <there>");
    }

    #[test]
    fn refuses_doctypes_entities_and_undeclared_prefixes() {
        for bad in [
            r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#,
            r#"<!DOCTYPE r><r/>"#,
            "<r>&custom;</r>",
            "<p:r/>",
            "<r><a></b></r>",
            "<r/><r/>",
            "<r>",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_comment_does_not_split_text() {
        let doc = parse("<n>user@evil.com<!---->.victim.com</n>").unwrap();
        assert_eq!(doc.text(), "user@evil.com.victim.com");
        assert_eq!(doc.children.len(), 1);
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert!(parse(&deep).is_err());
    }
}
