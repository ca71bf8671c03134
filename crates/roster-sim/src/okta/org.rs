//! The simulated org: people, one app and its assignments. Generation is deterministic for a
//! given [`OktaSpec`], so a failing test can be reproduced from its seed alone.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use super::OktaSpec;

/// The eight user statuses of §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Staged,
    Provisioned,
    Active,
    Recovery,
    PasswordExpired,
    LockedOut,
    Suspended,
    Deprovisioned,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Staged => "STAGED",
            Status::Provisioned => "PROVISIONED",
            Status::Active => "ACTIVE",
            Status::Recovery => "RECOVERY",
            Status::PasswordExpired => "PASSWORD_EXPIRED",
            Status::LockedOut => "LOCKED_OUT",
            Status::Suspended => "SUSPENDED",
            Status::Deprovisioned => "DEPROVISIONED",
        }
    }

    /// Whether the person has finished activation (set a password), so has sign-in timestamps.
    fn has_signed_in(self) -> bool {
        !matches!(self, Status::Staged | Status::Provisioned)
    }

    /// The assignment's status for this user status. The app is an SSO app without provisioning,
    /// where Okta shows ACTIVE; SUSPENDED and INACTIVE carry the user's own suspension and
    /// deactivation, as the AppUser status descriptions in the management spec put them.
    pub fn app_user_status(self) -> &'static str {
        match self {
            Status::Suspended => "SUSPENDED",
            Status::Deprovisioned => "INACTIVE",
            _ => "ACTIVE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub status: Status,
    pub created: DateTime<Utc>,
    pub activated: Option<DateTime<Utc>>,
    pub status_changed: Option<DateTime<Utc>>,
    pub last_login: Option<DateTime<Utc>>,
    pub last_updated: DateTime<Utc>,
    pub password_changed: Option<DateTime<Utc>>,
    /// Okta profile attributes by name; absent and null are shown the same way.
    pub profile: Map<String, Value>,
}

impl User {
    pub fn login(&self) -> &str {
        self.profile.get("login").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn display_name(&self) -> String {
        let part = |k: &str| self.profile.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        format!("{} {}", part("firstName"), part("lastName")).trim().to_string()
    }
}

/// One user's assignment to the app (an AppUser).
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The AppUser's own id (`0ua...`), which only the System Log shows; the API uses the user id.
    pub app_user_id: String,
    pub status: &'static str,
    pub created: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
    pub status_changed: DateTime<Utc>,
}

pub struct Org {
    pub subdomain: String,
    pub api_token: String,
    pub app_id: String,
    pub app_label: String,
    pub user_type_id: String,
    /// The admin who makes every change (the System Log `actor`); a user, never assigned.
    pub admin_id: String,
    pub users: BTreeMap<String, User>,
    /// By user id; the map's order is the stable order the app's users are listed in.
    pub assignments: BTreeMap<String, Assignment>,
    /// Lowercased login to user id; logins are unique regardless of case.
    logins: HashMap<String, String>,
}

const GIVEN: &[&str] = &[
    "Adele", "Alex", "Bianca", "Chen", "Diego", "Elif", "Fatima", "Grace", "Hiro", "Inés", "Jonas", "Kofi", "Lena", "Mateo", "Nadia", "Omar",
    "Priya", "Quinn", "Rosa", "Sven",
];
const SURNAMES: &[&str] =
    &["Vance", "Okafor", "Nakamura", "García", "Schmidt", "Dubois", "Kowalski", "Haddad", "Larsen", "Moreau", "Singh", "O'Brien", "Núñez", "Kim"];
const DEPARTMENTS: &[&str] = &["Engineering", "Sales", "Marketing", "Finance", "People", "Support", "Legal", "Operations"];
const TITLES: &[&str] = &["Software Engineer", "Account Executive", "Product Manager", "Analyst", "Designer", "Support Specialist", "Team Lead"];
/// Most people are ACTIVE; every other status is rarer but occurs (weights in percent).
const STATUS_WEIGHTS: &[(Status, u32)] = &[
    (Status::Active, 72),
    (Status::Staged, 4),
    (Status::Provisioned, 4),
    (Status::Recovery, 4),
    (Status::PasswordExpired, 4),
    (Status::LockedOut, 4),
    (Status::Suspended, 4),
    (Status::Deprovisioned, 4),
];
pub const EMAIL_DOMAIN: &str = "example.com";

/// An Okta-style id: a three-character type prefix and 17 base-62 characters.
pub fn okta_id(rng: &mut StdRng, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let tail: String = (0..17).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect();
    format!("{prefix}{tail}")
}

/// Okta's timestamp format: milliseconds and `Z`.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn opt_stamp(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| Value::String(stamp(t)))
}

/// Logins are ASCII: accents are folded and punctuation dropped (`O'Brien` -> `obrien`).
fn login_part(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'ä' => Some('a'),
            'é' | 'è' => Some('e'),
            'í' => Some('i'),
            'ó' | 'ö' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ñ' => Some('n'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

pub fn new_profile(login: &str, first: &str, last: &str) -> Map<String, Value> {
    let mut p = Map::new();
    for (k, v) in [("login", login), ("email", login), ("firstName", first), ("lastName", last)] {
        p.insert(k.into(), json!(v));
    }
    for k in ["title", "department", "manager", "managerId", "employeeNumber", "mobilePhone", "secondEmail"] {
        p.insert(k.into(), Value::Null);
    }
    p.insert("displayName".into(), json!(format!("{first} {last}")));
    p
}

impl Org {
    pub fn generate(spec: &OktaSpec) -> Org {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let subdomain = format!("sim-{:04x}", spec.seed & 0xffff);
        let token_tail: String =
            (0..40).map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"[rng.gen_range(0..64)])).collect();
        let mut org = Org {
            subdomain,
            api_token: format!("00{token_tail}"),
            app_id: okta_id(&mut rng, "0oa"),
            app_label: "Roster".into(),
            user_type_id: okta_id(&mut rng, "oty"),
            admin_id: String::new(),
            users: BTreeMap::new(),
            assignments: BTreeMap::new(),
            logins: HashMap::new(),
        };
        // A fixed epoch rather than the clock keeps generated orgs identical across runs.
        let epoch = Utc.with_ymd_and_hms(2025, 6, 1, 9, 0, 0).single().unwrap_or_default();
        org.admin_id = org.generated_user(&mut rng, epoch, "Sim", "Admin", Status::Active);

        let mut statuses: Vec<Status> = (0..spec.users).map(|_| weighted_status(&mut rng)).collect();
        // Every status occurs once there is room for all eight.
        if spec.users >= STATUS_WEIGHTS.len() {
            for (status, _) in STATUS_WEIGHTS.iter().skip(1) {
                if !statuses.contains(status) {
                    let actives: Vec<usize> = (0..statuses.len()).filter(|&i| statuses[i] == Status::Active).collect();
                    if let Some(&i) = actives.choose(&mut rng) {
                        statuses[i] = *status;
                    }
                }
            }
        }
        let mut people = Vec::with_capacity(spec.users);
        for (n, status) in statuses.into_iter().enumerate() {
            let (first, last) = (GIVEN[n % GIVEN.len()], SURNAMES[(n / GIVEN.len() + n) % SURNAMES.len()]);
            let id = org.generated_user(&mut rng, epoch, first, last, status);
            if let Some(user) = org.users.get_mut(&id) {
                user.profile.insert("employeeNumber".into(), json!(format!("E{:05}", n + 1)));
                user.profile.insert("title".into(), json!(TITLES[rng.gen_range(0..TITLES.len())]));
                user.profile.insert("department".into(), json!(DEPARTMENTS[rng.gen_range(0..DEPARTMENTS.len())]));
            }
            people.push(id);
        }
        // Managers form a tree: most people report to someone generated before them.
        for n in 1..people.len() {
            if rng.gen_bool(0.85) {
                let manager = people[rng.gen_range(0..n)].clone();
                org.set_manager_fields(&people[n], Some(&manager));
            }
        }
        let share = spec.assigned_share.clamp(0.0, 1.0);
        let assigned = ((people.len() as f64) * share).round() as usize;
        let mut order = people.clone();
        order.shuffle(&mut rng);
        for id in order.into_iter().take(assigned) {
            let Some(user) = org.users.get(&id) else { continue };
            let at = user.activated.unwrap_or(user.created) + Duration::minutes(rng.gen_range(5..600));
            let status_changed = user.status_changed.map_or(at, |t| t.max(at));
            let assignment = Assignment {
                app_user_id: okta_id(&mut rng, "0ua"),
                status: user.status.app_user_status(),
                created: at,
                last_updated: status_changed,
                status_changed,
            };
            org.assignments.insert(id, assignment);
        }
        org
    }

    fn generated_user(&mut self, rng: &mut StdRng, epoch: DateTime<Utc>, first: &str, last: &str, status: Status) -> String {
        let id = okta_id(rng, "00u");
        let mut login = format!("{}.{}@{EMAIL_DOMAIN}", login_part(first), login_part(last));
        if self.user_by_login(&login).is_some() {
            login = format!("{}.{}{}@{EMAIL_DOMAIN}", login_part(first), login_part(last), self.users.len());
        }
        let created = epoch - Duration::days(rng.gen_range(30..900)) - Duration::seconds(rng.gen_range(0..86_400));
        let activated = (status != Status::Staged).then(|| created + Duration::minutes(rng.gen_range(1..120)));
        let signed_in = status.has_signed_in();
        let password_changed = activated.filter(|_| signed_in).map(|a| a + Duration::minutes(rng.gen_range(1..60)));
        let last_login = password_changed.map(|p| p + Duration::days(rng.gen_range(0..25)));
        let status_changed = match status {
            Status::Staged => None,
            Status::Active | Status::Provisioned => activated,
            _ => last_login.or(activated).map(|t| t + Duration::hours(rng.gen_range(1..48))),
        };
        let last_updated = [Some(created), activated, status_changed, password_changed].into_iter().flatten().max().unwrap_or(created);
        let user = User {
            id: id.clone(),
            status,
            created,
            activated,
            status_changed,
            last_login,
            last_updated,
            password_changed,
            profile: new_profile(&login, first, last),
        };
        self.insert_user(user);
        id
    }

    pub fn insert_user(&mut self, user: User) {
        self.logins.insert(user.login().to_lowercase(), user.id.clone());
        self.users.insert(user.id.clone(), user);
    }

    /// Call after a login changed.
    pub fn reindex_logins(&mut self) {
        self.logins = self.users.values().map(|u| (u.login().to_lowercase(), u.id.clone())).collect();
    }

    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        self.logins.get(&login.to_lowercase()).and_then(|id| self.users.get(id))
    }

    /// By id, or else by login (`GET /api/v1/users/{id}` takes either).
    pub fn find_user(&self, id_or_login: &str) -> Option<&User> {
        self.users.get(id_or_login).or_else(|| self.user_by_login(id_or_login))
    }

    /// Sets `managerId` and `manager` (the manager's login), or clears both.
    pub fn set_manager_fields(&mut self, user_id: &str, manager_id: Option<&str>) {
        let manager_login = manager_id.and_then(|m| self.users.get(m)).map(|m| m.login().to_string());
        if let Some(user) = self.users.get_mut(user_id) {
            user.profile.insert("managerId".into(), manager_id.map_or(Value::Null, |m| json!(m)));
            user.profile.insert("manager".into(), manager_login.map_or(Value::Null, Value::String));
        }
    }
}

fn weighted_status(rng: &mut StdRng) -> Status {
    let total: u32 = STATUS_WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (status, weight) in STATUS_WEIGHTS {
        if roll < *weight {
            return *status;
        }
        roll -= weight;
    }
    Status::Active
}

/// The lifecycle links Okta offers for a status, so `_links` changes as the status does.
fn lifecycle_links(base: &str, user: &User) -> Vec<(&'static str, String)> {
    let ops: &[&str] = match user.status {
        Status::Staged => &["activate", "deactivate"],
        Status::Provisioned | Status::Recovery => &["reactivate", "deactivate"],
        Status::Active | Status::PasswordExpired => &["suspend", "deactivate", "reset_password", "expire_password"],
        Status::LockedOut => &["unlock", "deactivate"],
        Status::Suspended => &["unsuspend", "deactivate"],
        Status::Deprovisioned => &["activate"],
    };
    ops.iter().map(|op| (*op, format!("{base}/api/v1/users/{}/lifecycle/{op}", user.id))).collect()
}

/// A user as `GET /api/v1/users/{id}` shows it.
pub fn user_json(user: &User, org: &Org, base: &str) -> Value {
    let mut links = Map::new();
    links.insert("self".into(), json!({ "href": format!("{base}/api/v1/users/{}", user.id) }));
    links.insert("type".into(), json!({ "href": format!("{base}/api/v1/meta/types/user/{}", org.user_type_id) }));
    for (name, href) in lifecycle_links(base, user) {
        let key = match name {
            "reset_password" => "resetPassword",
            "expire_password" => "expirePassword",
            other => other,
        };
        links.insert(key.into(), json!({ "href": href, "method": "POST" }));
    }
    json!({
        "id": user.id,
        "status": user.status.as_str(),
        "created": stamp(user.created),
        "activated": opt_stamp(user.activated),
        "statusChanged": opt_stamp(user.status_changed),
        "lastLogin": opt_stamp(user.last_login),
        "lastUpdated": stamp(user.last_updated),
        "passwordChanged": opt_stamp(user.password_changed),
        "type": { "id": org.user_type_id },
        "profile": user.profile,
        "credentials": { "provider": { "type": "OKTA", "name": "OKTA" } },
        "_links": links,
    })
}

/// An assignment as `GET /api/v1/apps/{appId}/users[/{userId}]` shows it. The app is an SSO
/// (OIDC) app: no `externalId`, `syncState` DISABLED, and an app profile with OIDC claim names.
pub fn app_user_json(user: &User, a: &Assignment, org: &Org, base: &str, expand_user: bool) -> Value {
    let p = |k: &str| user.profile.get(k).cloned().unwrap_or(Value::Null);
    let mut out = json!({
        "id": user.id,
        "externalId": null,
        "created": stamp(a.created),
        "lastUpdated": stamp(a.last_updated),
        "scope": "USER",
        "status": a.status,
        "statusChanged": stamp(a.status_changed),
        "passwordChanged": null,
        "syncState": "DISABLED",
        "credentials": { "userName": user.login() },
        "profile": {
            "email": p("email"),
            "given_name": p("firstName"),
            "family_name": p("lastName"),
            "name": p("displayName"),
            "zoneinfo": "America/Los_Angeles",
            "locale": "en_US",
        },
        "_links": {
            "app": { "href": format!("{base}/api/v1/apps/{}", org.app_id) },
            "user": { "href": format!("{base}/api/v1/users/{}", user.id) },
        },
    });
    if expand_user {
        out["_embedded"] = json!({ "user": user_json(user, org, base) });
    }
    out
}
