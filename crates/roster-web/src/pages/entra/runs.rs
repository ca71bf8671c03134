//! "Sync users" and the run page: live progress while the run goes (htmx polls the status
//! fragment every second), then the report with each person's problem.

use super::super::ConfirmedForm;
use super::{existing, Chrome};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::provision::entra as actions;
use roster_app::provision::entra::sync::{estimate, Estimate};
use roster_app::provision::guard;
use roster_core::guard::WouldDeactivate;
use roster_core::plan::RecordIssue;
use roster_core::preview::PlanPreview;
use roster_core::Actor;
use roster_core::IssueKind;
use roster_core::{RunId, RunReport};
use roster_store::{RunStatus, SyncRun};

/// A run in the history table.
pub struct RunRow {
    pub id: String,
    pub trigger: String,
    pub status: String,
    pub queued: String,
    pub summary: String,
}

fn summary(run: &SyncRun) -> String {
    match (&run.report, &run.error) {
        (Some(r), _) => format!(
            "{} created, {} updated, {} deactivated, {} reactivated, {} unchanged, {} issue(s)",
            r.created,
            r.updated,
            r.deactivated,
            r.reactivated,
            r.unchanged,
            r.issues.len()
        ),
        (None, Some(error)) => error.clone(),
        (None, None) => String::new(),
    }
}

pub fn history(runs: &[SyncRun]) -> Vec<RunRow> {
    runs.iter()
        .map(|r| RunRow {
            id: r.id.to_string(),
            trigger: r.trigger.clone(),
            status: r.status.to_string(),
            queued: super::super::when(r.queued_at),
            summary: summary(r),
        })
        .collect()
}

pub async fn sync_now(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<super::super::CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let connection = existing(&state, &ctx).await?;
    let run = actions::enqueue_sync(&state, &connection, "manual").await?;
    Ok(to_run(&ctx, run))
}

/// How far a running run is, judged against the connection's previous run.
pub struct Pace {
    estimate: Estimate,
}

impl Pace {
    async fn of(state: &AppState, run: &SyncRun) -> Result<Self, PageError> {
        if run.status != RunStatus::Running {
            return Ok(Self { estimate: Estimate { percent: if run.status.is_finished() { 100 } else { 0 }, left: None } });
        }
        // The people the previous full run listed is how many this one should list.
        let recent = state.store.sync_runs(run.org, run.connection, guard::RECENT_RUNS).await?;
        let expected = recent
            .iter()
            .filter(|r| r.id != run.id && matches!(r.status, RunStatus::Succeeded | RunStatus::Held | RunStatus::Previewed))
            .find_map(|r| r.progress.get("users_listed").and_then(serde_json::Value::as_u64))
            .filter(|n| *n > 0);
        let elapsed = run.started_at.map(|at| (state.clock.now() - at).to_std().unwrap_or_default()).unwrap_or_default();
        Ok(Self { estimate: estimate(&run.progress, expected, elapsed) })
    }
}

/// "about 3 minutes", for the time a run has left.
fn describe_left(seconds: u64) -> String {
    match seconds {
        0..=59 => "less than a minute".to_owned(),
        60..=119 => "about a minute".to_owned(),
        _ => format!("about {} minutes", seconds.div_ceil(60)),
    }
}

/// What the status fragment shows.
pub struct RunView {
    pub id: String,
    pub status: String,
    pub finished: bool,
    pub trigger: String,
    pub queued: String,
    pub phase: String,
    /// While running: how far along (percent) and about how long it has left.
    pub percent: u8,
    pub time_left: Option<String>,
    pub users_listed: u64,
    pub photos: String,
    pub graph_requests: u64,
    pub error: Option<String>,
    pub report: Option<RunReport>,
    /// Issues by kind and cause, then one page of them (filtered by kind when asked).
    pub groups: Vec<GroupView>,
    pub issues: Vec<IssueRow>,
    pub issues_total: usize,
    pub issue_pages: IssuePages,
    pub poll_url: String,
    /// Held runs: why, and who the run would deactivate (the first [`SHOWN_HELD`]).
    pub hold: Option<String>,
    pub would_deactivate: Vec<WouldDeactivate>,
    pub more_would_deactivate: usize,
    /// A held run waits for a decision: the page offers Allow and Reject.
    pub decidable: bool,
    pub csrf: String,
    /// A preview's changes (the first [`SHOWN_PREVIEW`] lines) and whether its connection is
    /// enabled (else the page offers "Enable and sync").
    pub preview: Option<PlanPreview>,
    pub connection_enabled: bool,
    pub base: String,
}

/// Lines of a preview the page shows; the counts cover every change.
const SHOWN_PREVIEW: usize = 200;

/// How many of the people a held run would deactivate the page lists.
const SHOWN_HELD: usize = 500;
/// Issues on one page of a run's report.
const ISSUES_PER_PAGE: usize = 100;
/// Causes named in each group; the rest are counted.
const SHOWN_CAUSES: usize = 10;

pub struct GroupView {
    pub kind: &'static str,
    pub label: &'static str,
    pub count: usize,
    /// "Grace Hopper <grace@…>" (or the id) and how many people it affects.
    pub causes: Vec<(String, usize)>,
    pub more_causes: usize,
}

pub struct IssueRow {
    pub record: String,
    pub kind: &'static str,
    pub message: String,
}

/// Where the issue list is, and the links around it.
pub struct IssuePages {
    pub page: usize,
    pub pages: usize,
    pub kind: String,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
    pub csv_url: String,
}

/// `?kind=...&page=N` on a run's page.
#[derive(serde::Deserialize, Default)]
pub struct IssueQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    page: Option<usize>,
}

fn group_views(report: &RunReport) -> Vec<GroupView> {
    roster_core::plan::group_issues(&report.issues)
        .into_iter()
        .map(|g| {
            let named = |cause: &String| report.cause_names.get(cause).map_or_else(|| cause.clone(), |name| format!("{name} ({cause})"));
            GroupView {
                kind: g.kind.as_str(),
                label: g.kind.label(),
                count: g.count,
                more_causes: g.causes.len().saturating_sub(SHOWN_CAUSES),
                causes: g.causes.iter().take(SHOWN_CAUSES).map(|(c, n)| (named(c), *n)).collect(),
            }
        })
        .collect()
}

impl RunView {
    fn new(run: &SyncRun, base: &str, csrf: &str, query: &IssueQuery, connection_enabled: bool, pace: Pace) -> Self {
        let number = |key: &str| run.progress.get(key).and_then(|v| v.as_u64()).unwrap_or_default();
        let phase = run.progress.get("label").and_then(|v| v.as_str()).unwrap_or(match run.status {
            RunStatus::Queued => "Waiting for a worker",
            _ => "",
        });
        let poll_url = format!("{base}/settings/integrations/entra/runs/{}", run.id);
        let kind = IssueKind::ALL.into_iter().find(|k| k.as_str() == query.kind);
        let matching: Vec<&RecordIssue> = run.report.iter().flat_map(|r| r.issues.iter()).filter(|i| kind.is_none_or(|k| i.kind == k)).collect();
        let issues_total = matching.len();
        let pages = issues_total.div_ceil(ISSUES_PER_PAGE).max(1);
        let page = query.page.unwrap_or(1).clamp(1, pages);
        let issues = matching
            .iter()
            .skip((page - 1) * ISSUES_PER_PAGE)
            .take(ISSUES_PER_PAGE)
            .map(|i| IssueRow { record: i.record.clone(), kind: i.kind.label(), message: i.message.clone() })
            .collect();
        let kind_param = kind.map_or(String::new(), |k| format!("kind={}&", k.as_str()));
        let page_url = |n: usize| format!("{poll_url}?{kind_param}page={n}#run-issues");
        let issue_pages = IssuePages {
            page,
            pages,
            kind: kind.map_or(String::new(), |k| k.as_str().to_owned()),
            prev_url: (page > 1).then(|| page_url(page - 1)),
            next_url: (page < pages).then(|| page_url(page + 1)),
            csv_url: format!("{poll_url}/issues.csv"),
        };
        let photos = match number("photos_to_download") {
            0 => String::new(),
            total => format!("{} of {total}", number("photos_downloaded")),
        };
        Self {
            id: run.id.to_string(),
            status: run.status.to_string(),
            finished: run.status.is_finished(),
            trigger: run.trigger.clone(),
            queued: super::super::when(run.queued_at),
            phase: phase.to_owned(),
            percent: pace.estimate.percent,
            time_left: pace.estimate.left.map(|left| describe_left(left.as_secs())),
            users_listed: number("users_listed"),
            photos,
            graph_requests: run.graph_requests.max(number("graph_requests")),
            error: run.error.clone(),
            report: run.report.clone(),
            groups: run.report.as_ref().map(group_views).unwrap_or_default(),
            issues,
            issues_total,
            issue_pages,
            poll_url,
            hold: run.report.as_ref().and_then(|r| r.hold.as_ref()).map(ToString::to_string),
            would_deactivate: run.report.as_ref().map(|r| r.would_deactivate.iter().take(SHOWN_HELD).cloned().collect()).unwrap_or_default(),
            more_would_deactivate: run.report.as_ref().map_or(0, |r| r.would_deactivate.len().saturating_sub(SHOWN_HELD)),
            decidable: run.status == RunStatus::Held,
            csrf: csrf.to_owned(),
            preview: run.report.as_ref().and_then(|r| r.preview.clone()).map(|mut p| {
                p.more += p.lines.len().saturating_sub(SHOWN_PREVIEW);
                p.lines.truncate(SHOWN_PREVIEW);
                p
            }),
            connection_enabled,
            base: base.to_owned(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "entra/run.html")]
struct RunPage {
    chrome: Chrome,
    run: RunView,
}

#[derive(Template, WebTemplate)]
#[template(path = "entra/run_status.html")]
struct RunStatusFragment {
    run: RunView,
}

/// The organisation's slug is in the path too; only the run's id matters here.
#[derive(serde::Deserialize)]
pub struct RunPath {
    id: RunId,
}

/// The full page, or under htmx the status fragment it polls.
pub async fn show_run(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    headers: HeaderMap,
    Path(path): Path<RunPath>,
    Query(query): Query<IssueQuery>,
) -> Result<Response, PageError> {
    let run = state.store.sync_run(ctx.org.id, path.id).await?.ok_or(PageError::NotFound)?;
    let enabled = state.store.connection(ctx.org.id, run.connection).await?.is_some_and(|c| c.enabled);
    let pace = Pace::of(&state, &run).await?;
    let view = RunView::new(&run, &ctx.base, &user.csrf, &query, enabled, pace);
    let mut response = if headers.contains_key("hx-request") {
        RunStatusFragment { run: view }.into_response()
    } else {
        RunPage { chrome: Chrome::signed_in(&ctx, &user, "settings"), run: view }.into_response()
    };
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Allow or Reject: the admin ticks a box saying they have read the list.
const UNREAD: &str = "Tick the box to confirm that you have read who this run deactivates, then try again.";

/// Where a run's page is: where the actions that queue or decide a run lead.
pub fn to_run(ctx: &OrgCtx, run: RunId) -> Response {
    Redirect::to(&format!("{}/settings/integrations/entra/runs/{run}", ctx.base)).into_response()
}

/// Allow a held run: a new run plans again and applies; the page follows the new run.
pub async fn allow(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<RunPath>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&user, UNREAD)?;
    let next = roster_app::provision::guard::allow(&state, ctx.org.id, path.id, &Actor::Person { id: user.person.id }).await?;
    Ok(to_run(&ctx, next))
}

/// Reject a held run: nothing of it is applied; back to the run, now marked rejected.
pub async fn reject(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<RunPath>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&user, UNREAD)?;
    roster_app::provision::guard::reject(&state, ctx.org.id, path.id, &Actor::Person { id: user.person.id }).await?;
    Ok(to_run(&ctx, path.id))
}

/// The run's issues as a CSV file, every one of them, formulas defused.
pub async fn issues_csv(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(_user): AdminUser,
    Path(path): Path<RunPath>,
) -> Result<Response, PageError> {
    let run = state.store.sync_run(ctx.org.id, path.id).await?.ok_or(PageError::NotFound)?;
    let report = run.report.unwrap_or_default();
    let body = roster_core::csv_export::issues_csv(&report).map_err(|e| PageError::Internal(format!("writing the issues file: {e}")))?;
    let headers = [
        (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"run-{}-issues.csv\"", run.id)),
        (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, body).into_response())
}
