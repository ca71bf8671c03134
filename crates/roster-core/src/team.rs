//! Teams: a hierarchy admins build, primary and secondary membership.

use crate::ids::{OrgId, TeamId};
use crate::text;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a team name needs 1 to 200 characters on one line, without control characters")]
pub struct TeamNameError;

impl TeamName {
    /// A name is trimmed, 1 to 200 characters, one line: control characters are refused, and
    /// so are the tab and line breaks other text may hold (see [`crate::text`]).
    pub fn parse(raw: &str) -> Result<Self, TeamNameError> {
        let s = raw.trim();
        let one_line = !s.contains(['\t', '\n', '\r']);
        if s.is_empty() || s.chars().count() > 200 || text::first_control_char(s).is_some() || !one_line {
            return Err(TeamNameError);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Teams are matched by name without regard to case, as departments arrive in any case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for TeamName {
    type Error = TeamNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TeamName> for String {
    fn from(value: TeamName) -> Self {
        value.0
    }
}

impl fmt::Display for TeamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub org: OrgId,
    pub name: TeamName,
    pub parent: Option<TeamId>,
}

/// Would making `parent` the parent of `team` close a loop? `parent_of` walks the current tree.
pub fn creates_cycle(team: TeamId, parent: TeamId, parent_of: impl Fn(TeamId) -> Option<TeamId>) -> bool {
    let mut cursor = Some(parent);
    let mut steps = 0usize;
    while let Some(current) = cursor {
        if current == team || steps > 10_000 {
            return true;
        }
        cursor = parent_of(current);
        steps += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use uuid::Uuid;

    #[test]
    fn a_team_cannot_become_its_own_ancestor() {
        let t = |n| TeamId::from_uuid(Uuid::from_u128(n));
        let parents: HashMap<TeamId, TeamId> = [(t(2), t(1)), (t(3), t(2))].into();
        let parent_of = |id| parents.get(&id).copied();
        assert!(creates_cycle(t(1), t(3), parent_of));
        assert!(creates_cycle(t(1), t(1), parent_of));
        assert!(!creates_cycle(t(3), t(1), parent_of));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TeamName::parse("  Sales ").map(|n| n.key()), Ok("sales".into()));
        assert!(TeamName::parse("   ").is_err());
        assert!(TeamName::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn names_refuse_control_characters_tabs_and_line_breaks() {
        for bad in ["Sa\u{7}les", "Sales\u{1b}[2J", "Sa\u{85}les", "Sales\nEvil", "Sales\rEvil", "Sa\tles", "Sa\u{7f}les"] {
            assert_eq!(TeamName::parse(bad), Err(TeamNameError), "{bad:?}");
        }
        assert!(TeamName::parse("Ventes & Marketing (Zürich)").is_ok());
    }
}
