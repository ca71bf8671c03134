//! The Entra lookups: "why isn't this person here?", provisioning one person now, and finding
//! the security group by name. Each asks Entra live through the saved connection.

use super::Chrome;
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Form;
use roster_app::admin::OpsError;
use roster_app::provision::entra::lookup::{self, Finding, Step};
use roster_app::provision::entra::{self as actions};
use roster_core::{Actor, Connection};
use serde::Deserialize;

#[derive(Template, WebTemplate)]
#[template(path = "entra/people.html")]
struct PeoplePage {
    chrome: Chrome,
    query: String,
    enabled: bool,
    findings: Vec<Finding>,
    /// The person in Roster, for a link to their page.
    person: Option<(String, String)>,
    found_in_entra: bool,
    steps: Vec<Step>,
    /// The provisioning log of whoever was looked up: (when, what, detail).
    log: Vec<(String, String, String)>,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "entra/groups.html")]
struct GroupsPage {
    chrome: Chrome,
    query: String,
    groups: Vec<roster_entra::GroupRef>,
    searched: bool,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Lookup {
    #[serde(default)]
    q: String,
}

async fn connection(state: &AppState, ctx: &OrgCtx) -> Result<Connection, PageError> {
    actions::entra_connection(state, ctx.org.id).await?.ok_or_else(|| PageError::BadRequest("Connect Microsoft Entra ID first.".into()))
}

fn empty(chrome: Chrome, query: String, enabled: bool) -> PeoplePage {
    PeoplePage { chrome, query, enabled, findings: Vec::new(), person: None, found_in_entra: false, steps: Vec::new(), log: Vec::new(), error: None }
}

/// "Why isn't this person here?" for the person typed, if any.
pub async fn why(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Query(lookup): Query<Lookup>,
) -> Result<Response, PageError> {
    let connection = connection(&state, &ctx).await?;
    let mut page = empty(Chrome::signed_in(&ctx, &user, "settings"), lookup.q.trim().to_owned(), connection.enabled);
    if !page.query.is_empty() {
        match lookup::explain(&state, &connection, &page.query).await {
            Ok(found) => {
                let mut addresses = vec![page.query.as_str()];
                addresses.extend(found.person.as_ref().map(|p| p.email.as_str()));
                addresses.extend(found.user.as_ref().and_then(|u| u.user_principal_name.as_deref()));
                let person = found.person.as_ref().map(|p| p.id);
                let log = roster_app::provision::log::for_person(state.store.as_ref(), ctx.org.id, person, &addresses, state.clock.now());
                page.log = log.await?.into_iter().map(|l| (super::when(l.at), l.what, l.detail)).collect();
                page.person = found.person.map(|p| (p.id.to_string(), p.email.as_str().to_owned()));
                page.found_in_entra = found.user.is_some();
                page.findings = found.findings;
            }
            Err(OpsError::Invalid(message)) => page.error = Some(message),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct ProvisionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    q: String,
}

/// Provision one person now. Shown in place, step by step; running it again changes nothing
/// more (a second run finds Roster matching Entra).
pub async fn provision(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<ProvisionForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let connection = connection(&state, &ctx).await?;
    let mut page = empty(Chrome::signed_in(&ctx, &user, "settings"), form.q.trim().to_owned(), connection.enabled);
    match lookup::provision_one(&state, &connection, &page.query, &Actor::Person { id: user.person.id }).await {
        Ok(done) => page.steps = done.steps,
        Err(OpsError::Invalid(message)) => page.error = Some(message),
        Err(other) => return Err(other.into()),
    }
    Ok(page.into_response())
}

/// Find the security group by typing its name.
pub async fn groups(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Query(lookup): Query<Lookup>,
) -> Result<Response, PageError> {
    let connection = connection(&state, &ctx).await?;
    let query = lookup.q.trim().to_owned();
    let mut page =
        GroupsPage { chrome: Chrome::signed_in(&ctx, &user, "settings"), searched: !query.is_empty(), query, groups: Vec::new(), error: None };
    if page.searched {
        match lookup::search_groups(&state, &connection, &page.query).await {
            Ok(groups) => page.groups = groups,
            Err(OpsError::Invalid(message)) => page.error = Some(message),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(page.into_response())
}
