//! Sign-in failures and permissions, as an admin would read them.

mod common;

use common::harness;
use roster_entra::{CheckStatus, GraphError};

#[tokio::test]
async fn wrong_secret_is_named() {
    let h = harness(5, 999).await;
    let client = h.client_with(&h.info.tenant_id, &h.info.client_id, "not-the-secret");
    let err = client.transitive_member_users(&h.info.top_group_id, &[]).await.expect_err("wrong secret");
    assert_eq!(err, GraphError::WrongSecret { client_id: h.info.client_id.clone() });
    let msg = err.to_string();
    assert!(msg.contains("AADSTS7000215") && msg.contains("not its Secret ID"), "{msg}");
    assert!(!msg.contains("not-the-secret"));
    assert_eq!(client.stats().graph_requests, 0);
}

#[tokio::test]
async fn expired_secret_is_named() {
    let h = harness(5, 999).await;
    h.sim.faults().expire_secret();
    let err = h.client.check_permissions(None).await.expect_err("expired");
    assert_eq!(err, GraphError::SecretExpired { client_id: h.info.client_id.clone() });
    assert!(err.to_string().contains("has expired"));
}

#[tokio::test]
async fn tenant_problems_are_named() {
    let h = harness(5, 999).await;
    let unknown = "0b5c6a2e-1111-4222-8333-944455556666";
    let err = h.client_with(unknown, &h.info.client_id, &h.info.client_secret).access_token().await.expect_err("unknown");
    assert_eq!(err, GraphError::UnknownTenant { tenant: unknown.into() });
    assert!(err.to_string().contains(unknown) && err.to_string().contains("Directory (tenant) ID"));

    let err = h.client_with("contoso_corp", &h.info.client_id, &h.info.client_secret).access_token().await.expect_err("malformed");
    assert!(matches!(err, GraphError::MalformedTenant { .. }), "{err:?}");

    let err = h.client_with("common", &h.info.client_id, &h.info.client_secret).access_token().await.expect_err("common");
    assert!(matches!(err, GraphError::MultiTenantEndpoint { .. }), "{err:?}");

    // The domain works as well as the GUID.
    let by_domain = h.client_with(&h.info.domain, &h.info.client_id, &h.info.client_secret);
    assert!(by_domain.access_token().await.is_ok());
}

#[tokio::test]
async fn app_not_in_tenant_is_named() {
    let h = harness(5, 999).await;
    let stranger = "9d7a9f39-0000-4000-8000-000000000001";
    let err = h.client_with(&h.info.tenant_id, stranger, &h.info.client_secret).access_token().await.expect_err("no app");
    assert_eq!(err, GraphError::AppNotInTenant { client_id: stranger.into(), tenant: h.info.tenant_id.clone() });
}

#[tokio::test]
async fn missing_member_permission_is_named() {
    let h = harness(5, 999).await;
    h.sim.faults().revoke_permission("GroupMember.Read.All");
    let err = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect_err("403");
    assert!(matches!(&err, GraphError::MissingPermission { needed, .. } if needed == "GroupMember.Read.All or Group.Read.All"), "{err:?}");
    assert!(err.to_string().contains("GroupMember.Read.All or Group.Read.All"));
    // Group.Read.All is an alternative that works.
    h.sim.faults().grant_permission("Group.Read.All");
    assert!(h.client.transitive_member_users(&h.info.top_group_id, &[]).await.is_ok());
}

#[tokio::test]
async fn members_without_user_permission_are_not_synced_blank() {
    let h = harness(5, 999).await;
    h.sim.faults().revoke_permission("User.Read.All");
    // Graph still lists the members, with only their ids; that must not pass as data.
    let err = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect_err("limited");
    assert!(matches!(&err, GraphError::MissingPermission { needed, .. } if needed == "User.Read.All"), "{err:?}");
    assert!(h.sim.requests().iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn unknown_group_is_named() {
    let h = harness(5, 999).await;
    let missing = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    let err = h.client.transitive_member_users(missing, &[]).await.expect_err("404");
    assert_eq!(err, GraphError::GroupNotFound { group_id: missing.into() });
    assert!(err.to_string().contains(missing));
}

#[tokio::test]
async fn test_connection_reports_each_permission() {
    let h = harness(5, 999).await;
    let report = h.client.check_permissions(Some(&h.info.top_group_id)).await.expect("report");
    assert!(report.all_ok(), "{report:?}");
    h.sim.faults().revoke_permission("User.Read.All");
    let report = h.client.check_permissions(Some(&h.info.top_group_id)).await.expect("report");
    assert_eq!(report.missing(), vec!["User.Read.All"]);
    let report = h.client.check_permissions(Some("3f2504e0-4f89-41d3-9a0c-0305e82c3301")).await.expect("report");
    assert!(matches!(&report.checks[1].status, CheckStatus::Failed(m) if m.contains("was not found")), "{report:?}");
}

#[tokio::test]
async fn secrets_and_tokens_never_show_in_debug() {
    let h = harness(5, 999).await;
    let token = h.client.access_token().await.expect("token");
    let shown = format!("{:?} {:?} {:?}", h.client, h.client.config(), token);
    assert!(!shown.contains(&h.info.client_secret), "{shown}");
    assert!(!shown.contains("eyJ0"), "{shown}");
    assert!(shown.contains("[redacted]"));
}
