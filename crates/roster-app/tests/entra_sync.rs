//! The Entra sync against the simulator, on SQLite and on PostgreSQL. After every scenario the
//! directory is compared with what the simulator holds, and the audit log must explain it.

#![expect(clippy::expect_used, clippy::panic, reason = "tests: a failed step should stop the test")]

#[path = "entra_sync/faults.rs"]
mod faults;
#[path = "entra_sync/guard.rs"]
mod guard;
#[path = "entra_sync/harness.rs"]
mod harness;
#[path = "entra_sync/lifecycle.rs"]
mod lifecycle;

/// One test per backend for each scenario `module::name`.
macro_rules! on_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = roster_store::testing::TestDb::sqlite().await.expect("SQLite test database");
                    crate::$module::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = roster_store::testing::TestDb::postgres().await.expect("PostgreSQL test database") else { return };
                    crate::$module::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
    };
}

on_both_backends!(
    lifecycle::initial_sync_mirrors_the_group,
    lifecycle::second_sync_changes_nothing,
    lifecycle::nested_cycles_and_users_in_two_groups_are_synced_once,
    lifecycle::a_manager_outside_the_group_is_reported_not_guessed,
    lifecycle::photos_follow_their_etag_and_a_removed_photo_clears_the_avatar,
    lifecycle::a_disabled_user_is_deactivated,
    lifecycle::a_user_moved_out_of_the_group_and_back_is_deactivated_then_reactivated,
    lifecycle::recorded_runs_keep_progress_report_and_errors,
    lifecycle::a_preview_is_the_plan_a_sync_applies,
    faults::throttling_storms_are_ridden_out,
    faults::service_unavailable_answers_are_retried,
    faults::a_token_expiring_mid_sync_is_renewed,
    faults::a_page_that_fails_once_is_fetched_again,
    faults::a_failed_listing_deactivates_nobody_and_the_next_run_converges,
    faults::a_revoked_secret_or_permission_applies_nothing,
    guard::emptying_the_group_holds_the_run,
    guard::a_connection_repointed_at_another_tenant_holds_the_run,
    guard::taking_out_a_nested_group_holds_the_run,
    guard::disabling_many_accounts_holds_the_run_and_says_so,
    guard::fewer_than_ten_leavers_are_never_held,
    guard::a_held_run_is_recorded_held_and_a_rejection_keeps_it_unapplied,
);
