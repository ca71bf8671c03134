//! The filter AST. Easy to walk: every enum is public, attribute names and schema URNs are
//! lower-cased at parse time, so a consumer compares with `==` and never worries about case.

use serde_json::Number;
use std::fmt;

/// `[URI ":"] ATTRNAME ["." subAttr]`, lower-cased.
///
/// Inside [`Filter::ValuePath`]'s inner filter, `attr` names a sub-attribute of the value
/// path's attribute (`emails[type eq "work"]` → `type` is `emails.type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN, without the trailing ':'.
    pub urn: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// A path from already-valid names; lower-cases them.
    pub fn new(urn: Option<&str>, attr: &str, sub_attr: Option<&str>) -> Self {
        AttrPath { urn: urn.map(str::to_ascii_lowercase), attr: attr.to_ascii_lowercase(), sub_attr: sub_attr.map(str::to_ascii_lowercase) }
    }

    pub fn attr(attr: &str) -> Self {
        Self::new(None, attr, None)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

impl CompareOp {
    pub const ALL: [CompareOp; 9] =
        [CompareOp::Eq, CompareOp::Ne, CompareOp::Co, CompareOp::Sw, CompareOp::Ew, CompareOp::Gt, CompareOp::Lt, CompareOp::Ge, CompareOp::Le];

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Lt => "lt",
            CompareOp::Ge => "ge",
            CompareOp::Le => "le",
        }
    }

    /// Case-insensitive, as RFC 7644 §3.4.2.2 requires.
    pub fn parse(word: &str) -> Option<CompareOp> {
        CompareOp::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    /// `gt`, `ge`, `lt`, `le`: meaningless on booleans and binary data.
    pub fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Lt | CompareOp::Ge | CompareOp::Le)
    }

    /// `co`, `sw`, `ew`: defined on strings only.
    pub fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `compValue = false / null / true / number / string` (JSON literals).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(Number),
    Str(String),
}

impl CompValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            CompValue::Null => serde_json::Value::Null,
            CompValue::Bool(b) => serde_json::Value::Bool(*b),
            CompValue::Number(n) => serde_json::Value::Number(n.clone()),
            CompValue::Str(s) => serde_json::Value::String(s.clone()),
        }
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            // serde_json writes a valid JSON string literal with every needed escape.
            CompValue::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attr[filter]`: one value of the multi-valued `attr` must satisfy all of `filter`.
    /// Entra's `emails[type eq "work"].value eq "x"` parses to
    /// `emails[type eq "work" and value eq "x"]`, which means the same.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    pub fn and(left: Filter, right: Filter) -> Filter {
        Filter::And(Box::new(left), Box::new(right))
    }

    pub fn or(left: Filter, right: Filter) -> Filter {
        Filter::Or(Box::new(left), Box::new(right))
    }

    #[expect(clippy::should_implement_trait, reason = "a constructor, not negation of a value")]
    pub fn not(inner: Filter) -> Filter {
        Filter::Not(Box::new(inner))
    }

    pub fn compare(path: AttrPath, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare { path, op, value }
    }

    /// Binding strength, for printing only the parentheses the parser needs.
    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }

    fn write_operand(&self, f: &mut fmt::Formatter<'_>, parens: bool) -> fmt::Result {
        if parens {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

/// Prints a filter that parses back to the same AST. `and`/`or` are left-associative, so a
/// right operand of equal precedence needs parentheses.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(l, r) | Filter::Or(l, r) => {
                let own = self.precedence();
                let word = if matches!(self, Filter::And(..)) { "and" } else { "or" };
                l.write_operand(f, l.precedence() < own)?;
                write!(f, " {word} ")?;
                r.write_operand(f, r.precedence() <= own)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}
