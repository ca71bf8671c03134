//! The organisation's audit log: every change to people and teams and every admin action,
//! newest first, filtered by who did it, whom it was about, its kind and its dates, read as
//! words, paged, and downloadable as CSV with the same filters.

use super::{when, Chrome};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use roster_core::csv_export::SafeCsv;
use roster_core::preview::describe_audit;
use roster_core::{Email, OrgId, UserId};
use roster_store::{AuditEntry, AuditQuery};
use serde::Deserialize;
use std::collections::HashMap;

const PAGE: u32 = 100;
/// The most entries one CSV download holds; the page says how to narrow it.
const EXPORT_LIMIT: usize = 100_000;

/// The kinds an admin can pick, by action prefix.
const KINDS: [(&str, &str); 7] = [
    ("user.", "people"),
    ("team.", "teams"),
    ("connection.", "connections"),
    ("run.", "run decisions"),
    ("sign_in.", "sign-in settings"),
    ("api_key.", "API keys"),
    ("scim_token.", "SCIM tokens"),
];

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    /// An e-mail address of whoever acted, or `cli`, `system`.
    #[serde(default)]
    by: String,
    /// The e-mail address of the person an entry is about.
    #[serde(default)]
    about: String,
    #[serde(default)]
    kind: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

pub struct Row {
    pub at: String,
    pub by: String,
    pub action: String,
    pub about: Option<(String, String)>,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    filters: Filters,
    kinds: Vec<(&'static str, &'static str)>,
    rows: Vec<Row>,
    older: Option<String>,
    csv: String,
    error: Option<String>,
}

fn day(raw: &str, what: &str) -> Result<Option<DateTime<Utc>>, String> {
    match raw.trim() {
        "" => Ok(None),
        text => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| Some(d.and_time(chrono::NaiveTime::MIN).and_utc()))
            .map_err(|_| format!("The {what} date must be YYYY-MM-DD.")),
    }
}

async fn person_by_address(state: &AppState, org: OrgId, raw: &str) -> Result<Option<UserId>, String> {
    let email = Email::parse(raw.trim()).map_err(|_| format!("{} is not an e-mail address.", raw.trim()))?;
    match state.store.person_by_email(org, &email).await {
        Ok(Some(person)) => Ok(Some(person.id)),
        Ok(None) => Err(format!("Nobody here has the address {email}.")),
        Err(e) => Err(e.to_string()),
    }
}

/// The filters as a store query; `Err` says what to fix.
async fn query(state: &AppState, org: OrgId, f: &Filters, limit: u32) -> Result<AuditQuery, String> {
    let actor = match f.by.trim() {
        "" => None,
        "cli" | "system" => Some(f.by.trim().to_owned()),
        address => person_by_address(state, org, address).await?.map(|id| roster_core::Actor::Person { id }.label()),
    };
    let person = match f.about.trim() {
        "" => None,
        address => person_by_address(state, org, address).await?,
    };
    let action_prefix = KINDS.iter().find(|(prefix, _)| *prefix == f.kind).map(|(prefix, _)| (*prefix).to_owned());
    let until = day(&f.to, "to")?.map(|d| d + chrono::Duration::days(1));
    let before = if f.before.is_empty() { None } else { Some(f.before.parse().map_err(|_| "That page of the log does not exist.".to_owned())?) };
    Ok(AuditQuery { actor, person, action_prefix, since: day(&f.from, "from")?, until, before, limit })
}

/// People named by the entries (as actors or subjects), by id, for showing their addresses.
async fn addresses(state: &AppState, org: OrgId, entries: &[AuditEntry]) -> Result<HashMap<UserId, String>, PageError> {
    let mut ids: Vec<UserId> = entries.iter().filter_map(|e| e.person).collect();
    ids.extend(entries.iter().filter_map(|e| e.actor.strip_prefix("person:").and_then(|id| id.parse::<UserId>().ok())));
    ids.sort();
    ids.dedup();
    let mut found = HashMap::new();
    for id in ids {
        if let Some(person) = state.store.person(org, id).await? {
            found.insert(id, person.email.as_str().to_owned());
        }
    }
    Ok(found)
}

fn who(actor: &str, names: &HashMap<UserId, String>) -> String {
    actor.strip_prefix("person:").and_then(|id| id.parse::<UserId>().ok()).and_then(|id| names.get(&id).cloned()).unwrap_or_else(|| actor.to_owned())
}

/// Who made the change, and what brought it when a connection's run says (a notification, a
/// delta round, a full sync).
fn by(entry: &AuditEntry, names: &HashMap<UserId, String>) -> String {
    with_trigger(entry, who(&entry.actor, names))
}

/// `who`, followed by what brought the change when the entry says.
pub fn with_trigger(entry: &AuditEntry, who: String) -> String {
    match entry.detail.get("trigger").and_then(|v| v.as_str()).and_then(roster_core::Via::parse) {
        Some(via) => format!("{who} via {}", via.describe()),
        None => who,
    }
}

fn encode(f: &Filters, before: Option<&str>) -> String {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [("by", &f.by), ("about", &f.about), ("kind", &f.kind), ("from", &f.from), ("to", &f.to)] {
        if !v.is_empty() {
            pairs.append_pair(k, v);
        }
    }
    if let Some(before) = before {
        pairs.append_pair("before", before);
    }
    pairs.finish()
}

pub async fn show(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Query(filters): Query<Filters>,
) -> Result<Response, PageError> {
    let mut page = AuditPage {
        chrome: Chrome::signed_in(&ctx, &user, "audit"),
        kinds: KINDS.to_vec(),
        rows: Vec::new(),
        older: None,
        csv: format!("{}/audit.csv?{}", ctx.base, encode(&filters, None)),
        error: None,
        filters: filters.clone(),
    };
    match query(&state, ctx.org.id, &filters, PAGE).await {
        Err(message) => page.error = Some(message),
        Ok(q) => {
            let entries = state.store.audit_log(ctx.org.id, &q).await?;
            let names = addresses(&state, ctx.org.id, &entries).await?;
            if entries.len() == PAGE as usize {
                page.older = entries.last().map(|e| format!("{}/audit?{}", ctx.base, encode(&filters, Some(&e.id.to_string()))));
            }
            page.rows = entries
                .iter()
                .map(|e| Row {
                    at: when(e.at),
                    by: by(e, &names),
                    action: e.action.clone(),
                    about: e.person.and_then(|p| names.get(&p).map(|email| (p.to_string(), email.clone()))),
                    detail: describe_audit(&e.detail),
                })
                .collect();
        }
    }
    Ok(page.into_response())
}

/// Every entry the filters select (up to [`EXPORT_LIMIT`]), as CSV.
pub async fn export(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(_user): AdminUser,
    Query(filters): Query<Filters>,
) -> Result<Response, PageError> {
    let mut q = query(&state, ctx.org.id, &filters, 1000).await.map_err(PageError::BadRequest)?;
    let failed = |e: roster_core::csv_export::CsvError| PageError::Internal(format!("writing the audit file: {e}"));
    let mut out = SafeCsv::new(&["at", "by", "action", "person", "detail"]).map_err(failed)?;
    let mut written = 0;
    loop {
        let entries = state.store.audit_log(ctx.org.id, &q).await?;
        let names = addresses(&state, ctx.org.id, &entries).await?;
        for e in &entries {
            let about = e.person.and_then(|p| names.get(&p).cloned()).unwrap_or_default();
            let cells = [e.at.to_rfc3339(), by(e, &names), e.action.clone(), about, describe_audit(&e.detail)];
            out.row(&cells).map_err(failed)?;
        }
        written += entries.len();
        match entries.last() {
            Some(last) if entries.len() == 1000 && written < EXPORT_LIMIT => q.before = Some(last.id),
            _ => break,
        }
    }
    let body = out.finish().map_err(failed)?;
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}-audit.csv\"", ctx.org.slug.as_str())),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, body).into_response())
}
