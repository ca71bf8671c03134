//! Paging, sorting and the ListResponse envelope (RFC 7644 §3.4.2.3–§3.4.2.4).

use crate::error::ScimError;
use crate::filter::{parse_patch_path, AttrPath};
use crate::schema::Schema;
use serde_json::{json, Value};

pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A normalised page request: `start_index` is 1-based and at least 1, `count` at most the
/// server's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub start_index: usize,
    pub count: usize,
}

impl Paging {
    /// From the raw query values. A `startIndex` below 1 means 1 and a negative `count`
    /// means 0 (RFC 7644 §3.4.2.4); a missing `count` or one above `max` becomes `max`.
    pub fn from_query(start_index: Option<i64>, count: Option<i64>, max: usize) -> Paging {
        let start_index = start_index.filter(|&s| s >= 1).map_or(1, |s| usize::try_from(s).unwrap_or(usize::MAX));
        let count = match count {
            None => max,
            Some(c) => usize::try_from(c.max(0)).unwrap_or(usize::MAX).min(max),
        };
        Paging { start_index, count }
    }

    /// Zero-based offset for storage.
    pub fn offset(&self) -> usize {
        self.start_index - 1
    }

    /// This page of an in-memory, already ordered list.
    pub fn slice<'a, T>(&self, all: &'a [T]) -> &'a [T] {
        let start = self.offset().min(all.len());
        let end = start.saturating_add(self.count).min(all.len());
        all.get(start..end).unwrap_or(&[])
    }
}

/// The ListResponse body. `itemsPerPage` is always the number of resources actually
/// returned, never the requested count: Okta's review rejects the latter.
#[derive(Debug, Clone, PartialEq)]
pub struct ListResponse {
    pub total_results: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

impl ListResponse {
    /// One page: `resources` is cut to `paging.count` should storage return more.
    pub fn page(total_results: usize, paging: Paging, mut resources: Vec<Value>) -> Self {
        resources.truncate(paging.count);
        ListResponse { total_results, start_index: paging.start_index, resources }
    }

    /// Everything in one page (discovery endpoints).
    pub fn complete(resources: Vec<Value>) -> Self {
        ListResponse { total_results: resources.len(), start_index: 1, resources }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [LIST_RESPONSE_URN],
            "totalResults": self.total_results,
            "startIndex": self.start_index,
            "itemsPerPage": self.resources.len(),
            "Resources": self.resources,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub by: AttrPath,
    pub order: SortOrder,
}

/// `sortBy` / `sortOrder`. No `sortBy` means no sorting, whatever `sortOrder` says
/// (RFC 7644 §3.4.2.3: the order applies to `sortBy`). `sortBy` must name a known,
/// single-valued-or-sub-attribute path without a filter.
pub fn parse_sort(sort_by: Option<&str>, sort_order: Option<&str>, schema: &Schema) -> Result<Option<Sort>, ScimError> {
    let order = match sort_order.map(str::trim) {
        None | Some("") => SortOrder::Ascending,
        Some(o) if o.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
        Some(o) if o.eq_ignore_ascii_case("descending") => SortOrder::Descending,
        Some(o) => return Err(ScimError::invalid_value(format!("sortOrder must be \"ascending\" or \"descending\", not \"{o}\""))),
    };
    let Some(sort_by) = sort_by.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let parsed = parse_patch_path(sort_by).map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.detail)))?;
    if parsed.filter.is_some() {
        return Err(ScimError::invalid_value("sortBy cannot contain a value filter"));
    }
    let Some(resolved) = schema.resolve(&parsed.path) else {
        return Err(ScimError::invalid_value(format!("sortBy names an unknown attribute \"{sort_by}\"")));
    };
    if resolved.leaf().is_complex() {
        return Err(ScimError::invalid_value(format!("sortBy \"{sort_by}\" is a complex attribute; name one of its sub-attributes")));
    }
    Ok(Some(Sort { by: parsed.path, order }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_normalises_start_index_and_count() {
        assert_eq!(Paging::from_query(Some(0), Some(10), 100), Paging { start_index: 1, count: 10 });
        assert_eq!(Paging::from_query(Some(-5), None, 100), Paging { start_index: 1, count: 100 });
        assert_eq!(Paging::from_query(None, Some(-3), 100), Paging { start_index: 1, count: 0 });
        assert_eq!(Paging::from_query(Some(7), Some(500), 200), Paging { start_index: 7, count: 200 });
    }

    #[test]
    fn list_response_fields_are_true_integers() {
        let paging = Paging::from_query(Some(1), Some(1), 100);
        let body = ListResponse::page(3, paging, vec![json!({"id":"a"}), json!({"id":"b"})]).to_json();
        assert_eq!(
            body,
            json!({"schemas":[LIST_RESPONSE_URN],"totalResults":3,"startIndex":1,"itemsPerPage":1,
                   "Resources":[{"id":"a"}]})
        );
        assert!(body["totalResults"].is_u64() && body["itemsPerPage"].is_u64() && body["startIndex"].is_u64());
    }

    #[test]
    fn count_zero_returns_only_the_total() {
        let paging = Paging::from_query(Some(1), Some(0), 100);
        let body = ListResponse::page(250, paging, vec![json!({"id":"a"})]).to_json();
        assert_eq!(body["totalResults"], 250);
        assert_eq!(body["itemsPerPage"], 0);
        assert_eq!(body["Resources"], json!([]));
    }

    #[test]
    fn a_miss_is_an_empty_list_not_an_error() {
        let body = ListResponse::page(0, Paging::from_query(Some(1), Some(100), 100), vec![]).to_json();
        assert_eq!(body["totalResults"], 0);
        assert_eq!(body["itemsPerPage"], 0);
    }

    #[test]
    fn paging_through_more_than_two_hundred_yields_each_once() {
        let all: Vec<u32> = (0..257).collect();
        let mut seen = Vec::new();
        let mut start = 1;
        loop {
            let paging = Paging::from_query(Some(start), Some(100), 200);
            let page = paging.slice(&all);
            if page.is_empty() {
                break;
            }
            seen.extend_from_slice(page);
            start += i64::try_from(page.len()).unwrap();
        }
        assert_eq!(seen, all);
    }

    #[test]
    fn sort_parsing() {
        let user = Schema::user();
        assert_eq!(parse_sort(None, Some("descending"), user).unwrap(), None);
        let sort = parse_sort(Some("name.familyName"), Some("Descending"), user).unwrap().unwrap();
        assert_eq!(sort.by, AttrPath::new(None, "name", Some("familyname")));
        assert_eq!(sort.order, SortOrder::Descending);
        assert_eq!(parse_sort(Some("userName"), None, user).unwrap().unwrap().order, SortOrder::Ascending);
        assert_eq!(parse_sort(Some("userName"), Some("up"), user).unwrap_err().status, 400);
        assert!(parse_sort(Some("shoeSize"), None, user).is_err());
        assert!(parse_sort(Some("name"), None, user).is_err());
        assert!(parse_sort(Some("emails[type eq \"work\"]"), None, user).is_err());
    }
}
