//! The rarer, heavier actions on one person: unlink them from the connection that provisions
//! them, and erase them on request.

use super::people::{acting, PersonPath};
use super::ConfirmedForm;
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::admin::people;
use serde::Deserialize;

/// Unlink someone from their connection (after a ticked box): from now on they are managed here.
pub async fn unlink(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&user, "Tick the box to confirm unlinking; nothing was changed.")?;
    people::unlink(&state, ctx.org.id, &acting(&user), path.id).await?;
    Ok(Redirect::to(&format!("{}/people/{}?changed=unlinked", ctx.base, path.id)).into_response())
}

#[derive(Deserialize)]
pub struct EraseForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// The person's address, typed again: erasure cannot be undone.
    #[serde(default)]
    confirm_email: String,
}

/// Erase someone once their address is typed again to confirm.
pub async fn erase(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<PersonPath>,
    Form(form): Form<EraseForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let person = state.store.person(ctx.org.id, path.id).await?.ok_or(PageError::NotFound)?;
    if !form.confirm_email.trim().eq_ignore_ascii_case(person.email.as_str()) {
        return Err(PageError::BadRequest("Type the person's e-mail address to confirm the erasure; nothing was changed.".into()));
    }
    if person.id == user.person.id {
        return Err(PageError::BadRequest("You cannot erase yourself; ask another owner or admin.".into()));
    }
    people::erase(&state, ctx.org.id, &acting(&user), path.id).await?;
    Ok(Redirect::to(&format!("{}/people/{}?changed=erased", ctx.base, path.id)).into_response())
}
