//! `GET /users/delta` and `GET /groups/delta`: rounds of pages over the change log.
//!
//! A round is either initial (every object) or incremental (objects changed between two
//! versions of the change log). Its state travels in the links only: query options, the
//! versions, where the next page starts and when the token was minted, sealed with the
//! simulator's page key so a client can neither read nor forge it. Pages never repeat an
//! object; across pages and rounds objects may repeat, and incremental rounds come in a
//! shuffled order, as Graph promises nothing more.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

use super::errors::{bad_request, forbidden, graph_error, server_error, unsupported_query, GraphResponse};
use super::graph::{has_any, Call, GROUP_MEMBER_READ, USER_READ};
use super::paging::{open, seal};
use super::tenant::{Change, ChangeKind, ObjectKind, Tenant};
use super::{delta_groups, delta_users, SimState};

/// Directory delta tokens live 7 days.
pub const MAX_TOKEN_AGE: TimeDelta = TimeDelta::days(7);
/// Objects per page unless a test sets another size.
pub const DEFAULT_PAGE_SIZE: usize = 200;
/// Members per `members@delta` list: a bigger group is split over pages.
pub const DEFAULT_MEMBER_CHUNK: usize = 100;
/// `$filter=id eq '…' or …` takes at most this many ids.
pub const MAX_FILTER_IDS: usize = 50;

#[derive(Debug, Clone, Copy)]
pub struct DeltaSettings {
    pub page_size: usize,
    pub member_chunk: usize,
}

impl Default for DeltaSettings {
    fn default() -> Self {
        Self { page_size: DEFAULT_PAGE_SIZE, member_chunk: DEFAULT_MEMBER_CHUNK }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaKind {
    Users,
    Groups,
}

impl DeltaKind {
    fn path(self) -> &'static str {
        match self {
            DeltaKind::Users => "/users/delta",
            DeltaKind::Groups => "/groups/delta",
        }
    }

    fn object_kind(self) -> ObjectKind {
        match self {
            DeltaKind::Users => ObjectKind::User,
            DeltaKind::Groups => ObjectKind::Group,
        }
    }
}

/// Everything a round needs, sealed into its skiptokens and deltatokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundState {
    /// `$select` as given (canonical names), or none for the default set.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub select: Option<Vec<String>>,
    /// `$filter=id eq …` ids.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    /// Changes after this version; none for an initial round (every object).
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub base: Option<u64>,
    /// The last version the round covers; its deltaLink continues from there.
    #[serde(rename = "t")]
    pub upto: u64,
    /// When the token was minted, on the simulator's clock (ms since the epoch).
    #[serde(rename = "a")]
    pub issued: i64,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
}

/// Where the next page of a round starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort key of the next object to serve.
    #[serde(rename = "k")]
    pub key: String,
    /// For a group split over pages: the last member already served.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub after_member: Option<String>,
}

/// One object of a round, in serving order.
pub struct Item {
    pub key: String,
    pub id: String,
}

impl RoundState {
    /// Only the ids `$filter` asked for, or all.
    pub fn wants(&self, id: &str) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.iter().any(|i| i.eq_ignore_ascii_case(id)))
    }

    /// The serving order: by id in an initial round, shuffled per round otherwise.
    pub fn items<'a>(&self, ids: impl Iterator<Item = &'a String>) -> Vec<Item> {
        let mut items: Vec<Item> = ids
            .filter(|id| self.wants(id))
            .map(|id| {
                let key = match self.base {
                    None => id.clone(),
                    Some(_) => {
                        let digest = Sha256::new().chain_update(self.upto.to_le_bytes()).chain_update(id.as_bytes()).finalize();
                        let prefix: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                        format!("{prefix}{id}")
                    }
                };
                Item { key, id: id.clone() }
            })
            .collect();
        items.sort_by(|a, b| a.key.cmp(&b.key));
        items.dedup_by(|a, b| a.key == b.key);
        items
    }
}

/// What one object's entry says; `more` is the last member served when members remain.
pub struct Entry {
    pub value: Value,
    pub more: Option<String>,
}

/// Fills one page from `items`, starting at the cursor. `render` gets an object and the member
/// to continue after, and returns its entry or `None` to skip it. A page holds each object at
/// most once, so a group with members left over ends its page.
pub fn build_page(
    items: &[Item],
    cursor: Option<&Cursor>,
    page_size: usize,
    mut render: impl FnMut(&str, Option<&str>) -> Option<Entry>,
) -> (Vec<Value>, Option<Cursor>) {
    let start = cursor.map_or(0, |c| items.partition_point(|i| i.key < c.key));
    let mut after = cursor.filter(|c| items.get(start).is_some_and(|i| i.key == c.key)).and_then(|c| c.after_member.clone());
    let mut out = Vec::new();
    for item in items.iter().skip(start) {
        if out.len() >= page_size.max(1) {
            return (out, Some(Cursor { key: item.key.clone(), after_member: None }));
        }
        if let Some(entry) = render(&item.id, after.as_deref()) {
            out.push(entry.value);
            if let Some(last) = entry.more {
                return (out, Some(Cursor { key: item.key.clone(), after_member: Some(last) }));
            }
        }
        after = None;
    }
    (out, None)
}

/// The changes of one object within a round, folded.
#[derive(Debug, Default)]
pub struct Summary {
    /// Created, restored or deleted within the round: show the whole object.
    pub whole: bool,
    /// Changed properties, lowercased.
    pub props: BTreeSet<String>,
    /// The manager before the round's first manager change, if the manager changed.
    pub manager_before: Option<Option<String>>,
    /// Net membership changes: member id → added (true) or removed (false), last one wins.
    pub members: BTreeMap<String, bool>,
}

/// Folds the changes in `(base, upto]` of one object kind, by object id.
pub fn summarize(tenant: &Tenant, kind: ObjectKind, base: u64, upto: u64) -> BTreeMap<String, Summary> {
    let mut out: BTreeMap<String, Summary> = BTreeMap::new();
    let changes: Vec<&Change> = tenant.changes_after(base).iter().take_while(|c| c.version <= upto).filter(|c| c.kind == kind).collect();
    for change in changes {
        let summary = out.entry(change.object_id.clone()).or_default();
        match &change.what {
            ChangeKind::Created | ChangeKind::Restored | ChangeKind::Deleted | ChangeKind::Purged => summary.whole = true,
            ChangeKind::Updated { properties } => summary.props.extend(properties.iter().map(|p| p.to_ascii_lowercase())),
            ChangeKind::ManagerChanged => {
                if summary.manager_before.is_none() {
                    summary.manager_before = Some(tenant.previous_managers.get(&change.version).cloned().flatten());
                }
            }
            ChangeKind::MemberAdded { member } => {
                summary.members.insert(member.clone(), true);
            }
            ChangeKind::MemberRemoved { member } => {
                summary.members.insert(member.clone(), false);
            }
            // Photos are not tracked by delta; the entry stays empty and is skipped.
            ChangeKind::PhotoChanged => {}
        }
    }
    out
}

/// `{"id":…,"@removed":{"reason":…}}`: `changed` when restorable, `deleted` when gone for good.
pub fn removed(id: &str, soft: bool) -> Value {
    json!({ "id": id, "@removed": { "reason": if soft { "changed" } else { "deleted" } } })
}

/// One `members@delta` (or `manager@delta`) item: an addition, or a removal.
pub fn link(kind: ObjectKind, id: &str, added: bool) -> Value {
    if added {
        json!({ "@odata.type": kind.odata_type(), "id": id })
    } else {
        json!({ "@odata.type": kind.odata_type(), "id": id, "@removed": { "reason": "deleted" } })
    }
}

/// Keeps the non-null properties of `full`, and also nulls for the `changed` ones (so a
/// cleared property still shows up as cleared).
pub fn without_nulls(full: Map<String, Value>, changed: &[&str]) -> Map<String, Value> {
    full.into_iter().filter(|(k, v)| !v.is_null() || changed.iter().any(|c| c.eq_ignore_ascii_case(k))).collect()
}

/// What the request asks for.
enum Request {
    /// A first call: query options, and whether it is `$deltatoken=latest`.
    Start { select: Option<Vec<String>>, ids: Option<Vec<String>>, latest: bool },
    /// A nextLink (`$skiptoken`).
    Next(RoundState),
    /// A deltaLink (`$deltatoken`): a new round.
    Round(RoundState),
}

fn bind(kind: DeltaKind, role: &str) -> String {
    format!("{}#{role}", kind.path())
}

fn invalid_token() -> GraphResponse {
    bad_request("The specified token value is not valid for this request.")
}

fn open_state(s: &SimState, kind: DeltaKind, role: &str, token: &str) -> Result<RoundState, GraphResponse> {
    let raw = open(&s.page_key, &bind(kind, role), token).ok_or_else(invalid_token)?;
    serde_json::from_slice(&raw).map_err(|_| invalid_token())
}

fn seal_state(s: &SimState, kind: DeltaKind, role: &str, state: &RoundState) -> Result<String, GraphResponse> {
    let raw = serde_json::to_vec(state).map_err(|_| server_error(500))?;
    Ok(seal(&s.page_key, &bind(kind, role), &raw))
}

/// `id eq 'a' or id eq 'b'`: the only filter delta takes, with at most 50 ids.
pub fn parse_id_filter(raw: &str) -> Result<Vec<String>, GraphResponse> {
    let unsupported =
        || unsupported_query(&format!("Unsupported filter for delta query: '{raw}'. Only 'id eq' clauses joined by 'or' are supported."));
    let lower = raw.to_ascii_lowercase();
    let mut ids = Vec::new();
    let mut rest = (raw, lower.as_str());
    loop {
        let (clause, next) = match rest.1.find(" or ") {
            Some(at) => (&rest.0[..at], Some((&rest.0[at + 4..], &rest.1[at + 4..]))),
            None => (rest.0, None),
        };
        let clause = clause.trim();
        let value = clause
            .get(..2)
            .filter(|p| p.eq_ignore_ascii_case("id"))
            .and_then(|_| clause.get(2..))
            .map(str::trim_start)
            .and_then(|c| c.get(..2).filter(|p| p.eq_ignore_ascii_case("eq")).and_then(|_| c.get(2..)))
            .map(str::trim)
            .and_then(|v| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .filter(|v| !v.is_empty() && !v.contains('\''));
        ids.push(value.ok_or_else(unsupported)?.to_string());
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    if ids.len() > MAX_FILTER_IDS {
        return Err(unsupported_query(&format!("Too many ids in the filter: at most {MAX_FILTER_IDS} are supported.")));
    }
    Ok(ids)
}

fn parse_request(s: &SimState, call: &Call, kind: DeltaKind) -> Result<Request, GraphResponse> {
    for option in ["expand", "top", "orderby"] {
        if call.query.has(option) {
            return Err(unsupported_query(&format!("${option} is not supported on delta queries.")));
        }
    }
    match (call.query.get("deltatoken"), call.query.get("skiptoken")) {
        (Some(t), _) if !t.eq_ignore_ascii_case("latest") => return open_state(s, kind, "delta", t).map(Request::Round),
        (None, Some(t)) => return open_state(s, kind, "skip", t).map(Request::Next),
        _ => {}
    }
    let select = match call.query.select() {
        None => None,
        Some(list) => Some(match kind {
            DeltaKind::Users => delta_users::canonical_select(&list)?,
            DeltaKind::Groups => delta_groups::canonical_select(&list)?,
        }),
    };
    let ids = call.query.get("filter").map(parse_id_filter).transpose()?;
    Ok(Request::Start { select, ids, latest: call.query.get("deltatoken").is_some() })
}

/// The initial URL with the same options: where a 410 sends the client.
fn initial_url(call: &Call, kind: DeltaKind, select: Option<&[String]>, ids: Option<&[String]>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(select) = select {
        query.append_pair("$select", &select.join(","));
    }
    if let Some(ids) = ids {
        let clauses: Vec<String> = ids.iter().map(|id| format!("id eq '{id}'")).collect();
        query.append_pair("$filter", &clauses.join(" or "));
    }
    let query = query.finish().replace("%24", "$").replace("%2C", ",");
    let sep = if query.is_empty() { "" } else { "?" };
    format!("{}{}{sep}{query}", call.base, kind.path())
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Serves one delta page (or the 4xx a client must handle).
pub fn handle(s: &mut SimState, call: &Call, kind: DeltaKind) -> GraphResponse {
    let permission = match kind {
        DeltaKind::Users => USER_READ,
        DeltaKind::Groups => GROUP_MEMBER_READ,
    };
    if !has_any(s, permission) {
        return forbidden();
    }
    let request = match parse_request(s, call, kind) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let (select, ids, issued) = match &request {
        Request::Start { select, ids, .. } => (select.clone(), ids.clone(), None),
        Request::Next(st) | Request::Round(st) => (st.select.clone(), st.ids.clone(), Some(st.issued)),
    };
    if s.faults.delta_gone > 0 {
        s.faults.delta_gone -= 1;
        let location = initial_url(call, kind, select.as_deref(), ids.as_deref());
        return graph_error(410, "resyncRequired", "The delta token is no longer valid. Start over from the URL in the Location header.")
            .with_header("Location", location);
    }
    if s.faults.resync_required > 0 {
        s.faults.resync_required -= 1;
        return graph_error(400, "resyncRequired", "Resync required. Replace any local cached copy with the data of a full synchronization.");
    }
    let now = s.clock.now();
    if issued.is_some_and(|at| millis(now).saturating_sub(at) > MAX_TOKEN_AGE.num_milliseconds()) {
        return graph_error(
            400,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        );
    }
    let version = s.tenant.version;
    let round = match request {
        Request::Start { latest: true, .. } => {
            // "Sync from now": no data, a deltaLink at the current version.
            let state = RoundState { select, ids, base: Some(version), upto: version, issued: millis(now), cursor: None };
            return respond(s, call, kind, Vec::new(), &state, false);
        }
        Request::Start { latest: false, .. } => RoundState { select, ids, base: None, upto: version, issued: millis(now), cursor: None },
        Request::Round(state) => {
            let base = state.base.unwrap_or(version);
            let mut upto = version;
            // Replication lag: the newest change only shows up a round later.
            if s.faults.delta_lag > 0 && version > base {
                s.faults.delta_lag -= 1;
                upto = version - 1;
            }
            RoundState { upto, cursor: None, ..state }
        }
        Request::Next(state) => state,
    };
    let minimal = round.base.is_some() && prefers_minimal(call);
    let settings = s.delta;
    let (values, next) = match kind {
        DeltaKind::Users => delta_users::page(s, &round, minimal, settings),
        DeltaKind::Groups => delta_groups::page(s, &round, minimal, settings),
    };
    let mut response = match next {
        Some(cursor) => {
            let state = RoundState { cursor: Some(cursor), issued: millis(now), ..round };
            respond(s, call, kind, values, &state, true)
        }
        None => {
            // A replayed round hands out a deltaLink that covers the same changes again.
            let mut base = round.upto;
            if s.faults.delta_replay > 0 {
                s.faults.delta_replay -= 1;
                base = round.base.unwrap_or(round.upto);
            }
            let state = RoundState { base: Some(base), cursor: None, issued: millis(now), ..round };
            respond(s, call, kind, values, &state, false)
        }
    };
    if minimal {
        response = response.with_header("Preference-Applied", "return=minimal");
    }
    response
}

fn prefers_minimal(call: &Call) -> bool {
    call.header("prefer").is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("return=minimal")))
}

fn respond(s: &SimState, call: &Call, kind: DeltaKind, values: Vec<Value>, state: &RoundState, next: bool) -> GraphResponse {
    let (role, option, link) = if next { ("skip", "$skiptoken", "@odata.nextLink") } else { ("delta", "$deltatoken", "@odata.deltaLink") };
    let token = match seal_state(s, kind, role, state) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let context = match kind {
        DeltaKind::Users => "users",
        DeltaKind::Groups => "groups",
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}/$metadata#{context}", call.base)));
    body.insert(link.into(), json!(format!("{}{}?{option}={token}", call.base, kind.path())));
    body.insert("value".into(), Value::Array(values));
    GraphResponse::json(200, Value::Object(body))
}

/// The objects of `kind` an initial round covers: live and soft-deleted ones.
pub fn all_ids(s: &SimState, kind: DeltaKind) -> Vec<String> {
    match kind {
        DeltaKind::Users => s.tenant.users.keys().chain(s.tenant.deleted_users.keys()).cloned().collect(),
        DeltaKind::Groups => s.tenant.groups.keys().chain(s.tenant.deleted_groups.keys()).cloned().collect(),
    }
}

/// The ids an incremental round covers and their folded changes.
pub fn changed(s: &SimState, kind: DeltaKind, base: u64, upto: u64) -> BTreeMap<String, Summary> {
    summarize(&s.tenant, kind.object_kind(), base, upto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_filters() {
        assert_eq!(parse_id_filter("id eq 'a' or ID EQ 'b'").ok(), Some(vec!["a".to_string(), "b".to_string()]));
        assert!(parse_id_filter("displayName eq 'x'").is_err());
        assert!(parse_id_filter("id eq a").is_err());
        let many: Vec<String> = (0..51).map(|i| format!("id eq '{i}'")).collect();
        assert_eq!(parse_id_filter(&many.join(" or ")).err().map(|e| e.status), Some(400));
        assert_eq!(parse_id_filter(&many[..50].join(" or ")).map(|v| v.len()).ok(), Some(50));
    }

    #[test]
    fn pages_end_where_a_group_has_members_left() {
        let items: Vec<Item> = ["a", "b", "c"].iter().map(|i| Item { key: i.to_string(), id: i.to_string() }).collect();
        let render = |id: &str, after: Option<&str>| {
            let more = (id == "b" && after.is_none()).then(|| "m1".to_string());
            Some(Entry { value: json!([id, after]), more })
        };
        let (first, cursor) = build_page(&items, None, 10, render);
        assert_eq!(first, vec![json!(["a", null]), json!(["b", null])]);
        let (second, cursor) = build_page(&items, cursor.as_ref(), 10, render);
        assert_eq!(second, vec![json!(["b", "m1"]), json!(["c", null])]);
        assert!(cursor.is_none());
        let (small, cursor) = build_page(&items, None, 1, render);
        assert_eq!((small.len(), cursor.map(|c| c.key)), (1, Some("b".to_string())));
    }
}
