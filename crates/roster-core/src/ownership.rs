//! Field ownership: which profile fields a source provides. A source's run overwrites the
//! fields it owns (so manual edits to them do not last, as the help articles say) and leaves
//! every other field as the directory has it. This is the one rule; each source only says what
//! it owns: a CSV file its columns, Entra and SCIM their mappings.

use crate::mapping::{Mapping, Target};
use crate::person::Profile;
use std::collections::BTreeSet;

/// How a source treats custom fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomFields {
    /// The source says nothing about custom fields: all stay.
    Kept,
    /// The source owns these names: each takes the source's value, or goes when it has none.
    Named(BTreeSet<String>),
    /// The source's names take its values; other names stay (a CSV file with custom columns).
    Merged,
    /// The source's custom fields replace them all.
    All,
}

/// The profile fields a source owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    first_name: bool,
    last_name: bool,
    job_title: bool,
    department: bool,
    location: bool,
    language: bool,
    hire_date: bool,
    custom: CustomFields,
}

impl Ownership {
    /// Every field: the source describes the whole profile.
    pub fn everything() -> Self {
        Self::of_targets(
            &[Target::FirstName, Target::LastName, Target::JobTitle, Target::Department, Target::Location, Target::Language, Target::HireDate],
            CustomFields::All,
        )
    }

    /// The fields a mapping fills, custom fields by name.
    pub fn of_mapping(mapping: &Mapping) -> Self {
        let targets: Vec<Target> = mapping.rules.iter().map(|rule| rule.target.clone()).collect();
        let custom = targets
            .iter()
            .filter_map(|t| match t {
                Target::Custom(name) => Some(name.clone()),
                _ => None,
            })
            .collect();
        Self::of_targets(&targets, CustomFields::Named(custom))
    }

    /// The standard fields `targets` name (custom targets are described by `custom`).
    pub fn of_targets(targets: &[Target], custom: CustomFields) -> Self {
        let has = |wanted: Target| targets.contains(&wanted);
        Ownership {
            first_name: has(Target::FirstName),
            last_name: has(Target::LastName),
            job_title: has(Target::JobTitle),
            department: has(Target::Department),
            location: has(Target::Location),
            language: has(Target::Language),
            hire_date: has(Target::HireDate),
            custom,
        }
    }

    /// Whether the source owns the department (and so the primary team).
    pub fn owns_department(&self) -> bool {
        self.department
    }

    /// The profile after the source's run: its fields from `incoming`, the rest from `current`.
    pub fn merge(&self, current: &Profile, incoming: &Profile) -> Profile {
        let pick = |owned: bool, theirs: &Option<String>, ours: &Option<String>| if owned { theirs.clone() } else { ours.clone() };
        let custom_fields = match &self.custom {
            CustomFields::Kept => current.custom_fields.clone(),
            CustomFields::All => incoming.custom_fields.clone(),
            CustomFields::Merged => {
                let mut merged = current.custom_fields.clone();
                merged.extend(incoming.custom_fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                merged
            }
            CustomFields::Named(names) => {
                let mut merged = current.custom_fields.clone();
                for name in names {
                    match incoming.custom_fields.get(name) {
                        Some(value) => merged.insert(name.clone(), value.clone()),
                        None => merged.remove(name),
                    };
                }
                merged
            }
        };
        Profile {
            first_name: if self.first_name { incoming.first_name.clone() } else { current.first_name.clone() },
            last_name: if self.last_name { incoming.last_name.clone() } else { current.last_name.clone() },
            job_title: pick(self.job_title, &incoming.job_title, &current.job_title),
            department: pick(self.department, &incoming.department, &current.department),
            location: pick(self.location, &incoming.location, &current.location),
            language: pick(self.language, &incoming.language, &current.language),
            hire_date: if self.hire_date { incoming.hire_date } else { current.hire_date },
            custom_fields,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Rule;
    use std::collections::BTreeMap;

    fn current() -> Profile {
        Profile {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            job_title: Some("Analyst".into()),
            department: Some("Research".into()),
            custom_fields: BTreeMap::from([("badge".into(), "7".into()), ("desk".into(), "3F".into())]),
            ..Profile::default()
        }
    }

    #[test]
    fn a_source_overwrites_what_it_owns_and_nothing_else() {
        let incoming = Profile { first_name: "Augusta".into(), job_title: None, ..Profile::default() };
        let owned = Ownership::of_targets(&[Target::FirstName, Target::JobTitle], CustomFields::Kept);
        let merged = owned.merge(&current(), &incoming);
        assert_eq!(merged.first_name, "Augusta");
        assert_eq!(merged.job_title, None, "an owned field the source leaves empty is emptied");
        assert_eq!((merged.last_name.as_str(), merged.department.as_deref()), ("Lovelace", Some("Research")));
        assert_eq!(merged.custom_fields, current().custom_fields);
        assert!(!owned.owns_department());
    }

    #[test]
    fn custom_fields_follow_their_rule() {
        let incoming = Profile { custom_fields: BTreeMap::from([("badge".into(), "9".into())]), ..Profile::default() };
        let named = |names: &[&str]| CustomFields::Named(names.iter().map(|n| (*n).to_owned()).collect());
        let merged = Ownership::of_targets(&[], named(&["badge"])).merge(&current(), &incoming).custom_fields;
        assert_eq!(merged, BTreeMap::from([("badge".into(), "9".into()), ("desk".into(), "3F".into())]));
        let removed = Ownership::of_targets(&[], named(&["desk"])).merge(&current(), &incoming).custom_fields;
        assert_eq!(removed, BTreeMap::from([("badge".into(), "7".into())]), "a named field the source lacks goes");
        let merged = Ownership::of_targets(&[], CustomFields::Merged).merge(&current(), &incoming).custom_fields;
        assert_eq!(merged.get("badge").map(String::as_str), Some("9"));
        assert_eq!(merged.get("desk").map(String::as_str), Some("3F"));
        assert_eq!(Ownership::everything().merge(&current(), &incoming).custom_fields, incoming.custom_fields);
    }

    #[test]
    fn a_mapping_owns_its_targets() {
        let mapping = Mapping {
            rules: vec![
                Rule { source: "givenName".into(), target: Target::FirstName },
                Rule { source: "employeeId".into(), target: Target::Custom("badge".into()) },
            ],
        };
        let owned = Ownership::of_mapping(&mapping);
        let incoming = Profile { first_name: "Augusta".into(), ..Profile::default() };
        let merged = owned.merge(&current(), &incoming);
        assert_eq!((merged.first_name.as_str(), merged.last_name.as_str()), ("Augusta", "Lovelace"));
        assert_eq!(merged.custom_fields, BTreeMap::from([("desk".into(), "3F".into())]), "the mapped custom field had no value");
    }
}
