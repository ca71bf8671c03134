//! The simulated directory: one tenant, one app registration, users, groups and a change log.
//!
//! Generation is deterministic for a given [`TenantSpec`], so a failing test or a demo can be
//! reproduced from its seed alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What to generate.
#[derive(Debug, Clone)]
pub struct TenantSpec {
    /// Users inside the top-level group (managers outside it and contractors come on top).
    pub users: usize,
    pub seed: u64,
    /// Share of users (0.0..=1.0) that have a profile photo.
    pub photo_ratio: f64,
    /// Share of in-scope users with `accountEnabled=false`.
    pub disabled_ratio: f64,
    /// Application permissions granted to the app registration.
    pub granted_permissions: Vec<String>,
    /// Lifetime of issued access tokens (`expires_in`).
    pub token_lifetime: Duration,
    /// Whether an admin already consented, i.e. the app has a service principal in the tenant.
    pub consented: bool,
    /// Registered redirect URIs for admin consent; empty accepts any.
    pub redirect_uris: Vec<String>,
    /// How a user without a photo answers `GET /photo`: 404 or the 1x1 gif placeholder.
    pub no_photo: NoPhotoStyle,
}

impl Default for TenantSpec {
    fn default() -> Self {
        Self {
            users: 40,
            seed: 1,
            photo_ratio: 0.5,
            disabled_ratio: 0.05,
            granted_permissions: vec!["User.Read.All".into(), "GroupMember.Read.All".into()],
            token_lifetime: Duration::from_secs(3599),
            consented: true,
            redirect_uris: Vec::new(),
            no_photo: NoPhotoStyle::NotFound,
        }
    }
}

/// The two documented answers for photo metadata of a user without a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPhotoStyle {
    /// 404 `ImageNotFound` (what tenants return in practice).
    NotFound,
    /// 200 `image/gif`, empty mediaEtag, id `1x1` (shown in the docs).
    Placeholder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    User,
    Group,
    OrgContact,
    Device,
}

impl ObjectKind {
    pub fn odata_type(self) -> &'static str {
        match self {
            ObjectKind::User => "#microsoft.graph.user",
            ObjectKind::Group => "#microsoft.graph.group",
            ObjectKind::OrgContact => "#microsoft.graph.orgContact",
            ObjectKind::Device => "#microsoft.graph.device",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Photo {
    pub bytes: Vec<u8>,
    /// Quoted, as Graph sends it: `"BA09D118"`.
    pub etag: String,
}

impl Photo {
    pub fn new(bytes: Vec<u8>) -> Self {
        let digest = Sha256::digest(&bytes);
        let etag = format!("\"{:02X}{:02X}{:02X}{:02X}\"", digest[0], digest[1], digest[2], digest[3]);
        Self { bytes, etag }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    /// Stored Graph properties, by their Graph names. Absent and null mean the same thing.
    pub props: BTreeMap<String, Value>,
    pub manager: Option<String>,
    pub photo: Option<Photo>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub props: BTreeMap<String, Value>,
    /// Direct members in insertion order (the order pages are served in).
    pub members: Vec<String>,
}

/// A soft-deleted user: out of every listing and group, kept whole so it can be restored.
#[derive(Debug, Clone)]
pub struct DeletedUser {
    pub user: User,
    /// The groups it was a direct member of, for the restore to put it back.
    pub groups: Vec<String>,
}

/// Objects that can be group members but that Roster never syncs.
#[derive(Debug, Clone)]
pub struct OtherObject {
    pub id: String,
    pub kind: ObjectKind,
    pub props: BTreeMap<String, Value>,
}

#[derive(Debug, Clone)]
pub struct AppRegistration {
    pub client_id: String,
    pub client_secret: String,
    pub secret_expired: bool,
    pub granted: BTreeSet<String>,
    pub consented: bool,
    pub redirect_uris: Vec<String>,
}

/// One entry of the change log. Versions grow by one per change, so a delta token can encode
/// "everything after version N" and a subscription "every change after its creation".
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub version: u64,
    pub object_id: String,
    pub kind: ObjectKind,
    pub what: ChangeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChangeKind {
    Created,
    Updated {
        properties: Vec<String>,
    },
    MemberAdded {
        member: String,
    },
    MemberRemoved {
        member: String,
    },
    ManagerChanged,
    /// Invisible to delta in Graph; kept so tests can assert on it.
    PhotoChanged,
    /// Soft-deleted: hidden from every read but restorable, so delta reports `@removed`
    /// with reason `changed`.
    Deleted,
    /// Back from the soft-deleted state: delta shows the whole object again.
    Restored,
    /// Deleted for good (delta reason `deleted`, notification changeType `deleted`).
    Purged,
}

/// Facts about the generated tenant that tests use as independent ground truth.
#[derive(Debug, Clone)]
pub struct TenantInfo {
    pub tenant_id: String,
    pub domain: String,
    pub client_id: String,
    pub client_secret: String,
    pub top_group_id: String,
    /// Groups nested under the top group (including the two that form a cycle).
    pub nested_group_ids: Vec<String>,
    /// A group outside the top group, with its own users.
    pub outside_group_id: String,
    /// The generated in-scope users, i.e. the transitive user members of the top group.
    pub member_user_ids: Vec<String>,
    /// Users that are members of two nested groups at once.
    pub users_in_two_groups: Vec<String>,
    /// Managers that are not members of the top group.
    pub outside_manager_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub app: AppRegistration,
    pub users: BTreeMap<String, User>,
    /// Users in creation order: the order `/users` pages are served in.
    pub user_order: Vec<String>,
    pub groups: BTreeMap<String, Group>,
    pub group_order: Vec<String>,
    pub others: BTreeMap<String, OtherObject>,
    pub token_lifetime: Duration,
    pub no_photo: NoPhotoStyle,
    pub info: TenantInfo,
    pub version: u64,
    pub changes: Vec<Change>,
    /// Soft-deleted users, by id.
    pub deleted_users: BTreeMap<String, DeletedUser>,
    /// Soft-deleted groups, by id (delta reports them as removed with reason `changed`).
    pub deleted_groups: BTreeMap<String, Group>,
    /// The manager before each `ManagerChanged` record, by its version: what a removal in
    /// `manager@delta` names once the manager is gone.
    pub previous_managers: BTreeMap<u64, Option<String>>,
    /// Objects deleted for good and their kinds, so a membership removal still has its type.
    pub purged: BTreeMap<String, ObjectKind>,
}

const GIVEN: &[&str] = &[
    "Adele", "Alex", "Bianca", "Chen", "Diego", "Elif", "Fatima", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Mateo", "Nadia", "Omar",
    "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen",
];
const SURNAMES: &[&str] = &[
    "Vance", "Wilber", "Okafor", "Nakamura", "García", "Schmidt", "Dubois", "Kowalski", "Haddad", "Larsen", "Moreau", "Singh", "Rossi", "Silva",
    "O'Brien", "Novak", "Yilmaz", "Kim", "Jensen", "Costa",
];
const DEPARTMENTS: &[&str] = &["Engineering", "Sales", "Marketing", "Finance", "People", "Support", "Legal", "Operations"];
const TITLES: &[&str] =
    &["Software Engineer", "Account Executive", "Product Manager", "Analyst", "Designer", "Support Specialist", "Counsel", "Team Lead"];
const OFFICES: &[&str] = &["London", "Berlin", "Lisbon", "Remote", "Paris", "Dublin"];
const LANGUAGES: &[&str] = &["en-GB", "en-US", "de-DE", "fr-FR", "pt-PT"];

fn new_id(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid().to_string()
}

fn secret(rng: &mut StdRng) -> String {
    // Real secrets use this alphabet, including `~` and `.`, which must be URL-encoded in forms.
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-";
    (0..40).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

/// A small byte string that looks like a JPEG (SOI marker, JFIF header, EOI marker).
pub fn fake_jpeg(rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00];
    let len = rng.gen_range(64..256);
    bytes.extend((0..len).map(|_| rng.gen::<u8>()));
    bytes.extend([0xFF, 0xD9]);
    bytes
}

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

pub fn group_props(name: &str, nickname: &str) -> BTreeMap<String, Value> {
    let mut props = BTreeMap::new();
    props.insert("displayName".into(), json!(name));
    props.insert("description".into(), json!(format!("{name} (simulated)")));
    props.insert("mailEnabled".into(), json!(false));
    props.insert("securityEnabled".into(), json!(true));
    props.insert("mailNickname".into(), json!(nickname));
    props.insert("groupTypes".into(), json!([]));
    props.insert("mail".into(), Value::Null);
    props
}

impl Tenant {
    pub fn generate(spec: &TenantSpec) -> Tenant {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let id = new_id(&mut rng);
        let domain = format!("sim{:04x}.onmicrosoft.com", spec.seed & 0xffff);
        let app = AppRegistration {
            client_id: new_id(&mut rng),
            client_secret: secret(&mut rng),
            secret_expired: false,
            granted: spec.granted_permissions.iter().cloned().collect(),
            consented: spec.consented,
            redirect_uris: spec.redirect_uris.clone(),
        };
        let mut tenant = Tenant {
            id: id.clone(),
            domain: domain.clone(),
            app: app.clone(),
            users: BTreeMap::new(),
            user_order: Vec::new(),
            groups: BTreeMap::new(),
            group_order: Vec::new(),
            others: BTreeMap::new(),
            token_lifetime: spec.token_lifetime,
            no_photo: spec.no_photo,
            info: TenantInfo {
                tenant_id: id,
                domain,
                client_id: app.client_id,
                client_secret: app.client_secret,
                top_group_id: String::new(),
                nested_group_ids: Vec::new(),
                outside_group_id: String::new(),
                member_user_ids: Vec::new(),
                users_in_two_groups: Vec::new(),
                outside_manager_ids: Vec::new(),
            },
            version: 0,
            changes: Vec::new(),
            deleted_users: BTreeMap::new(),
            deleted_groups: BTreeMap::new(),
            previous_managers: BTreeMap::new(),
            purged: BTreeMap::new(),
        };

        // Managers outside the group come first so in-scope users can point at them.
        let outside_managers = (spec.users / 25).max(1);
        for n in 0..outside_managers {
            let uid = tenant.generate_user(&mut rng, spec, 10_000 + n, false);
            tenant.info.outside_manager_ids.push(uid);
        }
        let mut members = Vec::with_capacity(spec.users);
        for n in 0..spec.users {
            let disabled = n > 0 && rng.gen_bool(spec.disabled_ratio.clamp(0.0, 1.0));
            let uid = tenant.generate_user(&mut rng, spec, n, disabled);
            members.push(uid);
        }
        // Manager chains: the first user reports to nobody, others mostly to an earlier member,
        // some to an outside manager, a few to nobody.
        for (n, uid) in members.iter().enumerate() {
            let manager = match n {
                0 => None,
                _ if n % 10 == 7 => None,
                _ if n % 5 == 3 => {
                    let outside = &tenant.info.outside_manager_ids;
                    outside.get(n % outside.len()).cloned()
                }
                _ => members.get(rng.gen_range(0..n)).cloned(),
            };
            if let Some(user) = tenant.users.get_mut(uid) {
                user.manager = manager;
            }
        }

        // Groups: top ⊃ {engineering ⊃ platform ⊃ engineering (cycle), sales}; an outside group.
        let top = tenant.new_group(&mut rng, "All Staff (Roster)", "allstaff");
        let eng = tenant.new_group(&mut rng, "Engineering", "engineering");
        let sales = tenant.new_group(&mut rng, "Sales", "sales");
        let platform = tenant.new_group(&mut rng, "Platform", "platform");
        let outside = tenant.new_group(&mut rng, "Contractors", "contractors");
        for (n, uid) in members.iter().enumerate() {
            let target = match n % 20 {
                0..=9 => &top,
                10..=14 => &eng,
                15..=17 => &sales,
                _ => &platform,
            };
            tenant.push_member(target, uid);
        }
        // Some engineers are in sales too (one user reachable through two nested groups).
        let both: Vec<String> = members.iter().enumerate().filter(|(n, _)| n % 40 == 10).map(|(_, u)| u.clone()).collect();
        for uid in &both {
            tenant.push_member(&sales, uid);
        }
        tenant.info.users_in_two_groups = both;
        tenant.push_member(&top, &eng);
        tenant.push_member(&top, &sales);
        tenant.push_member(&eng, &platform);
        tenant.push_member(&platform, &eng);

        // Members Roster must skip: an org contact in the top group and a device in sales.
        let contact = new_id(&mut rng);
        let mut cprops = BTreeMap::new();
        cprops.insert("displayName".into(), json!("External Auditor"));
        cprops.insert("mail".into(), json!("auditor@example.org"));
        tenant.others.insert(contact.clone(), OtherObject { id: contact.clone(), kind: ObjectKind::OrgContact, props: cprops });
        tenant.push_member(&top, &contact);
        let device = new_id(&mut rng);
        let mut dprops = BTreeMap::new();
        dprops.insert("displayName".into(), json!("SALES-KIOSK-01"));
        dprops.insert("accountEnabled".into(), json!(true));
        tenant.others.insert(device.clone(), OtherObject { id: device.clone(), kind: ObjectKind::Device, props: dprops });
        tenant.push_member(&sales, &device);

        // Contractors: users outside scope, in a group outside the top group.
        for n in 0..(spec.users / 10).max(1) {
            let uid = tenant.generate_user(&mut rng, spec, 20_000 + n, false);
            tenant.push_member(&outside, &uid);
        }

        tenant.info.top_group_id = top;
        tenant.info.nested_group_ids = vec![eng, sales, platform];
        tenant.info.outside_group_id = outside;
        tenant.info.member_user_ids = members;
        tenant
    }

    fn generate_user(&mut self, rng: &mut StdRng, spec: &TenantSpec, n: usize, disabled: bool) -> String {
        let id = new_id(rng);
        let given = pick(rng, GIVEN);
        let surname = pick(rng, SURNAMES);
        let ascii_surname: String = surname.chars().filter(char::is_ascii_alphabetic).collect();
        let upn = format!("{}.{}{}@{}", given.to_lowercase(), ascii_surname.to_lowercase(), n, self.domain);
        let mut props = BTreeMap::new();
        props.insert("accountEnabled".into(), json!(!disabled));
        props.insert("givenName".into(), json!(given));
        props.insert("surname".into(), json!(surname));
        props.insert("displayName".into(), json!(format!("{given} {surname}")));
        props.insert("userPrincipalName".into(), json!(upn));
        // Some accounts have no mailbox: mail stays null.
        props.insert("mail".into(), if n % 9 == 4 { Value::Null } else { json!(upn) });
        props.insert("mailNickname".into(), json!(format!("{}{}", given.to_lowercase(), n)));
        props.insert("jobTitle".into(), if n % 11 == 5 { Value::Null } else { json!(pick(rng, TITLES)) });
        props.insert("department".into(), json!(pick(rng, DEPARTMENTS)));
        props.insert("officeLocation".into(), json!(pick(rng, OFFICES)));
        props.insert("preferredLanguage".into(), if n % 6 == 2 { Value::Null } else { json!(pick(rng, LANGUAGES)) });
        let year = rng.gen_range(2012..2025);
        let month = rng.gen_range(1..=12);
        let day = rng.gen_range(1..=28);
        props.insert("employeeHireDate".into(), json!(format!("{year}-{month:02}-{day:02}T00:00:00Z")));
        props.insert("employeeId".into(), if n % 8 == 6 { Value::Null } else { json!(format!("E{:05}", n)) });
        props.insert("employeeType".into(), json!("Employee"));
        props.insert("businessPhones".into(), json!([format!("+44 20 7946 {:04}", n % 10_000)]));
        props.insert("mobilePhone".into(), Value::Null);
        props.insert("companyName".into(), json!("Contoso Simulated Ltd"));
        props.insert("city".into(), json!(pick(rng, OFFICES)));
        props.insert("country".into(), json!("United Kingdom"));
        props.insert("usageLocation".into(), json!("GB"));
        props.insert("createdDateTime".into(), json!(format!("{year}-{month:02}-{day:02}T09:00:00Z")));
        let photo = if rng.gen_bool(spec.photo_ratio.clamp(0.0, 1.0)) { Some(Photo::new(fake_jpeg(rng))) } else { None };
        self.users.insert(id.clone(), User { id: id.clone(), props, manager: None, photo });
        self.user_order.push(id.clone());
        id
    }

    fn new_group(&mut self, rng: &mut StdRng, name: &str, nickname: &str) -> String {
        let id = new_id(rng);
        self.groups.insert(id.clone(), Group { id: id.clone(), props: group_props(name, nickname), members: Vec::new() });
        self.group_order.push(id.clone());
        id
    }

    fn push_member(&mut self, group: &str, member: &str) {
        if let Some(g) = self.groups.get_mut(group) {
            if !g.members.iter().any(|m| m == member) {
                g.members.push(member.to_string());
            }
        }
    }

    pub fn kind_of(&self, id: &str) -> Option<ObjectKind> {
        if self.users.contains_key(id) {
            Some(ObjectKind::User)
        } else if self.groups.contains_key(id) {
            Some(ObjectKind::Group)
        } else {
            self.others.get(id).map(|o| o.kind)
        }
    }

    /// The organisation's name, as `GET /organization` gives it.
    pub fn display_name(&self) -> String {
        let label = self.domain.split('.').next().unwrap_or(&self.domain);
        format!("Simulated organisation {label}")
    }

    /// Finds a live user by object id or (case-insensitively) by userPrincipalName, as Graph does.
    pub fn find_user(&self, key: &str) -> Option<&User> {
        self.users.get(key).or_else(|| {
            self.users.values().find(|u| u.props.get("userPrincipalName").and_then(Value::as_str).is_some_and(|upn| upn.eq_ignore_ascii_case(key)))
        })
    }

    /// Size class for throttling, by the number of users in the tenant.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn record(&mut self, object_id: &str, kind: ObjectKind, what: ChangeKind) {
        self.version += 1;
        self.changes.push(Change { version: self.version, object_id: object_id.to_string(), kind, what });
    }

    /// Records a manager change together with the manager it replaced.
    pub fn record_manager_change(&mut self, user_id: &str, previous: Option<String>) {
        self.record(user_id, ObjectKind::User, ChangeKind::ManagerChanged);
        self.previous_managers.insert(self.version, previous);
    }

    /// The changes after `version`, oldest first.
    pub fn changes_after(&self, version: u64) -> &[Change] {
        let start = self.changes.partition_point(|c| c.version <= version);
        self.changes.get(start..).unwrap_or_default()
    }

    /// The `@odata.type` of a member, also for one that is deleted (soft or for good).
    pub fn member_kind(&self, id: &str) -> ObjectKind {
        if let Some(kind) = self.kind_of(id) {
            return kind;
        }
        if self.deleted_groups.contains_key(id) {
            return ObjectKind::Group;
        }
        self.purged.get(id).copied().unwrap_or(ObjectKind::User)
    }

    /// A user by id or UPN, live or soft-deleted: the id and whether it is soft-deleted.
    pub fn find_any_user(&self, key: &str) -> Option<(String, bool)> {
        if let Some(user) = self.find_user(key) {
            return Some((user.id.clone(), false));
        }
        let upn_matches = |u: &User| u.props.get("userPrincipalName").and_then(Value::as_str).is_some_and(|upn| upn.eq_ignore_ascii_case(key));
        self.deleted_users.values().find(|d| d.user.id == key || upn_matches(&d.user)).map(|d| (d.user.id.clone(), true))
    }

    /// All members under `root`, flattened breadth-first, each once, cycles cut, root excluded.
    pub fn transitive_members(&self, root: &str) -> Vec<String> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        seen.insert(root);
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([root]);
        while let Some(gid) = queue.pop_front() {
            let Some(group) = self.groups.get(gid) else {
                continue;
            };
            for member in &group.members {
                if seen.insert(member.as_str()) {
                    out.push(member.clone());
                    if self.groups.contains_key(member) {
                        queue.push_back(member.as_str());
                    }
                }
            }
        }
        out
    }
}
