//! CSV import: the manual source. A file is read whole and checked row by row; if any row is
//! wrong, the import reports every problem and changes nothing.
//!
//! Columns (header names, any order, any case): `email` (required), `first_name`, `last_name`,
//! `job_title`, `department`, `location`, `language`, `hire_date` (YYYY-MM-DD), `role`
//! (learner, manager or admin), `manager_email`, and `custom.<name>` for custom fields.
//! A column that is absent leaves that field as it is for existing people.
//!
//! Every cell, the header's included, holds at most [`MAX_CELL_CHARS`] characters and no control
//! character other than tab, line feed and carriage return (see [`crate::text`]); a row that
//! breaks either rule is a row error, reported without repeating the cell. Files Roster writes
//! pass their cells through [`crate::csv_export::spreadsheet_safe`].

use crate::email::Email;
use crate::mapping::Target;
use crate::ownership::{CustomFields, Ownership};
use crate::person::{Profile, Role};
use crate::plan::{IssueKind, RecordIssue};
use crate::reconcile::{DesiredPerson, ManagerField, ManagerRef};
use crate::text;
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// The most rows one file may hold, so a mistaken upload cannot exhaust memory.
pub const MAX_ROWS: usize = 500_000;

/// The most characters one cell may hold.
pub const MAX_CELL_CHARS: usize = 1_024;

const KNOWN: &[&str] = &["email", "first_name", "last_name", "job_title", "department", "location", "language", "hire_date", "role", "manager_email"];

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
    /// Not UTF-8: most often Excel's plain "CSV", which saves Windows-1252. `line` counts from 1.
    #[error(
        "the file is not UTF-8 (line {line} has a byte that is not): in Excel use Save As → \"CSV UTF-8 (Comma delimited)\", then import that file"
    )]
    NotUtf8 { line: usize },
    #[error("the file has more than {MAX_ROWS} rows; split it")]
    TooManyRows,
    /// A header cell breaks the cell rules; `position` counts from 1.
    #[error("the header's column {position} {problem}")]
    HeaderCell { position: usize, problem: String },
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

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Email => "email",
            Column::FirstName => "first_name",
            Column::LastName => "last_name",
            Column::JobTitle => "job_title",
            Column::Department => "department",
            Column::Location => "location",
            Column::Language => "language",
            Column::HireDate => "hire_date",
            Column::Role => "role",
            Column::ManagerEmail => "manager_email",
        }
    }
}

enum Slot {
    Known(Column),
    Custom(String),
}

impl Slot {
    /// The column's name in a message.
    fn label(&self) -> String {
        match self {
            Slot::Known(column) => column.name().to_owned(),
            Slot::Custom(name) => format!("custom.{name}"),
        }
    }
}

/// What is wrong with a cell, in words that never repeat the cell: "is longer than 1,024
/// characters", "holds a control character (U+0007)". None for a cell within the rules.
fn cell_problem(value: &str) -> Option<String> {
    if value.chars().nth(MAX_CELL_CHARS).is_some() {
        return Some(format!("is longer than {} characters", thousands(MAX_CELL_CHARS)));
    }
    let at = text::first_control_char(value)?;
    let code = value[at..].chars().next().map(u32::from).unwrap_or_default();
    Some(format!("holds a control character (U+{code:04X})"))
}

/// 1024 as "1,024".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The rows of a file, each ready for the reconciler, and which columns it carried.
#[derive(Debug, Clone)]
pub struct CsvRows {
    pub people: Vec<DesiredPerson>,
    /// Columns that were present: absent ones keep existing values (see [`CsvRows::ownership`]).
    present: Vec<Column>,
    has_custom: bool,
}

impl CsvRows {
    /// What the file owns: the columns it has (absent ones keep existing values) and, when it
    /// has custom columns, the custom fields it names.
    pub fn ownership(&self) -> Ownership {
        let targets: Vec<Target> = self
            .present
            .iter()
            .filter_map(|column| match column {
                Column::FirstName => Some(Target::FirstName),
                Column::LastName => Some(Target::LastName),
                Column::JobTitle => Some(Target::JobTitle),
                Column::Department => Some(Target::Department),
                Column::Location => Some(Target::Location),
                Column::Language => Some(Target::Language),
                Column::HireDate => Some(Target::HireDate),
                Column::Email | Column::Role | Column::ManagerEmail => None,
            })
            .collect();
        Ownership::of_targets(&targets, if self.has_custom { CustomFields::Merged } else { CustomFields::Kept })
    }
}

pub fn parse(bytes: &[u8]) -> Result<CsvRows, CsvError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Refused as a whole, with the fix: read as another encoding, names would be silently wrong.
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        return Err(CsvError::NotUtf8 { line });
    }
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
                issues.push(RecordIssue::new(line, IssueKind::Invalid, e.to_string()));
                continue;
            }
        };
        match read_row(&slots, &record, &line) {
            Ok(person) => people.push(person),
            Err(messages) => {
                issues.extend(messages.into_iter().map(|message| RecordIssue::new(line.clone(), IssueKind::Invalid, message)));
            }
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
    for (position, raw) in headers.iter().enumerate() {
        if let Some(problem) = cell_problem(raw) {
            return Err(CsvError::HeaderCell { position: position + 1, problem });
        }
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
        if let Some(problem) = cell_problem(value) {
            errors.push(format!("column {} {problem}", slot.label()));
            continue;
        }
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
        Some(email) if errors.is_empty() => {
            Ok(DesiredPerson { record: format!("{line} ({email})"), external_id: None, email, profile, active: true, role, manager })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    #[test]
    fn a_windows_1252_file_is_refused_with_the_fix() {
        // "Zoë" as Excel's plain CSV writes it: ë is the single byte 0xEB.
        let file = b"email,first_name\nzoe@example.com,Zo\xEB\n";
        let error = parse(file).unwrap_err();
        assert!(matches!(error, CsvError::NotUtf8 { line: 2 }), "{error:?}");
        assert!(error.to_string().contains("CSV UTF-8"));
        assert!(parse("\u{feff}email,first_name\nzoe@example.com,Zoë\n".as_bytes()).is_ok(), "UTF-8 with Excel's BOM is read");
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
    fn a_cell_longer_than_the_limit_is_a_row_error_that_does_not_repeat_it() {
        let long = "y".repeat(MAX_CELL_CHARS + 1);
        let file = format!("email,job_title,custom.note\nada@x.com,{long},ok\nbob@x.com,CTO,{long}\ncarl@x.com,{},\n", "z".repeat(MAX_CELL_CHARS));
        let Err(CsvError::Rows(issues)) = parse(file.as_bytes()) else { unreachable!("the long cells should be refused") };
        let seen: Vec<_> = issues.iter().map(|i| (i.record.as_str(), i.kind, i.message.as_str())).collect();
        assert_eq!(
            seen,
            [
                ("line 2", IssueKind::Invalid, "column job_title is longer than 1,024 characters"),
                ("line 3", IssueKind::Invalid, "column custom.note is longer than 1,024 characters"),
            ],
            "a cell of exactly {MAX_CELL_CHARS} characters is fine"
        );
        let multibyte = "é".repeat(MAX_CELL_CHARS);
        assert!(parse(format!("email,last_name\nada@x.com,{multibyte}\n").as_bytes()).is_ok(), "characters, not bytes");
    }

    #[test]
    fn a_cell_with_a_control_character_is_a_row_error() {
        let file = "email,first_name,job_title\nada@x.com,Ada\u{1b}[2J,CTO\nbob@x.com,Bob,\"Head\nof\tR&D\"\ncarl@x.com,C\u{7f},x\n";
        let Err(CsvError::Rows(issues)) = parse(file.as_bytes()) else { unreachable!("the control characters should be refused") };
        let seen: Vec<_> = issues.iter().map(|i| (i.record.as_str(), i.message.as_str())).collect();
        assert_eq!(
            seen,
            [("line 2", "column first_name holds a control character (U+001B)"), ("line 4", "column first_name holds a control character (U+007F)")],
            "tab and line breaks inside a quoted cell are text"
        );
        let Err(CsvError::Rows(issues)) = parse(b"email\nada\x07@x.com\n") else { unreachable!("refused") };
        assert_eq!(issues[0].message, "column email holds a control character (U+0007)");
    }

    #[test]
    fn header_cells_follow_the_same_rules() {
        assert_eq!(
            parse(b"email,custom.a\x01b\nada@x.com,1\n").err(),
            Some(CsvError::HeaderCell { position: 2, problem: "holds a control character (U+0001)".into() })
        );
        let file = format!("email,custom.{}\nada@x.com,1\n", "n".repeat(MAX_CELL_CHARS));
        let err = parse(file.as_bytes()).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err, "the header's column 2 is longer than 1,024 characters");
    }

    #[test]
    fn any_bad_row_means_no_rows() {
        let file = "email,first_name\nada@x.com,Ada\nbob@x.com,B\u{0}b\n";
        assert!(matches!(parse(file.as_bytes()), Err(CsvError::Rows(issues)) if issues.len() == 1));
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!([0, 999, 1_024, 500_000, 1_234_567].map(thousands), ["0", "999", "1,024", "500,000", "1,234,567"]);
    }

    #[test]
    fn absent_columns_keep_current_values() {
        let rows = parse(b"email,job_title\nada@x.com,CTO\n").unwrap_or_else(|e| unreachable!("{e}"));
        let mut ada = rows.people[0].clone();
        let current = Profile { first_name: "Ada".into(), department: Some("R".into()), ..Profile::default() };
        ada.profile = rows.ownership().merge(&current, &ada.profile);
        assert_eq!(ada.profile.first_name, "Ada");
        assert_eq!(ada.profile.department.as_deref(), Some("R"));
        assert_eq!(ada.profile.job_title.as_deref(), Some("CTO"));
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn within_limits(value: &str) -> bool {
            value.chars().count() <= MAX_CELL_CHARS && text::first_control_char(value).is_none()
        }

        fn check_accepted(rows: &CsvRows) {
            for person in &rows.people {
                let p = &person.profile;
                let cells = [
                    Some(person.email.as_str()),
                    Some(p.first_name.as_str()),
                    Some(p.last_name.as_str()),
                    p.job_title.as_deref(),
                    p.department.as_deref(),
                    p.location.as_deref(),
                    p.language.as_deref(),
                ];
                for cell in cells.into_iter().flatten().chain(p.custom_fields.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()])) {
                    assert!(within_limits(cell), "an accepted cell breaks the limits: {} chars", cell.chars().count());
                }
            }
        }

        fn check(bytes: &[u8]) {
            match parse(bytes) {
                Ok(rows) => check_accepted(&rows),
                Err(CsvError::Rows(issues)) => {
                    assert!(!issues.is_empty());
                    for issue in issues {
                        // Messages quote at most a short value (an address, a date), never a long cell.
                        assert!(issue.message.chars().count() <= MAX_CELL_CHARS + 100, "{} chars", issue.message.len());
                        assert!(text::first_control_char(&issue.message).is_none());
                    }
                }
                Err(_) => {}
            }
        }

        /// A cell that is often plausible, sometimes hostile: control characters, quotes,
        /// separators, line breaks, and lengths on both sides of the limit.
        fn cell() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => "[a-zA-Z0-9 .@_-]{0,12}",
                2 => any::<String>(),
                1 => "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f},\"\r\n\t=+@-]{0,8}",
                1 => (MAX_CELL_CHARS - 2..MAX_CELL_CHARS + 3, prop::sample::select(vec!['a', 'é', '\t'])).prop_map(|(n, c)| c.to_string().repeat(n)),
            ]
        }

        /// Mostly a good address, so that whole files are accepted often enough to check them.
        fn email_cell() -> impl Strategy<Value = String> {
            prop_oneof![6 => "[a-z]{1,8}@[a-z]{1,8}\\.example", 1 => cell()]
        }

        fn date_cell() -> impl Strategy<Value = String> {
            prop_oneof![6 => Just(String::new()), 1 => Just("2024-03-31".to_owned()), 1 => cell()]
        }

        fn row() -> impl Strategy<Value = [String; 5]> {
            (email_cell(), cell(), cell(), date_cell(), cell()).prop_map(|(a, b, c, d, e)| [a, b, c, d, e])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                check(&bytes);
            }

            #[test]
            fn arbitrary_bytes_after_a_valid_header_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
                let mut file = b"email,first_name,job_title,custom.note\n".to_vec();
                file.extend_from_slice(&bytes);
                check(&file);
            }

            #[test]
            fn accepted_rows_keep_every_cell_within_the_limits(rows in prop::collection::vec(row(), 0..4)) {
                let mut out = csv::Writer::from_writer(Vec::new());
                let written = out.write_record(["email", "first_name", "department", "hire_date", "custom.note"]).is_ok()
                    && rows.iter().all(|row| out.write_record(row).is_ok());
                prop_assert!(written);
                let bytes = out.into_inner().unwrap_or_default();
                check(&bytes);
            }
        }
    }
}
