//! `search_people`: the filter compiler, paging, totals and the text prefix.

use crate::support::*;
use roster_core::query::{PersonFilter, PersonQuery};
use roster_core::{Change, ConnectionId, OrgId, Role, SourceLink, Status, TeamId, UserId};
use roster_store::Store;
use std::sync::Arc;
use uuid::Uuid;

struct Directory {
    org: OrgId,
    sales: TeamId,
    support: TeamId,
    boss: UserId,
}

/// E-mail, first and last name, status, role, primary team.
type Row<'a> = (&'a str, &'a str, &'a str, Status, Role, Option<TeamId>);

/// Eight people with varied statuses, roles, teams, managers and links.
async fn directory(store: &dyn Store) -> Directory {
    let org = new_org(store, "acme").await;
    let (sales, support) = (tid(), tid());
    let connection = ConnectionId::from_uuid(Uuid::now_v7());
    let rows: [Row; 8] = [
        ("ada@acme.example", "Ada", "Lovelace", Status::Active, Role::Admin, Some(sales)),
        ("alan@acme.example", "Alan", "Turing", Status::Active, Role::Learner, Some(sales)),
        ("grace@acme.example", "Grace", "Hopper", Status::Invited, Role::Manager, Some(support)),
        ("edsger@acme.example", "Edsger", "Dijkstra", Status::Deactivated, Role::Learner, None),
        ("pct@acme.example", "100%", "Pure", Status::Active, Role::Learner, None),
        ("under@acme.example", "a_b", "Underscore", Status::Active, Role::Learner, None),
        ("axb@acme.example", "axb", "Lookalike", Status::Active, Role::Learner, None),
        ("zed@acme.example", "", "", Status::Invited, Role::Owner, None),
    ];
    let mut changes = vec![create_team(sales, "Sales"), create_team(support, "Support")];
    let mut ids = Vec::new();
    for (address, first, last, status, role, team) in rows {
        let mut person = new_person(address, first, last);
        person.status = status;
        person.role = role;
        person.primary_team = team;
        person.source = Some(SourceLink { connection, external_id: format!("ext-{first}") });
        ids.push((address.to_owned(), person.id));
        changes.push(create(&person));
    }
    let id = |a: &str| ids.iter().find(|(x, _)| x == a).map(|(_, id)| *id).unwrap_or_else(|| panic!("{a}"));
    let boss = id("ada@acme.example");
    changes.push(Change::SetManager { id: id("alan@acme.example"), before: None, after: Some(boss) });
    changes.push(Change::SetManager { id: id("grace@acme.example"), before: None, after: Some(boss) });
    changes.push(Change::AddSecondaryTeam { id: id("grace@acme.example"), team: sales });
    changes.push(Change::AddSecondaryTeam { id: id("edsger@acme.example"), team: sales });
    apply(store, org, changes).await;
    Directory { org, sales, support, boss }
}

async fn emails_of(store: &dyn Store, org: OrgId, filter: PersonFilter) -> Vec<String> {
    let page = store.search_people(org, &PersonQuery::new(Some(filter.clone()), 0, 100)).await.unwrap();
    assert_eq!(page.total, Some(page.people.len() as u64), "total of {filter:?}");
    let mut found: Vec<String> = page.people.into_iter().map(|p| p.email.to_string()).collect();
    found.sort();
    found
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    list.sort();
    list
}

pub async fn filters_select_the_right_people(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let d = directory(store).await;
    let find = |f| emails_of(store, d.org, f);
    use PersonFilter as F;

    assert_eq!(find(F::Status(Status::Invited)).await, sorted(&["grace@acme.example", "zed@acme.example"]));
    assert_eq!(find(F::Role(Role::Admin)).await, sorted(&["ada@acme.example"]));
    assert_eq!(
        find(F::Team(d.sales)).await,
        sorted(&["ada@acme.example", "alan@acme.example", "grace@acme.example", "edsger@acme.example"]),
        "primary and secondary members"
    );
    assert_eq!(find(F::Team(d.support)).await, sorted(&["grace@acme.example"]));
    assert_eq!(find(F::EmailIs(email("alan@acme.example"))).await, sorted(&["alan@acme.example"]));
    assert_eq!(find(F::ExternalIdIs("ext-Grace".into())).await, sorted(&["grace@acme.example"]));
    assert_eq!(find(F::ManagerIs(d.boss)).await, sorted(&["alan@acme.example", "grace@acme.example"]));
    assert_eq!(
        find(F::And(vec![F::Team(d.sales), F::Not(Box::new(F::Status(Status::Deactivated)))])).await,
        sorted(&["ada@acme.example", "alan@acme.example", "grace@acme.example"])
    );
    assert_eq!(find(F::Or(vec![F::Role(Role::Owner), F::Role(Role::Manager)])).await, sorted(&["grace@acme.example", "zed@acme.example"]));
    // NOT is a true complement, also for people without a manager or a team.
    assert_eq!(find(F::Not(Box::new(F::ManagerIs(d.boss)))).await.len(), 6);
    assert_eq!(find(F::Not(Box::new(F::Team(d.sales)))).await.len(), 4);
    assert_eq!(find(F::Not(Box::new(F::ExternalIdIs("ext-Ada".into())))).await.len(), 7);
    assert_eq!(find(F::And(vec![])).await.len(), 8);
    assert!(find(F::Or(vec![])).await.is_empty());
    assert!(find(F::EmailIs(email("nobody@acme.example"))).await.is_empty());
    assert_eq!(find(F::Not(Box::new(F::Or(vec![])))).await.len(), 8);

    let deep = (0..40).fold(F::Status(Status::Active), |f, _| F::Not(Box::new(f)));
    assert!(store.search_people(d.org, &PersonQuery::new(Some(deep), 0, 10)).await.is_err(), "over-deep filters are refused");
}

pub async fn text_prefix_is_case_insensitive_and_literal(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let d = directory(store).await;
    let find = |s: &str| emails_of(store, d.org, PersonFilter::TextPrefix(s.into()));

    assert_eq!(find("AL").await, sorted(&["alan@acme.example"]), "first name and e-mail");
    assert_eq!(find("a").await, sorted(&["ada@acme.example", "alan@acme.example", "under@acme.example", "axb@acme.example"]));
    assert_eq!(find("hopp").await, sorted(&["grace@acme.example"]), "last name");
    assert_eq!(find("Grace H").await, sorted(&["grace@acme.example"]), "full name");
    assert_eq!(find("grace@acme").await, sorted(&["grace@acme.example"]), "e-mail");
    assert_eq!(find("zed@").await, sorted(&["zed@acme.example"]), "a nameless person by e-mail");
    assert!(find("lace").await.is_empty(), "a prefix, not a substring");
    assert!(find("acme").await.is_empty());
    // % and _ are plain characters, not wildcards.
    assert_eq!(find("100%").await, sorted(&["pct@acme.example"]));
    assert!(find("1%").await.is_empty());
    assert_eq!(find("a_").await, sorted(&["under@acme.example"]));
    assert!(find("%").await.is_empty());
    assert!(find("_").await.is_empty());
    assert_eq!(find("").await.len(), 8);
    // Combined with other filters.
    let active_a = emails_of(store, d.org, PersonFilter::And(vec![PersonFilter::TextPrefix("A".into()), PersonFilter::Role(Role::Learner)])).await;
    assert_eq!(active_a, sorted(&["alan@acme.example", "under@acme.example", "axb@acme.example"]));
}

pub async fn pages_are_sorted_by_name_then_id_with_totals(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let d = directory(store).await;
    // Two people with the same name: the id breaks the tie.
    let twin_a = new_person("twin1@acme.example", "ada", "LOVELACE");
    let twin_b = new_person("twin2@acme.example", "Ada", "lovelace");
    apply(store, d.org, vec![create(&twin_a), create(&twin_b)]).await;

    let all = store.search_people(d.org, &PersonQuery::new(None, 0, 100)).await.unwrap();
    assert_eq!(all.total, Some(10));
    let names: Vec<String> = all.people.iter().map(|p| p.display_name().to_lowercase()).collect();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(names, expected, "sorted by lower-cased name");
    let ada_ids: Vec<UserId> = all.people.iter().filter(|p| p.display_name().to_lowercase() == "ada lovelace").map(|p| p.id).collect();
    let mut sorted_ids = ada_ids.clone();
    sorted_ids.sort();
    assert_eq!(ada_ids.len(), 3);
    assert_eq!(ada_ids, sorted_ids, "ties broken by id");
    assert_eq!(all.people.last().map(|p| p.email.as_str()), Some("zed@acme.example"), "the nameless sort by e-mail");

    let mut paged = Vec::new();
    for offset in (0..10).step_by(3) {
        let mut query = PersonQuery::new(None, offset, 3);
        query.with_total = offset == 0;
        let page = store.search_people(d.org, &query).await.unwrap();
        assert_eq!(page.total, if offset == 0 { Some(10) } else { None });
        paged.extend(page.people.into_iter().map(|p| p.id));
    }
    assert_eq!(paged, all.people.iter().map(|p| p.id).collect::<Vec<_>>(), "pages join up without gaps or repeats");

    let page = store.search_people(d.org, &PersonQuery::new(Some(PersonFilter::Status(Status::Active)), 1, 2)).await.unwrap();
    assert_eq!((page.people.len(), page.total), (2, Some(5)));
    let beyond = store.search_people(d.org, &PersonQuery::new(None, 50, 10)).await.unwrap();
    assert!(beyond.people.is_empty());
    assert_eq!(beyond.total, Some(10));

    let grace = all.people.iter().find(|p| p.email.as_str() == "grace@acme.example").unwrap();
    assert_eq!(grace.secondary_teams, vec![d.sales], "pages carry secondary teams");
}
