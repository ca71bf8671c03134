//! The one place a SCIM filter (`roster_scim::Filter`) and `sortBy` become SQL, for both
//! backends. Values are always bound, never spliced; attribute names are spliced only as they
//! are spelled in the schema (static text), never as the client wrote them. The resources table
//! is aliased `r`.
//!
//! Indexed columns serve `id` (`eq` only), `externalId`, `userName` and `displayName`
//! (case-insensitive, through lower-cased copies) and `meta.created` / `meta.lastModified`
//! (`eq`, `gt`, `ge`, `lt`, `le`, `pr`). Every other attribute is read from the stored JSON
//! document (`json_extract` on SQLite, `jsonb_extract_path_text` on PostgreSQL), multi-valued
//! ones through `json_each` / `jsonb_array_elements`, so `emails[type eq "work"].value eq "x"`
//! works on both. Refused with a 400 (`invalidFilter`): comparing numbers, `id` with anything
//! but `eq`/`ne`/`pr`, the other `meta` sub-attributes, and nesting deeper than
//! [`MAX_SCIM_FILTER_DEPTH`]. A chain of one operator (`a or b or c ...`, as deep in the AST as
//! it is long) is flattened into one SQL list and walked without recursion, so only real
//! nesting counts: a switch between `and` and `or`, `not`, a value filter. On SQLite,
//! case-insensitive matching of JSON attributes folds ASCII letters only (its `lower()`); the
//! indexed `userName`/`displayName` fold all of Unicode.

use super::prefix_upper_bound;
use chrono::{DateTime, Utc};
use roster_scim::schema::{AttrType, AttributeDef, Resolved};
use roster_scim::{AttrPath, CompValue, CompareOp, Filter, Schema, Sort};
use uuid::Uuid;

/// Deeper filters are refused rather than compiled into an unbounded statement. Depth counts
/// groups (an `and` inside an `or` or the reverse), `not` and value filters, not the terms of
/// a chain: `roster_scim` bounds those ([`roster_scim::limits::MAX_FILTER_TERMS`]).
pub const MAX_SCIM_FILTER_DEPTH: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Uuid(Uuid),
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Sql(String),
    Bind(Bind),
}

/// Whether storage can evaluate this filter; the error is the detail of a 400 `invalidFilter`.
/// The filter must already have passed `Filter::validate` against `schema`.
pub fn check_scim_filter(filter: &Filter, schema: &Schema) -> Result<(), String> {
    compile_filter(Dialect::Sqlite, schema, filter).map(|_| ())
}

/// Whether storage can sort by this path; the error is the detail of a 400.
pub fn check_scim_sort(sort: &Sort, schema: &Schema) -> Result<(), String> {
    sort_expression(Dialect::Sqlite, schema, &sort.by).map(|_| ())
}

pub(crate) fn compile_filter(dialect: Dialect, schema: &Schema, filter: &Filter) -> Result<Vec<Piece>, String> {
    let mut compiler = Compiler { dialect, schema, out: Vec::new() };
    compiler.term(filter, 0)?;
    Ok(compiler.out)
}

/// The expression to `ORDER BY` for `sortBy`.
pub(crate) fn sort_expression(dialect: Dialect, schema: &Schema, path: &AttrPath) -> Result<String, String> {
    let resolved = schema.resolve(path).ok_or_else(|| format!("sortBy names an unknown attribute \"{path}\""))?;
    match column_of(&resolved) {
        Some(Column::Id) => Ok("r.id".into()),
        Some(Column::Text { column, .. }) | Some(Column::Time(column)) => Ok(column.into()),
        Some(Column::Unsupported) => Err(format!("cannot sort by \"{path}\"")),
        None if resolved.attr.multi_valued => Err(format!("cannot sort by the multi-valued attribute \"{path}\"")),
        None => Ok(json_text(dialect, "r.document", &json_keys(&resolved))),
    }
}

enum Column {
    Id,
    Text { column: &'static str, folded: bool },
    Time(&'static str),
    Unsupported,
}

fn column_of(resolved: &Resolved<'_>) -> Option<Column> {
    if resolved.extension.is_some() {
        return None;
    }
    let name = resolved.attr.name;
    let sub = resolved.sub.map(|s| s.name);
    match (name, sub) {
        ("id", None) => Some(Column::Id),
        ("externalId", None) => Some(Column::Text { column: "r.external_id", folded: false }),
        ("userName", None) => Some(Column::Text { column: "r.user_name_key", folded: true }),
        ("displayName", None) => Some(Column::Text { column: "r.display_name_key", folded: true }),
        ("meta", Some("created")) => Some(Column::Time("r.created_at")),
        ("meta", Some("lastModified")) => Some(Column::Time("r.updated_at")),
        ("meta", _) => Some(Column::Unsupported),
        _ => None,
    }
}

/// The JSON keys that lead to a single value: the extension object, the attribute, and the
/// sub-attribute of a single-valued complex attribute.
fn json_keys(resolved: &Resolved<'_>) -> Vec<&'static str> {
    let mut keys = Vec::with_capacity(3);
    keys.extend(resolved.extension);
    keys.push(resolved.attr.name);
    if let Some(sub) = resolved.sub {
        keys.push(sub.name);
    }
    keys
}

fn sqlite_path(keys: &[&str]) -> String {
    let mut path = String::from("'$");
    for key in keys {
        path.push_str(&format!(".\"{key}\""));
    }
    path.push('\'');
    path
}

fn pg_keys(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
}

/// The value at `keys` under the JSON `source`, as SQL text (booleans as 1/0 on SQLite).
fn json_text(dialect: Dialect, source: &str, keys: &[&str]) -> String {
    match (dialect, keys.is_empty()) {
        (Dialect::Sqlite, true) => source.to_owned(),
        (Dialect::Sqlite, false) => format!("json_extract({source}, {})", sqlite_path(keys)),
        (Dialect::Postgres, true) => format!("({source} #>> '{{}}')"),
        (Dialect::Postgres, false) => format!("jsonb_extract_path_text({source}, {})", pg_keys(keys)),
    }
}

/// `EXISTS (SELECT 1 FROM <the values of a multi-valued attribute> AS e WHERE ` — the caller
/// closes it with `)`. Inside, an element is `e.value` (SQLite) or `e.v` (PostgreSQL).
fn exists_element(dialect: Dialect, keys: &[&str]) -> (String, &'static str) {
    match dialect {
        Dialect::Sqlite => (format!("EXISTS (SELECT 1 FROM json_each(r.document, {}) AS e WHERE ", sqlite_path(keys)), "e.value"),
        Dialect::Postgres => {
            let array = format!("jsonb_extract_path(r.document, {})", pg_keys(keys));
            (
                format!("EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({array}) = 'array' THEN {array} ELSE '[]'::jsonb END) AS e(v) WHERE "),
                "e.v",
            )
        }
    }
}

/// Where the paths of a term are relative to.
#[derive(Clone, Copy)]
enum Scope<'s> {
    Resource,
    /// One value of a multi-valued attribute (`emails[...]`), bound to `source`.
    Element {
        parent: &'s AttributeDef,
        source: &'static str,
    },
}

struct Compiler<'s> {
    dialect: Dialect,
    schema: &'s Schema,
    out: Vec<Piece>,
}

impl<'s> Compiler<'s> {
    fn sql(&mut self, text: impl Into<String>) {
        self.out.push(Piece::Sql(text.into()));
    }

    fn bind(&mut self, value: Bind) {
        self.out.push(Piece::Bind(value));
    }

    fn term(&mut self, filter: &Filter, depth: usize) -> Result<(), String> {
        self.term_in(filter, depth, Scope::Resource)
    }

    fn term_in(&mut self, filter: &Filter, depth: usize, scope: Scope<'s>) -> Result<(), String> {
        if depth > MAX_SCIM_FILTER_DEPTH {
            return Err(format!("the filter nests deeper than {MAX_SCIM_FILTER_DEPTH} levels"));
        }
        match filter {
            Filter::And(..) | Filter::Or(..) => {
                let and = matches!(filter, Filter::And(..));
                let joiner = if and { " AND " } else { " OR " };
                self.sql("(");
                for (i, operand) in chain_operands(filter, and).into_iter().enumerate() {
                    if i > 0 {
                        self.sql(joiner);
                    }
                    self.term_in(operand, depth + 1, scope)?;
                }
                self.sql(")");
            }
            Filter::Not(inner) => {
                // Every term is wrapped to be TRUE or FALSE, never NULL, so NOT is a complement.
                self.sql("(NOT ");
                self.term_in(inner, depth + 1, scope)?;
                self.sql(")");
            }
            Filter::Present(path) => self.present(path, scope)?,
            Filter::Compare { path, op: CompareOp::Ne, value } => {
                // `ne` is `not eq`: it holds when the attribute is absent (as the evaluator says).
                self.sql("(NOT ");
                self.compare(path, CompareOp::Eq, value, scope)?;
                self.sql(")");
            }
            Filter::Compare { path, op, value } => self.compare(path, *op, value, scope)?,
            Filter::ValuePath { attr, filter } => {
                let Scope::Resource = scope else {
                    return Err("a value filter cannot contain another value filter".into());
                };
                let resolved = self.resolve(attr)?;
                if !resolved.attr.multi_valued || resolved.sub.is_some() {
                    return Err(format!("\"{attr}\" is not a multi-valued attribute"));
                }
                let (open, source) = exists_element(self.dialect, &json_keys(&resolved));
                self.sql(open);
                self.term_in(filter, depth + 1, Scope::Element { parent: resolved.attr, source })?;
                self.sql(")");
            }
        }
        Ok(())
    }

    fn resolve(&self, path: &AttrPath) -> Result<Resolved<'s>, String> {
        self.schema.resolve(path).ok_or_else(|| format!("unknown attribute \"{path}\""))
    }

    fn present(&mut self, path: &AttrPath, scope: Scope<'s>) -> Result<(), String> {
        self.with_target(path, scope, |c, target| {
            match target {
                Target::Id | Target::Time(_) => c.sql("(1 = 1)"),
                Target::Text { expr, .. } => c.sql(format!("({expr} IS NOT NULL)")),
                Target::Json { expr, .. } => c.sql(format!("({expr} IS NOT NULL AND {expr} <> '')")),
            }
            Ok(())
        })
    }

    fn compare(&mut self, path: &AttrPath, op: CompareOp, value: &CompValue, scope: Scope<'s>) -> Result<(), String> {
        if let CompValue::Null = value {
            // `eq null` means absent.
            self.sql("(NOT ");
            self.present(path, scope)?;
            self.sql(")");
            return Ok(());
        }
        let dialect = self.dialect;
        self.with_target(path, scope, |c, target| match target {
            Target::Id => {
                if op != CompareOp::Eq {
                    return Err(format!("\"id\" can be compared with eq or ne only, not {op}"));
                }
                match value {
                    CompValue::Str(s) => match Uuid::parse_str(s) {
                        Ok(id) => {
                            c.sql("(r.id = ");
                            c.bind(Bind::Uuid(id));
                            c.sql(")");
                        }
                        // An id Roster never issues matches nothing.
                        Err(_) => c.sql("(1 = 0)"),
                    },
                    _ => c.sql("(1 = 0)"),
                }
                Ok(())
            }
            Target::Time(column) => {
                let CompValue::Str(raw) = value else {
                    return Err(format!("compare {path} with a date-time string"));
                };
                let at = DateTime::parse_from_rfc3339(raw).map_err(|_| format!("\"{raw}\" is not an RFC 3339 date-time"))?.with_timezone(&Utc);
                let sql_op = match op {
                    CompareOp::Eq => "=",
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    other => return Err(format!("{path} cannot be compared with {other}")),
                };
                c.sql(format!("({column} {sql_op} "));
                c.bind(Bind::Time(at));
                c.sql(")");
                Ok(())
            }
            Target::Text { expr, folded } => {
                let CompValue::Str(s) = value else {
                    // A wrong type never matches (the evaluator's rule).
                    c.sql("(1 = 0)");
                    return Ok(());
                };
                let wanted = if folded { s.to_lowercase() } else { s.clone() };
                c.text_compare(&expr, op, wanted);
                Ok(())
            }
            Target::Json { expr, def } => {
                match (def.attr_type, value) {
                    (AttrType::Boolean, CompValue::Bool(b)) => {
                        let literal = match (dialect, b) {
                            (Dialect::Sqlite, true) => "1",
                            (Dialect::Sqlite, false) => "0",
                            (Dialect::Postgres, true) => "'true'",
                            (Dialect::Postgres, false) => "'false'",
                        };
                        c.sql(format!("({expr} = {literal} AND {expr} IS NOT NULL)"));
                    }
                    (AttrType::Boolean, _) => c.sql("(1 = 0)"),
                    (_, CompValue::Number(_)) => return Err(format!("numbers cannot be compared in filters ({path})")),
                    (_, CompValue::Str(s)) => {
                        if def.case_exact {
                            c.text_compare(&expr, op, s.clone());
                        } else {
                            c.text_compare(&format!("lower({expr})"), op, s.to_lowercase());
                        }
                    }
                    _ => c.sql("(1 = 0)"),
                }
                Ok(())
            }
        })
    }

    /// A string comparison that is TRUE or FALSE, never NULL: `(cond AND expr IS NOT NULL)`.
    /// Not `COALESCE(cond, FALSE)`, which hides `expr = ?` from both planners, so that
    /// `userName eq` scanned every User instead of using the userName index.
    fn text_compare(&mut self, expr: &str, op: CompareOp, wanted: String) {
        let dialect = self.dialect;
        if wanted.is_empty() && op.is_substring() {
            self.sql(format!("({expr} IS NOT NULL)"));
            return;
        }
        self.sql("(");
        match op {
            CompareOp::Eq | CompareOp::Ne => {
                self.sql(format!("{expr} = "));
                self.bind(Bind::Text(wanted));
            }
            CompareOp::Sw => {
                // A range, not LIKE: exact on both backends and served by an index.
                let upper = prefix_upper_bound(&wanted);
                self.sql(format!("({expr} >= "));
                self.bind(Bind::Text(wanted));
                if let Some(upper) = upper {
                    self.sql(format!(" AND {expr} < "));
                    self.bind(Bind::Text(upper));
                }
                self.sql(")");
            }
            CompareOp::Co => {
                self.sql(match dialect {
                    Dialect::Sqlite => format!("instr({expr}, "),
                    Dialect::Postgres => format!("strpos({expr}, "),
                });
                self.bind(Bind::Text(wanted));
                self.sql(") > 0");
            }
            CompareOp::Ew => {
                self.sql(match dialect {
                    Dialect::Sqlite => format!("substr({expr}, -length("),
                    Dialect::Postgres => format!("right({expr}, length("),
                });
                self.bind(Bind::Text(wanted.clone()));
                self.sql(")) = ");
                self.bind(Bind::Text(wanted));
            }
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                let sql_op = match op {
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                    CompareOp::Lt => "<",
                    _ => "<=",
                };
                self.sql(format!("{expr} {sql_op} "));
                self.bind(Bind::Text(wanted));
            }
        }
        self.sql(format!(" AND {expr} IS NOT NULL)"));
    }

    /// Finds what `path` names in `scope` and hands it to `emit`; a multi-valued attribute is
    /// wrapped in `EXISTS` over its values, so it matches if any value does.
    fn with_target(&mut self, path: &AttrPath, scope: Scope<'s>, emit: impl FnOnce(&mut Self, Target) -> Result<(), String>) -> Result<(), String> {
        let dialect = self.dialect;
        if let Scope::Element { parent, source } = scope {
            let def = parent.sub_attribute(&path.attr).ok_or_else(|| format!("\"{}\" has no sub-attribute \"{}\"", parent.name, path.attr))?;
            let expr = json_text(dialect, source, &[def.name]);
            return emit(self, Target::Json { expr, def });
        }
        let resolved = self.resolve(path)?;
        match column_of(&resolved) {
            Some(Column::Id) => return emit(self, Target::Id),
            Some(Column::Text { column, folded }) => return emit(self, Target::Text { expr: column.into(), folded }),
            Some(Column::Time(column)) => return emit(self, Target::Time(column)),
            Some(Column::Unsupported) => return Err(format!("filtering on \"{path}\" is not supported")),
            None => {}
        }
        if !resolved.attr.multi_valued {
            let expr = json_text(dialect, "r.document", &json_keys(&resolved));
            return emit(self, Target::Json { expr, def: resolved.leaf() });
        }
        let (open, source) = exists_element(dialect, &[resolved.extension, Some(resolved.attr.name)].into_iter().flatten().collect::<Vec<_>>());
        // `emails co "@x"` compares each value's `value`; a simple multi-valued attribute
        // compares the values themselves.
        let sub = resolved.sub.or_else(|| resolved.attr.sub_attribute("value"));
        let (expr, def) = match sub {
            Some(sub) => (json_text(dialect, source, &[sub.name]), sub),
            None => (json_text(dialect, source, &[]), resolved.attr),
        };
        self.sql(open);
        emit(self, Target::Json { expr, def })?;
        self.sql(")");
        Ok(())
    }
}

/// The operands of a chain of `and` (or of `or`), left to right, found with an explicit stack:
/// the parser builds `a or b or c` as `(a or b) or c`, so a chain of 200 terms is 200 deep.
fn chain_operands(filter: &Filter, and: bool) -> Vec<&Filter> {
    let mut operands = Vec::new();
    let mut pending = vec![filter];
    while let Some(next) = pending.pop() {
        match next {
            Filter::And(l, r) if and => pending.extend([r.as_ref(), l.as_ref()]),
            Filter::Or(l, r) if !and => pending.extend([r.as_ref(), l.as_ref()]),
            other => operands.push(other),
        }
    }
    operands
}

enum Target<'s> {
    Id,
    Time(&'static str),
    /// An indexed text column; `folded` columns hold lower-cased text.
    Text {
        expr: String,
        folded: bool,
    },
    Json {
        expr: String,
        def: &'s AttributeDef,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(dialect: Dialect, filter: &str) -> Result<String, String> {
        let filter = roster_scim::parse_filter(filter).map_err(|e| e.detail)?;
        let pieces = compile_filter(dialect, Schema::user(), &filter)?;
        Ok(pieces
            .into_iter()
            .map(|p| match p {
                Piece::Sql(s) => s,
                Piece::Bind(_) => "?".into(),
            })
            .collect())
    }

    #[test]
    fn indexed_attributes_use_their_columns() {
        let text = sql(Dialect::Sqlite, r#"UserName eq "A@X" and externalId eq "e1""#).unwrap_or_default();
        assert!(text.contains("r.user_name_key = ?") && text.contains("r.external_id = ?"), "{text}");
        // Nothing may wrap the comparison: an index serves `col = ?` only as a bare conjunct.
        assert!(text.contains("(r.user_name_key = ? AND r.user_name_key IS NOT NULL)") && !text.contains("COALESCE"), "{text}");
    }

    #[test]
    fn entra_work_email_filter_compiles_on_both_backends() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let text = sql(dialect, r#"emails[type eq "work"].value eq "u@x""#).unwrap_or_default();
            assert!(text.starts_with("EXISTS"), "{text}");
        }
    }

    #[test]
    fn chains_compile_flat_whatever_their_length() {
        use roster_scim::limits::MAX_FILTER_TERMS;
        let chain = (0..MAX_FILTER_TERMS).map(|i| format!(r#"userName eq "u{i}""#)).collect::<Vec<_>>().join(" or ");
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let text = sql(dialect, &chain).unwrap_or_else(|e| e);
            assert_eq!(text.matches(" OR ").count(), MAX_FILTER_TERMS - 1, "{text}");
            assert!(text.starts_with("((r.user_name_key = ?") && !text.starts_with("(((r."), "{text}");
        }
        let chain = (0..MAX_FILTER_TERMS / 2).map(|i| format!(r#"emails[value eq "u{i}@x" and type eq "work"]"#)).collect::<Vec<_>>().join(" and ");
        let text = sql(Dialect::Postgres, &chain).unwrap_or_else(|e| e);
        assert_eq!(text.matches("EXISTS").count(), MAX_FILTER_TERMS / 2, "{text}");
        // Longer than the parser allows, built by hand: still no recursion per term.
        let long = (1..5_000).fold(roster_scim::parse_filter(r#"userName eq "u0""#).unwrap(), |acc, i| {
            roster_scim::Filter::or(acc, roster_scim::parse_filter(&format!(r#"userName eq "u{i}""#)).unwrap())
        });
        assert!(compile_filter(Dialect::Sqlite, Schema::user(), &long).is_ok());
        // The AST's own `Drop` recurses: take a chain this long apart from the top.
        let mut rest = long;
        while let roster_scim::Filter::Or(left, _) = rest {
            rest = *left;
        }
    }

    #[test]
    fn groups_keep_their_meaning_and_count_as_depth() {
        let text = sql(Dialect::Sqlite, r#"userName eq "a" or userName eq "b" and title pr or userName eq "c""#).unwrap_or_default();
        assert!(text.starts_with("((r.user_name_key = ? AND r.user_name_key IS NOT NULL) OR ((r.user_name_key = ?"), "{text}");
        assert_eq!(text.matches(" OR ").count(), 2, "{text}");
        // Alternating `and` and `or` nests one level per switch: 30 switches is too deep.
        let mut deep = String::from(r#"title eq "x""#);
        for i in 0..30 {
            let op = if i % 2 == 0 { "and" } else { "or" };
            deep = format!(r#"userName eq "u{i}" {op} ({deep})"#);
        }
        let e = sql(Dialect::Sqlite, &deep).unwrap_err();
        assert!(e.contains("deeper than 24"), "{e}");
        let shallow = format!("not ({})", (0..100).map(|i| format!(r#"title eq "t{i}""#)).collect::<Vec<_>>().join(" and "));
        assert!(sql(Dialect::Sqlite, &shallow).is_ok());
    }

    #[test]
    fn unsupported_terms_are_refused_with_a_reason() {
        assert!(sql(Dialect::Sqlite, r#"id sw "01""#).is_err());
        assert!(sql(Dialect::Sqlite, r#"meta.resourceType eq "User""#).is_err());
        assert!(sql(Dialect::Postgres, r#"meta.lastModified gt "2024-01-01T00:00:00Z""#).is_ok());
    }
}
