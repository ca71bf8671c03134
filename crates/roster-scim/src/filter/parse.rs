//! A hand-written recursive-descent parser for RFC 7644 §3.4.2.2 filters and §3.5.2 PATCH
//! paths. Scannerless: the meaning of a character depends on where it stands (a ':' or '.'
//! inside an attribute path, any character inside an unquoted value), which a separate
//! lexer would have to guess.
//!
//! Beyond the ABNF it accepts, deliberately:
//! - Entra's `emails[type eq "work"].value eq "x"` (a value path followed by a sub-attribute
//!   and a comparison), parsed as `emails[type eq "work" and value eq "x"]`;
//! - unquoted values such as Entra's documented `externalId eq jyoung`: a bare word that is
//!   not `true`, `false`, `null` or a JSON number is taken as a string. Refusing it would
//!   fail a real client for no safety gain; the word cannot contain whitespace or
//!   brackets, so it never swallows the rest of the filter;
//! - `True`/`FALSE`/`Null` in any case, for the same reason.
//!
//! Refused before parsing: input longer than [`MAX_FILTER_CHARS`] and any control character
//! but tab, in the text or in a decoded string literal (`"\u0000"`): storage cannot hold a
//! NUL and no attribute value contains one. While parsing: more than [`MAX_FILTER_TERMS`]
//! comparisons or nesting deeper than [`MAX_FILTER_DEPTH`].

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use crate::error::ScimError;
use crate::limits::{MAX_FILTER_CHARS, MAX_FILTER_DEPTH, MAX_FILTER_TERMS};
use serde_json::Number;

/// Nesting limit: with [`MAX_TERMS`] it keeps recursion (here, in `Display`, `Drop` and
/// evaluation) far from the stack's end whatever a client sends.
const MAX_DEPTH: usize = MAX_FILTER_DEPTH;
/// Comparison limit: a filter is a lookup, not a program; a chain of `and` or `or` is as
/// deep in the AST as it is long, so this also bounds the depth of the tree.
const MAX_TERMS: usize = MAX_FILTER_TERMS;

/// Parses a `filter=` query value.
pub fn parse_filter(input: &str) -> Result<Filter, ScimError> {
    check_input(input, "filter").map_err(ScimError::invalid_filter)?;
    let mut parser = Parser::new(input);
    parser.filter_to_end().map_err(|e| ScimError::invalid_filter(e.render(input)))
}

/// Whether `c` is refused in a filter or a path, raw or decoded from a string literal.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\t'
}

/// The checks that run before parsing, so that the parser's work is bounded by the length.
fn check_input(input: &str, what: &str) -> Result<(), String> {
    // A char is at least one byte, so only long inputs need counting.
    if input.len() > MAX_FILTER_CHARS && input.chars().count() > MAX_FILTER_CHARS {
        return Err(format!("the {what} is longer than {MAX_FILTER_CHARS} characters"));
    }
    // Positions count bytes from 1, as the parser's own messages do.
    if let Some((index, _)) = input.char_indices().find(|(_, c)| is_forbidden_control(*c)) {
        return Err(format!("the {what} contains a control character at position {}", index + 1));
    }
    Ok(())
}

/// A PATCH operation's `path` (RFC 7644 §3.5.2, `PATH = attrPath / valuePath [subAttr]`).
/// For `emails[type eq "work"].value` the sub-attribute lands in `path.sub_attr`, exactly
/// where `name.givenName` puts `givenname`, so both read the same downstream.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub path: AttrPath,
    pub filter: Option<Filter>,
}

pub fn parse_patch_path(input: &str) -> Result<PatchPath, ScimError> {
    check_input(input, "path").map_err(ScimError::invalid_path)?;
    let mut parser = Parser::new(input);
    parser.patch_path_to_end().map_err(|e| ScimError::invalid_path(e.render(input)))
}

struct ParseError {
    pos: usize,
    message: String,
}

impl ParseError {
    fn render(&self, input: &str) -> String {
        if self.pos >= input.len() {
            format!("{} at the end of the filter", self.message)
        } else {
            format!("{} at position {}", self.message, self.pos + 1)
        }
    }
}

type Parsed<T> = Result<T, ParseError>;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    terms: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$')
}

/// `ATTRNAME = ALPHA *(nameChar)` (RFC 7644 §3.10; `$ref` too).
fn is_attr_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '$') && name.chars().all(is_name_char)
}

/// Characters that may appear in `[URI ":"] ATTRNAME ["." subAttr]`.
fn is_path_char(c: char) -> bool {
    is_name_char(c) || matches!(c, ':' | '.')
}

fn is_bare_value_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// A JSON number (RFC 8259 grammar). Floats go through the standard library's correctly
/// rounded parser: serde_json's default one can be off by one unit in the last place,
/// which would break printing and re-parsing a filter.
fn json_number(word: &str) -> Option<Number> {
    if !word.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return None;
    }
    serde_json::from_str::<Number>(word).ok()?;
    if let Ok(i) = word.parse::<i64>() {
        return Some(Number::from(i));
    }
    if let Ok(u) = word.parse::<u64>() {
        return Some(Number::from(u));
    }
    word.parse::<f64>().ok().and_then(Number::from_f64)
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser { src, pos: 0, depth: 0, terms: 0 }
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error<T>(&self, message: impl Into<String>) -> Parsed<T> {
        Err(ParseError { pos: self.pos, message: message.into() })
    }

    fn skip_ws(&mut self) -> bool {
        let before = self.pos;
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
        self.pos > before
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        self.pos += len;
        rest.get(..len).unwrap_or("")
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Parsed<()> {
        self.skip_ws();
        if self.eat(c) {
            Ok(())
        } else {
            let found = self.describe_next();
            self.error(format!("expected '{c}' {what}, found {found}"))
        }
    }

    fn describe_next(&self) -> String {
        let word: String = self.rest().chars().take_while(|c| !c.is_whitespace()).take(20).collect();
        if word.is_empty() {
            "nothing".to_owned()
        } else {
            format!("\"{word}\"")
        }
    }

    /// A case-insensitive keyword that must end at a word boundary.
    fn peek_keyword(&self, word: &str) -> bool {
        let rest = self.rest();
        match (rest.get(..word.len()), rest.get(word.len()..)) {
            (Some(head), Some(tail)) => head.eq_ignore_ascii_case(word) && !tail.starts_with(is_path_char),
            _ => false,
        }
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error(format!("the filter is nested more than {MAX_DEPTH} levels deep"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn count_term(&mut self) -> Parsed<()> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return self.error(format!("the filter has more than {MAX_TERMS} comparisons"));
        }
        Ok(())
    }

    fn filter_to_end(&mut self) -> Parsed<Filter> {
        self.skip_ws();
        if self.rest().is_empty() {
            return self.error("the filter is empty");
        }
        let filter = self.or_expr(false)?;
        self.expect_end()?;
        Ok(filter)
    }

    fn expect_end(&mut self) -> Parsed<()> {
        self.skip_ws();
        if self.rest().is_empty() {
            Ok(())
        } else {
            let found = self.describe_next();
            self.error(format!("unexpected {found}; expected 'and', 'or' or the end of the filter"))
        }
    }

    /// `or` binds loosest; chains are left-associative.
    fn or_expr(&mut self, in_value_path: bool) -> Parsed<Filter> {
        let mut left = self.and_expr(in_value_path)?;
        while self.next_is_logical("or") {
            let right = self.and_expr(in_value_path)?;
            left = Filter::or(left, right);
        }
        Ok(left)
    }

    fn and_expr(&mut self, in_value_path: bool) -> Parsed<Filter> {
        let mut left = self.unary(in_value_path)?;
        while self.next_is_logical("and") {
            let right = self.unary(in_value_path)?;
            left = Filter::and(left, right);
        }
        Ok(left)
    }

    /// Consumes `word` if it is the next token; leaves the position alone otherwise.
    fn next_is_logical(&mut self, word: &str) -> bool {
        let start = self.pos;
        self.skip_ws();
        if self.peek_keyword(word) {
            self.pos += word.len();
            true
        } else {
            self.pos = start;
            false
        }
    }

    fn unary(&mut self, in_value_path: bool) -> Parsed<Filter> {
        self.skip_ws();
        if self.eat('(') {
            self.enter()?;
            let inner = self.or_expr(in_value_path)?;
            self.expect(')', "to close the group")?;
            self.leave();
            return Ok(inner);
        }
        if self.at_not() {
            self.pos += "not".len();
            self.skip_ws();
            self.eat('(');
            self.enter()?;
            let inner = self.or_expr(in_value_path)?;
            self.expect(')', "to close 'not ('")?;
            self.leave();
            return Ok(Filter::not(inner));
        }
        self.attr_expr_or_value_path(in_value_path)
    }

    /// `not` is the keyword only when '(' follows, so an attribute called `not` still works.
    fn at_not(&self) -> bool {
        self.peek_keyword("not") && self.rest().get(3..).is_some_and(|tail| tail.trim_start().starts_with('('))
    }

    fn attr_expr_or_value_path(&mut self, in_value_path: bool) -> Parsed<Filter> {
        let path = self.attr_path()?;
        if self.peek() != Some('[') {
            return self.attr_expr(path);
        }
        if in_value_path {
            return self.error("a value filter cannot contain another value filter");
        }
        if path.sub_attr.is_some() {
            return self.error("'[' must follow a multi-valued attribute, not a sub-attribute");
        }
        let inner = self.value_filter()?;
        // Entra's `emails[type eq "work"].value eq "x"`.
        let filter = if self.eat('.') {
            let sub = self.attr_name("a sub-attribute name after '].'")?;
            let extra = self.attr_expr(AttrPath::attr(sub))?;
            Filter::and(inner, extra)
        } else {
            inner
        };
        Ok(Filter::ValuePath { attr: path, filter: Box::new(filter) })
    }

    fn value_filter(&mut self) -> Parsed<Filter> {
        self.eat('[');
        self.enter()?;
        let inner = self.or_expr(true)?;
        self.expect(']', "to close the value filter")?;
        self.leave();
        Ok(inner)
    }

    fn attr_name(&mut self, what: &str) -> Parsed<&'a str> {
        let start = self.pos;
        let name = self.take_while(is_name_char);
        if name.is_empty() {
            let found = self.describe_next();
            return self.error(format!("expected {what}, found {found}"));
        }
        if !is_attr_name(name) {
            self.pos = start;
            return self.error(format!("\"{name}\" is not a valid attribute name"));
        }
        Ok(name)
    }

    /// `[URI ":"] ATTRNAME ["." subAttr]`. Schema URNs contain "2.0", so the URN ends at the
    /// last ':' and sub-attributes are looked for only after it.
    fn attr_path(&mut self) -> Parsed<AttrPath> {
        let start = self.pos;
        let text = self.take_while(is_path_char);
        if text.is_empty() {
            self.pos = start;
            let found = self.describe_next();
            return self.error(format!("expected an attribute name, found {found}"));
        }
        let (urn, local) = match text.rfind(':') {
            Some(i) => (text.get(..i), text.get(i + 1..).unwrap_or("")),
            None => (None, text),
        };
        let mut parts = local.split('.');
        let attr = parts.next().unwrap_or("");
        let sub = parts.next();
        if parts.next().is_some() || !is_attr_name(attr) || sub.is_some_and(|s| !is_attr_name(s)) || urn.is_some_and(|u| u.is_empty()) {
            self.pos = start;
            return self.error(format!("\"{text}\" is not a valid attribute path"));
        }
        Ok(AttrPath::new(urn, attr, sub))
    }

    fn attr_expr(&mut self, path: AttrPath) -> Parsed<Filter> {
        self.count_term()?;
        if !self.skip_ws() {
            let found = self.describe_next();
            return self.error(format!("expected an operator after \"{path}\", found {found}"));
        }
        let op_start = self.pos;
        let word = self.take_while(|c| c.is_ascii_alphanumeric());
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::parse(word) else {
            self.pos = op_start;
            let found = if word.is_empty() { self.describe_next() } else { format!("'{word}'") };
            return self.error(format!("the operator {found} is not supported; use eq, ne, co, sw, ew, gt, lt, ge, le or pr"));
        };
        self.skip_ws();
        let value_start = self.pos;
        let value = self.comp_value()?;
        let allowed = match &value {
            CompValue::Bool(_) => matches!(op, CompareOp::Eq | CompareOp::Ne),
            CompValue::Null => matches!(op, CompareOp::Eq | CompareOp::Ne),
            CompValue::Number(_) => !op.is_substring(),
            CompValue::Str(_) => true,
        };
        if !allowed {
            self.pos = value_start;
            return self.error(format!("the operator '{op}' cannot compare with {value}"));
        }
        Ok(Filter::compare(path, op, value))
    }

    fn comp_value(&mut self) -> Parsed<CompValue> {
        if self.peek() == Some('"') {
            return self.string_literal().map(CompValue::Str);
        }
        let word = self.take_while(is_bare_value_char);
        if word.is_empty() {
            let found = self.describe_next();
            return self.error(format!("expected a value, found {found}"));
        }
        Ok(match word.to_ascii_lowercase().as_str() {
            "true" => CompValue::Bool(true),
            "false" => CompValue::Bool(false),
            "null" => CompValue::Null,
            _ => json_number(word).map_or_else(|| CompValue::Str(word.to_owned()), CompValue::Number),
        })
    }

    /// A JSON string literal; serde_json decodes the escapes so `\"`, `\\` and `\u00e9`
    /// mean what RFC 8259 says.
    fn string_literal(&mut self) -> Parsed<String> {
        let start = self.pos;
        let rest = self.rest();
        let mut escaped = false;
        let mut end = None;
        for (i, c) in rest.char_indices().skip(1) {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i + 1);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            return self.error("the string is missing its closing '\"'");
        };
        let literal = rest.get(..end).unwrap_or("");
        match serde_json::from_str::<String>(literal) {
            Ok(s) if s.contains(is_forbidden_control) => self.error("the string contains a control character"),
            Ok(s) => {
                self.pos = start + end;
                Ok(s)
            }
            Err(e) => self.error(format!("the string is not valid JSON ({e})")),
        }
    }

    fn patch_path_to_end(&mut self) -> Parsed<PatchPath> {
        self.skip_ws();
        let mut path = self.attr_path()?;
        let mut filter = None;
        if self.peek() == Some('[') {
            if path.sub_attr.is_some() {
                return self.error("'[' must follow a multi-valued attribute, not a sub-attribute");
            }
            filter = Some(self.value_filter()?);
            if self.eat('.') {
                let sub = self.attr_name("a sub-attribute name after '].'")?;
                path.sub_attr = Some(sub.to_ascii_lowercase());
            }
        }
        self.skip_ws();
        if !self.rest().is_empty() {
            let found = self.describe_next();
            return self.error(format!("unexpected {found} after the path"));
        }
        Ok(PatchPath { path, filter })
    }
}
