//! A running Roster on a fresh database, and a browser-like client.

use roster_app::clock::SystemClock;
use roster_app::config::Config;
use roster_app::secrets::seal::MasterKey;
use roster_app::{admin, App};
use roster_core::Org;
use roster_store::testing::{Backend, FailingStore, TestDb};
use roster_store::Store;
use roster_web::AppState;
use std::net::SocketAddr;
use std::sync::Arc;

pub const BASE_DOMAIN: &str = "roster.test";

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    db: Option<TestDb>,
    server: tokio::task::JoinHandle<()>,
}

pub struct TestOrg {
    pub org: Org,
    pub owner_email: String,
    pub owner_password: String,
}

impl TestApp {
    /// None when the backend is not available here (PostgreSQL outside CI without a server).
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Option<Self> {
        Self::start_on(backend, configure, |store| store).await
    }

    /// A server whose store fails on demand (see `FailingStore::fail_on`).
    pub async fn start_failing(backend: Backend) -> Option<(Self, Arc<FailingStore>)> {
        let mut failing = None;
        let app = Self::start_on(
            backend,
            |_| {},
            |store| {
                let wrapped = FailingStore::new(store);
                failing = Some(wrapped.clone());
                wrapped
            },
        )
        .await?;
        Some((app, failing?))
    }

    async fn start_on(backend: Backend, configure: impl FnOnce(&mut Config), wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>) -> Option<Self> {
        let db = TestDb::new(backend).await.expect("a test database")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut config = Config::local(format!("http://{addr}").parse().expect("url"));
        config.base_domain = Some(BASE_DOMAIN.into());
        configure(&mut config);
        let key = MasterKey::from_base64(&MasterKey::generate_base64()).expect("key");
        let state =
            AppState::new(App { store: wrap(db.store.clone()), config: Arc::new(config), clock: Arc::new(SystemClock), master_key: key }, None);
        let app = roster_web::app(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Some(Self { addr, state, db: Some(db), server })
    }

    /// The tables with a row holding `needle` anywhere.
    pub async fn tables_mentioning(&self, needle: &str) -> Vec<String> {
        self.db.as_ref().expect("a test database").tables_mentioning(needle).await.expect("reading every table")
    }

    pub fn url(&self, slug: &str, path: &str) -> String {
        format!("http://{}/o/{slug}{path}", self.addr)
    }

    pub async fn org(&self, slug: &str) -> TestOrg {
        let created = admin::create_org(&self.state, slug, &format!("{slug} Inc"), &format!("owner@{slug}.example")).await.expect("create org");
        TestOrg { org: created.org, owner_email: created.owner.email.to_string(), owner_password: created.owner_password }
    }

    /// A client that keeps cookies, like a browser, and does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&format!("acme.{BASE_DOMAIN}"), self.addr)
            .build()
            .expect("client")
    }

    /// Sign in through the login form; returns the signed-in client.
    pub async fn signed_in(&self, slug: &str, email: &str, password: &str) -> reqwest::Client {
        let client = self.client();
        let response = self.login(&client, slug, email, password).await;
        assert_eq!(response.status(), 303, "sign-in should redirect");
        client
    }

    pub async fn login(&self, client: &reqwest::Client, slug: &str, email: &str, password: &str) -> reqwest::Response {
        let page = client.get(self.url(slug, "/login")).send().await.expect("login page").text().await.expect("body");
        let token = form_token(&page);
        client
            .post(self.url(slug, "/login"))
            .form(&[("_csrf", token.as_str()), ("email", email), ("password", password)])
            .send()
            .await
            .expect("login post")
    }

    pub async fn finish(mut self) {
        self.server.abort();
        if let Some(db) = self.db.take() {
            db.finish().await;
        }
    }
}

/// The `_csrf` value of the first form on a page.
/// The page an answer leads to: the page a Post/Redirect/Get redirect names, or the answer itself.
pub async fn read_through(client: &reqwest::Client, response: reqwest::Response) -> String {
    if response.status() == reqwest::StatusCode::SEE_OTHER {
        let location = response.headers()["location"].to_str().expect("a location").to_owned();
        let next = response.url().join(&location).expect("a location within the site");
        return client.get(next).send().await.expect("the page").text().await.expect("a body");
    }
    response.text().await.expect("a body")
}

pub fn form_token(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).map(|i| i + marker.len()).expect("a form with a CSRF token");
    let end = html[start..].find('"').expect("end of token") + start;
    html[start..end].to_owned()
}

/// Run a test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            use roster_store::testing::Backend;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = $crate::support::TestApp::start(Backend::Sqlite).await {
                    super::$body(&app).await;
                    app.finish().await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::support::TestApp::start(Backend::Postgres).await {
                    super::$body(&app).await;
                    app.finish().await;
                }
            }
        }
    };
}

/// The setup that connects an organisation to a simulated tenant served on loopback: its
/// tenant, top group and app credentials, and the simulator's addresses.
pub fn sim_setup(running: &roster_sim::RunningSim) -> roster_app::provision::entra::EntraSetup {
    let info = running.sim.info();
    roster_app::provision::entra::EntraSetup {
        tenant_id: info.tenant_id,
        group_id: info.top_group_id,
        client_id: info.client_id,
        client_secret: info.client_secret,
        login_base: Some(format!("{}/", running.base_url)),
        graph_base: Some(format!("{}/v1.0/", running.base_url)),
        ..Default::default()
    }
}
