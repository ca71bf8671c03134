//! Sign-in with SAML 2.0 over HTTP: responses made by a test identity provider that signs the
//! way real ones do, posted to the ACS as a browser would. The happy paths first, then each
//! attack, which must end refused, logged for admins, and with no session.

use crate::sso::{assert_refused, provider_link, run, sets_session};
use crate::support::{form_token, TestApp};
use flate2::read::DeflateDecoder;
use roster_core::{Actor, Connection, Status};
use roster_saml::testing::{post_value, ResponseSpec, TestIdp};
use roster_web::sso::saml::{new_connection, SamlSettings};
use std::io::Read;

const IDP: &str = "https://idp.example/app/roster/metadata";
const IDP_SSO: &str = "https://idp.example/app/roster/sso";

struct World {
    idp: TestIdp,
    connection: Connection,
    sp: String,
    acs: String,
    owner: String,
    owner_password: String,
}

async fn world_in(app: &TestApp, slug: &str, allow_idp_initiated: bool) -> World {
    let org = app.org(slug).await;
    let idp = TestIdp::new(IDP);
    let settings = SamlSettings::from_metadata(&idp.metadata(IDP_SSO), None, allow_idp_initiated).unwrap();
    let connection = new_connection(org.org.id, "Okta", &settings, true, chrono::Utc::now()).unwrap();
    app.state.store.create_connection(&connection, &Actor::Cli).await.unwrap();
    World {
        idp,
        connection,
        sp: app.url(slug, "/saml/metadata"),
        acs: app.url(slug, "/saml/acs"),
        owner: org.owner_email,
        owner_password: org.owner_password,
    }
}

async fn world(app: &TestApp) -> World {
    world_in(app, "acme", false).await
}

impl World {
    /// A response for `name_id`, answering `request` (None: unsolicited).
    fn spec(&self, name_id: &str, request: Option<&str>) -> ResponseSpec {
        let mut spec = ResponseSpec::new(&self.idp, &self.sp, &self.acs, name_id, chrono::Utc::now());
        spec.in_response_to = request.map(str::to_owned);
        spec
    }
}

/// Clicks "Sign in with Okta" on the login page and returns the AuthnRequest's ID.
async fn start(app: &TestApp, slug: &str, w: &World, client: &reqwest::Client) -> String {
    let page = client.get(app.url(slug, "/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in with Okta"), "the login page shows the SAML button");
    let started = client.post(app.url(slug, &format!("/sso/{}/start", w.connection.id))).form(&[("_csrf", form_token(&page))]).send().await.unwrap();
    assert_eq!(started.status(), 200);
    request_id(&provider_link(&started.text().await.unwrap()))
}

fn request_id(redirect: &str) -> String {
    assert!(redirect.starts_with(IDP_SSO), "{redirect} goes to the identity provider");
    let url = url::Url::parse(redirect).unwrap();
    let encoded = url.query_pairs().find(|(k, _)| k == "SAMLRequest").unwrap().1.into_owned();
    let deflated = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded).unwrap();
    let mut xml = String::new();
    DeflateDecoder::new(&deflated[..]).read_to_string(&mut xml).unwrap();
    let root = roster_saml::xml::parse(&xml).unwrap();
    root.attr("ID").unwrap().to_owned()
}

async fn post(app: &TestApp, slug: &str, client: &reqwest::Client, xml: &str) -> reqwest::Response {
    // A RelayState that names an address must never decide where the browser lands.
    client
        .post(app.url(slug, "/saml/acs"))
        .form(&[("SAMLResponse", post_value(xml).as_str()), ("RelayState", "https://evil.example/")])
        .send()
        .await
        .unwrap()
}

/// Follows the ACS's answer to the same-site step after it, in the same browser.
async fn finish(app: &TestApp, client: &reqwest::Client, acs: reqwest::Response) -> reqwest::Response {
    if acs.status() != 303 {
        return acs;
    }
    assert!(!sets_session(&acs), "the ACS itself starts no session");
    let next = acs.headers()["location"].to_str().unwrap().to_owned();
    assert!(next.starts_with("/o/acme/saml/continue?t="), "{next}");
    client.get(format!("{}{next}", app.url("acme", "").trim_end_matches("/o/acme"))).send().await.unwrap()
}

async fn expect_signed_in(app: &TestApp, client: &reqwest::Client, acs: reqwest::Response, who: &str) {
    let response = finish(app, client, acs).await;
    assert_eq!(response.status(), 303, "{who} signed in");
    assert_eq!(response.headers()["location"], "/o/acme/");
    assert!(sets_session(&response));
    let me = client.get(app.url("acme", "/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert!(me.text().await.unwrap().contains(who));
}

async fn signs_in_from_the_login_page_and_refuses_replays(app: &TestApp) {
    let w = world(app).await;
    let metadata = app.client().get(&w.sp).send().await.unwrap();
    assert_eq!(metadata.status(), 200);
    assert!(metadata.headers()["content-type"].to_str().unwrap().starts_with("application/samlmetadata+xml"));
    let xml = metadata.text().await.unwrap();
    assert!(xml.contains(&format!("entityID=\"{}\"", w.sp)) && xml.contains(&format!("Location=\"{}\"", w.acs)), "{xml}");

    let client = app.client();
    let id = start(app, "acme", &w, &client).await;
    // Matched case-insensitively by address.
    let signed = w.spec(&w.owner.to_uppercase(), Some(&id)).signed_assertion(&w.idp);
    let response = post(app, "acme", &client, &signed).await;
    assert!(response.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    expect_signed_in(app, &client, response, &w.owner).await;

    // The same response again, from another browser: refused.
    let other = app.client();
    let replay = post(app, "acme", &other, &signed).await;
    assert_refused(app, &other, replay, "a replayed response").await;

    // A fresh response posted four times at once: one session at most.
    let id = start(app, "acme", &w, &app.client()).await;
    let signed = w.spec(&w.owner, Some(&id)).signed_assertion(&w.idp);
    let attempts: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, body) = (app.client(), app.url("acme", "/saml/acs"), post_value(&signed));
            tokio::spawn(async move { client.post(url).form(&[("SAMLResponse", body)]).send().await.unwrap() })
        })
        .collect();
    let mut accepted = 0;
    for attempt in attempts {
        accepted += usize::from(attempt.await.unwrap().status() == 303);
    }
    assert_eq!(accepted, 1, "concurrent posts of one assertion: one is accepted, so one session at most");
}

async fn a_response_started_in_another_browser_is_refused(app: &TestApp) {
    let w = world(app).await;
    // The attacker starts a sign-in, gets a response for their own account, and has the
    // victim's browser post it (login CSRF).
    let attacker = app.client();
    let id = start(app, "acme", &w, &attacker).await;
    let planted = w.spec(&w.owner, Some(&id)).signed_assertion(&w.idp);
    let victim = app.client();
    let acs = post(app, "acme", &victim, &planted).await;
    let refused = finish(app, &victim, acs).await;
    assert_refused(app, &victim, refused, "a response started in another browser").await;
    let latest = app.state.store.sso_refusals(w.connection.org, 1).await.unwrap();
    assert!(latest[0].reason.contains("another browser"), "{:?}", latest[0].reason);
    // A hand-over token works only in the browser that started the sign-in.
    let me = app.client();
    let id = start(app, "acme", &w, &me).await;
    let acs = post(app, "acme", &me, &w.spec(&w.owner, Some(&id)).signed_assertion(&w.idp)).await;
    let next = acs.headers()["location"].to_str().unwrap().to_owned();
    let root = app.url("acme", "").trim_end_matches("/o/acme").to_owned();
    assert!(sets_session(&me.get(format!("{root}{next}")).send().await.unwrap()));
    let again = app.client().get(format!("{root}{next}")).send().await.unwrap();
    assert_eq!(again.status(), 403, "a hand-over token in another browser");
    assert!(!sets_session(&again));
}

async fn forged_and_misdirected_responses_are_refused(app: &TestApp) {
    let w = world(app).await;
    let other_org = world_in(app, "other", false).await;
    let impostor = TestIdp::impostor(IDP);
    let mut cases: Vec<(&str, String, &str)> = Vec::new();
    let client = app.client();

    let fresh = |spec: &ResponseSpec| spec.signed_assertion(&w.idp);
    let id = start(app, "acme", &w, &client).await;
    cases.push(("unsigned", w.spec(&w.owner, Some(&id)).xml(), "neither the assertion nor the Response is signed"));
    cases.push(("foreign certificate", w.spec(&w.owner, Some(&id)).signed_assertion(&impostor), "certificate that Roster has on file"));
    let mut s = w.spec(&w.owner, Some(&id));
    s.audience = "https://other.example/saml".into();
    cases.push(("wrong audience", fresh(&s), "meant for"));
    let mut s = w.spec(&w.owner, Some(&id));
    s.recipient = app.url("other", "/saml/acs");
    cases.push(("wrong recipient", fresh(&s), "Recipient"));
    let mut s = w.spec(&w.owner, Some(&id));
    s.destination = Some(app.url("other", "/saml/acs"));
    cases.push(("wrong destination", fresh(&s), "addressed to"));
    let mut s = w.spec(&w.owner, Some(&id));
    s.issued = chrono::Utc::now() - chrono::Duration::minutes(15);
    s.not_before = s.issued;
    s.not_on_or_after = s.issued + chrono::Duration::minutes(5);
    cases.push(("expired", fresh(&s), "expired"));
    let mut s = w.spec(&w.owner, Some(&id));
    s.not_before = chrono::Utc::now() + chrono::Duration::minutes(10);
    cases.push(("not yet valid", fresh(&s), "not valid before"));
    let wrapped = {
        let good = fresh(&w.spec(&w.owner, Some(&id)));
        let evil = w.spec("intruder@acme.example", Some(&id)).xml();
        let evil_assertion = &evil[evil.find("<saml:Assertion").unwrap()..evil.find("</samlp:Response>").unwrap()];
        good.replace("</samlp:Response>", &format!("{evil_assertion}</samlp:Response>"))
    };
    cases.push(("signature wrapping", wrapped, "more than one assertion"));
    cases.push(("doctype", format!("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}", fresh(&w.spec(&w.owner, Some(&id)))), "DOCTYPE"));
    cases.push(("unknown request", fresh(&w.spec(&w.owner, Some("_made-up"))), "did not start"));
    // Another organisation's outstanding request, answered at this organisation's ACS.
    let elsewhere = start(app, "other", &other_org, &app.client()).await;
    cases.push(("another organisation's request", fresh(&w.spec(&w.owner, Some(&elsewhere))), "did not start"));
    cases.push(("unsolicited while off", fresh(&w.spec(&w.owner, None)), "IdP-initiated sign-in is off"));
    let mut s = w.spec(&w.owner, Some(&id));
    s.issuer = "https://evil.example/idp".into();
    cases.push(("unknown issuer", fresh(&s), "no connection of this organisation names"));
    // Valid at last: the outstanding request was not spent by the failures before it.
    let before = app.state.store.sso_refusals(w.connection.org, 50).await.unwrap().len();
    for (why, xml, reason) in &cases {
        let browser = app.client();
        let response = post(app, "acme", &browser, xml).await;
        assert_refused(app, &browser, response, why).await;
        let latest = app.state.store.sso_refusals(w.connection.org, 1).await.unwrap();
        assert!(latest[0].reason.contains(reason), "{why}: {:?} should mention {reason:?}", latest[0].reason);
    }
    assert_eq!(app.state.store.sso_refusals(w.connection.org, 50).await.unwrap().len(), before + cases.len(), "every refusal is logged");
    expect_signed_in(app, &client, post(app, "acme", &client, &fresh(&w.spec(&w.owner, Some(&id)))).await, &w.owner).await;
    // And a request, once answered, is spent.
    let again = app.client();
    let spent = post(app, "acme", &again, &fresh(&w.spec(&w.owner, Some(&id)))).await;
    assert_refused(app, &again, spent, "a second answer to one request").await;
}

async fn idp_initiated_only_when_opted_in_and_never_creates_people(app: &TestApp) {
    let w = world_in(app, "acme", true).await;
    let client = app.client();
    let acs = post(app, "acme", &client, &w.spec(&w.owner, None).signed_assertion(&w.idp)).await;
    let next = acs.headers()["location"].to_str().unwrap().to_owned();
    expect_signed_in(app, &client, acs, &w.owner).await;
    // Unsolicited, there is no browser to bind the hand-over to: it is redeemed once.
    let root = app.url("acme", "").trim_end_matches("/o/acme").to_owned();
    let again = app.client().get(format!("{root}{next}")).send().await.unwrap();
    assert_eq!(again.status(), 403, "an unsolicited hand-over is used once");
    assert!(!sets_session(&again));

    let before = app.state.store.count_people(w.connection.org).await.unwrap();
    let stranger = app.client();
    let refused = post(app, "acme", &stranger, &w.spec("stranger@acme.example", None).signed_assertion(&w.idp)).await;
    assert_refused(app, &stranger, refused, "nobody has the address").await;
    assert_eq!(format!("{:?}", app.state.store.count_people(w.connection.org).await.unwrap()), format!("{before:?}"));

    // A comment cannot cut the NameID down to someone else's address.
    let injected = app.client();
    let name = format!("{}<!---->.evil.example", w.owner);
    let refused = post(app, "acme", &injected, &w.spec(&name, None).signed_assertion(&w.idp)).await;
    assert_refused(app, &injected, refused, "NameID comment injection").await;
    let latest = app.state.store.sso_refusals(w.connection.org, 1).await.unwrap();
    assert!(latest[0].reason.contains(&format!("{}.evil.example", w.owner)), "read in full: {:?}", latest[0].reason);

    // A deactivated person is told so and not reactivated.
    let member = app.state.store.person_by_email(w.connection.org, &roster_core::Email::parse(&w.owner).unwrap()).await.unwrap().unwrap();
    let mut plan = roster_core::Plan::new(w.connection.org, Actor::Cli);
    plan.changes.push(roster_core::Change::SetStatus { id: member.id, before: member.status, after: Status::Deactivated });
    app.state.store.apply(&plan, chrono::Utc::now()).await.unwrap();
    let browser = app.client();
    let response = post(app, "acme", &browser, &w.spec(&w.owner, None).signed_assertion(&w.idp)).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("deactivated"));
    let after = app.state.store.person(w.connection.org, member.id).await.unwrap().unwrap();
    assert_eq!(after.status, Status::Deactivated);
}

async fn admins_test_sign_in_and_add_connections_from_metadata(app: &TestApp) {
    let w = world(app).await;
    let admin = app.signed_in("acme", &w.owner, &w.owner_password).await;
    let page = admin.get(app.url("acme", "/settings/sso")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&w.acs) && page.contains(&w.sp), "the page shows what to paste into the provider");
    let tested =
        admin.post(app.url("acme", &format!("/settings/sso/{}/test", w.connection.id))).form(&[("_csrf", form_token(&page))]).send().await.unwrap();
    let id = request_id(&provider_link(&tested.text().await.unwrap()));
    let browser = app.client();
    let report = post(app, "acme", &browser, &w.spec(&w.owner, Some(&id)).signed_assertion(&w.idp)).await;
    assert_eq!(report.status(), 200);
    assert!(!sets_session(&report), "a test signs nobody in");
    let text = report.text().await.unwrap();
    assert!(text.contains("Test sign-in") && text.contains(&w.owner), "{text}");

    // Metadata whose certificate has lapsed (samlify's test certificates live a day) is refused.
    let lapsed = [
        ("_csrf", form_token(&page)),
        ("name", "Lapsed".to_owned()),
        ("metadata_xml", include_str!("../../../roster-saml/tests/samlify/metadata.xml").to_owned()),
    ];
    let before = app.state.store.connections(w.connection.org).await.unwrap().len();
    let refused = admin.post(app.url("acme", "/settings/sso/saml")).form(&lapsed).send().await.unwrap().text().await.unwrap();
    assert!(refused.contains("expired"), "{refused}");
    assert_eq!(app.state.store.connections(w.connection.org).await.unwrap().len(), before, "nothing was added");
    // Adding from pasted metadata: disabled until enabled.
    let form = [
        ("_csrf", form_token(&page)),
        ("name", "Okta SAML".to_owned()),
        ("metadata_xml", TestIdp::new("https://other-idp.example/metadata").metadata(IDP_SSO)),
        ("allow_idp_initiated", "on".to_owned()),
    ];
    let added = admin.post(app.url("acme", "/settings/sso/saml")).form(&form).send().await.unwrap();
    assert_eq!(added.status(), 303);
    let connections = app.state.store.connections(w.connection.org).await.unwrap();
    let new = connections.iter().find(|c| c.name == "Okta SAML").unwrap();
    assert!(!new.enabled);
    assert!(SamlSettings::of(new).unwrap().allow_idp_initiated);
    // A connection whose certificate lapsed since it was added is flagged, with the way to fix it.
    let settings = SamlSettings::from_metadata(include_str!("../../../roster-saml/tests/samlify/metadata.xml"), None, false).unwrap();
    let stale = new_connection(w.connection.org, "Stale", &settings, true, chrono::Utc::now()).unwrap();
    app.state.store.create_connection(&stale, &Actor::Cli).await.unwrap();
    let connections = app.state.store.connections(w.connection.org).await.unwrap();
    let page = admin.get(app.url("acme", "/settings/sso")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("cert-warning") && page.contains(&format!("/settings/sso/{}#signing", stale.id)), "the certificate's expiry is flagged");
    // And the owners are e-mailed, once per step (30 days, 7 days, lapsed).
    assert_eq!(roster_app::admin::sso::warn_expiring_certificates(&app.state).await.unwrap(), 1);
    assert_eq!(roster_app::admin::sso::warn_expiring_certificates(&app.state).await.unwrap(), 0, "not again");
    let emails = app.state.store.emails(w.connection.org, 20).await.unwrap();
    let warned = emails.iter().find(|e| matches!(e.email, roster_store::OutgoingEmail::ConnectionHealth { .. })).unwrap();
    let rendered = roster_app::mail::render(&warned.email, "Acme", "acme", &app.state.config, None);
    assert!(rendered.subject.contains("has expired") && rendered.body.contains(&format!("/settings/sso/{}", stale.id)), "{}", rendered.body);
    // Metadata without a signing certificate is refused, and nothing is added.
    let bad = [
        ("_csrf", form_token(&page)),
        ("name", "Broken".to_owned()),
        ("metadata_xml", w.idp.metadata(IDP_SSO).replace("use=\"signing\"", "use=\"encryption\"")),
    ];
    let refused = admin.post(app.url("acme", "/settings/sso/saml")).form(&bad).send().await.unwrap().text().await.unwrap();
    assert!(refused.contains("no signing certificate"), "{refused}");
    assert_eq!(app.state.store.connections(w.connection.org).await.unwrap().len(), connections.len());
}

/// The identity provider rolls its signing key over: before the admin gives Roster the new
/// certificate, a test signed with the new key fails and says why; after, both keys sign in.
async fn a_new_certificate_is_given_before_the_old_one_lapses(app: &TestApp) {
    let w = world(app).await;
    let admin = app.signed_in("acme", &w.owner, &w.owner_password).await;
    let page_path = format!("/settings/sso/{}", w.connection.id);
    let page = admin.get(app.url("acme", &page_path)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(IDP) && page.contains(IDP_SSO) && page.contains("valid until"), "the page shows what it points at");
    let csrf = form_token(&page);
    let next = TestIdp::impostor(IDP);
    let signed_by_next = |request: Option<&str>| {
        let mut spec = ResponseSpec::new(&next, &w.sp, &w.acs, &w.owner, chrono::Utc::now());
        spec.in_response_to = request.map(str::to_owned);
        spec.signed_assertion(&next)
    };

    let tested = admin.post(app.url("acme", &format!("{page_path}/test"))).form(&[("_csrf", csrf.clone())]).send().await.unwrap();
    let id = request_id(&provider_link(&tested.text().await.unwrap()));
    let failed = post(app, "acme", &app.client(), &signed_by_next(Some(&id))).await;
    assert_eq!(failed.status(), 403);
    let text = failed.text().await.unwrap();
    assert!(text.contains("Test sign-in failed") && text.contains("signature"), "the admin reads why: {text}");

    // Something that is not a certificate changes nothing.
    let garbage =
        admin.post(app.url("acme", &format!("{page_path}/signing"))).form(&[("_csrf", csrf.clone()), ("certificate", "not a certificate".into())]);
    let garbage = garbage.send().await.unwrap();
    assert_eq!(garbage.status(), 200);
    assert!(garbage.text().await.unwrap().contains("PEM"));
    let pem = include_str!("../../../roster-saml/src/testing/other-cert.pem");
    let given = admin.post(app.url("acme", &format!("{page_path}/signing"))).form(&[("_csrf", csrf.clone()), ("certificate", pem.to_owned())]);
    assert_eq!(given.send().await.unwrap().status(), 303);
    let settings = SamlSettings::of(&app.state.store.connection(w.connection.org, w.connection.id).await.unwrap().unwrap()).unwrap();
    assert_eq!(settings.certificates.len(), 2, "the new certificate joins the one still valid");

    // Both keys sign people in during the switch.
    for by_next in [false, true] {
        let browser = app.client();
        let request = start(app, "acme", &w, &browser).await;
        let xml = if by_next { signed_by_next(Some(&request)) } else { w.spec(&w.owner, Some(&request)).signed_assertion(&w.idp) };
        let response = post(app, "acme", &browser, &xml).await;
        assert_eq!(response.status(), 303, "signed by the {} key", if by_next { "new" } else { "old" });
    }

    // Deleting the connection ends its links; nobody's account changes.
    let people = app.state.store.count_people(w.connection.org).await.unwrap();
    let deleted = admin.post(app.url("acme", &format!("{page_path}/delete"))).form(&[("_csrf", csrf), ("confirm", "yes".into())]);
    assert_eq!(deleted.send().await.unwrap().status(), 303);
    assert!(app.state.store.connection(w.connection.org, w.connection.id).await.unwrap().is_none());
    assert_eq!(format!("{:?}", app.state.store.count_people(w.connection.org).await.unwrap()), format!("{people:?}"));
}

sso_on_both_backends!(
    a_new_certificate_is_given_before_the_old_one_lapses,
    signs_in_from_the_login_page_and_refuses_replays,
    a_response_started_in_another_browser_is_refused,
    forged_and_misdirected_responses_are_refused,
    idp_initiated_only_when_opted_in_and_never_creates_people,
    admins_test_sign_in_and_add_connections_from_metadata,
);
