//! Who a person reports to. Their override manager (set by hand, or by Entra's `manager`)
//! wins; without one, a manager of their primary team does, then a manager of the nearest team
//! above it. A team's manager is not their own manager: they report to the team above.

use crate::{Person, Team, TeamId, UserId};
use std::collections::HashMap;

/// Where a person's effective manager comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerSource {
    /// Their own manager field.
    Override,
    /// A manager of their primary team.
    PrimaryTeam(TeamId),
    /// A manager of a team above their primary team.
    ParentTeam(TeamId),
}

/// The teams of an organisation with their managers, to resolve anyone's effective manager.
pub struct TeamManagers {
    parent: HashMap<TeamId, Option<TeamId>>,
    managers: HashMap<TeamId, Vec<UserId>>,
}

impl TeamManagers {
    /// `managers` lists (team, manager) pairs; pass only managers who may manage (not
    /// deactivated). Each team's managers are taken in the order given.
    pub fn new(teams: &[Team], managers: impl IntoIterator<Item = (TeamId, UserId)>) -> Self {
        let parent = teams.iter().map(|t| (t.id, t.parent)).collect();
        let mut by_team: HashMap<TeamId, Vec<UserId>> = HashMap::new();
        for (team, manager) in managers {
            by_team.entry(team).or_default().push(manager);
        }
        Self { parent, managers: by_team }
    }

    pub fn of_team(&self, team: TeamId) -> &[UserId] {
        self.managers.get(&team).map_or(&[], Vec::as_slice)
    }

    /// The person's effective manager and where it comes from; None when nobody is found.
    pub fn effective(&self, person: &Person) -> Option<(UserId, ManagerSource)> {
        if let Some(manager) = person.manager {
            return Some((manager, ManagerSource::Override));
        }
        let mut team = person.primary_team;
        let mut first = true;
        // Bounded: the tree never loops, but a bound costs nothing.
        for _ in 0..self.parent.len() + 1 {
            let Some(current) = team else { break };
            if let Some(manager) = self.of_team(current).iter().find(|m| **m != person.id) {
                let source = if first { ManagerSource::PrimaryTeam(current) } else { ManagerSource::ParentTeam(current) };
                return Some((*manager, source));
            }
            first = false;
            team = self.parent.get(&current).copied().flatten();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Email, OrgId, Profile, Role, Status, TeamName};
    use uuid::Uuid;

    fn team(org: OrgId, name: &str, parent: Option<TeamId>) -> Team {
        Team { id: TeamId::from_uuid(Uuid::new_v4()), org, name: TeamName::parse(name).unwrap(), parent }
    }

    fn person(org: OrgId, team: Option<TeamId>) -> Person {
        Person {
            id: UserId::from_uuid(Uuid::new_v4()),
            org,
            email: Email::parse("someone@example.com").unwrap(),
            profile: Profile::default(),
            status: Status::Active,
            role: Role::Learner,
            primary_team: team,
            secondary_teams: Vec::new(),
            manager: None,
            avatar_url: None,
            source: None,
            activated: true,
            provisioning_allowed: false,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn override_then_primary_team_then_the_teams_above() {
        let org = OrgId::from_uuid(Uuid::new_v4());
        let company = team(org, "Company", None);
        let sales = team(org, "Sales", Some(company.id));
        let emea = team(org, "EMEA", Some(sales.id));
        let (boss, head, own) = (UserId::from_uuid(Uuid::new_v4()), UserId::from_uuid(Uuid::new_v4()), UserId::from_uuid(Uuid::new_v4()));
        let teams = vec![company.clone(), sales.clone(), emea.clone()];
        let resolver = TeamManagers::new(&teams, [(company.id, boss), (sales.id, head)]);

        let mut learner = person(org, Some(emea.id));
        assert_eq!(resolver.effective(&learner), Some((head, ManagerSource::ParentTeam(sales.id))));
        learner.primary_team = Some(sales.id);
        assert_eq!(resolver.effective(&learner), Some((head, ManagerSource::PrimaryTeam(sales.id))));
        learner.manager = Some(own);
        assert_eq!(resolver.effective(&learner), Some((own, ManagerSource::Override)));

        // The head of Sales reports to the team above, not to themself.
        let mut head_person = person(org, Some(sales.id));
        head_person.id = head;
        assert_eq!(resolver.effective(&head_person), Some((boss, ManagerSource::ParentTeam(company.id))));
        // Nobody above the top.
        let mut top = person(org, Some(company.id));
        top.id = boss;
        assert_eq!(resolver.effective(&top), None);
        assert_eq!(resolver.effective(&person(org, None)), None);
    }
}
