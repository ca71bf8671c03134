//! The pages a person sees during sign-in: the Okta sign-in form, and Okta's own error page for
//! requests that cannot be answered to the app.

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::org::Status;
use super::OrgState;

use crate::page::escape;

/// `no-store`, and no framing: a sign-in form must not be clickjacked.
fn page(status: StatusCode, body: String) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store"), (header::X_FRAME_OPTIONS, "DENY")], Html(body)).into_response()
}

/// Okta's error page, for a request whose client or redirect URI cannot be trusted.
pub(crate) fn error_page(code: &str, description: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head><body><main>\
         <h1>400 Bad Request</h1><p>Your request resulted in an error.</p>\
         <dl><dt>Error Code</dt><dd id=\"error-code\">{}</dd><dt>Description</dt><dd id=\"error\">{}</dd></dl></main></body></html>",
        escape(code),
        escape(description)
    );
    page(StatusCode::BAD_REQUEST, body)
}

/// An assigned person who can sign in, suggested on the page so a demo visitor knows what to type.
fn example_login(s: &OrgState) -> Option<String> {
    s.org.assignments.keys().filter_map(|id| s.org.users.get(id)).find(|u| u.status == Status::Active).map(|u| u.login().to_owned())
}

pub(crate) fn sign_in_page(s: &OrgState, request: &str, login: &str, problem: Option<&str>) -> Response {
    let alert = problem.map(|p| format!("<p class=\"error\" role=\"alert\" id=\"error\">{}</p>", escape(p))).unwrap_or_default();
    let example = example_login(s)
        .map(|l| {
            format!(
                "<p class=\"hint\">The simulator does not check passwords. People assigned to the app can sign in, e.g. <code>{}</code>.</p>",
                escape(&l)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{org} - Sign In</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f9f9f9; margin: 0; color: #1d1d21; }}
main {{ max-width: 340px; margin: 8vh auto; background: #fff; padding: 40px; border: 1px solid #ddd; border-radius: 4px; }}
.brand {{ color: #6e6e78; font-weight: 600; margin: 0 0 24px; text-align: center; }}
h1 {{ font-size: 20px; text-align: center; margin: 0 0 20px; }}
label {{ display: block; margin: 12px 0 4px; font-weight: 600; }}
input[type=text], input[type=password] {{ width: 100%; box-sizing: border-box; padding: 8px; border: 1px solid #8c8c96; border-radius: 4px; font-size: 15px; }}
button {{ width: 100%; margin-top: 20px; padding: 10px; border: 0; border-radius: 4px; background: #1662dd; color: #fff; font-size: 15px; cursor: pointer; }}
.error {{ color: #d93934; border: 1px solid #d93934; border-radius: 4px; padding: 8px; }}
.hint {{ color: #6e6e78; font-size: 13px; }}
</style></head>
<body><main>
<p class="brand">Okta (simulated) &middot; {org}</p>
<h1>Sign In</h1>
{alert}
<form method="post" action="/oauth2/v1/authorize">
<input type="hidden" name="request" value="{request}">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="{login}" autocomplete="username" autofocus required>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password">
{example}
<button type="submit">Sign in</button>
</form>
</main></body></html>
"#,
        org = escape(&s.org.subdomain),
        request = escape(request),
        login = escape(login),
    );
    page(StatusCode::OK, body)
}
