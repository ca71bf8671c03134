//! Bulk actions on Individuals: review (the count and who, named), then apply as one plan.
//! The selection travels as repeated `person` fields, the filter as the page's own fields.

use super::people::{acting, PeopleFilter};
use super::Chrome;
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use roster_app::admin::bulk::{self, BulkAction, Targets};
use roster_core::query::PersonQuery;
use roster_core::{Email, Status, UserId};

/// The bulk form, read by hand for its repeated `person` field.
#[derive(Default)]
struct BulkForm {
    csrf: String,
    scope: String,
    action: String,
    team_name: String,
    manager: String,
    people: Vec<String>,
    filter: PeopleFilter,
    /// On apply: the count the admin confirmed, and the ticked box.
    expected: Option<u64>,
    confirm: bool,
}

impl BulkForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            let value = value.into_owned();
            match key.as_ref() {
                "_csrf" => form.csrf = value,
                "scope" => form.scope = value,
                "action" => form.action = value,
                "team_name" => form.team_name = value,
                "manager" => form.manager = value,
                "person" => form.people.push(value),
                "q" => form.filter.q = value,
                "status" => form.filter.status = value,
                "role" => form.filter.role = value,
                "team" => form.filter.team = value,
                "sort" => form.filter.sort = value,
                "dir" => form.filter.dir = value,
                "expected" => form.expected = value.parse().ok(),
                "confirm" => form.confirm = !value.is_empty(),
                _ => {}
            }
        }
        form
    }

    fn targets(&self) -> Result<Targets, PageError> {
        match self.scope.as_str() {
            "matching" => Ok(Targets::Matching(self.filter.to_filter())),
            _ => {
                if self.people.is_empty() {
                    return Err(PageError::BadRequest("Tick the people to act on, or choose everyone matching the filters.".into()));
                }
                let ids = self.people.iter().map(|id| id.parse::<UserId>()).collect::<Result<Vec<_>, _>>();
                ids.map(Targets::Selected).map_err(|_| PageError::BadRequest("The selection is not a list of people.".into()))
            }
        }
    }

    async fn action(&self, state: &AppState, ctx: &OrgCtx) -> Result<(BulkAction, String), PageError> {
        Ok(match self.action.as_str() {
            "invite" => (BulkAction::Invite, "Send the invitation to".into()),
            "deactivate" => (BulkAction::Deactivate, "Deactivate".into()),
            "reactivate" => (BulkAction::Reactivate, "Reactivate".into()),
            "add_to_team" => {
                let key = self.team_name.trim().to_lowercase();
                let teams = state.store.team_list(ctx.org.id).await?;
                let team = teams.iter().find(|t| t.name.key() == key && !key.is_empty());
                let team = team.ok_or_else(|| PageError::BadRequest(format!("There is no team named '{}'.", self.team_name.trim())))?;
                (BulkAction::AddToTeam(team.id), format!("Add to the secondary team {}:", team.name))
            }
            "set_manager" => {
                let email = Email::parse(&self.manager).map_err(|_| PageError::BadRequest("Give the manager's e-mail address.".into()))?;
                let manager = state.store.person_by_email(ctx.org.id, &email).await?;
                let manager = manager.ok_or_else(|| PageError::BadRequest(format!("Nobody here has the address {email}.")))?;
                if manager.status == Status::Deactivated {
                    return Err(PageError::BadRequest(format!("{email} is deactivated and cannot manage anyone.")));
                }
                (BulkAction::SetManager(manager.id), format!("Make {} the manager of", manager.display_name()))
            }
            _ => return Err(PageError::BadRequest("Choose an action from the list.".into())),
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "bulk_confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    /// "Deactivate", "Add to the secondary team Sales:".
    sentence: String,
    count: u64,
    /// Up to ten of them, by name.
    sample: Vec<String>,
    matching: bool,
    /// Every field to post again, with the confirmation.
    fields: Vec<(String, String)>,
    back: String,
}

/// The review step: what would be done, to how many, naming some of them.
pub async fn review(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser, body: axum::body::Bytes) -> Result<Response, PageError> {
    let form = BulkForm::parse(&body);
    user.check_csrf(&form.csrf)?;
    let targets = form.targets()?;
    let (_, sentence) = form.action(&state, &ctx).await?;
    let count = bulk::count(&state, ctx.org.id, &targets).await?;
    let sample = match &targets {
        Targets::Matching(filter) => {
            let page = state.store.search_people(ctx.org.id, &PersonQuery { with_total: false, ..PersonQuery::new(filter.clone(), 0, 10) }).await?;
            page.people.iter().map(|p| format!("{} <{}>", p.display_name(), p.email)).collect()
        }
        Targets::Selected(ids) => {
            let mut names = Vec::new();
            for id in ids.iter().take(10) {
                let person = state.store.person(ctx.org.id, *id).await?.ok_or(PageError::NotFound)?;
                names.push(format!("{} <{}>", person.display_name(), person.email));
            }
            names
        }
    };
    let mut fields: Vec<(String, String)> = form.filter.fields().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    fields.extend([
        ("scope".to_owned(), form.scope.clone()),
        ("action".to_owned(), form.action.clone()),
        ("team_name".to_owned(), form.team_name.clone()),
        ("manager".to_owned(), form.manager.clone()),
        ("expected".to_owned(), count.to_string()),
    ]);
    if !matches!(targets, Targets::Matching(_)) {
        fields.extend(form.people.iter().map(|p| ("person".to_owned(), p.clone())));
    }
    let back = form.filter.href(&ctx.base, 1);
    Ok(ConfirmPage { chrome: Chrome::signed_in(&ctx, &user, "people"), sentence, count, sample, matching: form.scope == "matching", fields, back }
        .into_response())
}

/// Apply a reviewed bulk action (ticked box), then back to Individuals with what it did.
pub async fn apply(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser, body: axum::body::Bytes) -> Result<Response, PageError> {
    let form = BulkForm::parse(&body);
    user.check_csrf(&form.csrf)?;
    if !form.confirm {
        return Err(PageError::BadRequest("Tick the box to confirm; nothing was changed.".into()));
    }
    let targets = form.targets()?;
    let (action, _) = form.action(&state, &ctx).await?;
    let outcome = bulk::run(&state, ctx.org.id, &acting(&user), &targets, &action, form.expected).await?;
    let back = form.filter.href(&ctx.base, 1);
    let done = format!("{back}&done={}&changed={}&skipped={}", form.action, outcome.changed, outcome.skipped_total());
    Ok(Redirect::to(&done).into_response())
}
