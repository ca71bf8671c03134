//! Organisation routing. An organisation is reached on its subdomain (`acme.roster.example/...`)
//! or under a path prefix (`/o/acme/...`). Subdomain requests are rewritten to the prefixed form
//! before routing, so one set of routes serves both; pages build links from [`OrgCtx::base`].

use crate::error::PageError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use roster_core::Org;

/// The organisation a request is for, and the prefix its links start with.
#[derive(Clone, Debug)]
pub struct OrgCtx {
    pub org: Org,
    /// `""` on the organisation's subdomain, `/o/<slug>` under the path prefix.
    pub base: String,
}

impl OrgCtx {
    /// The cookie path that keeps one organisation's cookies away from another's.
    pub fn cookie_path(&self) -> &str {
        if self.base.is_empty() {
            "/"
        } else {
            &self.base
        }
    }
}

/// The slug a host names, when it is a subdomain of the base domain.
fn slug_from_host(host: &str, base_domain: &str) -> Option<String> {
    let host = host.rsplit_once(':').map_or(host, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { host });
    let label = host.strip_suffix(base_domain)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_ascii_lowercase())
}

fn prefixed_uri(uri: &Uri, slug: &str) -> Option<Uri> {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    // A host label and a path that already parsed: should it not parse, the request is served unprefixed.
    format!("/o/{slug}{path_and_query}").parse().ok()
}

/// Resolve the organisation of a request (subdomain or `/o/<slug>`) and remember it for handlers.
pub async fn resolve_org(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let mut on_subdomain = false;
    if let Some(domain) = &state.config.base_domain {
        // A host that is not visible ASCII names no organisation's subdomain.
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        if let Some(slug) = slug_from_host(host, domain) {
            if !request.uri().path().starts_with("/o/") {
                if let Some(uri) = prefixed_uri(request.uri(), &slug) {
                    *request.uri_mut() = uri;
                    on_subdomain = true;
                }
            }
        }
    }
    // `split` always yields a first piece: the default is unreachable.
    let slug = request.uri().path().strip_prefix("/o/").map(|rest| rest.split('/').next().unwrap_or_default().to_owned());
    if let Some(slug) = slug {
        match state.store.org_by_slug(&slug).await {
            Ok(Some(org)) => {
                let base = if on_subdomain { String::new() } else { format!("/o/{slug}") };
                request.extensions_mut().insert(OrgCtx { org, base });
            }
            Ok(None) => return PageError::NotFound.into_response(),
            Err(err) => return PageError::from(err).into_response(),
        }
    }
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for OrgCtx {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<OrgCtx>().cloned().ok_or(PageError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_of_the_base_domain_name_an_org() {
        assert_eq!(slug_from_host("acme.roster.test", "roster.test").as_deref(), Some("acme"));
        assert_eq!(slug_from_host("ACME.roster.test:8080", "roster.test").as_deref(), Some("acme"));
        assert_eq!(slug_from_host("roster.test", "roster.test"), None);
        assert_eq!(slug_from_host("a.b.roster.test", "roster.test"), None);
        assert_eq!(slug_from_host("evilroster.test", "roster.test"), None);
    }

    #[test]
    fn rewritten_paths_keep_their_query() {
        let uri: Uri = "/people?q=ada".parse().unwrap();
        assert_eq!(prefixed_uri(&uri, "acme").unwrap().to_string(), "/o/acme/people?q=ada");
    }
}
