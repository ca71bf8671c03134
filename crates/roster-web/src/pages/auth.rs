//! Sign-in, sign-out, and choosing a password from an invitation or reset link.

use super::Chrome;
use crate::client_addr::ClientAddr;
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::{cookie_value, same_secret, set_cookie, start_session, CurrentUser, FORM_COOKIE, SESSION_COOKIE};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::secrets::password::{decoy_hash, hash_password, random_token, verify_password};
use roster_app::signin::throttle;
use roster_core::secret::token_digest;
use roster_core::{Email, Status};
use roster_store::{OutgoingEmail, TokenPurpose};
use serde::Deserialize;

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    form_token: String,
    email: String,
    error: Option<String>,
    notice: Option<String>,
    /// "Sign in with ..." buttons of the enabled OIDC connections.
    sso_buttons: Vec<super::sso::SsoButton>,
}

/// Pages before sign-in protect their forms with a double-submit cookie.
fn with_form_cookie(state: &AppState, ctx: &OrgCtx, page: impl IntoResponse, token: &str) -> Response {
    let mut response = page.into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(state, ctx, FORM_COOKIE, token, 3600));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn check_form_cookie(headers: &HeaderMap, submitted: &str) -> Result<(), PageError> {
    match cookie_value(headers, FORM_COOKIE) {
        Some(cookie) if !submitted.is_empty() && same_secret(&cookie, submitted) => Ok(()),
        _ => Err(PageError::Csrf),
    }
}

/// The browser's form token, kept while it has one: a login page opened in a second tab must
/// not make the first tab's form "expire".
fn page_token(headers: &HeaderMap) -> String {
    cookie_value(headers, FORM_COOKIE)
        .filter(|t| t.len() >= 32 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or_else(random_token)
}

fn login_page(
    state: &AppState,
    ctx: &OrgCtx,
    headers: &HeaderMap,
    sso_buttons: Vec<super::sso::SsoButton>,
    email: String,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let token = page_token(headers);
    let page = LoginPage { chrome: Chrome::anonymous(ctx), form_token: token.clone(), email, error, notice, sso_buttons };
    with_form_cookie(state, ctx, page, &token)
}

pub async fn show_login(
    State(state): State<AppState>,
    ctx: OrgCtx,
    user: Option<CurrentUser>,
    headers: HeaderMap,
    changed: axum::extract::Query<super::me::Changed>,
) -> Result<Response, PageError> {
    if user.is_some() {
        return Ok(Redirect::to(&format!("{}/", ctx.base)).into_response());
    }
    let buttons = super::sso::login_buttons(&state, &ctx).await?;
    Ok(login_page(&state, &ctx, &headers, buttons, String::new(), None, super::me::changed_notice(&changed)))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ctx: OrgCtx,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    check_form_cookie(&headers, &form.csrf)?;
    let buttons = super::sso::login_buttons(&state, &ctx).await?;
    let refused = |msg: &str| Ok(login_page(&state, &ctx, &headers, buttons, form.email.clone(), Some(msg.to_owned()), None));
    let Ok(email) = Email::parse(&form.email) else {
        return refused("Enter the email address you were invited with.");
    };
    let now = state.clock.now();
    let account = throttle::account_key(ctx.org.id, &email);
    let address = client.map(throttle::address_key);
    let keys: Vec<&str> = std::iter::once(account.as_str()).chain(address.as_deref()).collect();
    if let Some(until) = state.store.blocked_until(&keys, now).await? {
        metrics::counter!("roster_sign_ins_total", "result" => "throttled").increment(1);
        let wait = throttle::wait_in_words((until - now).num_seconds() + 1);
        return refused(&format!("Too many failed sign-ins. Try again in {wait}, or reset your password."));
    }
    let credentials = state.store.credentials(ctx.org.id, &email).await?;
    let stored = credentials.as_ref().and_then(|c| c.password_hash.clone());
    // Always run one hash check, so unknown addresses take as long as known ones.
    let password = form.password.clone();
    let hash = stored.clone().unwrap_or_else(|| decoy_hash().to_owned());
    // A check that panicked proves nothing: refuse, as for a wrong password.
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false);
    let Some(credentials) = credentials.filter(|_| matches && stored.is_some()) else {
        metrics::counter!("roster_sign_ins_total", "result" => "refused").increment(1);
        state.store.count_failure(&account, &throttle::account_rule(), now).await?;
        if let Some(address) = &address {
            state.store.count_failure(address, &throttle::address_rule(), now).await?;
        }
        return refused("Email or password is incorrect.");
    };
    state.store.clear_throttle(&account).await?;
    if credentials.status == Status::Deactivated {
        return refused("This account is deactivated. Ask an admin of your organisation to reactivate it.");
    }
    let Some(person) = state.store.person(ctx.org.id, credentials.person).await? else {
        return refused("Email or password is incorrect.");
    };
    if !super::sso::password_allowed(&state, &ctx, person.role).await? {
        return refused("Password sign-in is turned off for this organisation: use the single sign-on button.");
    }
    let cookie = start_session(&state, &ctx, &person).await?;
    metrics::counter!("roster_sign_ins_total", "result" => "ok").increment(1);
    let mut response = Redirect::to(&format!("{}/", ctx.base)).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

pub async fn logout(State(state): State<AppState>, ctx: OrgCtx, user: CurrentUser, Form(form): Form<super::CsrfOnly>) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    state.store.delete_session(&user.session_digest).await?;
    let mut response = Redirect::to(&format!("{}/login", ctx.base)).into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, &ctx, SESSION_COOKIE, "", 0));
    Ok(response)
}

#[derive(Template, WebTemplate)]
#[template(path = "forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    form_token: String,
    sent: bool,
}

pub async fn show_forgot(State(state): State<AppState>, ctx: OrgCtx, headers: HeaderMap) -> Response {
    let token = page_token(&headers);
    let page = ForgotPage { chrome: Chrome::anonymous(&ctx), form_token: token.clone(), sent: false };
    with_form_cookie(&state, &ctx, page, &token)
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// Queue a reset e-mail when the address is known. The answer is the same, and as quick,
/// either way: the work happens after it.
pub async fn forgot(State(state): State<AppState>, ctx: OrgCtx, headers: HeaderMap, Form(form): Form<ForgotForm>) -> Result<Response, PageError> {
    check_form_cookie(&headers, &form.csrf)?;
    // Something that is no address belongs to nobody: the same answer, and nothing to queue.
    if let Ok(email) = Email::parse(&form.email) {
        let (state, org) = (state.clone(), ctx.org.id);
        tokio::spawn(async move {
            if let Err(error) = queue_reset(&state, org, &email).await {
                tracing::warn!(%error, "could not queue a password reset");
            }
        });
    }
    Ok(ForgotPage { chrome: Chrome::anonymous(&ctx), form_token: String::new(), sent: true }.into_response())
}

/// At most [`throttle::RESETS_PER_HOUR`] reset e-mails per address and hour, counted whether
/// or not the address belongs to anyone. The link itself is minted when the e-mail is sent.
async fn queue_reset(state: &AppState, org: roster_core::OrgId, email: &Email) -> Result<(), roster_store::StoreError> {
    let now = state.clock.now();
    let count = state.store.count_failure(&throttle::reset_key(org, email), &throttle::reset_rule(), now).await?;
    if count.failures > throttle::RESETS_PER_HOUR {
        return Ok(());
    }
    let Some(person) = state.store.person_by_email(org, email).await? else {
        return Ok(());
    };
    if person.status == Status::Deactivated {
        return Ok(());
    }
    let mail = OutgoingEmail::PasswordReset { to: person.email.clone(), name: person.display_name(), person: Some(person.id) };
    state.store.enqueue_email(org, &mail, now).await
}

#[derive(Template, WebTemplate)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    chrome: Chrome,
    form_token: String,
    token: String,
    purpose: &'static str,
    invitation: bool,
    valid: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    purpose: String,
}

fn purpose_of(raw: &str) -> TokenPurpose {
    if raw == "password_reset" {
        TokenPurpose::PasswordReset
    } else {
        TokenPurpose::Invitation
    }
}

fn set_password_page(state: &AppState, ctx: &OrgCtx, token: String, purpose: TokenPurpose, valid: bool, error: Option<String>) -> Response {
    let form_token = random_token();
    let page = SetPasswordPage {
        chrome: Chrome::anonymous(ctx),
        form_token: form_token.clone(),
        token,
        purpose: purpose.as_str(),
        invitation: purpose == TokenPurpose::Invitation,
        valid,
        error,
    };
    with_form_cookie(state, ctx, page, &form_token)
}

pub async fn show_set_password(State(state): State<AppState>, ctx: OrgCtx, Query(q): Query<TokenQuery>) -> Result<Response, PageError> {
    let purpose = purpose_of(&q.purpose);
    let valid = state.store.peek_token(ctx.org.id, purpose, &token_digest(&q.token), state.clock.now()).await?.is_some();
    Ok(set_password_page(&state, &ctx, q.token, purpose, valid, None))
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn set_password(
    State(state): State<AppState>,
    ctx: OrgCtx,
    headers: HeaderMap,
    Form(form): Form<SetPasswordForm>,
) -> Result<Response, PageError> {
    check_form_cookie(&headers, &form.csrf)?;
    let purpose = purpose_of(&form.purpose);
    let again = |msg: String| Ok(set_password_page(&state, &ctx, form.token.clone(), purpose, true, Some(msg)));
    if form.password != form.confirm {
        return again("The two passwords differ.".into());
    }
    let password = form.password.clone();
    let hash = match tokio::task::spawn_blocking(move || hash_password(&password)).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(err)) => return again(err.to_string()),
        Err(_) => return Err(PageError::Internal("password hashing stopped".into())),
    };
    let now = state.clock.now();
    let Some(person_id) = state.store.consume_token(ctx.org.id, purpose, &token_digest(&form.token), now).await? else {
        return Ok(set_password_page(&state, &ctx, String::new(), purpose, false, None));
    };
    let person = state.store.person(ctx.org.id, person_id).await?.ok_or(PageError::NotFound)?;
    if person.status == Status::Deactivated {
        return Err(PageError::Forbidden("This account is deactivated. Ask an admin of your organisation to reactivate it."));
    }
    if !super::sso::password_allowed(&state, &ctx, person.role).await? {
        return Err(PageError::Forbidden("Password sign-in is turned off for this organisation: use the single sign-on button on the login page."));
    }
    // Ends the person's other sessions and voids their other links.
    state.store.set_password(ctx.org.id, person.id, &hash, now).await?;
    state.store.clear_throttle(&throttle::account_key(ctx.org.id, &person.email)).await?;
    let cookie = start_session(&state, &ctx, &person).await?;
    let mut response = Redirect::to(&format!("{}/", ctx.base)).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The organisation's front door: people for admins, one's own page for everyone else.
pub async fn home(ctx: OrgCtx, user: Option<CurrentUser>) -> Redirect {
    match user {
        Some(u) if u.person.role.can_administer() => Redirect::to(&format!("{}/dashboard", ctx.base)),
        Some(_) => Redirect::to(&format!("{}/me", ctx.base)),
        None => Redirect::to(&format!("{}/login", ctx.base)),
    }
}
