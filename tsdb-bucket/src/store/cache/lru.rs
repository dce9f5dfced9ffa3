//! A bounded in-memory cache that evicts the least recently used items, sized in bytes
//! (keys and values), like Thanos' in-memory index cache (`max_size`, `max_item_size`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;

use super::Cache;

struct Entry {
    value: Bytes,
    /// Position in the recency order.
    tick: u64,
}

struct State {
    items: HashMap<String, Entry>,
    /// Recency order: oldest tick first.
    order: BTreeMap<u64, String>,
    next_tick: u64,
    size: u64,
    evicted: u64,
}

/// An LRU cache of at most `max_size` bytes; see the module docs.
///
/// ```
/// use tsdb_bucket::store::cache::{lru::LruCache, Cache};
/// let c = LruCache::new(64, 64);
/// c.store("a", bytes::Bytes::from_static(b"0123456789"));
/// assert_eq!(c.fetch(&["a".into()]).len(), 1);
/// ```
pub struct LruCache {
    max_size: u64,
    max_item_size: u64,
    state: Mutex<State>,
}

fn cost(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

impl LruCache {
    /// A cache of at most `max_size` bytes that refuses items above `max_item_size` bytes.
    pub fn new(max_size: u64, max_item_size: u64) -> Self {
        LruCache {
            max_size,
            max_item_size: max_item_size.min(max_size),
            state: Mutex::new(State {
                items: HashMap::new(),
                order: BTreeMap::new(),
                next_tick: 0,
                size: 0,
                evicted: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes held (keys and values).
    pub fn size(&self) -> u64 {
        self.lock().size
    }

    /// Items held.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items evicted to make room so far.
    pub fn evicted(&self) -> u64 {
        self.lock().evicted
    }
}

impl State {
    fn touch(&mut self, key: &str) -> Option<Bytes> {
        let tick = self.next_tick;
        let e = self.items.get_mut(key)?;
        self.next_tick += 1;
        let old = std::mem::replace(&mut e.tick, tick);
        let value = e.value.clone();
        if let Some(k) = self.order.remove(&old) {
            self.order.insert(tick, k);
        }
        Some(value)
    }

    fn remove(&mut self, key: &str) {
        if let Some(e) = self.items.remove(key) {
            self.order.remove(&e.tick);
            self.size -= cost(key, &e.value);
        }
    }
}

impl Cache for LruCache {
    fn fetch(&self, keys: &[String]) -> HashMap<String, Bytes> {
        let mut st = self.lock();
        keys.iter()
            .filter_map(|k| st.touch(k).map(|v| (k.clone(), v)))
            .collect()
    }

    fn store(&self, key: &str, value: Bytes) {
        let c = cost(key, &value);
        if c > self.max_item_size {
            return;
        }
        let mut st = self.lock();
        st.remove(key);
        while st.size + c > self.max_size {
            let Some((_, oldest)) = st.order.pop_first() else {
                break;
            };
            if let Some(e) = st.items.remove(&oldest) {
                st.size -= cost(&oldest, &e.value);
                st.evicted += 1;
            }
        }
        let tick = st.next_tick;
        st.next_tick += 1;
        st.order.insert(tick, key.to_string());
        st.items.insert(key.to_string(), Entry { value, tick });
        st.size += c;
    }

    fn backend(&self) -> &'static str {
        "inmemory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn evicts_least_recently_used_within_size() {
        // Each item costs 1 (key) + 4 (value) bytes; room for three.
        let c = LruCache::new(15, 15);
        c.store("a", b("aaaa"));
        c.store("b", b("bbbb"));
        c.store("c", b("cccc"));
        assert_eq!(c.size(), 15);
        // Using "a" makes "b" the oldest.
        assert_eq!(c.fetch(&["a".into()]).len(), 1);
        c.store("d", b("dddd"));
        let got = c.fetch(&["a".into(), "b".into(), "c".into(), "d".into()]);
        let mut keys: Vec<&str> = got.keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["a", "c", "d"]);
        assert_eq!(c.evicted(), 1);
        assert_eq!(c.size(), 15);
    }

    #[test]
    fn refuses_items_above_max_item_size_and_replaces_values() {
        let c = LruCache::new(100, 6);
        c.store("big", b("0123456789"));
        assert!(c.is_empty());
        c.store("k", b("12"));
        c.store("k", b("3456"));
        assert_eq!(c.size(), 5);
        assert_eq!(c.fetch(&["k".into()])["k"], b("3456"));
    }
}
