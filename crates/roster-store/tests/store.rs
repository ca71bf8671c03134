//! The storage suite: every test is written once, against `dyn Store`, and runs on a fresh
//! SQLite database and on a fresh PostgreSQL database (see `roster_store::testing::TestDb`).
#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failing test panics")]

#[path = "store/support.rs"]
mod support;

#[path = "store/apply.rs"]
mod apply;
#[path = "store/auth.rs"]
mod auth;
#[path = "store/bulk.rs"]
mod bulk;
#[path = "store/connections.rs"]
mod connections;
#[path = "store/errors.rs"]
mod errors;
#[path = "store/hardening.rs"]
mod hardening;
#[path = "store/isolation.rs"]
mod isolation;
#[path = "store/jobs.rs"]
mod jobs;
#[path = "store/narrow.rs"]
mod narrow;
#[path = "store/outbox.rs"]
mod outbox;
#[path = "store/plans.rs"]
mod plans;
#[path = "store/scim.rs"]
mod scim;
#[path = "store/search.rs"]
mod search;
#[path = "store/sso.rs"]
mod sso;

/// One test per backend for each suite function `module::name`.
macro_rules! on_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = roster_store::testing::TestDb::sqlite().await.expect("a SQLite test database");
                    crate::$module::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = roster_store::testing::TestDb::postgres().await.expect("a PostgreSQL test database") else { return };
                    crate::$module::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
    };
}

on_both_backends!(
    isolation::one_org_never_sees_another_orgs_people_or_teams,
    isolation::plans_cannot_reach_into_another_org,
    isolation::credentials_tokens_sessions_and_keys_stay_in_their_org,
    apply::a_failing_change_rolls_back_the_whole_plan,
    apply::a_late_single_change_conflict_rolls_back_earlier_bulk_writes,
    apply::every_change_is_audited_and_published_without_secrets,
    apply::updates_of_each_kind_are_applied,
    apply::teams_are_renamed_moved_and_kept_acyclic,
    apply::deactivation_signs_the_person_out,
    search::filters_select_the_right_people,
    search::text_prefix_is_case_insensitive_and_literal,
    search::pages_are_sorted_by_name_then_id_with_totals,
    sso::sign_in_requests_are_redeemed_once_in_their_org_before_expiry,
    sso::identity_links_keep_their_person_and_refusals_are_logged,
    sso::password_sign_in_is_on_until_turned_off_and_the_change_is_audited,
    sso::a_saml_assertion_is_used_once_and_expired_sign_ins_are_purged,
    sso::every_request_purpose_round_trips,
    auth::tokens_are_single_use_even_under_concurrency,
    auth::passwords_activate_invited_people_and_are_audited,
    auth::sessions_expire_and_can_be_ended,
    auth::api_keys_record_use_and_stop_working_when_revoked,
    outbox::claimed_emails_are_never_handed_out_twice,
    outbox::failed_emails_are_retried_later,
    bulk::a_two_thousand_person_import_round_trips_and_replans_to_nothing,
    bulk::counts_and_team_summaries_add_up,
    narrow::partial_plans_from_the_narrow_snapshot_match_the_whole_one,
    connections::connections_are_one_tenant_per_org_and_audited_without_secrets,
    connections::deleting_a_connection_unlinks_its_people_and_removes_its_runs,
    scim::tokens_are_found_by_digest_until_revoked,
    scim::filters_compile_to_sql_with_json_fallbacks,
    scim::paging_yields_each_resource_once_with_true_totals,
    scim::names_are_unique_in_any_case_and_stale_writes_lose,
    scim::groups_keep_members_and_deletes_cascade,
    scim::concurrent_versioned_writes_never_lose_an_update,
    scim::requests_are_logged_newest_first,
    jobs::claimed_jobs_are_never_handed_out_twice,
    jobs::jobs_are_deduplicated_while_live_and_retried_on_failure,
    jobs::one_holder_leads_until_its_lease_runs_out,
    jobs::runs_record_progress_and_reports_and_avatars_are_audited,
    jobs::a_busy_organisation_waits_its_turn,
    hardening::newer_links_new_passwords_and_new_addresses_void_the_old_ones,
    hardening::failures_are_counted_per_key_within_their_window,
    hardening::a_run_whose_process_stopped_is_marked_failed,
    hardening::owners_decide_whether_connections_manage_owners_and_admins,
    errors::uniqueness_rules_are_named_by_kind,
);

#[test]
fn test_database_urls_keep_host_and_options() {
    assert_eq!(
        roster_store::testing::with_database("postgres://postgres@127.0.0.1:5433/postgres", "roster_t_1"),
        "postgres://postgres@127.0.0.1:5433/roster_t_1"
    );
    assert_eq!(roster_store::testing::with_database("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
    assert_eq!(roster_store::testing::with_database("postgres://h:5432", "x"), "postgres://h:5432/x");
}
