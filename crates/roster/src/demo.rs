//! `roster demo`: the embedded default with a seeded organisation, so a newcomer can look
//! around without any cloud account. Seeding goes through the reconciler like any other source.

use crate::commands;
use crate::settings::Settings;
use anyhow::Context;
use roster_app::demo::{seed, OWNER};
use roster_app::App;
use roster_core::Actor;
use std::path::PathBuf;

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    if settings.database_url.is_none() && settings.data_dir.is_none() {
        settings.data_dir = Some(PathBuf::from("roster-demo"));
    }
    let state = commands::state(&settings, true).await?;
    let (org, password) = seed(&state).await?;
    let entra_sim = crate::entra::demo_connection(&state, &org).await?;
    microsoft_sign_in(&state, &org, &entra_sim).await?;
    // A fresh SCIM token on every start, like the password: the old ones stay valid until revoked.
    let scim_token = roster_app::admin::scim_tokens::create_token(&state, org.id, "demo", &roster_core::Actor::Cli).await?.raw;
    let okta = crate::okta::demo_connection(&state, |path| state.config.org_url(crate::okta::DEMO_SLUG, path)).await?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let login = state.config.org_url(org.slug.as_str(), "/login");
    let data = match settings.location() {
        roster_store::Location::DataDir(dir) => dir.display().to_string(),
        roster_store::Location::Postgres(_) => "PostgreSQL".into(),
    };
    let server = tokio::spawn({
        let settings = settings.clone();
        let state = state.clone();
        async move { commands::serve_state(&settings, state, Some(ready_tx)).await }
    });
    if ready_rx.await.is_ok() {
        println!("Roster demo is running (data in {data}).");
        println!("  Sign in:   {login}");
        println!("  Email:     {OWNER}");
        println!("  Password:  {password}");
        println!("  Outbox:    {}", state.config.org_url(org.slug.as_str(), "/outbox"));
        println!(
            "  Entra ID:  {} (a simulated tenant of 2,000 people at {}; enable it, then press Sync users)",
            state.config.org_url(org.slug.as_str(), "/settings/integrations/entra"),
            entra_sim.base_url
        );
        let someone = entra_sim.sim.info().member_user_ids.first().and_then(|id| entra_sim.sim.user_property(id, "userPrincipalName"));
        println!(
            "  Live:      once it is enabled, a change in the tenant reaches Roster within a second, e.g. roster sim entra edit-user {} --set jobTitle=Pilot --sim {}",
            someone.as_ref().and_then(|v| v.as_str()).unwrap_or("<UPN>"),
            entra_sim.base_url
        );
        println!("  Microsoft: after Sync users, people can use \"Sign in with {MICROSOFT}\" on the sign-in page with their UPN (simulated)");
        println!("  SCIM URL:  {}", roster_app::admin::scim_tokens::base_url(&state, org.slug.as_str()));
        println!("  SCIM token: {scim_token}");
        // The hook reaches the served Roster only now that it listens; Okta verifies it first.
        let hook = match okta.running.sim.register_event_hook(&okta.hook_url, &okta.hook_secret).await {
            Ok(()) => "its event hook is verified: a change there reaches Roster within a second".to_owned(),
            Err(error) => format!("its event hook could not be registered ({error}); the daily pull still runs"),
        };
        println!(
            "  Okta:      {} signs in as {} / {} (a simulated Okta at {}, connected the standard way; {hook})",
            state.config.org_url(crate::okta::DEMO_SLUG, "/settings/integrations/okta"),
            crate::okta::DEMO_OWNER,
            okta.password,
            okta.running.base_url
        );
        println!("  Change it: POST {}/_sim/users/<id or login>/(suspend|unsuspend|assign|unassign|profile)", okta.running.base_url);
        println!(
            "  Okta sign-in: Globex's people use \"Sign in with Okta\" on {} with their Okta login (simulated)",
            state.config.org_url(crate::okta::DEMO_SLUG, "/login")
        );
        println!("Press Ctrl+C to stop.");
    }
    let served = server.await.context("the server stopped")?;
    drop(entra_sim);
    drop(okta);
    served
}

/// The name of the demo's sign-in connection: the button says "Sign in with Microsoft".
const MICROSOFT: &str = "Microsoft";

/// An enabled "Sign in with Microsoft" against the simulated tenant, so synced people can sign
/// in with their UPN.
async fn microsoft_sign_in(state: &App, org: &roster_core::Org, sim: &roster_sim::RunningSim) -> anyhow::Result<()> {
    let tenant = &sim.sim;
    let settings =
        roster_app::signin::sso::OidcSettings::entra(&sim.base_url, &tenant.tenant_id(), &tenant.client_id()).map_err(anyhow::Error::msg)?;
    demo_sign_in(state, org.id, MICROSOFT, &settings, &tenant.client_secret()).await
}

/// An enabled OpenID sign-in connection named `name` against a simulator. A simulator's port
/// changes on every start, so an existing connection of that name is pointed at it again.
pub async fn demo_sign_in(
    state: &App,
    org: roster_core::OrgId,
    name: &str,
    settings: &roster_app::signin::sso::OidcSettings,
    client_secret: &str,
) -> anyhow::Result<()> {
    use roster_core::ConnectionKind;
    let now = state.clock.now();
    let fresh =
        roster_app::signin::sso::new_connection(&state.master_key, org, name, settings, client_secret, true, now).map_err(anyhow::Error::msg)?;
    let existing = state.store.connections(org).await?.into_iter().find(|c| c.kind == ConnectionKind::Oidc && c.name == name);
    match existing {
        Some(mut connection) => {
            connection.settings = fresh.settings;
            connection.sealed = fresh.sealed;
            connection.enabled = true;
            state.store.update_connection(&connection, &Actor::System, now).await?;
        }
        None => state.store.create_connection(&fresh, &Actor::System).await?,
    }
    Ok(())
}
