//! Writing CSV for people to open: every cell of a file the product writes goes through
//! [`spreadsheet_safe`], so a value a source or a person typed (`=HYPERLINK(...)`) is shown as
//! text, never run as a formula by the spreadsheet that opens the file.

use crate::plan::RunReport;
use std::borrow::Cow;

/// What writing a CSV file can fail with.
pub use csv::Error as CsvError;

/// The first characters that make a spreadsheet read a cell as a formula (or a command).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell a spreadsheet will show as text: a cell beginning with `=`, `+`, `-`, `@`, tab or
/// carriage return gets a single quote in front; any other cell is returned as it is. Quoting
/// for CSV itself (commas, quotes, line breaks) is the CSV writer's job, after this.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The columns of a people export, in order.
pub const PEOPLE_COLUMNS: [&str; 8] = ["id", "email", "first_name", "last_name", "job_title", "department", "role", "status"];

/// One person as a row of a people export.
pub fn person_row(p: &crate::Person) -> [String; 8] {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        p.id.to_string(),
        p.email.as_str().to_owned(),
        p.profile.first_name.clone(),
        p.profile.last_name.clone(),
        text(&p.profile.job_title),
        text(&p.profile.department),
        p.role.to_string(),
        p.status.to_string(),
    ]
}

/// A CSV file built row by row, every cell made [`spreadsheet_safe`].
pub struct SafeCsv {
    out: csv::Writer<Vec<u8>>,
}

impl SafeCsv {
    pub fn new(header: &[&str]) -> Result<Self, csv::Error> {
        let mut out = Self::rows_only();
        out.out.write_record(header)?;
        Ok(out)
    }

    /// A piece of a file that is written in pieces: rows, no header.
    pub fn rows_only() -> Self {
        Self { out: csv::Writer::from_writer(Vec::new()) }
    }

    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) -> Result<(), csv::Error> {
        self.out.write_record(cells.iter().map(|c| spreadsheet_safe(c.as_ref()).into_owned()))
    }

    pub fn finish(self) -> Result<Vec<u8>, csv::Error> {
        self.out.into_inner().map_err(|e| e.into_error().into())
    }
}

/// A run's issues as a CSV file: one row per issue, with the cause's name where the source
/// gave one.
pub fn issues_csv(report: &RunReport) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["record", "kind", "cause", "cause_name", "message"])?;
    for issue in &report.issues {
        let cause = issue.cause.as_deref().unwrap_or("");
        let name = issue.cause.as_ref().and_then(|c| report.cause_names.get(c)).map_or("", String::as_str);
        out.write_record([&issue.record, issue.kind.as_str(), cause, name, &issue.message].map(|cell| spreadsheet_safe(cell).into_owned()))?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_get_a_quote() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://evil.example\",\"click\")", "'=HYPERLINK(\"http://evil.example\",\"click\")"),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
        ] {
            assert_eq!(spreadsheet_safe(cell), Cow::<str>::Owned(safe.to_owned()), "{cell:?}");
        }
    }

    #[test]
    fn issues_are_written_one_a_row_with_formulas_defused() {
        use crate::plan::{IssueKind, RecordIssue};
        let mut report = RunReport::default();
        report.issues.push(RecordIssue::new("=cmd", IssueKind::ManagerUnresolved, "manager m1 is not in the directory").with_cause("m1"));
        report.cause_names.insert("m1".into(), "Grace Hopper <grace@x.example>".into());
        let text = String::from_utf8(issues_csv(&report).unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            text,
            "record,kind,cause,cause_name,message\n'=cmd,manager_unresolved,m1,Grace Hopper <grace@x.example>,manager m1 is not in the directory\n"
        );
    }

    #[test]
    fn other_cells_are_borrowed_unchanged() {
        for cell in ["", "Ada", "ada@acme.example", "a=b", " =1", "'=already quoted", "2024-01-02", "Zürich"] {
            assert!(matches!(spreadsheet_safe(cell), Cow::Borrowed(c) if c == cell), "{cell:?}");
        }
    }

    #[test]
    fn a_written_file_keeps_the_quote_inside_csv_quoting() {
        let mut out = csv::Writer::from_writer(Vec::new());
        let row = ["=1+2", "Ada, \"the first\"", "\r\n=x"];
        let safe: Vec<Cow<'_, str>> = row.iter().map(|c| spreadsheet_safe(c)).collect();
        assert!(out.write_record(safe.iter().map(|c| c.as_ref())).is_ok());
        let bytes = out.into_inner().unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&bytes), "'=1+2,\"Ada, \"\"the first\"\"\",\"'\r\n=x\"\n");
    }
}
