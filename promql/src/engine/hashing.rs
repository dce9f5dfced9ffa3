//! Hash maps keyed by label sets and match signatures.
//!
//! The evaluator looks label sets up on every step (output series, join signatures, groups);
//! SipHash, the standard library's default, costs more than the rest of such a lookup. FxHash
//! is several times faster on these byte strings; seeding it once per process (from the
//! standard library's random keys) keeps an attacker who controls label values from
//! precomputing colliding keys.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use rustc_hash::FxHasher;

/// Builds FxHash hashers with the process' random seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeededFx(usize);

impl Default for SeededFx {
    fn default() -> Self {
        static SEED: OnceLock<usize> = OnceLock::new();
        SeededFx(*SEED.get_or_init(|| RandomState::new().hash_one(0x5eed_u64) as usize))
    }
}

impl BuildHasher for SeededFx {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher::with_seed(self.0)
    }
}

/// A hash map with the engine's fast hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, SeededFx>;

/// A hash set with the engine's fast hasher.
pub(crate) type FastSet<K> = HashSet<K, SeededFx>;

/// An empty [`FastMap`] with room for `n` entries.
pub(crate) fn map_with_capacity<K, V>(n: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(n, SeededFx::default())
}

/// An empty [`FastSet`] with room for `n` entries.
pub(crate) fn set_with_capacity<K>(n: usize) -> FastSet<K> {
    FastSet::with_capacity_and_hasher(n, SeededFx::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_work_and_share_the_process_seed() {
        let mut m: FastMap<String, usize> = map_with_capacity(4);
        m.insert("a".into(), 1);
        assert_eq!(m.get("a"), Some(&1));
        let (a, b) = (SeededFx::default(), SeededFx::default());
        assert_eq!(a.hash_one("x"), b.hash_one("x"));
        let s: FastSet<u8> = [1, 2, 2].into_iter().collect();
        assert_eq!(s.len(), 2);
    }
}
