//! CSV import: the manual source. A file is read whole and checked row by row; if any row is
//! wrong, the import reports every problem and changes nothing.
//!
//! Columns (header names, any order, any case): `email` (required), `first_name`, `last_name`,
//! `job_title`, `department`, `location`, `language`, `hire_date` (YYYY-MM-DD), `role`
//! (learner, manager or admin), `manager_email`, and `custom.<name>` for custom fields.
//! A column that is absent leaves that field as it is for existing people.

use crate::email::Email;
use crate::person::{Profile, Role};
use crate::plan::RecordIssue;
use crate::reconcile::{DesiredPerson, ManagerField, ManagerRef};
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// The most rows one file may hold, so a mistaken upload cannot exhaust memory.
pub const MAX_ROWS: usize = 500_000;

const KNOWN: &[&str] = &[
    "email", "first_name", "last_name", "job_title", "department", "location", "language", "hire_date", "role",
    "manager_email",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("the file is not readable CSV: {0}")]
    Unreadable(String),
    #[error("the header has no 'email' column")]
    NoEmailColumn,
    #[error("unknown column '{0}': use {known}, or custom.<name> for a custom field", known = KNOWN.join(", "))]
    UnknownColumn(String),
    #[error("column '{0}' appears twice")]
    DuplicateColumn(String),
    #[error("the file has more than {MAX_ROWS} rows; split it")]
    TooManyRows,
    #[error("{} row(s) have errors; nothing was imported", .0.len())]
    Rows(Vec<RecordIssue>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Email,
    FirstName,
    LastName,
    JobTitle,
    Department,
    Location,
    Language,
    HireDate,
    Role,
    ManagerEmail,
}

enum Slot {
    Known(Column),
    Custom(String),
}

/// The rows of a file, each ready for the reconciler, and which columns it carried.
#[derive(Debug, Clone)]
pub struct CsvRows {
    pub people: Vec<DesiredPerson>,
    /// Columns that were present: absent ones keep existing values (see [`CsvRows::merge_into`]).
    present: Vec<Column>,
    has_custom: bool,
}

impl CsvRows {
    /// Fill the fields the file did not carry from the person's current profile, so that a
    /// file with only `email,job_title` changes job titles and nothing else.
    pub fn merge_into(&self, wanted: &mut DesiredPerson, current: &Profile) {
        let has = |c| self.present.contains(&c);
        let p = &mut wanted.profile;
        if !has(Column::FirstName) {
            p.first_name.clone_from(&current.first_name);
        }
        if !has(Column::LastName) {
            p.last_name.clone_from(&current.last_name);
        }
        if !has(Column::JobTitle) {
            p.job_title.clone_from(&current.job_title);
        }
        if !has(Column::Department) {
            p.department.clone_from(&current.department);
        }
        if !has(Column::Location) {
            p.location.clone_from(&current.location);
        }
        if !has(Column::Language) {
            p.language.clone_from(&current.language);
        }
        if !has(Column::HireDate) {
            p.hire_date = current.hire_date;
        }
        if !self.has_custom {
            p.custom_fields.clone_from(&current.custom_fields);
        } else {
            for (k, v) in &current.custom_fields {
                p.custom_fields.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

pub fn parse(bytes: &[u8]) -> Result<CsvRows, CsvError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(bytes);
    let headers = reader.headers().map_err(|e| CsvError::Unreadable(e.to_string()))?.clone();
    let slots = read_header(&headers)?;
    let present: Vec<Column> = slots.iter().filter_map(|s| if let Slot::Known(c) = s { Some(*c) } else { None }).collect();
    let has_custom = slots.iter().any(|s| matches!(s, Slot::Custom(_)));

    let mut people = Vec::new();
    let mut issues = Vec::new();
    for (n, record) in reader.records().enumerate() {
        if n >= MAX_ROWS {
            return Err(CsvError::TooManyRows);
        }
        // Line 1 is the header.
        let line = format!("line {}", n + 2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                issues.push(RecordIssue { record: line, message: e.to_string() });
                continue;
            }
        };
        match read_row(&slots, &record, &line) {
            Ok(person) => people.push(person),
            Err(messages) => issues.extend(messages.into_iter().map(|message| RecordIssue { record: line.clone(), message })),
        }
    }
    if issues.is_empty() {
        Ok(CsvRows { people, present, has_custom })
    } else {
        Err(CsvError::Rows(issues))
    }
}

fn read_header(headers: &csv::StringRecord) -> Result<Vec<Slot>, CsvError> {
    let mut slots = Vec::with_capacity(headers.len());
    let mut seen = std::collections::HashSet::new();
    for raw in headers {
        let name = raw.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        if !seen.insert(name.clone()) {
            return Err(CsvError::DuplicateColumn(raw.to_owned()));
        }
        let slot = match name.as_str() {
            "email" => Slot::Known(Column::Email),
            "first_name" => Slot::Known(Column::FirstName),
            "last_name" => Slot::Known(Column::LastName),
            "job_title" => Slot::Known(Column::JobTitle),
            "department" => Slot::Known(Column::Department),
            "location" => Slot::Known(Column::Location),
            "language" => Slot::Known(Column::Language),
            "hire_date" => Slot::Known(Column::HireDate),
            "role" => Slot::Known(Column::Role),
            "manager_email" => Slot::Known(Column::ManagerEmail),
            custom => match custom.strip_prefix("custom.") {
                Some(field) if !field.is_empty() => Slot::Custom(raw.trim()["custom.".len()..].to_owned()),
                _ => return Err(CsvError::UnknownColumn(raw.to_owned())),
            },
        };
        slots.push(slot);
    }
    if !slots.iter().any(|s| matches!(s, Slot::Known(Column::Email))) {
        return Err(CsvError::NoEmailColumn);
    }
    Ok(slots)
}

fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

fn read_row(slots: &[Slot], record: &csv::StringRecord, line: &str) -> Result<DesiredPerson, Vec<String>> {
    let mut errors = Vec::new();
    let mut email = None;
    let mut profile = Profile::default();
    let mut role = None;
    let mut manager = ManagerField::Untouched;
    let mut custom = BTreeMap::new();

    for (slot, value) in slots.iter().zip(record.iter()) {
        match slot {
            Slot::Custom(name) => {
                if !value.is_empty() {
                    custom.insert(name.clone(), value.to_owned());
                }
            }
            Slot::Known(column) => match column {
                Column::Email => match Email::parse(value) {
                    Ok(e) => email = Some(e),
                    Err(e) => errors.push(e.to_string()),
                },
                Column::FirstName => profile.first_name = value.to_owned(),
                Column::LastName => profile.last_name = value.to_owned(),
                Column::JobTitle => profile.job_title = optional(value),
                Column::Department => profile.department = optional(value),
                Column::Location => profile.location = optional(value),
                Column::Language => profile.language = optional(value),
                Column::HireDate if value.is_empty() => {}
                Column::HireDate => match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                    Ok(d) => profile.hire_date = Some(d),
                    Err(_) => errors.push(format!("hire_date '{value}' is not a date like 2024-03-31")),
                },
                Column::Role if value.is_empty() => {}
                Column::Role => match value.parse::<Role>() {
                    Ok(Role::Owner) => errors.push("role 'owner' cannot be given by import; promote owners by hand".into()),
                    Ok(r) => role = Some(r),
                    Err(e) => errors.push(e.to_string()),
                },
                Column::ManagerEmail if value.is_empty() => manager = ManagerField::Clear,
                Column::ManagerEmail => match Email::parse(value) {
                    Ok(e) => manager = ManagerField::Set(ManagerRef::Email(e)),
                    Err(e) => errors.push(format!("manager_email: {e}")),
                },
            },
        }
    }
    profile.custom_fields = custom;
    match email {
        Some(email) if errors.is_empty() => Ok(DesiredPerson {
            record: format!("{line} ({email})"),
            external_id: None,
            email,
            profile,
            active: true,
            role,
            manager,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_file_reads_every_field() {
        let file = "\u{feff}Email,First Name,last_name,department,hire_date,role,manager_email,custom.employeeId\n\
                    ADA@x.com,Ada,Lovelace,Research,2024-01-02,admin,boss@x.com,E1\n";
        let rows = parse(file.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        let ada = &rows.people[0];
        assert_eq!(ada.email.as_str(), "ada@x.com");
        assert_eq!(ada.profile.department.as_deref(), Some("Research"));
        assert_eq!(ada.role, Some(Role::Admin));
        assert_eq!(ada.profile.custom_fields.get("employeeId").map(String::as_str), Some("E1"));
        assert!(matches!(ada.manager, ManagerField::Set(ManagerRef::Email(_))));
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let file = "email,hire_date,role\nada@x.com,2024-13-01,learner\nnot-an-email,,\nbob@x.com,,owner\n";
        let Err(CsvError::Rows(issues)) = parse(file.as_bytes()) else { unreachable!("rows should be refused") };
        let lines: Vec<_> = issues.iter().map(|i| i.record.as_str()).collect();
        assert_eq!(lines, ["line 2", "line 3", "line 4"]);
    }

    #[test]
    fn header_mistakes_are_named() {
        assert_eq!(parse(b"name\nx\n").err(), Some(CsvError::UnknownColumn("name".into())));
        assert_eq!(parse(b"first_name\nx\n").err(), Some(CsvError::NoEmailColumn));
        assert!(matches!(parse(b"email,email\n").err(), Some(CsvError::DuplicateColumn(_))));
    }

    #[test]
    fn absent_columns_keep_current_values() {
        let rows = parse(b"email,job_title\nada@x.com,CTO\n").unwrap_or_else(|e| unreachable!("{e}"));
        let mut ada = rows.people[0].clone();
        let current = Profile { first_name: "Ada".into(), department: Some("R".into()), ..Profile::default() };
        rows.merge_into(&mut ada, &current);
        assert_eq!(ada.profile.first_name, "Ada");
        assert_eq!(ada.profile.department.as_deref(), Some("R"));
        assert_eq!(ada.profile.job_title.as_deref(), Some("CTO"));
    }
}
