//! A client for a `roster serve` child: waiting until it answers, signing in through the login
//! form as a browser would, and timed GETs that keep the server's own time from its
//! `Server-Timing: app;dur=<ms>` header beside the client's round trip.

use anyhow::{bail, Context};
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use tokio::process::Child;

pub struct Web {
    client: reqwest::Client,
    /// `http://127.0.0.1:PORT`
    root: String,
    /// `/o/<slug>`
    org: String,
}

pub enum Auth<'a> {
    /// The `roster_session` cookie of a signed-in admin.
    Session(&'a str),
    /// An API key, sent as a bearer token.
    Key(&'a str),
}

pub struct Timed {
    pub server_ms: f64,
    pub client_ms: f64,
    pub bytes: usize,
    pub body: String,
}

impl Web {
    pub fn new(port: u16, slug: &str) -> anyhow::Result<Web> {
        // Redirects are not followed: the sign-in answer is a redirect that carries the cookie.
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build()?;
        Ok(Web { client, root: format!("http://127.0.0.1:{port}"), org: format!("/o/{slug}") })
    }

    /// Wait for `/healthz`, as long as the server process lives and at most `within`.
    pub async fn wait_ready(&self, server: &mut Child, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = self.client.get(format!("{}/healthz", self.root)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = server.try_wait()? {
                bail!("the server exited before answering ({status})");
            }
            if Instant::now() > deadline {
                bail!("the server did not answer within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sign in through the form: its CSRF token and cookie, then the POST. The session cookie.
    pub async fn sign_in(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let login = format!("{}{}/login", self.root, self.org);
        let page = self.client.get(&login).send().await?;
        let form_cookie = cookie(&page, "roster_form").context("the login page set no roster_form cookie")?;
        let html = page.text().await?;
        let csrf = hidden_input(&html, "_csrf").context("the login form has no _csrf field")?;
        let answer = self
            .client
            .post(&login)
            .header(COOKIE, format!("roster_form={form_cookie}"))
            .form(&[("_csrf", csrf.as_str()), ("email", email), ("password", password)])
            .send()
            .await?;
        if answer.status() != StatusCode::SEE_OTHER {
            bail!("signing in answered {} instead of a redirect", answer.status());
        }
        cookie(&answer, "roster_session").context("signing in set no roster_session cookie")
    }

    /// GET `path` (below the organisation), the whole body read, or an error if not 200.
    pub async fn get(&self, path: &str, auth: &Auth<'_>) -> anyhow::Result<Timed> {
        let request = self.client.get(format!("{}{}{path}", self.root, self.org));
        let request = match auth {
            Auth::Session(session) => request.header(COOKIE, format!("roster_session={session}")),
            Auth::Key(key) => request.header(AUTHORIZATION, format!("Bearer {key}")),
        };
        let started = Instant::now();
        let response = request.send().await.with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let server_ms = server_timing(&response);
        let body = response.text().await?;
        let client_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status != StatusCode::OK {
            bail!("GET {path} answered {status}: {}", body.chars().take(300).collect::<String>());
        }
        let server_ms = server_ms.with_context(|| format!("GET {path} had no Server-Timing app;dur= header"))?;
        Ok(Timed { server_ms, client_ms, bytes: body.len(), body })
    }
}

impl Web {
    /// POST a form as the signed-in admin (the CSRF token read from `form_page` first), timed.
    /// Any answer but a server error is returned, with its status.
    pub async fn post_form(&self, form_page: &str, path: &str, session: &str, fields: &[(&str, String)]) -> anyhow::Result<(StatusCode, Timed)> {
        let page = self.get(form_page, &Auth::Session(session)).await?;
        let csrf = hidden_input(&page.body, "_csrf").with_context(|| format!("{form_page} has no _csrf field"))?;
        let mut form: Vec<(&str, String)> = vec![("_csrf", csrf)];
        form.extend(fields.iter().cloned());
        let started = Instant::now();
        let response = self
            .client
            .post(format!("{}{}{path}", self.root, self.org))
            .header(COOKIE, format!("roster_session={session}"))
            .form(&form)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let server_ms = server_timing(&response).unwrap_or(f64::NAN);
        let body = response.text().await?;
        let client_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status.is_server_error() {
            bail!("POST {path} answered {status}: {}", body.chars().take(300).collect::<String>());
        }
        Ok((status, Timed { server_ms, client_ms, bytes: body.len(), body }))
    }
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let pair = v.split(';').next()?.trim();
        let (key, value) = pair.split_once('=')?;
        (key == name && !value.is_empty()).then(|| value.to_owned())
    })
}

/// The value of `<input ... name="NAME" value="...">`; enough for the one form read here.
fn hidden_input(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let start = rest.find("value=\"")? + "value=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_owned())
}

/// `app;dur=1.234` in milliseconds.
fn server_timing(response: &reqwest::Response) -> Option<f64> {
    let value = response.headers().get("server-timing")?.to_str().ok()?;
    value.split(',').find_map(|metric| {
        let mut parts = metric.trim().split(';');
        (parts.next()? == "app").then_some(())?;
        parts.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok())
    })
}
