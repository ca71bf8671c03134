//! Roster's typed Microsoft Graph client.
//!
//! App-only (client credentials) access to one tenant: a cached token refreshed before expiry
//! and once on a 401; paging that follows `@odata.nextLink` to the end (through empty pages,
//! resending `ConsistencyLevel`); retries that honour integer and fractional `Retry-After`
//! within a bounded budget; `$batch` for per-user lookups. Secrets and tokens are never logged.

mod batch;
mod calls;
mod client;
mod config;
mod delta;
mod error;
mod lookup;
mod model;
mod permissions;
mod subscriptions;

pub use batch::{BatchRequest, BatchResponse, MAX_BATCH};
pub use client::{AccessToken, GraphClient, RequestStats};
pub use config::{parse_retry_after, GraphConfig, RetryPolicy};
pub use delta::{DeltaFrom, GroupDelta, GroupsRound, ManagerDelta, MemberRef, UserDelta, UsersRound};
pub use error::GraphError;
pub use lookup::{GroupRef, GROUP_SEARCH_LIMIT};
pub use model::{GraphUser, GroupMembers, Photo, PhotoMeta, USER_SELECT};
pub use permissions::{CheckStatus, PermissionCheck, PermissionReport};
pub use subscriptions::{NewSubscription, Subscription, MAX_SUBSCRIPTION_MINUTES};
