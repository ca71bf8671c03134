//! Server-side paging: opaque skiptokens, nextLinks and the empty pages Graph can serve.

use std::ops::Range;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::errors::{bad_request, GraphResponse};
use super::odata::Query;

/// Set in a token when the page it points at must be served empty (and point on to the data).
const FLAG_EMPTY: u8 = 1;
/// Real tokens start with these bytes; clients must not read anything into them.
const PREFIX: &str = "RFNwdAIA";
const DEFAULT_TOP: usize = 100;

fn mac(key: &[u8; 32], list_key: &str, payload: &[u8]) -> [u8; 12] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(list_key.to_ascii_lowercase().as_bytes());
    h.update(payload);
    let digest = h.finalize();
    let mut out = [0u8; 12];
    out.copy_from_slice(&digest[..12]);
    out
}

fn keystream(key: &[u8; 32], mac: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(mac);
    h.update(key);
    h.finalize().into()
}

/// Encrypts `(offset, flags)` and binds it to one list, so a token is useless elsewhere and a
/// client cannot compute or edit one.
pub fn encode(key: &[u8; 32], list_key: &str, offset: u32, flags: u8) -> String {
    let mut payload = [0u8; 5];
    payload[..4].copy_from_slice(&offset.to_le_bytes());
    payload[4] = flags;
    let tag = mac(key, list_key, &payload);
    let stream = keystream(key, &tag);
    let mut raw = tag.to_vec();
    raw.extend(payload.iter().zip(stream.iter()).map(|(p, s)| p ^ s));
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
}

pub fn decode(key: &[u8; 32], list_key: &str, token: &str) -> Option<(u32, u8)> {
    let raw = URL_SAFE_NO_PAD.decode(token.strip_prefix(PREFIX)?).ok()?;
    if raw.len() != 17 {
        return None;
    }
    let (tag, enc) = raw.split_at(12);
    let stream = keystream(key, tag);
    let payload: Vec<u8> = enc.iter().zip(stream.iter()).map(|(e, s)| e ^ s).collect();
    if mac(key, list_key, &payload).as_slice() != tag {
        return None;
    }
    let offset = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
    Some((offset, payload[4]))
}

/// Encrypts and signs a payload of any length, bound to `bind` (a list, a token's role): the
/// delta tokens carry a whole round's state this way. SHA-256 in counter mode as the stream.
pub fn seal(key: &[u8; 32], bind: &str, payload: &[u8]) -> String {
    let tag = mac(key, bind, payload);
    let mut raw = tag.to_vec();
    raw.extend(payload.iter().zip(long_keystream(key, &tag, payload.len())).map(|(p, s)| p ^ s));
    URL_SAFE_NO_PAD.encode(raw)
}

/// The payload of a [`seal`]ed token, or `None` when it was forged, edited or bound elsewhere.
pub fn open(key: &[u8; 32], bind: &str, token: &str) -> Option<Vec<u8>> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    if raw.len() < 12 {
        return None;
    }
    let (tag, enc) = raw.split_at(12);
    let payload: Vec<u8> = enc.iter().zip(long_keystream(key, tag, enc.len())).map(|(e, s)| e ^ s).collect();
    (mac(key, bind, &payload).as_slice() == tag).then_some(payload)
}

fn long_keystream(key: &[u8; 32], tag: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u64 = 0;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(tag);
        h.update(key);
        h.update(counter.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// Where a page is served from, for its links.
pub struct PageCtx<'a> {
    /// `http://host/v1.0`
    pub base: &'a str,
    /// `/groups/{id}/members`, also what tokens are bound to.
    pub path: &'a str,
    pub query: &'a Query,
    pub context: &'a str,
    /// `@odata.count`, sent on the first page only.
    pub count: Option<usize>,
    pub empty_pages: bool,
}

/// Serves one page over `total` underlying items. `render` turns a window of the underlying
/// list into the values shown; it may drop some (a cast), which can leave a page empty while
/// more pages follow, exactly as Graph does.
pub fn page(key: &[u8; 32], ctx: &PageCtx<'_>, total: usize, render: impl FnOnce(Range<usize>) -> Vec<Value>) -> Result<Value, GraphResponse> {
    let top = ctx.query.top()?.unwrap_or(DEFAULT_TOP);
    let (offset, flags, first) = match ctx.query.get("skiptoken") {
        Some(tok) => {
            let (o, f) = decode(key, ctx.path, tok).ok_or_else(|| bad_request("The specified page token value is not valid for this request."))?;
            (usize::try_from(o).unwrap_or(usize::MAX), f, false)
        }
        None => (0, 0, true),
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}/$metadata#{}", ctx.base, ctx.context)));
    if first {
        if let Some(count) = ctx.count {
            body.insert("@odata.count".into(), json!(count));
        }
    }
    let link = |offset: usize, flags: u8| {
        let token = encode(key, ctx.path, u32::try_from(offset).unwrap_or(u32::MAX), flags);
        format!("{}{}?{}", ctx.base, ctx.path, ctx.query.with_skiptoken(&token))
    };
    if flags & FLAG_EMPTY != 0 {
        body.insert("@odata.nextLink".into(), json!(link(offset, 0)));
        body.insert("value".into(), json!([]));
        return Ok(Value::Object(body));
    }
    let start = offset.min(total);
    let end = start.saturating_add(top).min(total);
    let values = render(start..end);
    if end < total {
        let next_flags = if ctx.empty_pages { FLAG_EMPTY } else { 0 };
        body.insert("@odata.nextLink".into(), json!(link(end, next_flags)));
    }
    body.insert("value".into(), Value::Array(values));
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_list() {
        let tok = encode(&KEY, "/groups/a/members", 300, 0);
        assert_eq!(decode(&KEY, "/groups/a/members", &tok), Some((300, 0)));
        assert_eq!(decode(&KEY, "/groups/b/members", &tok), None, "a token only works on its own list");
        assert_eq!(decode(&[8; 32], "/groups/a/members", &tok), None, "another simulator rejects it");
    }

    #[test]
    fn tokens_are_opaque_and_tamper_evident() {
        let a = encode(&KEY, "/users", 100, 0);
        let b = encode(&KEY, "/users", 200, 0);
        assert!(!a.contains("100") && !b.contains("200"), "{a} {b}");
        // Flipping any character breaks the token.
        for i in PREFIX.len()..a.len() {
            let mut chars: Vec<char> = a.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let forged: String = chars.into_iter().collect();
            if forged != a {
                assert_eq!(decode(&KEY, "/users", &forged), None, "forged at {i}");
            }
        }
        assert_eq!(decode(&KEY, "/users", "100"), None);
    }

    fn ctx<'a>(query: &'a Query, empty_pages: bool) -> PageCtx<'a> {
        PageCtx { base: "http://h/v1.0", path: "/users", query, context: "users", count: Some(5), empty_pages }
    }

    fn items(r: Range<usize>) -> Vec<Value> {
        r.map(|i| json!(i)).collect()
    }

    fn next_query(body: &Value) -> Option<Query> {
        let link = body.get("@odata.nextLink")?.as_str()?;
        Some(Query::parse(link.split_once('?')?.1))
    }

    #[test]
    fn walks_all_pages_and_counts_on_the_first_only() {
        let mut query = Query::parse("$top=2&$count=true");
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let body = page(&KEY, &ctx(&query, false), 5, items).expect("page");
            if pages > 0 {
                assert!(body.get("@odata.count").is_none());
            } else {
                assert_eq!(body["@odata.count"], 5);
            }
            pages += 1;
            seen.extend(body["value"].as_array().cloned().unwrap_or_default());
            match next_query(&body) {
                Some(q) => query = q,
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, items(0..5));
    }

    #[test]
    fn empty_pages_still_carry_a_next_link() {
        let mut query = Query::parse("$top=2");
        let mut sizes = Vec::new();
        loop {
            let body = page(&KEY, &ctx(&query, true), 5, items).expect("page");
            sizes.push(body["value"].as_array().map_or(0, Vec::len));
            match next_query(&body) {
                Some(q) => query = q,
                None => break,
            }
        }
        assert_eq!(sizes, vec![2, 0, 2, 0, 1]);
    }

    #[test]
    fn sealed_payloads_round_trip_and_resist_edits() {
        let payload = vec![42u8; 300];
        let token = seal(&KEY, "users/delta", &payload);
        assert_eq!(open(&KEY, "users/delta", &token), Some(payload));
        assert_eq!(open(&KEY, "groups/delta", &token), None);
        let mut edited = token.clone().into_bytes();
        edited[20] = if edited[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&KEY, "users/delta", &String::from_utf8(edited).expect("ascii")), None);
        assert!(!token.contains("42"));
    }

    #[test]
    fn bad_tokens_are_400() {
        let query = Query::parse("$skiptoken=RFNwdAIAxyz");
        let err = page(&KEY, &ctx(&query, false), 5, items).err().map(|e| e.status);
        assert_eq!(err, Some(400));
    }
}
