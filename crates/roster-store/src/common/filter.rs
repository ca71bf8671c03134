//! The one place a [`PersonFilter`] becomes SQL, for both backends. Every value is bound, never
//! spliced into the text. The people table is aliased `p`.

use super::prefix_upper_bound;
use roster_core::query::{PersonFilter, PersonSort, SortKey};
use sqlx::{Database, Encode, QueryBuilder, Type};
use uuid::Uuid;

/// Deeper filters than this are refused rather than compiled into an unbounded statement.
pub(crate) const MAX_FILTER_DEPTH: usize = 32;

/// Does the filter keep only people matching a text prefix? Their names cluster in one stretch
/// of the name order, so walking the name index until a page is full can read most of the
/// organisation first; sorting the (few) matches is then the better plan, and the caller
/// asks for it.
pub(crate) fn narrows_by_text(filter: &PersonFilter) -> bool {
    match filter {
        PersonFilter::TextPrefix(text) => !text.is_empty(),
        PersonFilter::And(parts) => parts.iter().any(narrows_by_text),
        PersonFilter::Or(parts) => !parts.is_empty() && parts.iter().all(narrows_by_text),
        _ => false,
    }
}

/// The ORDER BY terms of a sort. Each sort has an index that serves it unfiltered, and ties
/// fall back to the name order. With `by_text`, `|| ''` hides every index from the ORDER BY so
/// that the (few) matches of a prefix are sorted, rather than found by walking an index in
/// order and skipping everyone else. `nulls_first` / `nulls_last` make both backends put
/// people without a value first when ascending (SQLite's own order; PostgreSQL is told).
pub(crate) fn order_by(sort: PersonSort, by_text: bool, nulls_first: &str, nulls_last: &str) -> String {
    let dir = if sort.descending { " DESC" } else { "" };
    let nulls = if sort.descending { nulls_last } else { nulls_first };
    // `|| ''` keeps the value (NULL stays NULL) but hides the column's index from the planner.
    let hide = if by_text { " || ''" } else { "" };
    let name = format!("p.sort_key{hide}{dir}, p.id{dir}");
    match sort.key {
        SortKey::Name => name,
        SortKey::Email => format!("p.email{hide}{dir}"),
        SortKey::JobTitle => format!("p.job_title{hide}{dir}{nulls}, {name}"),
        SortKey::Team => format!("p.team_key{hide}{dir}, {name}"),
        SortKey::Role => format!("p.role{hide}{dir}, {name}"),
        SortKey::Status => format!("p.status{hide}{dir}, {name}"),
    }
}

/// Append `AND <filter>` for the organisation `org`. False when the filter nests too deep.
pub(crate) fn push_filter<'a, DB>(qb: &mut QueryBuilder<'a, DB>, org: Uuid, filter: &PersonFilter) -> bool
where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    qb.push(" AND ");
    push_term(qb, org, filter, 0)
}

fn push_term<'a, DB>(qb: &mut QueryBuilder<'a, DB>, org: Uuid, filter: &PersonFilter, depth: usize) -> bool
where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    if depth > MAX_FILTER_DEPTH {
        return false;
    }
    match filter {
        PersonFilter::And(parts) | PersonFilter::Or(parts) if parts.is_empty() => {
            // An empty conjunction holds; an empty disjunction does not.
            qb.push(if matches!(filter, PersonFilter::And(_)) { "(1 = 1)" } else { "(1 = 0)" });
        }
        PersonFilter::And(parts) | PersonFilter::Or(parts) => {
            let joiner = if matches!(filter, PersonFilter::And(_)) { " AND " } else { " OR " };
            qb.push("(");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    qb.push(joiner);
                }
                if !push_term(qb, org, part, depth + 1) {
                    return false;
                }
            }
            qb.push(")");
        }
        PersonFilter::Not(inner) => {
            // Every term below is TRUE or FALSE, never NULL, so NOT is a true complement.
            qb.push("(NOT ");
            if !push_term(qb, org, inner, depth + 1) {
                return false;
            }
            qb.push(")");
        }
        PersonFilter::Status(status) => {
            qb.push("(p.status = ").push_bind(status.as_str().to_owned()).push(")");
        }
        PersonFilter::Role(role) => {
            qb.push("(p.role = ").push_bind(role.as_str().to_owned()).push(")");
        }
        PersonFilter::Team(team) => {
            // Member ids from two index lookups, then people by primary key: both planners
            // handle this better than an OR of the two memberships.
            qb.push("(p.id IN (SELECT q.id FROM people q WHERE q.org_id = ")
                .push_bind(org)
                .push(" AND q.primary_team_id = ")
                .push_bind(team.as_uuid())
                .push(" UNION SELECT m.person_id FROM team_members m WHERE m.org_id = ")
                .push_bind(org)
                .push(" AND m.team_id = ")
                .push_bind(team.as_uuid())
                .push("))");
        }
        PersonFilter::EmailIs(email) => {
            qb.push("(p.email = ").push_bind(email.as_str().to_owned()).push(")");
        }
        PersonFilter::ExternalIdIs(external) => {
            qb.push("(p.source_external_id IS NOT NULL AND p.source_external_id = ").push_bind(external.clone()).push(")");
        }
        PersonFilter::ManagerIs(manager) => {
            qb.push("(p.manager_id IS NOT NULL AND p.manager_id = ").push_bind(manager.as_uuid()).push(")");
        }
        PersonFilter::TextPrefix(text) => push_prefix(qb, org, text),
    }
    true
}

/// A case-insensitive prefix of the e-mail, the name (first name, full name) or the last name,
/// as index ranges. Each branch repeats the organisation so that SQLite can serve each one from
/// its own index and union the results, as PostgreSQL does with a bitmap OR. Ranges, not LIKE:
/// `%` and `_` in the input are ordinary characters and need no escaping.
fn push_prefix<'a, DB>(qb: &mut QueryBuilder<'a, DB>, org: Uuid, text: &str)
where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let low = text.to_lowercase();
    if low.is_empty() {
        qb.push("(1 = 1)");
        return;
    }
    let high = prefix_upper_bound(&low);
    qb.push("(");
    for (i, column) in ["p.email", "p.sort_key", "p.last_key"].into_iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push("(p.org_id = ").push_bind(org);
        qb.push(format_args!(" AND {column} >= ")).push_bind(low.clone());
        if let Some(high) = &high {
            qb.push(format_args!(" AND {column} < ")).push_bind(high.clone());
        }
        qb.push(")");
    }
    qb.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::Status;

    #[test]
    fn only_filters_that_require_a_prefix_narrow_by_text() {
        let prefix = || PersonFilter::TextPrefix("ad".into());
        assert!(narrows_by_text(&prefix()));
        assert!(narrows_by_text(&PersonFilter::And(vec![PersonFilter::Status(Status::Active), prefix()])));
        assert!(narrows_by_text(&PersonFilter::Or(vec![prefix(), prefix()])));
        assert!(!narrows_by_text(&PersonFilter::Or(vec![prefix(), PersonFilter::Status(Status::Active)])));
        assert!(!narrows_by_text(&PersonFilter::Not(Box::new(prefix()))));
        assert!(!narrows_by_text(&PersonFilter::TextPrefix(String::new())));
        assert!(!narrows_by_text(&PersonFilter::Or(vec![])));
    }
}
