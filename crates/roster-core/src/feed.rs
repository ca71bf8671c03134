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
