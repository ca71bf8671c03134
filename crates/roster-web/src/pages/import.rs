//! CSV import from the pages: upload, dry run or apply, and a report row by row.

use super::Chrome;
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Response};
use roster_app::admin::{self, OpsError};
use roster_core::plan::RecordIssue;
use roster_core::reconcile::Invitations;
use roster_core::{Actor, RunReport};

#[derive(Template, WebTemplate)]
#[template(path = "import.html")]
struct ImportPage {
    chrome: Chrome,
    report: Option<RunReport>,
    dry_run: bool,
    issues: Vec<RecordIssue>,
    error: Option<String>,
    /// The most one upload may be, in MiB.
    limit_mib: usize,
}

fn limit_mib(state: &AppState) -> usize {
    state.config.max_body_bytes / (1024 * 1024)
}

pub async fn show(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser) -> Response {
    let chrome = Chrome::signed_in(&ctx, &user, "import");
    ImportPage { chrome, report: None, dry_run: false, issues: vec![], error: None, limit_mib: limit_mib(&state) }.into_response()
}

#[derive(Default)]
struct Upload {
    csrf: String,
    file: Vec<u8>,
    invite: bool,
    dry_run: bool,
}

async fn read_upload(mut multipart: Multipart, limit_mib: usize) -> Result<Upload, PageError> {
    let mut upload = Upload::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            PageError::BadRequest(format!(
                "The file is larger than {limit_mib} MiB, the most one upload may be. Split it into smaller files; nothing was changed."
            ))
        } else {
            PageError::BadRequest(format!("the upload could not be read: {e}"))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "_csrf" => upload.csrf = field.text().await.map_err(bad)?,
            "file" => upload.file = field.bytes().await.map_err(bad)?.to_vec(),
            "invite" => upload.invite = field.text().await.map_err(bad)? == "yes",
            "dry_run" => upload.dry_run = field.text().await.map_err(bad)? == "yes",
            _ => {}
        }
    }
    Ok(upload)
}

pub async fn upload(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser, multipart: Multipart) -> Result<Response, PageError> {
    let limit = limit_mib(&state);
    let mut upload = read_upload(multipart, limit).await?;
    user.check_csrf(&upload.csrf)?;
    let chrome = Chrome::signed_in(&ctx, &user, "import");
    if upload.file.is_empty() {
        let error = Some("Choose a CSV file to import.".into());
        return Ok(ImportPage { chrome, report: None, dry_run: upload.dry_run, issues: vec![], error, limit_mib: limit }.into_response());
    }
    let invitations = if upload.invite { Invitations::Immediately } else { Invitations::Hold };
    let actor = Actor::CsvImport { by: Some(user.person.id) };
    let page = match admin::import_csv(&state, ctx.org.id, actor, std::mem::take(&mut upload.file), invitations, upload.dry_run).await {
        Ok(outcome) => ImportPage { chrome, report: Some(outcome.report), dry_run: !outcome.applied, issues: vec![], error: None, limit_mib: limit },
        Err(err @ (OpsError::Csv(_) | OpsError::Invalid(_) | OpsError::Conflict(_))) => {
            let issues = admin::import_issues(&err);
            ImportPage {
                chrome,
                report: None,
                dry_run: upload.dry_run,
                issues,
                error: Some(format!("{err}. Nothing was changed.")),
                limit_mib: limit,
            }
        }
        Err(other) => return Err(other.into()),
    };
    Ok(page.into_response())
}
