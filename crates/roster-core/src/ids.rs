//! Identifiers. Each is a UUID behind its own type, so an organisation id can never be passed
//! where a person id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A customer organisation (a tenant).
    OrgId
);
uuid_id!(
    /// A person in an organisation's directory.
    UserId
);
uuid_id!(
    /// A team in an organisation.
    TeamId
);
uuid_id!(
    /// A configured integration (Entra, SCIM, Okta, SSO).
    ConnectionId
);
uuid_id!(
    /// One application of a plan: an import, a sync run, an admin action.
    RunId
);

/// Where new identifiers come from. Passed in, so plans are deterministic in tests.
pub trait IdSource {
    fn next_uuid(&mut self) -> Uuid;
}

/// Time-ordered random UUIDs (v7), for production.
#[derive(Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_uuid(&mut self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Sequential UUIDs, for tests.
#[derive(Debug, Default)]
pub struct SequentialIds(u128);

impl IdSource for SequentialIds {
    fn next_uuid(&mut self) -> Uuid {
        self.0 += 1;
        Uuid::from_u128(self.0)
    }
}
