//! Who is under the sync group after a delta round. Graph reports membership changes, not
//! the flattened membership, so the direct memberships are kept (`entra_memberships`) and a
//! round's changes are laid over them before asking whether a user still reaches the group.

use roster_entra::GroupDelta;
use roster_store::{Membership, MembershipChanges};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Nested groups deeper than this are not followed (Entra allows far fewer in practice).
pub const MAX_DEPTH: usize = 64;

/// A round's membership changes, each (group, member) pair at its last state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundMemberships {
    /// (group, member) → (member is a group, still a member).
    pairs: BTreeMap<(String, String), (bool, bool)>,
    removed_groups: BTreeSet<String>,
}

impl RoundMemberships {
    /// Merge a groups round: entries may repeat, so the last word on a pair stands.
    pub fn from_round(groups: &BTreeMap<String, GroupDelta>) -> Self {
        let mut out = RoundMemberships::default();
        for (group, delta) in groups {
            if delta.removed {
                out.removed_groups.insert(group.clone());
                continue;
            }
            for (member, added) in &delta.members {
                out.pairs.insert((group.clone(), member.id.clone()), (member.is_group, *added));
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty() && self.removed_groups.is_empty()
    }

    /// Every membership of an initial round, replacing whatever was stored.
    pub fn baseline(&self) -> MembershipChanges {
        let mut changes = self.changes();
        changes.replace_all = true;
        changes.removed.clear();
        changes.groups_removed.clear();
        changes
    }

    /// What to store after the round.
    pub fn changes(&self) -> MembershipChanges {
        let mut changes = MembershipChanges { groups_removed: self.removed_groups.iter().cloned().collect(), ..MembershipChanges::default() };
        for ((group, member), (is_group, present)) in &self.pairs {
            if *present {
                changes.added.push(Membership { group: group.clone(), member: member.clone(), member_is_group: *is_group });
            } else {
                changes.removed.push((group.clone(), member.clone()));
            }
        }
        changes
    }

    /// Users whose own membership changed, and groups whose place changed (their users may
    /// have entered or left with them), plus deleted groups.
    pub fn touched(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut users = BTreeSet::new();
        let mut groups: BTreeSet<String> = self.removed_groups.clone();
        for ((_, member), (is_group, _)) in &self.pairs {
            if *is_group {
                groups.insert(member.clone());
            } else {
                users.insert(member.clone());
            }
        }
        (users, groups)
    }

    fn gone(&self, m: &Membership) -> bool {
        self.removed_groups.contains(&m.group)
            || self.removed_groups.contains(&m.member)
            || self.pairs.get(&(m.group.clone(), m.member.clone())).is_some_and(|(_, present)| !present)
    }

    /// The stored memberships of `members` as the round leaves them.
    pub fn parents(&self, members: &BTreeSet<String>, stored: Vec<Membership>) -> Vec<Membership> {
        let mut out: Vec<Membership> = stored.into_iter().filter(|m| !self.gone(m)).collect();
        for ((group, member), (is_group, present)) in &self.pairs {
            if *present && members.contains(member) && !self.removed_groups.contains(group) {
                out.push(Membership { group: group.clone(), member: member.clone(), member_is_group: *is_group });
            }
        }
        out
    }

    /// The stored members of `groups` as the round leaves them.
    pub fn children(&self, groups: &BTreeSet<String>, stored: Vec<Membership>) -> Vec<Membership> {
        let mut out: Vec<Membership> = stored.into_iter().filter(|m| !self.gone(m)).collect();
        for ((group, member), (is_group, present)) in &self.pairs {
            if *present && groups.contains(group) {
                out.push(Membership { group: group.clone(), member: member.clone(), member_is_group: *is_group });
            }
        }
        out
    }
}

/// Which of `starts` reach `root` through `parents` (child → the groups it is directly in).
/// Cycles of nested groups are cut.
pub fn under_root(root: &str, starts: &BTreeSet<String>, parents: &HashMap<String, Vec<String>>) -> BTreeSet<String> {
    let mut reaching: HashSet<&str> = HashSet::new();
    let mut out = BTreeSet::new();
    for start in starts {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = vec![start.as_str()];
        let mut found = false;
        while let Some(node) = stack.pop() {
            if node == root || reaching.contains(node) {
                found = true;
                break;
            }
            if !seen.insert(node) {
                continue;
            }
            stack.extend(parents.get(node).into_iter().flatten().map(String::as_str));
        }
        if found {
            reaching.insert(start.as_str());
            out.insert(start.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_entra::MemberRef;

    fn delta(members: &[(&str, bool, bool)]) -> GroupDelta {
        GroupDelta { removed: false, members: members.iter().map(|(id, g, a)| (MemberRef { id: (*id).into(), is_group: *g }, *a)).collect() }
    }

    fn m(group: &str, member: &str, is_group: bool) -> Membership {
        Membership { group: group.into(), member: member.into(), member_is_group: is_group }
    }

    #[test]
    fn the_last_word_on_a_pair_stands_and_removals_hide_stored_memberships() {
        let mut groups = BTreeMap::new();
        groups.insert("g1".to_string(), delta(&[("u1", false, true), ("u1", false, false), ("u2", false, true), ("g2", true, true)]));
        groups.insert("gone".to_string(), GroupDelta { removed: true, members: Vec::new() });
        let round = RoundMemberships::from_round(&groups);
        let (users, nested) = round.touched();
        assert_eq!(users.into_iter().collect::<Vec<_>>(), ["u1", "u2"]);
        assert_eq!(nested.into_iter().collect::<Vec<_>>(), ["g2", "gone"]);
        let stored = vec![m("g1", "u1", false), m("gone", "u1", false)];
        let set: BTreeSet<String> = ["u1".to_string(), "u2".to_string()].into();
        let parents = round.parents(&set, stored);
        assert_eq!(parents, vec![m("g1", "u2", false)], "u1 left g1, and g2's deletion takes u1's place in it away");
        let changes = round.changes();
        assert_eq!(changes.removed, vec![("g1".to_string(), "u1".to_string())]);
        assert_eq!(changes.added.len(), 2);
        assert!(round.baseline().replace_all);
    }

    #[test]
    fn users_reach_the_root_through_nested_groups_and_cycles_end() {
        let mut parents: HashMap<String, Vec<String>> = HashMap::new();
        parents.insert("u1".into(), vec!["g2".into()]);
        parents.insert("g2".into(), vec!["g3".into()]);
        parents.insert("g3".into(), vec!["g2".into(), "root".into()]);
        parents.insert("u2".into(), vec!["g4".into()]);
        parents.insert("g4".into(), vec!["g5".into()]);
        parents.insert("g5".into(), vec!["g4".into()]);
        let starts: BTreeSet<String> = ["u1", "u2", "u3"].iter().map(|s| s.to_string()).collect();
        assert_eq!(under_root("root", &starts, &parents).into_iter().collect::<Vec<_>>(), ["u1"]);
    }
}
