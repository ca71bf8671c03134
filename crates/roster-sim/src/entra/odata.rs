//! OData query options as Graph reads them.

use super::errors::{bad_request, GraphResponse};

#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// Graph v1.0 accepts system query options with or without the `$`, in any case.
fn normalise(key: &str) -> String {
    key.trim_start_matches('$').to_ascii_lowercase()
}

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query { pairs: url::form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect() }
    }

    pub fn get(&self, option: &str) -> Option<&str> {
        let wanted = normalise(option);
        self.pairs.iter().find(|(k, _)| normalise(k) == wanted).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, option: &str) -> bool {
        self.get(option).is_some()
    }

    pub fn select(&self) -> Option<Vec<String>> {
        self.get("select").map(|s| s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
    }

    /// `$top` must be 1..=999; absent means the default of 100.
    pub fn top(&self) -> Result<Option<usize>, GraphResponse> {
        let Some(raw) = self.get("top") else {
            return Ok(None);
        };
        match raw.trim().parse::<i64>() {
            Ok(n) if (1..=999).contains(&n) => Ok(usize::try_from(n).ok()),
            _ => Err(bad_request(&format!("Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive."))),
        }
    }

    pub fn count(&self) -> bool {
        self.get("count").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The query string again, with `$skiptoken` replaced: what goes into a nextLink.
    pub fn with_skiptoken(&self, token: &str) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            if normalise(k) != "skiptoken" {
                out.append_pair(k, v);
            }
        }
        out.append_pair("$skiptoken", token);
        // Graph writes `$` literally in its links; keep them readable.
        out.finish().replace("%24", "$").replace("%2C", ",")
    }
}

/// Decodes `%XX` escapes in a path segment (`%24batch` → `$batch`).
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_limits() {
        assert_eq!(Query::parse("").top().ok(), Some(None));
        assert_eq!(Query::parse("$top=1").top().ok(), Some(Some(1)));
        assert_eq!(Query::parse("%24top=999").top().ok(), Some(Some(999)));
        for bad in ["0", "1000", "-1", "ten"] {
            let err = Query::parse(&format!("$top={bad}")).top().err().map(|e| e.status);
            assert_eq!(err, Some(400), "$top={bad}");
        }
    }

    #[test]
    fn options_without_dollar_and_in_any_case() {
        let q = Query::parse("SELECT=id,mail&top=5");
        assert_eq!(q.select(), Some(vec!["id".to_string(), "mail".to_string()]));
        assert_eq!(q.top().ok(), Some(Some(5)));
    }

    #[test]
    fn decodes_path_escapes() {
        assert_eq!(percent_decode("%24batch"), "$batch");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("plain"), "plain");
    }
}
