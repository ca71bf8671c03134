//! The events feed's cursor: opaque to consumers, here the event's sequence number behind a
//! versioned prefix, so its form can change without breaking stored cursors.

const PREFIX: &str = "ev1_";

pub fn cursor_of(seq: i64) -> String {
    format!("{PREFIX}{seq:x}")
}

/// The sequence number behind a cursor this feed gave out; None for anything else.
pub fn seq_of(cursor: &str) -> Option<i64> {
    cursor.strip_prefix(PREFIX).and_then(|hex| i64::from_str_radix(hex, 16).ok()).filter(|seq| *seq >= 0)
}

/// Event types as a consumer lists them (blanks dropped); None when one is not a type's shape
/// (lower-case letters, dots and underscores) or there are too many.
pub fn parse_types<'a>(types: impl IntoIterator<Item = &'a str>) -> Option<Vec<String>> {
    let types: Vec<String> = types.into_iter().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
    let shaped = |t: &String| t.len() <= 64 && t.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
    (types.len() <= 100 && types.iter().all(shaped)).then_some(types)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_nothing_else_is_one() {
        assert_eq!(super::seq_of(&super::cursor_of(4711)), Some(4711));
        for bad in ["12", "ev1_", "ev1_zz", "ev2_10", "ev1_-1"] {
            assert_eq!(super::seq_of(bad), None, "{bad}");
        }
    }
}
