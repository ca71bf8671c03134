//! Finding a value of a multi-valued attribute in constant time, so that adding or removing
//! n values among m costs O(n + m), not O(n × m): pairwise comparison made a PATCH adding
//! 20,000 members take minutes.

use crate::schema::{get_ci, AttributeDef};
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

/// Where to look for a value equal, by `apply::same_value`, to a given one: values that are
/// the same value have the same key, so only values sharing a key are compared. The key is
/// the normalised `value` (lower-cased unless `caseExact`) of a complex value, the whole
/// value of one without `value`, the value itself for a simple attribute, hashed with a
/// random key per index so that no client can make its values collide.
pub(super) struct ValueIndex {
    /// The attribute's own `caseExact`, for simple values.
    case_exact: bool,
    /// The `caseExact` of its `value` sub-attribute, for complex ones.
    value_case_exact: bool,
    state: RandomState,
    slots: HashMap<u64, Slot, BuildHasherDefault<KeyHasher>>,
    /// How many values were indexed: a kept index is used again only for an array this long.
    pub(super) len: usize,
    /// How many indexed values have `"primary": true`, while they are only added to.
    pub(super) primaries: usize,
}

/// The positions sharing a key, in increasing order; nearly always one.
enum Slot {
    One(usize),
    Many(Vec<usize>),
}

/// The keys are already hashed under a random key: hashing them again buys nothing.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// `"primary": true`, as `enforce_single_primary` reads it.
pub(super) fn is_primary(value: &Value) -> bool {
    value.get("primary") == Some(&Value::Bool(true))
}

impl ValueIndex {
    pub(super) fn of(items: &[Value], attr: &AttributeDef) -> Self {
        let mut index = ValueIndex {
            case_exact: attr.case_exact,
            value_case_exact: attr.sub_attribute("value").is_some_and(|d| d.case_exact),
            state: RandomState::new(),
            slots: HashMap::with_capacity_and_hasher(items.len(), BuildHasherDefault::default()),
            len: 0,
            primaries: 0,
        };
        for item in items {
            index.push(item);
        }
        index
    }

    /// Indexes `item` as the next position.
    pub(super) fn push(&mut self, item: &Value) {
        let key = self.key(item);
        let position = self.len;
        match self.slots.get_mut(&key) {
            None => {
                self.slots.insert(key, Slot::One(position));
            }
            Some(Slot::Many(positions)) => positions.push(position),
            Some(slot) => {
                if let Slot::One(first) = *slot {
                    *slot = Slot::Many(vec![first, position]);
                }
            }
        }
        self.len += 1;
        if is_primary(item) {
            self.primaries += 1;
        }
    }

    /// The positions that may hold a value equal to `item`, in increasing order.
    pub(super) fn candidates(&self, item: &Value) -> impl Iterator<Item = usize> + '_ {
        let positions: &[usize] = match self.slots.get(&self.key(item)) {
            None => &[],
            Some(Slot::One(first)) => std::slice::from_ref(first),
            Some(Slot::Many(positions)) => positions,
        };
        positions.iter().copied()
    }

    fn key(&self, item: &Value) -> u64 {
        match item {
            Value::Object(map) => match get_ci(map, "value") {
                Some(v) => self.text_key(v, self.value_case_exact),
                None => self.json_key(item),
            },
            other => self.text_key(other, self.case_exact),
        }
    }

    /// Agrees with `text_eq`: strings lower-cased unless `case_exact`, anything else as is.
    fn text_key(&self, value: &Value, case_exact: bool) -> u64 {
        let Value::String(s) = value else {
            return self.json_key(value);
        };
        if case_exact {
            return self.json_key(value);
        }
        // Exactly `to_lowercase`, which `text_eq` compares (it maps some non-ASCII letters,
        // such as the Kelvin sign, to ASCII ones); most values are lower case already.
        let lower = if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
            std::borrow::Cow::Borrowed(s.as_str())
        } else {
            std::borrow::Cow::Owned(s.to_lowercase())
        };
        self.state.hash_one((6u8, lower.as_ref()))
    }

    /// Agrees with `==` on JSON values: object members in any order, `0.0` and `-0.0` alike.
    fn json_key(&self, value: &Value) -> u64 {
        match value {
            Value::Null => self.state.hash_one(0u8),
            Value::Bool(b) => self.state.hash_one((1u8, *b)),
            Value::Number(n) => {
                // Without serde_json's arbitrary_precision every number has an f64; with it a
                // shared key costs one extra comparison, never a wrong answer.
                let bits = n.as_f64().filter(|f| *f != 0.0).map_or(0, f64::to_bits);
                self.state.hash_one((2u8, bits))
            }
            Value::String(s) => self.state.hash_one((3u8, s.as_str())),
            Value::Array(items) => {
                let mut hasher = self.state.build_hasher();
                hasher.write_u8(4);
                for item in items {
                    hasher.write_u64(self.json_key(item));
                }
                hasher.finish()
            }
            Value::Object(map) => {
                let members = map.iter().fold(0u64, |sum, (k, v)| sum.wrapping_add(self.state.hash_one((k.as_str(), self.json_key(v)))));
                self.state.hash_one((5u8, map.len(), members))
            }
        }
    }
}

/// The indexes of one request, kept between operations that only add values to the same
/// attribute, so that a thousand `add members` operations cost a thousand small additions
/// rather than a thousand passes over every member. Any other operation on the attribute
/// drops its index.
#[derive(Default)]
pub(super) struct IndexCache {
    entries: Vec<(CacheKey, ValueIndex)>,
}

/// The extension URN (none for the core schema) and the attribute's name.
pub(super) type CacheKey = (Option<&'static str>, &'static str);

impl IndexCache {
    pub(super) fn take(&mut self, key: CacheKey) -> Option<ValueIndex> {
        let at = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(at).1)
    }

    pub(super) fn put(&mut self, key: CacheKey, index: ValueIndex) {
        self.entries.push((key, index));
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }
}
