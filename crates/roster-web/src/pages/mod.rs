//! Server-rendered pages. Each handler extracts, authorises, calls one action and renders.

pub mod audit;
pub mod auth;
pub mod dashboard;
pub mod entra;
pub mod import;
pub mod me;
pub mod okta;
pub mod outbox;
pub mod people;
pub mod people_bulk;
pub mod person_actions;
pub mod scim;
pub mod settings;
pub mod sso;
pub mod teams;
pub mod webhooks;

use crate::routing::OrgCtx;
use crate::session::CurrentUser;
use chrono::{DateTime, Utc};

/// The frame around every page: the organisation, who is signed in, the CSRF token for forms.
pub struct Chrome {
    pub base: String,
    pub org_name: String,
    pub user_name: String,
    pub csrf: String,
    pub is_admin: bool,
    pub nav: &'static str,
}

impl Chrome {
    pub fn signed_in(ctx: &OrgCtx, user: &CurrentUser, nav: &'static str) -> Self {
        Self {
            base: ctx.base.clone(),
            org_name: ctx.org.name.clone(),
            user_name: user.person.display_name(),
            csrf: user.csrf.clone(),
            is_admin: user.person.role.can_administer(),
            nav,
        }
    }

    pub fn anonymous(ctx: &OrgCtx) -> Self {
        Self { base: ctx.base.clone(), org_name: ctx.org.name.clone(), user_name: String::new(), csrf: String::new(), is_admin: false, nav: "" }
    }
}

pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

pub fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("—").to_owned()
}

/// Forms post `_csrf`; this names it once.
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
}

/// A form for an action that asks for confirmation: a ticked `confirm` box beside `_csrf`.
#[derive(serde::Deserialize)]
pub struct ConfirmedForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    #[serde(default)]
    pub confirm: String,
}

/// Deleting a provisioning connection: confirmed, and saying what becomes of its people.
#[derive(serde::Deserialize)]
pub struct DeleteConnectionForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    #[serde(default)]
    pub confirm: String,
    /// `keep` or `deactivate`.
    #[serde(default)]
    pub people: String,
}

impl DeleteConnectionForm {
    /// The form is the user's own, the box is ticked and a choice made: what becomes of the people.
    pub fn check(&self, user: &crate::session::CurrentUser) -> Result<roster_app::provision::entra::PeopleAfterDelete, crate::error::PageError> {
        ConfirmedForm { csrf: self.csrf.clone(), confirm: self.confirm.clone() }
            .check(user, "Tick the box to confirm the deletion; nothing was deleted.")?;
        match self.people.as_str() {
            "deactivate" => Ok(roster_app::provision::entra::PeopleAfterDelete::Deactivate),
            "keep" => Ok(roster_app::provision::entra::PeopleAfterDelete::Keep),
            _ => Err(crate::error::PageError::BadRequest("Choose what happens to the people it provisioned.".into())),
        }
    }
}

impl ConfirmedForm {
    /// The form is the user's own and the box is ticked; else `unticked` says what to do.
    pub fn check(&self, user: &crate::session::CurrentUser, unticked: &str) -> Result<(), crate::error::PageError> {
        user.check_csrf(&self.csrf)?;
        if self.confirm.is_empty() {
            return Err(crate::error::PageError::BadRequest(unticked.to_owned()));
        }
        Ok(())
    }
}
