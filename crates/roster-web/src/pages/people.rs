//! Individuals: the searchable list, a person's page, and sending their invitation.

use super::{or_dash, when, Chrome, CsrfOnly};
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
use futures::StreamExt;
use roster_app::admin;
use roster_core::query::{PersonFilter, PersonQuery, PersonSort, SortKey};
use roster_core::{Actor, Role, Status, TeamId, UserId};
use roster_store::PeopleCounts;
use serde::Deserialize;
use std::collections::HashMap;

pub const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default, Clone)]
pub struct PeopleFilter {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub team: String,
    /// A column of `SortKey` (name by default), and `desc` for the reverse order.
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub dir: String,
    #[serde(default)]
    pub page: Option<u64>,
    /// Set by a bulk action's redirect: what it did (`BulkAction` verb key) and to how many.
    #[serde(default)]
    pub done: String,
    #[serde(default)]
    pub changed: Option<u64>,
    #[serde(default)]
    pub skipped: Option<u64>,
}

impl PeopleFilter {
    /// The shared filter shape; values that do not parse are ignored rather than refused, as
    /// they can only come from an edited address.
    pub fn to_filter(&self) -> Option<PersonFilter> {
        let mut parts = Vec::new();
        let q = self.q.trim();
        if !q.is_empty() {
            parts.push(PersonFilter::TextPrefix(q.to_owned()));
        }
        if let Ok(status) = self.status.parse::<Status>() {
            parts.push(PersonFilter::Status(status));
        }
        if let Ok(role) = self.role.parse::<Role>() {
            parts.push(PersonFilter::Role(role));
        }
        if let Ok(team) = self.team.parse::<TeamId>() {
            parts.push(PersonFilter::Team(team));
        }
        PersonFilter::all(parts)
    }

    /// The filters and sort as form fields, to carry them through another form.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("q", self.q.clone()),
            ("status", self.status.clone()),
            ("role", self.role.clone()),
            ("team", self.team.clone()),
            ("sort", self.sort.clone()),
            ("dir", self.dir.clone()),
        ]
    }

    /// What the last bulk action did, in a sentence.
    fn bulk_notice(&self) -> Option<String> {
        let changed = self.changed?;
        let verb = match self.done.as_str() {
            "invite" => "invited",
            "deactivate" => "deactivated",
            "reactivate" => "reactivated",
            "add_to_team" => "added to the team",
            "set_manager" => "given the manager",
            _ => return None,
        };
        let skipped = match self.skipped.unwrap_or(0) {
            0 => String::new(),
            n => format!(" {n} left as they were: already so, or not for this action (an owner, a provisioned person, yourself)."),
        };
        Some(format!("{changed} {} {verb}.{skipped}", if changed == 1 { "person" } else { "people" }))
    }

    /// The sort asked for; an unknown column is the default order.
    pub fn sort(&self) -> PersonSort {
        PersonSort { key: self.sort.parse().unwrap_or_default(), descending: self.dir == "desc" }
    }

    pub fn href(&self, base: &str, page: u64) -> String {
        self.href_sorted(base, page, self.sort())
    }

    fn href_sorted(&self, base: &str, page: u64, sort: PersonSort) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let dir = if sort.descending { "desc" } else { "asc" };
        format!(
            "{base}/people?q={}&status={}&role={}&team={}&sort={}&dir={dir}&page={page}",
            enc(&self.q),
            enc(&self.status),
            enc(&self.role),
            enc(&self.team),
            sort.key.as_str()
        )
    }

    /// The column headers: (label, link that sorts by it, "ascending"/"descending"/"none").
    fn headers(&self, base: &str) -> Vec<Header> {
        let current = self.sort();
        [
            ("Name", SortKey::Name),
            ("Email", SortKey::Email),
            ("Job title", SortKey::JobTitle),
            ("Primary team", SortKey::Team),
            ("Role", SortKey::Role),
            ("Status", SortKey::Status),
        ]
        .into_iter()
        .map(|(label, key)| {
            let on = current.key == key;
            let next = PersonSort { key, descending: on && !current.descending };
            let aria = match (on, current.descending) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            };
            Header { label, href: self.href_sorted(base, 1, next), aria }
        })
        .collect()
    }
}

/// A sortable column header.
pub struct Header {
    pub label: &'static str,
    pub href: String,
    /// The `aria-sort` value.
    pub aria: &'static str,
}

pub struct Row {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub job_title: String,
    pub team: String,
    pub role: Role,
    pub status: Status,
}

#[derive(Template, WebTemplate)]
#[template(path = "people.html")]
struct PeoplePage {
    chrome: Chrome,
    filter: PeopleFilter,
    counts: PeopleCounts,
    statuses: Vec<&'static str>,
    roles: Vec<&'static str>,
    teams: Vec<(String, String)>,
    rows: Vec<Row>,
    total: u64,
    page: u64,
    pages: u64,
    prev_href: Option<String>,
    next_href: Option<String>,
    /// Every match of these filters as CSV.
    csv_href: String,
    headers: Vec<Header>,
    filter_fields: Vec<(&'static str, String)>,
    notice: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "people_results.html")]
struct PeopleResults {
    chrome: Chrome,
    rows: Vec<Row>,
    total: u64,
    page: u64,
    pages: u64,
    prev_href: Option<String>,
    next_href: Option<String>,
    csv_href: String,
    headers: Vec<Header>,
    /// The filters as hidden fields, for the bulk form and the page jump.
    filter_fields: Vec<(&'static str, String)>,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    headers: HeaderMap,
    Query(filter): Query<PeopleFilter>,
) -> Result<Response, PageError> {
    let org = ctx.org.id;
    let page = filter.page.unwrap_or(1).max(1);
    let query = PersonQuery::new(filter.to_filter(), (page - 1) * u64::from(PAGE_SIZE), PAGE_SIZE).sorted(filter.sort());
    let found = state.store.search_people(org, &query).await?;
    let teams = state.store.team_list(org).await?;
    let team_names: HashMap<TeamId, String> = teams.iter().map(|t| (t.id, t.name.to_string())).collect();
    // `PersonQuery::new` asks for the total, so it is always there.
    let total = found.total.unwrap_or(0);
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    let rows = found
        .people
        .into_iter()
        .map(|p| Row {
            id: p.id,
            name: p.display_name(),
            email: p.email.to_string(),
            job_title: or_dash(p.profile.job_title.as_deref()),
            team: or_dash(p.primary_team.and_then(|t| team_names.get(&t)).map(String::as_str)),
            role: p.role,
            status: p.status,
        })
        .collect();
    let prev_href = (page > 1).then(|| filter.href(&ctx.base, page - 1));
    let next_href = (page < pages).then(|| filter.href(&ctx.base, page + 1));
    let csv_href = filter.href(&ctx.base, 1).replacen("/people?", "/people.csv?", 1);
    let chrome = Chrome::signed_in(&ctx, &user, "people");
    let column_headers = filter.headers(&ctx.base);
    let filter_fields = filter.fields();
    // htmx asks for the results only; a normal request gets the whole page.
    if headers.contains_key("hx-request") && !headers.contains_key("hx-boosted") {
        return Ok(PeopleResults { chrome, rows, total, page, pages, prev_href, next_href, csv_href, headers: column_headers, filter_fields }
            .into_response());
    }
    let notice = filter.bulk_notice();
    let counts = state.counts.get(state.store.as_ref(), org).await?;
    let teams = teams.into_iter().map(|t| (t.id.to_string(), t.name.to_string())).collect();
    Ok(PeoplePage {
        chrome,
        filter,
        counts,
        statuses: vec!["invited", "active", "deactivated"],
        roles: vec!["learner", "manager", "admin", "owner"],
        teams,
        rows,
        total,
        page,
        pages,
        prev_href,
        next_href,
        csv_href,
        headers: column_headers,
        filter_fields,
        notice,
    }
    .into_response())
}

pub struct Field {
    pub label: &'static str,
    pub value: String,
    pub synced: bool,
}

pub struct AuditRow {
    pub at: String,
    pub action: String,
    pub actor: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "person.html")]
struct PersonPage {
    chrome: Chrome,
    id: UserId,
    name: String,
    status: Status,
    notice: Option<String>,
    source: Option<String>,
    /// The Entra object id, when an Entra connection provisions them.
    entra_lookup: Option<String>,
    /// What provisioning did and decided about them, 30 days: (when, what, detail, by).
    provisioning: Vec<(String, String, String, String)>,
    fields: Vec<Field>,
    manager: Option<(UserId, String)>,
    /// Who they report to in effect (id, name, where it comes from).
    effective_manager: Option<(UserId, String, String)>,
    primary_team: String,
    secondary_teams: Vec<String>,
    can_invite: bool,
    invited_before: bool,
    invite_note: &'static str,
    /// The viewer is an owner: they may hand an invitation link over and let connections
    /// manage owners and admins.
    viewer_is_owner: bool,
    /// The profile as the edit form shows it, for someone no connection provisions.
    /// A profile's values as the edit form shows them.
    editable: Option<roster_app::admin::people::ProfileEdit>,
    /// For the placement form: the manager's address, the primary team, and every team (id, name).
    manager_email: String,
    team_id: String,
    teams: Vec<(String, String, bool)>,
    /// The person's role, for the role form.
    role: String,
    deactivated: bool,
    /// The viewer's own page: they cannot deactivate themselves from it.
    is_self: bool,
    /// For an owner or admin: whether connections may manage them (None for everyone else).
    provisioning_allowed: Option<bool>,
    audit: Vec<AuditRow>,
    /// The photo synced from the identity provider, if any.
    avatar: Option<String>,
}

#[derive(Deserialize)]
pub struct PersonPath {
    pub(crate) id: UserId,
}

#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    invited: Option<String>,
    /// Set by the access forms' redirect: `deactivated`, `reactivated` or `role`.
    #[serde(default)]
    changed: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    Query(notice): Query<Notice>,
) -> Result<Response, PageError> {
    let org = ctx.org.id;
    let person = state.store.person(org, path.id).await?.ok_or(PageError::NotFound)?;
    let teams = state.store.team_list(org).await?;
    let team_name = |id: TeamId| teams.iter().find(|t| t.id == id).map(|t| t.name.to_string());
    let manager_person = match person.manager {
        Some(m) => state.store.person(org, m).await?,
        None => None,
    };
    let manager = manager_person.as_ref().map(|mp| (mp.id, mp.display_name()));
    let effective_manager = match admin::teams::effective_manager(&state, org, &person).await? {
        Some((m, source)) => Some((m.id, m.display_name(), admin::teams::describe_source(&state, org, source).await?)),
        None => None,
    };
    let manager_email = manager_person.map(|mp| mp.email.as_str().to_owned()).unwrap_or_default();
    let team_choices: Vec<(String, String, bool)> = if person.source.is_none() {
        teams.iter().map(|t| (t.id.to_string(), t.name.to_string(), person.secondary_teams.contains(&t.id))).collect()
    } else {
        Vec::new()
    };
    let audit = state.store.audit_for_person(org, person.id, 200).await?;
    let provisioning =
        roster_app::provision::log::for_person(state.store.as_ref(), org, Some(person.id), &[person.email.as_str()], state.clock.now())
            .await?
            .into_iter()
            .map(|l| (when(l.at), l.what, l.detail, l.by))
            .collect();
    let source_connection = match &person.source {
        Some(link) => state.store.connection(org, link.connection).await?,
        None => None,
    };
    let source = person.source.as_ref().map(|link| match &source_connection {
        Some(c) => format!("{} ({}), as {}", c.kind.label(), c.name, link.external_id),
        None => format!("a removed connection, as {}", link.external_id),
    });
    // An Entra-provisioned person can be looked up in Entra by their object id.
    let entra_lookup = person
        .source
        .as_ref()
        .filter(|_| source_connection.as_ref().is_some_and(|c| c.kind == roster_core::ConnectionKind::Entra))
        .map(|link| link.external_id.clone());
    let avatar = state.store.avatar(org, person.id).await?.map(|_| format!("{}/people/{}/avatar", ctx.base, person.id));
    let invited_before = audit.iter().any(|a| a.action == "user.invited");
    let synced = person.source.is_some();
    let p = &person.profile;
    let mut fields = vec![
        Field { label: "Email", value: person.email.to_string(), synced },
        Field { label: "First name", value: or_dash(Some(&p.first_name)), synced },
        Field { label: "Last name", value: or_dash(Some(&p.last_name)), synced },
        Field { label: "Job title", value: or_dash(p.job_title.as_deref()), synced },
        Field { label: "Department", value: or_dash(p.department.as_deref()), synced },
        Field { label: "Location", value: or_dash(p.location.as_deref()), synced },
        Field { label: "Language", value: or_dash(p.language.as_deref()), synced },
        Field { label: "Hire date", value: p.hire_date.map(|d| d.to_string()).unwrap_or_else(|| "—".into()), synced },
        Field { label: "Role", value: person.role.to_string(), synced: false },
    ];
    fields.extend(p.custom_fields.iter().map(|(k, v)| Field { label: "Custom field", value: format!("{k}: {v}"), synced }));
    let (can_invite, invite_note) = match (person.status, person.activated) {
        (Status::Deactivated, _) => (false, "Deactivated people are not invited."),
        (_, true) => (false, "This person has set a password and signs in."),
        _ => (true, ""),
    };
    Ok(PersonPage {
        chrome: Chrome::signed_in(&ctx, &user, "people"),
        id: person.id,
        name: person.display_name(),
        status: person.status,
        notice: match (notice.invited, notice.changed.as_deref()) {
            (Some(_), _) => Some(format!("An invitation to {} is in the outbox.", person.email)),
            (_, Some("deactivated")) => Some(format!("{} is deactivated: signed out everywhere, their open links void.", person.email)),
            (_, Some("reactivated")) => Some(format!("{} is {} again.", person.email, person.status)),
            (_, Some("role")) => Some(format!("{} is now {}.", person.email, person.role)),
            (_, Some("profile")) => Some("The profile is saved.".to_owned()),
            (_, Some("placement")) => Some("The manager and team are saved.".to_owned()),
            (_, Some("unlinked")) => Some("Unlinked: this person is managed here from now on.".to_owned()),
            (_, Some("erased")) => Some("Erased: their personal data is gone; the audit trail keeps what was done, not the values.".to_owned()),
            _ => None,
        },
        editable: person.source.is_none().then(|| roster_app::admin::people::ProfileEdit::of(&person.profile)),
        manager_email,
        team_id: person.primary_team.map(|t| t.to_string()).unwrap_or_default(),
        teams: team_choices,
        role: person.role.to_string(),
        deactivated: person.status == Status::Deactivated,
        is_self: person.id == user.person.id,
        source,
        entra_lookup,
        provisioning,
        fields,
        manager,
        effective_manager,
        primary_team: or_dash(person.primary_team.and_then(team_name).as_deref()),
        secondary_teams: person.secondary_teams.iter().filter_map(|t| team_name(*t)).collect(),
        can_invite,
        invited_before,
        invite_note,
        viewer_is_owner: user.person.role == Role::Owner,
        provisioning_allowed: matches!(person.role, Role::Owner | Role::Admin).then_some(person.provisioning_allowed),
        audit: audit
            .into_iter()
            .map(|a| AuditRow {
                at: when(a.at),
                actor: super::audit::with_trigger(&a, a.actor.clone()),
                action: a.action,
                detail: roster_core::preview::describe_audit(&a.detail),
            })
            .collect(),
        avatar,
    }
    .into_response())
}

pub async fn invite(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    admin::invite(&state, ctx.org.id, Actor::Person { id: user.person.id }, path.id).await?;
    Ok(Redirect::to(&format!("{}/people/{}?invited=1", ctx.base, path.id)).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "invitation_link.html")]
struct InvitationLinkPage {
    chrome: Chrome,
    id: UserId,
    name: String,
    link: String,
}

/// An owner hands an invitation over by hand (no mail server, or a lost e-mail): a fresh link,
/// shown once, audited; the person's earlier invitation links stop working.
pub async fn invitation_link(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    if user.person.role != Role::Owner {
        return Err(PageError::Forbidden("Only an owner can copy an invitation link."));
    }
    let person = state.store.person(ctx.org.id, path.id).await?.ok_or(PageError::NotFound)?;
    if person.status != Status::Invited || person.activated {
        return Err(PageError::BadRequest(format!("{} is not waiting for an invitation.", person.email)));
    }
    let actor = Actor::Person { id: user.person.id };
    let raw = roster_app::mail::mint_link(&state, ctx.org.id, person.id, roster_store::TokenPurpose::Invitation, Some(&actor)).await?;
    let link = roster_app::mail::link_url(&state.config, ctx.org.slug.as_str(), roster_store::TokenPurpose::Invitation, &raw);
    let page = InvitationLinkPage { chrome: Chrome::signed_in(&ctx, &user, "people"), id: person.id, name: person.display_name(), link };
    let mut response = page.into_response();
    // The link is for the person it names: no cache keeps a copy.
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
pub struct ProvisioningForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    allowed: String,
}

/// An owner lets connections manage an owner or admin, or takes that back.
pub async fn set_provisioning(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    Form(form): Form<ProvisioningForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    if user.person.role != Role::Owner {
        return Err(PageError::Forbidden("Only an owner can decide whether connections manage owners and admins."));
    }
    let allowed = form.allowed == "yes";
    let actor = Actor::Person { id: user.person.id };
    if !state.store.set_provisioning_allowed(ctx.org.id, path.id, allowed, &actor, state.clock.now()).await? {
        return Err(PageError::NotFound);
    }
    Ok(Redirect::to(&format!("{}/people/{}", ctx.base, path.id)).into_response())
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
    /// `deactivate` or `reactivate`.
    #[serde(default)]
    action: String,
}

pub(crate) fn acting(user: &crate::session::CurrentUser) -> roster_app::admin::people::Acting {
    roster_app::admin::people::Acting { actor: Actor::Person { id: user.person.id }, role: Some(user.person.role) }
}

/// Deactivate (after a ticked box) or reactivate someone.
pub async fn set_status(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    Form(form): Form<StatusForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let changed = match form.action.as_str() {
        "deactivate" => {
            if form.confirm.is_empty() {
                return Err(PageError::BadRequest("Tick the box to confirm the deactivation; nothing was changed.".into()));
            }
            if path.id == user.person.id {
                return Err(PageError::BadRequest("You cannot deactivate yourself; ask another owner or admin.".into()));
            }
            roster_app::admin::people::deactivate(&state, ctx.org.id, &acting(&user), path.id).await?;
            "deactivated"
        }
        "reactivate" => {
            roster_app::admin::people::reactivate(&state, ctx.org.id, &acting(&user), path.id).await?;
            "reactivated"
        }
        _ => return Err(PageError::BadRequest("Choose deactivate or reactivate.".into())),
    };
    Ok(Redirect::to(&format!("{}/people/{}?changed={changed}", ctx.base, path.id)).into_response())
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    Form(form): Form<RoleForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let role: Role = form.role.parse().map_err(|_| PageError::BadRequest("Choose owner, admin, manager or learner.".into()))?;
    roster_app::admin::people::set_role(&state, ctx.org.id, &acting(&user), path.id, role).await?;
    Ok(Redirect::to(&format!("{}/people/{}?changed=role", ctx.base, path.id)).into_response())
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    job_title: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    hire_date: String,
}

/// Save the profile of someone no connection provisions.
pub async fn update_profile(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    Form(form): Form<ProfileForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let edit = roster_app::admin::people::ProfileEdit {
        first_name: form.first_name,
        last_name: form.last_name,
        job_title: form.job_title,
        department: form.department,
        location: form.location,
        language: form.language,
        hire_date: form.hire_date,
    };
    roster_app::admin::people::update_profile(&state, ctx.org.id, &acting(&user), path.id, &edit).await?;
    Ok(Redirect::to(&format!("{}/people/{}?changed=profile", ctx.base, path.id)).into_response())
}

/// The placement form. Read by hand: its secondary teams repeat one field name
/// (`secondary=...&secondary=...`), which the plain form extractor does not collect.
#[derive(Default)]
pub struct PlacementForm {
    csrf: String,
    /// The override manager's e-mail address; empty for none.
    manager: String,
    /// A team id; empty for none.
    team: String,
    /// Secondary team ids, one per ticked box.
    secondary: Vec<String>,
}

impl PlacementForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            match key.as_ref() {
                "_csrf" => form.csrf = value.into_owned(),
                "manager" => form.manager = value.into_owned(),
                "team" => form.team = value.into_owned(),
                "secondary" => form.secondary.push(value.into_owned()),
                _ => {}
            }
        }
        form
    }
}

/// Set the override manager and the primary team of someone no connection provisions.
pub async fn set_placement(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let form = PlacementForm::parse(&body);
    user.check_csrf(&form.csrf)?;
    let team = match form.team.trim() {
        "" => None,
        id => Some(id.parse().map_err(|_| PageError::BadRequest("Choose a team from the list.".into()))?),
    };
    let acting = acting(&user);
    roster_app::admin::people::set_manager(&state, ctx.org.id, &acting, path.id, Some(form.manager.as_str())).await?;
    roster_app::admin::people::set_primary_team(&state, ctx.org.id, &acting, path.id, team).await?;
    let secondary: Vec<TeamId> = form
        .secondary
        .iter()
        .map(|id| id.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| PageError::BadRequest("Choose teams from the list.".into()))?;
    roster_app::admin::people::set_secondary_teams(&state, ctx.org.id, &acting, path.id, &secondary).await?;
    Ok(Redirect::to(&format!("{}/people/{}?changed=placement", ctx.base, path.id)).into_response())
}

/// Every person the Individuals filters select, in their order, as CSV, written chunk by chunk
/// as one statement reads them: the export's memory does not grow with the organisation.
pub async fn export(State(state): State<AppState>, ctx: OrgCtx, AdminUser(_user): AdminUser, Query(filter): Query<PeopleFilter>) -> Response {
    use roster_core::csv_export::{person_row, SafeCsv, PEOPLE_COLUMNS};
    let query = PersonQuery::new(filter.to_filter(), 0, 1).sorted(filter.sort());
    let header = SafeCsv::new(&PEOPLE_COLUMNS).and_then(SafeCsv::finish).unwrap_or_default();
    let rows = state.store.stream_people(ctx.org.id, &query).map(|chunk| {
        // A failure mid-file ends the download as an error, not as a short file.
        let people = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut piece = SafeCsv::rows_only();
        people.iter().try_for_each(|p| piece.row(&person_row(p))).map_err(|e| std::io::Error::other(e.to_string()))?;
        piece.finish().map(axum::body::Bytes::from).map_err(|e| std::io::Error::other(e.to_string()))
    });
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(axum::body::Bytes::from(header)) }).chain(rows);
    let headers = [
        (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}-people.csv\"", ctx.org.slug.as_str())),
        (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    (headers, axum::body::Body::from_stream(body)).into_response()
}
