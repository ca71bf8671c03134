//! The admin's landing page: people by status, each provisioning connection's health and last
//! run, runs held for a decision, deactivations waiting, invitations pending, and refused
//! sign-ins of the last seven days. Each line links to where it is dealt with.

use super::{when, Chrome};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use roster_app::provision::guard::{self, RECENT_RUNS};
use roster_app::provision::health::{health, Health};
use roster_core::ConnectionKind;

/// One provisioning connection on the dashboard.
pub struct ConnectionLine {
    pub name: String,
    pub kind: &'static str,
    /// healthy, degraded, held, disabled, waiting
    pub state: &'static str,
    pub detail: String,
    pub href: String,
    pub last_run: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    total: u64,
    active: u64,
    invited: u64,
    deactivated: u64,
    connections: Vec<ConnectionLine>,
    /// (run page, how many it would deactivate)
    held: Vec<(String, usize)>,
    waiting: usize,
    refusals: usize,
}

const REFUSALS_SHOWN: u32 = 500;

pub async fn show(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser) -> Result<Response, PageError> {
    let org = ctx.org.id;
    let counts = state.counts.get(state.store.as_ref(), org).await?;
    let mut connections = Vec::new();
    let mut held = Vec::new();
    for connection in state.store.connections(org).await? {
        let (kind, href) = match connection.kind {
            ConnectionKind::Entra => ("Microsoft Entra ID", format!("{}/settings/integrations/entra", ctx.base)),
            ConnectionKind::Scim => ("SCIM", format!("{}/settings/scim", ctx.base)),
            _ => continue,
        };
        let recent = state.store.sync_runs(org, connection.id, RECENT_RUNS).await?;
        if let Some(run) = guard::holding(&recent) {
            held.push((format!("{}/settings/integrations/entra/runs/{}", ctx.base, run.id), guard::hold_size(run)));
        }
        let (state_word, detail) = match health(&connection, &recent) {
            Health::Disabled => ("disabled", "nothing runs until it is enabled".to_owned()),
            Health::NotRunYet if connection.kind == ConnectionKind::Scim => ("healthy", "answers its clients' requests".to_owned()),
            Health::NotRunYet => ("waiting", "no run has finished yet".to_owned()),
            Health::Healthy => ("healthy", "the last run went through".to_owned()),
            Health::Degraded(why) => ("degraded", why),
            Health::Held => ("held", "a run waits for a decision".to_owned()),
        };
        let last_run = recent.iter().find(|r| r.status.is_finished()).map(|r| when(r.finished_at.unwrap_or(r.queued_at)));
        connections.push(ConnectionLine { name: connection.name, kind, state: state_word, detail, href, last_run });
    }
    let waiting = roster_app::provision::waiting::waiting_deactivations(&state, org).await?.len();
    let week_ago = state.clock.now() - chrono::Duration::days(7);
    let refusals = state.store.sso_refusals(org, REFUSALS_SHOWN).await?.iter().filter(|r| r.at >= week_ago).count();
    let page = DashboardPage {
        chrome: Chrome::signed_in(&ctx, &user, "dashboard"),
        total: counts.total,
        active: counts.active,
        invited: counts.invited,
        deactivated: counts.deactivated,
        connections,
        held,
        waiting,
        refusals,
    };
    Ok(page.into_response())
}
