//! Faithful local stand-ins for Microsoft Entra ID's login endpoints and Microsoft Graph v1.0,
//! and for an Okta org's management API and event hooks.
//!
//! Roster's tests, `roster sim entra` and `roster demo` mount [`EntraSim::router`] on loopback
//! and point the Graph client at it; the behaviours follow the Graph reference Roster is built
//! against (paging, throttling, error bodies, batching, delta queries, change notifications),
//! including the awkward ones. The Okta
//! simulator ([`okta::OktaSim`]) does the same for Okta's Users/Apps API and event hooks.

pub mod entra;
pub mod okta;
mod page;

pub use entra::{
    serve, spawn_loopback, AdminDecision, Change, ChangeKind, ControlClient, ControlError, DeliveryOutcome, DeliveryRecord, EntraSim, Faults,
    NoPhotoStyle, NotificationConfig, ObjectKind, RequestRecord, RetryAfter, RetryAfterStyle, RunningSim, SimError, SubscriptionInfo, TenantInfo,
    TenantSize, TenantSpec, ThrottleConfig,
};
