//! Free text entering the directory (names, titles, CSV cells): which characters it may not
//! hold. Tab, line feed and carriage return are allowed in text (a multi-line cell is valid
//! CSV); every other control character (C0, DEL, C1) is refused, as terminals, logs and
//! spreadsheets treat them as commands rather than text.

/// Is `c` a control character that text fields refuse: any [`char::is_control`] except tab,
/// line feed and carriage return.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The byte offset of the first forbidden control character in `s` (see
/// [`is_forbidden_control`]), or `None` when `s` is clean. One-line values (a team name) refuse
/// tab and line breaks as well, with [`char::is_control`].
pub fn first_control_char(s: &str) -> Option<usize> {
    s.char_indices().find(|(_, c)| is_forbidden_control(*c)).map(|(at, _)| at)
}

/// Is `c` invisible or does it reorder text: a Unicode format character (general category Cf:
/// zero-width spaces and joiners, bidirectional marks, embeddings, overrides and isolates, the
/// byte order mark, the soft hyphen, tag characters, ...). Identifiers such as e-mail addresses
/// refuse them, so two addresses that look the same are the same.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_but_tabs_and_line_breaks_are_text() {
        assert_eq!(first_control_char("Ada Lovelace"), None);
        assert_eq!(first_control_char("line one\r\nline two\tend"), None);
        assert_eq!(first_control_char("ab\u{7}c"), Some(2));
        assert_eq!(first_control_char("é\u{1b}[31m"), Some(2), "a byte offset");
        assert_eq!(first_control_char("x\u{7f}"), Some(1), "DEL");
        assert_eq!(first_control_char("x\u{85}"), Some(1), "a C1 control");
        assert_eq!(first_control_char("\0"), Some(0));
    }

    #[test]
    fn format_characters_are_invisible() {
        for c in ['\u{200B}', '\u{200D}', '\u{200E}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{E0041}'] {
            assert!(is_invisible(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', 'ü', ' ', '-', '\u{0300}', '漢'] {
            assert!(!is_invisible(c), "U+{:04X}", u32::from(c));
        }
    }
}
