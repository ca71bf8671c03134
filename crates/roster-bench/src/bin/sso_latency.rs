//! Server time to finish a sign-in: an OpenID Connect callback, and a SAML ACS post with the
//! same-site step after it (`/saml/continue`, which checks the browser and starts the session),
//! each over 1,000 SP-initiated sign-ins with the provider's keys cached, on SQLite and
//! PostgreSQL.
//! `roster serve` runs as a child; this program is the browser and both providers (a small
//! OpenID provider on loopback, and a SAML provider that signs each response before it is
//! posted). The server's time comes from its `Server-Timing` header; for the callback, the wait
//! for the provider's token endpoint (`idp;dur=`) is taken out, as the aim excludes it.
//!
//!     scripts/test cargo run --release -p roster-bench --bin sso_latency

#[path = "../common/mod.rs"]
#[allow(dead_code)] // each program uses part of what the programs share
mod common;

use anyhow::{bail, Context};
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use clap::Parser;
use common::backend::{Location, Which};
use common::child::{self, Roster};
use common::stats::{summarize, Summary};
use common::{secs, ORG, OWNER};
use roster_saml::testing::{post_value, ResponseSpec, TestIdp};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const AIM_P99_MS: f64 = 5.0;
const CLIENT_ID: &str = "bench-client";
const SECRET_VAR: &str = "ROSTER_BENCH_OIDC_SECRET";
const SAML_IDP: &str = "https://idp.bench.example/saml";

#[derive(Parser)]
#[command(about = "Server time of the OpenID callback and the SAML ACS, per backend")]
struct Args {
    #[arg(long, default_value_t = 1000)]
    sign_ins: usize,
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    #[arg(long, env = "ROSTER_TEST_DATABASE_URL")]
    database_url: Option<String>,
    #[arg(long = "bin", default_value = "target/release/roster")]
    bin: PathBuf,
    #[arg(long, default_value_t = 1800)]
    max_secs: u64,
}

/// The OpenID provider: discovery, keys, an authorize endpoint that signs the owner in at once,
/// and a token endpoint.
#[derive(Clone)]
struct Provider {
    issuer: String,
    key_der: Arc<Vec<u8>>,
    jwk: Arc<Value>,
    /// code -> nonce
    codes: Arc<Mutex<HashMap<String, String>>>,
}

async fn serve_provider() -> anyhow::Result<Provider> {
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
    let jwk = json!({ "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench",
        "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let provider = Provider {
        issuer: format!("http://{}", listener.local_addr()?),
        key_der: Arc::new(private.to_pkcs1_der()?.as_bytes().to_vec()),
        jwk: Arc::new(jwk),
        codes: Arc::default(),
    };
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(p): State<Provider>| async move {
                let base = p.issuer.clone();
                Json(json!({ "issuer": base, "authorization_endpoint": format!("{base}/authorize"), "token_endpoint": format!("{base}/token"),
                "jwks_uri": format!("{base}/keys"), "code_challenge_methods_supported": ["S256"] }))
            }),
        )
        .route("/keys", get(|State(p): State<Provider>| async move { Json(json!({ "keys": [(*p.jwk).clone()] })) }))
        .route(
            "/authorize",
            get(|State(p): State<Provider>, Query(q): Query<HashMap<String, String>>| async move {
                let code = uuid::Uuid::new_v4().to_string();
                let (Some(nonce), Some(redirect), Some(state)) = (q.get("nonce"), q.get("redirect_uri"), q.get("state")) else {
                    return axum::http::StatusCode::BAD_REQUEST.into_response();
                };
                if let Ok(mut codes) = p.codes.lock() {
                    codes.insert(code.clone(), nonce.clone());
                }
                axum::response::Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
            }),
        )
        .route(
            "/token",
            post(|State(p): State<Provider>, Form(f): Form<HashMap<String, String>>| async move {
                let nonce = f.get("code").and_then(|c| p.codes.lock().ok()?.remove(c)).unwrap_or_default();
                let now = chrono::Utc::now().timestamp();
                let claims = json!({ "iss": p.issuer, "sub": "owner", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce,
                "email": OWNER, "email_verified": true });
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid = Some("bench".into());
                let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_der(&p.key_der)).unwrap_or_default();
                Json(json!({ "id_token": token, "token_type": "Bearer", "access_token": "unused" }))
            }),
        )
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(provider)
}

/// `app;dur=` and `idp;dur=` in milliseconds.
fn timings(response: &reqwest::Response) -> (Option<f64>, f64) {
    let value = response.headers().get("server-timing").and_then(|v| v.to_str().ok()).unwrap_or("");
    let metric = |name: &str| {
        value.split(',').find_map(|m| {
            let mut parts = m.trim().split(';');
            (parts.next()? == name).then_some(())?;
            parts.find_map(|p| p.trim().strip_prefix("dur=")?.parse::<f64>().ok())
        })
    };
    (metric("app"), metric("idp").unwrap_or(0.0))
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let at = text.find(start)? + start.len();
    let len = text[at..].find(end)?;
    Some(&text[at..at + len])
}

fn unescape(href: &str) -> String {
    href.replace("&#38;", "&").replace("&amp;", "&").replace("&#61;", "=").replace("&#43;", "+").replace("&#47;", "/")
}

struct Browser {
    client: reqwest::Client,
    root: String,
}

impl Browser {
    fn new(root: &str) -> anyhow::Result<Self> {
        let client =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build()?;
        Ok(Self { client, root: root.to_owned() })
    }

    /// Clicks "Sign in with ..." and returns the provider's address from the page in between.
    async fn start(&self, connection: &str) -> anyhow::Result<String> {
        let login = self.client.get(format!("{}/o/{ORG}/login", self.root)).send().await?.text().await?;
        let csrf = between(&login, "name=\"_csrf\" value=\"", "\"").context("the login page has a form token")?.to_owned();
        let page = self.client.post(format!("{}/o/{ORG}/sso/{connection}/start", self.root)).form(&[("_csrf", csrf)]).send().await?.text().await?;
        Ok(unescape(between(&page, "id=\"continue\" href=\"", "\"").context("the start page links to the provider")?))
    }
}

fn request_id(redirect: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(redirect)?;
    let encoded = url.query_pairs().find(|(k, _)| k == "SAMLRequest").context("no SAMLRequest")?.1.into_owned();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&STANDARD.decode(encoded)?[..]).read_to_string(&mut xml)?;
    Ok(between(&xml, " ID=\"", "\"").context("the request has an ID")?.to_owned())
}

/// The ACS's time and the time of the step after it.
async fn saml_sign_in(root: &str, connection: &str, idp: &TestIdp) -> anyhow::Result<(f64, f64)> {
    let browser = Browser::new(root)?;
    let id = request_id(&browser.start(connection).await?)?;
    let (sp, acs) = (format!("{root}/o/{ORG}/saml/metadata"), format!("{root}/o/{ORG}/saml/acs"));
    let mut spec = ResponseSpec::new(idp, &sp, &acs, OWNER, chrono::Utc::now());
    spec.in_response_to = Some(id);
    let body = post_value(&spec.signed_assertion(idp));
    let response = browser.client.post(&acs).form(&[("SAMLResponse", body)]).send().await?;
    let (acs_ms, _) = timings(&response);
    if response.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("the ACS answered {}: {}", response.status(), response.text().await?.chars().take(300).collect::<String>());
    }
    // The same-site step after the ACS, which checks the browser and starts the session.
    let next = response.headers().get("location").and_then(|v| v.to_str().ok()).context("the ACS sends the browser on")?.to_owned();
    let response = browser.client.get(format!("{root}{next}")).send().await?;
    let (continue_ms, _) = timings(&response);
    if response.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("the step after the ACS answered {}", response.status());
    }
    Ok((acs_ms.context("no Server-Timing on the ACS")?, continue_ms.context("no Server-Timing on the step after the ACS")?))
}

async fn oidc_sign_in(root: &str, connection: &str) -> anyhow::Result<f64> {
    let browser = Browser::new(root)?;
    let authorize = browser.start(connection).await?;
    let back = browser.client.get(&authorize).send().await?;
    let callback = back.headers().get("location").and_then(|v| v.to_str().ok()).context("the provider redirects back")?.to_owned();
    let response = browser.client.get(&callback).send().await?;
    let (app, idp) = timings(&response);
    if response.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("the callback answered {}: {}", response.status(), response.text().await?.chars().take(300).collect::<String>());
    }
    Ok(app.context("no Server-Timing on the callback")? - idp)
}

async fn one_backend(location: &Location, args: &Args, deadline: Instant) -> anyhow::Result<Value> {
    let label = location.label;
    println!("{label}:");
    let provider = serve_provider().await?;
    let secret = uuid::Uuid::new_v4().to_string();
    let mut env = location.env.clone();
    env.push((SECRET_VAR.into(), secret));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let root = format!("http://127.0.0.1:{port}");
    env.push(("ROSTER_PUBLIC_URL".into(), root.clone()));
    let roster = Roster { bin: args.bin.clone(), env, timeout: Duration::from_secs(args.max_secs) };
    roster.run(&["org", "create", ORG, "--name", "Bench", "--owner", OWNER]).await?;
    let idp = TestIdp::new(SAML_IDP);
    let metadata = location.scratch().join("saml-metadata.xml");
    std::fs::write(&metadata, idp.metadata("https://idp.bench.example/saml/sso"))?;
    let saml =
        roster.run(&["sso", "add", "saml", "--org", ORG, "--name", "SAML", "--metadata-file", &metadata.to_string_lossy(), "--enable"]).await?;
    let saml = saml.stdout.trim().to_owned();
    let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
    let oidc = roster
        .run(&[
            "sso",
            "add",
            "oidc",
            "--org",
            ORG,
            "--name",
            "OIDC",
            "--client-id",
            CLIENT_ID,
            "--client-secret-env",
            SECRET_VAR,
            "--discovery-url",
            &discovery,
            "--enable",
        ])
        .await?;
    let oidc = oidc.stdout.trim().to_owned();

    let log = location.scratch().join("serve.log");
    let mut server = roster.spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], &log)?;
    let result = async {
        common::web::Web::new(port, ORG)?.wait_ready(&mut server, Duration::from_secs(60)).await?;
        let mut series: Vec<(&str, Vec<f64>)> =
            ["oidc_callback", "saml_acs", "saml_continue", "saml_acs_and_continue"].iter().map(|k| (*k, Vec::new())).collect();
        for i in 0..args.warmup + args.sign_ins {
            if Instant::now() > deadline {
                bail!("out of time (--max-secs)");
            }
            let oidc_ms = oidc_sign_in(&root, &oidc).await?;
            let (acs_ms, continue_ms) = saml_sign_in(&root, &saml, &idp).await?;
            if i >= args.warmup {
                for (samples, ms) in series.iter_mut().map(|(_, v)| v).zip([oidc_ms, acs_ms, continue_ms, acs_ms + continue_ms]) {
                    samples.push(ms);
                }
            }
        }
        let mut results = serde_json::Map::new();
        for (kind, samples) in &series {
            let summary: Summary = summarize(samples);
            println!(
                "  {kind:<22} server p50 {:>6.3} ms  p99 {:>6.3} ms  max {:>7.3} ms  ({} sign-ins)",
                summary.p50_ms, summary.p99_ms, summary.max_ms, summary.count
            );
            results.insert((*kind).into(), json!({ "server": summary, "aim_met": summary.p99_ms < AIM_P99_MS }));
        }
        anyhow::Ok(json!({ "backend": label, "results": results }))
    }
    .await;
    child::stop(server).await?;
    result.with_context(|| format!("the server's log: {}", log.display()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_secs);
    anyhow::ensure!(args.bin.is_file(), "no roster binary at {} (cargo build --release -p roster, or pass --bin)", args.bin.display());
    let mut results = Vec::new();
    for which in args.backend.pick(args.database_url.as_deref())? {
        let location = Location::open(which, args.database_url.as_deref()).await?;
        let result = one_backend(&location, &args, deadline).await;
        let closed = location.close().await;
        results.push(result?);
        closed?;
    }
    println!(
        "{}",
        json!({ "bench": "sso_latency", "sign_ins": args.sign_ins, "warmup": args.warmup, "aim_p99_ms": AIM_P99_MS, "seconds": secs(started.elapsed()), "results": results })
    );
    Ok(())
}
