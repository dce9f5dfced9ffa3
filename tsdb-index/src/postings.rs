//! Postings lists: sorted series references, and the lazy set operations queries are planned
//! with.
//!
//! A [`Postings`] is a cursor over strictly increasing [`SeriesRef`]s with `next`, `seek` and
//! `at`, like Prometheus' `index.Postings`. Lists read from an index file are
//! [`BigEndianPostings`] that decode the mmapped bytes in place; [`intersect`], [`merge`] and
//! [`without`] combine cursors lazily, so a query touches only the entries it needs.

use crate::error::IndexError;

/// A series reference as stored in postings lists. For index format v2 this is the series'
/// byte offset divided by 16 (Prometheus' "series ID"); for v1 it is the byte offset itself.
pub type SeriesRef = u64;

/// A cursor over a strictly increasing list of series references.
///
/// Before the first `next` or `seek`, `at` is unspecified. After either returns `false` the
/// cursor is exhausted (or failed: check [`Postings::err`]) and must not be advanced again.
pub trait Postings {
    /// Advances to the next reference; `false` when exhausted or failed.
    fn next(&mut self) -> bool;

    /// Advances to the first reference `>= target`; `false` when there is none. Does not move
    /// when the current reference is already `>= target`.
    fn seek(&mut self, target: SeriesRef) -> bool;

    /// The current reference.
    fn at(&self) -> SeriesRef;

    /// The error that stopped the cursor, if any.
    fn err(&self) -> Option<&IndexError> {
        None
    }

    /// Whether this cursor is known to be empty without advancing it (the planner uses this to
    /// stop early, as Prometheus' `IsEmptyPostingsType`).
    fn is_known_empty(&self) -> bool {
        false
    }
}

/// A boxed postings cursor borrowing from an index that lives for `'a`.
pub type BoxPostings<'a> = Box<dyn Postings + Send + 'a>;

impl<P: Postings + ?Sized> Postings for Box<P> {
    #[inline]
    fn next(&mut self) -> bool {
        (**self).next()
    }
    #[inline]
    fn seek(&mut self, target: SeriesRef) -> bool {
        (**self).seek(target)
    }
    #[inline]
    fn at(&self) -> SeriesRef {
        (**self).at()
    }
    fn err(&self) -> Option<&IndexError> {
        (**self).err()
    }
    fn is_known_empty(&self) -> bool {
        (**self).is_known_empty()
    }
}

/// Drains a cursor into a vector, returning its error if it failed.
///
/// ```
/// use tsdb_index::postings::{collect, ListPostings};
/// assert_eq!(collect(ListPostings::new(&[1, 5, 9])).unwrap(), vec![1, 5, 9]);
/// ```
pub fn collect<P: Postings>(mut p: P) -> Result<Vec<SeriesRef>, IndexError> {
    let mut out = Vec::new();
    while p.next() {
        out.push(p.at());
    }
    match into_err(p) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Takes the error out of a finished cursor by re-reporting it. Cursors only hand out
/// references to their errors, so this re-creates an equivalent error value.
fn into_err<P: Postings>(p: P) -> Option<IndexError> {
    p.err().map(clone_error)
}

/// Copies an error (I/O errors keep their kind and message).
pub(crate) fn clone_error(e: &IndexError) -> IndexError {
    match e {
        IndexError::Io { file, op, source } => IndexError::Io {
            file: file.clone(),
            op,
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        IndexError::BadMagic { file, found } => IndexError::BadMagic {
            file: file.clone(),
            found: *found,
        },
        IndexError::UnsupportedVersion { file, version } => IndexError::UnsupportedVersion {
            file: file.clone(),
            version: *version,
        },
        IndexError::Crc {
            file,
            section,
            offset,
            stored,
            computed,
        } => IndexError::Crc {
            file: file.clone(),
            section,
            offset: *offset,
            stored: *stored,
            computed: *computed,
        },
        IndexError::Corrupt {
            file,
            section,
            offset,
            reason,
        } => IndexError::Corrupt {
            file: file.clone(),
            section,
            offset: *offset,
            reason: reason.clone(),
        },
        IndexError::InvalidInput { file, reason } => IndexError::InvalidInput {
            file: file.clone(),
            reason: reason.clone(),
        },
    }
}

/// Index of the first element `>= target` among `len` sorted elements starting at `start`.
/// Gallops forward before bisecting, so seeks to nearby targets (the common case when
/// intersecting dense lists) cost a few comparisons instead of a full binary search.
#[inline]
fn gallop(start: usize, len: usize, target: SeriesRef, get: impl Fn(usize) -> SeriesRef) -> usize {
    if start >= len || get(start) >= target {
        return start;
    }
    // Invariant: get(lo) < target; the answer lies in (lo, hi].
    let mut lo = start;
    let mut step = 1usize;
    let mut hi = loop {
        let probe = lo.saturating_add(step);
        if probe >= len {
            break len;
        }
        if get(probe) >= target {
            break probe;
        }
        lo = probe;
        step = step.saturating_mul(2);
    };
    lo += 1;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if get(mid) < target {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The empty list.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyPostings;

impl Postings for EmptyPostings {
    fn next(&mut self) -> bool {
        false
    }
    fn seek(&mut self, _: SeriesRef) -> bool {
        false
    }
    fn at(&self) -> SeriesRef {
        0
    }
    fn is_known_empty(&self) -> bool {
        true
    }
}

/// A boxed [`EmptyPostings`].
pub fn empty<'a>() -> BoxPostings<'a> {
    Box::new(EmptyPostings)
}

/// A cursor that failed before yielding anything.
#[derive(Debug)]
pub struct ErrPostings(pub IndexError);

impl Postings for ErrPostings {
    fn next(&mut self) -> bool {
        false
    }
    fn seek(&mut self, _: SeriesRef) -> bool {
        false
    }
    fn at(&self) -> SeriesRef {
        0
    }
    fn err(&self) -> Option<&IndexError> {
        Some(&self.0)
    }
}

/// A cursor over a borrowed sorted slice.
#[derive(Debug, Clone)]
pub struct ListPostings<'a> {
    list: &'a [SeriesRef],
    /// Index of the next element to return.
    next: usize,
    cur: SeriesRef,
    started: bool,
}

impl<'a> ListPostings<'a> {
    /// A cursor over `list`, which must be strictly increasing.
    pub fn new(list: &'a [SeriesRef]) -> Self {
        ListPostings {
            list,
            next: 0,
            cur: 0,
            started: false,
        }
    }
}

impl Postings for ListPostings<'_> {
    #[inline]
    fn next(&mut self) -> bool {
        match self.list.get(self.next) {
            Some(&v) => {
                self.cur = v;
                self.next += 1;
                self.started = true;
                true
            }
            None => {
                self.next = self.list.len() + 1;
                false
            }
        }
    }
    #[inline]
    fn seek(&mut self, target: SeriesRef) -> bool {
        if self.started && self.cur >= target {
            return self.next <= self.list.len();
        }
        if self.next >= self.list.len() {
            return self.next();
        }
        let list = &self.list;
        self.next = gallop(self.next, list.len(), target, |i| list[i]);
        self.next()
    }
    #[inline]
    fn at(&self) -> SeriesRef {
        self.cur
    }
    fn is_known_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// A cursor owning its sorted vector (used for lists built in memory, e.g. by the head).
#[derive(Debug, Clone)]
pub struct VecPostings {
    list: Vec<SeriesRef>,
    next: usize,
    cur: SeriesRef,
    started: bool,
}

impl VecPostings {
    /// A cursor over `list`, which must be strictly increasing.
    pub fn new(list: Vec<SeriesRef>) -> Self {
        VecPostings {
            list,
            next: 0,
            cur: 0,
            started: false,
        }
    }
}

impl Postings for VecPostings {
    #[inline]
    fn next(&mut self) -> bool {
        match self.list.get(self.next) {
            Some(&v) => {
                self.cur = v;
                self.next += 1;
                self.started = true;
                true
            }
            None => {
                self.next = self.list.len() + 1;
                false
            }
        }
    }
    #[inline]
    fn seek(&mut self, target: SeriesRef) -> bool {
        if self.started && self.cur >= target {
            return self.next <= self.list.len();
        }
        if self.next >= self.list.len() {
            return self.next();
        }
        let list = &self.list;
        self.next = gallop(self.next, list.len(), target, |i| list[i]);
        self.next()
    }
    #[inline]
    fn at(&self) -> SeriesRef {
        self.cur
    }
    fn is_known_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// A cursor over a postings list as stored in an index file: big-endian u32 series IDs,
/// decoded in place from the borrowed (usually memory-mapped) bytes.
#[derive(Debug, Clone)]
pub struct BigEndianPostings<'a> {
    /// The remaining encoded IDs, 4 bytes each; `list.len()` is a multiple of 4.
    list: &'a [u8],
    /// Byte index of the next element.
    next: usize,
    cur: SeriesRef,
    started: bool,
}

impl<'a> BigEndianPostings<'a> {
    /// A cursor over `list`; a trailing partial element is ignored.
    pub fn new(list: &'a [u8]) -> Self {
        let whole = list.len() / 4 * 4;
        BigEndianPostings {
            list: &list[..whole],
            next: 0,
            cur: 0,
            started: false,
        }
    }

    /// Number of entries in the whole list.
    pub fn len(&self) -> usize {
        self.list.len() / 4
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    #[inline]
    fn get(&self, idx: usize) -> SeriesRef {
        let b = &self.list[idx * 4..idx * 4 + 4];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as SeriesRef
    }
}

impl Postings for BigEndianPostings<'_> {
    #[inline]
    fn next(&mut self) -> bool {
        if self.next + 4 <= self.list.len() {
            let b = &self.list[self.next..self.next + 4];
            self.cur = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as SeriesRef;
            self.next += 4;
            self.started = true;
            true
        } else {
            self.next = self.list.len() + 4;
            false
        }
    }
    #[inline]
    fn seek(&mut self, target: SeriesRef) -> bool {
        if self.started && self.cur >= target {
            return self.next <= self.list.len();
        }
        if self.next >= self.list.len() {
            self.next = self.list.len() + 4;
            return false;
        }
        let idx = gallop(self.next / 4, self.list.len() / 4, target, |i| self.get(i));
        self.next = idx * 4;
        self.next()
    }
    #[inline]
    fn at(&self) -> SeriesRef {
        self.cur
    }
    fn is_known_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// The intersection of several cursors: references present in all of them.
pub struct Intersect<'a> {
    its: Vec<BoxPostings<'a>>,
    cur: SeriesRef,
    started: bool,
    done: bool,
}

/// Intersects `its` lazily. No inputs give the empty list; one input is returned as is.
pub fn intersect<'a>(mut its: Vec<BoxPostings<'a>>) -> BoxPostings<'a> {
    match its.len() {
        0 => empty(),
        1 => its.pop().unwrap_or_else(empty),
        _ => {
            if its.iter().any(|p| p.is_known_empty() && p.err().is_none()) {
                return empty();
            }
            Box::new(Intersect {
                its,
                cur: 0,
                started: false,
                done: false,
            })
        }
    }
}

impl Intersect<'_> {
    /// Moves every cursor to the smallest common reference `>= target`.
    fn settle(&mut self, mut target: SeriesRef) -> bool {
        'outer: loop {
            for it in self.its.iter_mut() {
                if !it.seek(target) {
                    self.done = true;
                    return false;
                }
                let v = it.at();
                if v > target {
                    target = v;
                    continue 'outer;
                }
            }
            self.cur = target;
            self.started = true;
            return true;
        }
    }
}

impl Postings for Intersect<'_> {
    fn next(&mut self) -> bool {
        if self.done {
            return false;
        }
        if !self.its[0].next() {
            self.done = true;
            return false;
        }
        let target = self.its[0].at();
        self.settle(target)
    }
    fn seek(&mut self, target: SeriesRef) -> bool {
        if self.done {
            return false;
        }
        if self.started && self.cur >= target {
            return true;
        }
        self.settle(target)
    }
    fn at(&self) -> SeriesRef {
        self.cur
    }
    fn err(&self) -> Option<&IndexError> {
        self.its.iter().find_map(|p| p.err())
    }
}

/// The union of several cursors, merged through a tournament ("loser") tree.
///
/// The tree is kept in heap layout: with `k` cursors, cursor `i` is the leaf at position
/// `k + i`, internal position `p` has children `2p` and `2p + 1`, and every internal position
/// remembers the entry that *lost* the match played there; position 0 holds the overall winner,
/// the smallest current reference. When the winning cursor moves, only the matches on its own
/// path to the root are replayed against the stored losers: one comparison per level, where a
/// binary heap's sift-down needs two and also touches the sibling of every node it passes.
/// This is the structure Prometheus' `Merge` uses.
///
/// Generic over the cursor type so that merging many lists of one concrete type (the common
/// case: every value of a label) avoids a dynamic call per element.
pub struct Merge<P> {
    its: Vec<P>,
    /// `tree[0]` is the winner, `tree[1..]` the loser of each internal match. Empty until the
    /// first `next` or `seek` positions the cursors.
    tree: Vec<TreeEntry>,
    /// Cursors not yet exhausted. An exhausted cursor takes part in the tree with the value
    /// [`EXHAUSTED`]; this count tells it apart from a live cursor sitting on that very value.
    live: usize,
    cur: SeriesRef,
    initialized: bool,
    started: bool,
    done: bool,
    /// Index of the first cursor that stopped with an error.
    failed: Option<usize>,
}

/// One contestant of the tournament: a cursor's current reference and the cursor's index.
#[derive(Debug, Clone, Copy)]
struct TreeEntry {
    value: SeriesRef,
    cursor: usize,
}

/// The value an exhausted cursor plays with: it loses (or at worst ties) every match.
const EXHAUSTED: SeriesRef = SeriesRef::MAX;

/// Merges `its` lazily into their union. No inputs give the empty list; one input is returned
/// as is.
///
/// ```
/// use tsdb_index::postings::{collect, merge, BoxPostings, VecPostings};
/// let its: Vec<BoxPostings<'static>> = vec![
///     Box::new(VecPostings::new(vec![1, 4, 9])),
///     Box::new(VecPostings::new(vec![2, 4, 7])),
/// ];
/// assert_eq!(collect(merge(its)).unwrap(), vec![1, 2, 4, 7, 9]);
/// ```
pub fn merge<'a>(its: Vec<BoxPostings<'a>>) -> BoxPostings<'a> {
    merge_lists(its)
}

/// Like [`merge`], over cursors of one concrete type.
///
/// ```
/// use tsdb_index::postings::{collect, merge_lists, ListPostings};
/// let (a, b) = ([3u64, 5], [1u64, 5, 8]);
/// let union = merge_lists(vec![ListPostings::new(&a), ListPostings::new(&b)]);
/// assert_eq!(collect(union).unwrap(), vec![1, 3, 5, 8]);
/// ```
pub fn merge_lists<'a, P: Postings + Send + 'a>(mut its: Vec<P>) -> BoxPostings<'a> {
    its.retain(|p| !(p.is_known_empty() && p.err().is_none()));
    match its.len() {
        0 => empty(),
        1 => match its.pop() {
            Some(p) => Box::new(p),
            None => empty(),
        },
        n => Box::new(Merge {
            its,
            tree: Vec::new(),
            live: n,
            cur: 0,
            initialized: false,
            started: false,
            done: false,
            failed: None,
        }),
    }
}

impl<P: Postings> Merge<P> {
    /// Positions every cursor with `advance` (its first `next`, or a `seek`) and plays the
    /// whole tournament once.
    fn initialize(&mut self, mut advance: impl FnMut(&mut P) -> bool) -> bool {
        self.initialized = true;
        let k = self.its.len();
        let mut values = Vec::with_capacity(k);
        for i in 0..k {
            let it = &mut self.its[i];
            if advance(it) {
                values.push(it.at());
            } else if self.exhausted(i) {
                return false;
            } else {
                values.push(EXHAUSTED);
            }
        }
        self.build(&values);
        self.settle()
    }

    /// Builds the tree over the cursors' current `values` in place, in two passes: bottom-up,
    /// every internal position first records the winner of its subtree; then top-down, each
    /// position swaps that for the loser of its match (the child winner that is not its own
    /// winner), reading its children before they are rewritten themselves.
    fn build(&mut self, values: &[SeriesRef]) {
        let k = values.len();
        let leaf = |c: usize| TreeEntry {
            value: values[c],
            cursor: c,
        };
        let tree = &mut self.tree;
        tree.clear();
        tree.resize(
            k,
            TreeEntry {
                value: EXHAUSTED,
                cursor: 0,
            },
        );
        let child = |tree: &[TreeEntry], pos: usize| {
            if pos >= k {
                leaf(pos - k)
            } else {
                tree[pos]
            }
        };
        for pos in (1..k).rev() {
            let (a, b) = (child(tree, 2 * pos), child(tree, 2 * pos + 1));
            tree[pos] = if b.value < a.value { b } else { a };
        }
        tree[0] = if k > 1 { tree[1] } else { leaf(0) };
        for pos in 1..k {
            let winner = tree[pos].cursor;
            let a = child(tree, 2 * pos);
            tree[pos] = if a.cursor == winner {
                child(tree, 2 * pos + 1)
            } else {
                a
            };
        }
    }

    /// Cursor `cursor` (the winner) moved to `value`: replays the matches on its path to the
    /// root and stores the new winner.
    ///
    /// One branch per level. Where the lists take turns regularly (long runs from one list,
    /// or sweeps across the lists in order, as the lists of one label's values interleave in
    /// an index sorted by label sets) these branches predict well and the CPU runs ahead into
    /// the next element, which a walk without branches (conditional moves, measured) cannot:
    /// it chains every element behind the previous one's loads and was 1.5-2x slower on such
    /// data, though about twice as fast on lists that interleave at random.
    #[inline]
    fn replay(&mut self, cursor: usize, value: SeriesRef) {
        let tree = &mut self.tree[..];
        let mut climber = TreeEntry { value, cursor };
        let mut pos = (tree.len() + cursor) / 2;
        while pos > 0 {
            if tree[pos].value < climber.value {
                std::mem::swap(&mut tree[pos], &mut climber);
            }
            pos /= 2;
        }
        tree[0] = climber;
    }

    /// Cursor `i` returned `false`. Records its error, if any, and reports whether the merge
    /// has to stop because of it; otherwise the cursor is just exhausted.
    #[cold]
    fn exhausted(&mut self, i: usize) -> bool {
        if self.its[i].err().is_some() {
            self.failed = Some(i);
            self.done = true;
            return true;
        }
        self.live -= 1;
        false
    }

    /// Takes the current reference from the tree's winner.
    #[inline]
    fn settle(&mut self) -> bool {
        let top = self.tree[0].value;
        if top == EXHAUSTED && self.live == 0 {
            self.done = true;
            return false;
        }
        self.cur = top;
        self.started = true;
        true
    }
}

impl<P: Postings> Postings for Merge<P> {
    fn next(&mut self) -> bool {
        if self.done {
            return false;
        }
        if !self.initialized {
            return self.initialize(|p| p.next());
        }
        if self.cur == EXHAUSTED {
            // Nothing can follow the largest reference; the cursors still on it would only
            // report exhaustion.
            self.done = true;
            return false;
        }
        // Advance every cursor sitting on the current reference (a reference present in
        // several inputs is yielded once). Exhausted cursors play with `EXHAUSTED`, which
        // differs from `cur` here, so they are never advanced again.
        loop {
            let top = self.tree[0];
            if top.value != self.cur {
                break;
            }
            let it = &mut self.its[top.cursor];
            let value = if it.next() {
                it.at()
            } else if self.exhausted(top.cursor) {
                return false;
            } else {
                EXHAUSTED
            };
            self.replay(top.cursor, value);
        }
        self.settle()
    }

    fn seek(&mut self, target: SeriesRef) -> bool {
        if self.done {
            return false;
        }
        if self.started && self.cur >= target {
            return true;
        }
        if !self.initialized {
            return self.initialize(|p| p.seek(target));
        }
        // Only cursors behind `target` move, the smallest first; every other cursor is already
        // where the seek would leave it. `EXHAUSTED >= target` ends the loop once all are done.
        loop {
            let top = self.tree[0];
            if top.value >= target {
                break;
            }
            let it = &mut self.its[top.cursor];
            let value = if it.seek(target) {
                it.at()
            } else if self.exhausted(top.cursor) {
                return false;
            } else {
                EXHAUSTED
            };
            self.replay(top.cursor, value);
        }
        self.settle()
    }

    fn at(&self) -> SeriesRef {
        self.cur
    }

    fn err(&self) -> Option<&IndexError> {
        self.failed.and_then(|i| self.its[i].err())
    }
}

/// The references of `full` that are not in `drop`.
pub struct Without<'a> {
    full: BoxPostings<'a>,
    drop: BoxPostings<'a>,
    /// Whether `drop` may still hold references (false once exhausted).
    drop_live: bool,
    failed: bool,
}

/// Subtracts `drop` from `full` lazily.
pub fn without<'a>(full: BoxPostings<'a>, drop: BoxPostings<'a>) -> BoxPostings<'a> {
    if full.is_known_empty() && full.err().is_none() {
        return empty();
    }
    if drop.is_known_empty() && drop.err().is_none() {
        return full;
    }
    Box::new(Without {
        full,
        drop,
        drop_live: true,
        failed: false,
    })
}

impl Without<'_> {
    /// Whether the current reference of `full` survives the subtraction.
    fn keep_current(&mut self) -> bool {
        if !self.drop_live {
            return true;
        }
        let v = self.full.at();
        if self.drop.seek(v) {
            self.drop.at() != v
        } else {
            self.drop_live = false;
            if self.drop.err().is_some() {
                self.failed = true;
            }
            true
        }
    }
}

impl Postings for Without<'_> {
    fn next(&mut self) -> bool {
        loop {
            if self.failed || !self.full.next() {
                return false;
            }
            let keep = self.keep_current();
            if self.failed {
                return false;
            }
            if keep {
                return true;
            }
        }
    }
    fn seek(&mut self, target: SeriesRef) -> bool {
        if self.failed || !self.full.seek(target) {
            return false;
        }
        let keep = self.keep_current();
        if self.failed {
            return false;
        }
        if keep {
            return true;
        }
        self.next()
    }
    fn at(&self) -> SeriesRef {
        self.full.at()
    }
    fn err(&self) -> Option<&IndexError> {
        self.full.err().or_else(|| self.drop.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn boxed(v: &BTreeSet<u64>) -> BoxPostings<'static> {
        Box::new(VecPostings::new(v.iter().copied().collect()))
    }

    fn be_bytes(v: &BTreeSet<u64>) -> Vec<u8> {
        v.iter().flat_map(|&x| (x as u32).to_be_bytes()).collect()
    }

    fn sets() -> impl Strategy<Value = Vec<BTreeSet<u64>>> {
        proptest::collection::vec(proptest::collection::btree_set(0u64..300, 0..80), 0..6)
    }

    /// Drains through a mix of next and seek calls and checks against the model.
    fn check_against<P: Postings>(mut p: P, model: &BTreeSet<u64>, seeks: &[u64]) {
        let mut got = Vec::new();
        let mut si = 0;
        loop {
            let ok = if si < seeks.len() && seeks[si] % 3 == 0 {
                let t = seeks[si];
                si += 1;
                let target = got.last().map_or(t, |&l: &u64| l.max(t));
                let ok = p.seek(target);
                let expect = model.range(target..).next().copied();
                assert_eq!(ok, expect.is_some(), "seek {target}");
                if let Some(e) = expect {
                    assert_eq!(p.at(), e);
                    if got.last() != Some(&e) {
                        got.push(e);
                    }
                }
                ok
            } else {
                si += 1;
                let ok = p.next();
                if ok {
                    got.push(p.at());
                }
                ok
            };
            if !ok {
                break;
            }
        }
        // Everything seen is in the model and in order; a pure `next` walk sees all of it.
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        assert!(got.iter().all(|v| model.contains(v)));
        if seeks.iter().all(|s| s % 3 != 0) {
            assert_eq!(got, model.iter().copied().collect::<Vec<_>>());
        }
        assert!(p.err().is_none());
    }

    proptest! {
        #[test]
        fn intersect_matches_model(sets in sets(), seeks in proptest::collection::vec(0u64..320, 0..40)) {
            let model: BTreeSet<u64> = if sets.is_empty() { BTreeSet::new() } else {
                sets.iter().skip(1).fold(sets[0].clone(), |a, b| a.intersection(b).copied().collect())
            };
            let its = sets.iter().map(boxed).collect();
            check_against(intersect(its), &model, &seeks);
            check_against(intersect(sets.iter().map(boxed).collect()), &model, &[]);
        }

        #[test]
        fn merge_matches_model(sets in sets(), seeks in proptest::collection::vec(0u64..320, 0..40)) {
            let model: BTreeSet<u64> = sets.iter().flatten().copied().collect();
            check_against(merge(sets.iter().map(boxed).collect()), &model, &seeks);
            check_against(merge(sets.iter().map(boxed).collect()), &model, &[]);
            let typed = sets.iter().map(|s| VecPostings::new(s.iter().copied().collect())).collect();
            check_against(merge_lists(typed), &model, &seeks);
        }

        #[test]
        fn without_matches_model(a in proptest::collection::btree_set(0u64..300, 0..100),
                                 b in proptest::collection::btree_set(0u64..300, 0..100),
                                 seeks in proptest::collection::vec(0u64..320, 0..40)) {
            let model: BTreeSet<u64> = a.difference(&b).copied().collect();
            check_against(without(boxed(&a), boxed(&b)), &model, &seeks);
            check_against(without(boxed(&a), boxed(&b)), &model, &[]);
        }

        #[test]
        fn lists_match_model(a in proptest::collection::btree_set(0u64..300, 0..100),
                             seeks in proptest::collection::vec(0u64..320, 0..40)) {
            let v: Vec<u64> = a.iter().copied().collect();
            check_against(ListPostings::new(&v), &a, &seeks);
            let b = be_bytes(&a);
            check_against(BigEndianPostings::new(&b), &a, &seeks);
            check_against(VecPostings::new(v.clone()), &a, &seeks);
        }

        #[test]
        fn nested_operations(a in proptest::collection::btree_set(0u64..200, 0..60),
                             b in proptest::collection::btree_set(0u64..200, 0..60),
                             c in proptest::collection::btree_set(0u64..200, 0..60),
                             seeks in proptest::collection::vec(0u64..220, 0..30)) {
            // (a ∪ b) ∩ c \ (a ∩ b)
            let ab: BTreeSet<u64> = a.union(&b).copied().collect();
            let abc: BTreeSet<u64> = ab.intersection(&c).copied().collect();
            let a_and_b: BTreeSet<u64> = a.intersection(&b).copied().collect();
            let model: BTreeSet<u64> = abc.difference(&a_and_b).copied().collect();
            let p = without(
                intersect(vec![merge(vec![boxed(&a), boxed(&b)]), boxed(&c)]),
                intersect(vec![boxed(&a), boxed(&b)]),
            );
            check_against(p, &model, &seeks);
        }
    }

    /// One step of a cursor walk: `next`, a seek to an absolute target, or a seek relative to
    /// the current reference (often equal to or below it, which must not move the cursor).
    #[derive(Debug, Clone)]
    enum Step {
        Next,
        SeekTo(u64),
        SeekAhead(u64),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            2 => Just(Step::Next),
            2 => (0u64..320).prop_map(Step::SeekTo),
            3 => (0u64..6).prop_map(Step::SeekAhead),
        ];
        proptest::collection::vec(step, 0..120)
    }

    /// Walks `p` through `steps`, checking every answer against the sorted `model` with the
    /// cursor semantics of [`Postings`]; stops after the first `false`, as callers must.
    fn walk_against<P: Postings>(mut p: P, model: &[u64], base: u64, steps: &[Step]) {
        // Index into `model` of the current reference once started.
        let mut pos: Option<usize> = None;
        for step in steps {
            let (ok, expect) = match *step {
                Step::Next => {
                    let idx = pos.map_or(0, |i| i + 1);
                    (p.next(), idx)
                }
                Step::SeekTo(_) | Step::SeekAhead(_) => {
                    let target = match *step {
                        Step::SeekTo(t) => base.saturating_add(t),
                        Step::SeekAhead(d) => pos.map_or(base, |_| p.at()).saturating_add(d),
                        Step::Next => unreachable!(),
                    };
                    // A seek never moves backwards, nor away from a reference >= target.
                    let from = pos.unwrap_or(0);
                    let idx = from + model[from..].partition_point(|&v| v < target);
                    (p.seek(target), idx)
                }
            };
            assert_eq!(ok, expect < model.len(), "{step:?} from {pos:?}");
            if !ok {
                break;
            }
            assert_eq!(p.at(), model[expect], "{step:?} from {pos:?}");
            pos = Some(expect);
        }
        assert!(p.err().is_none());
    }

    /// Up to 40 lists (so the tournament tree gets many shapes, powers of two or not), values
    /// either near zero or at the very top of the range, where `u64::MAX` itself is a valid
    /// reference that must not be confused with an exhausted cursor.
    fn many_sets() -> impl Strategy<Value = (u64, Vec<BTreeSet<u64>>)> {
        (
            prop_oneof![Just(0u64), Just(u64::MAX - 299)],
            proptest::collection::vec(proptest::collection::btree_set(0u64..300, 0..30), 0..40),
        )
            .prop_map(|(base, sets)| {
                let sets = sets
                    .into_iter()
                    .map(|s| s.into_iter().map(|v| base + v).collect())
                    .collect();
                (base, sets)
            })
    }

    /// A cursor that yields the first `ok_steps` answers of `inner` and then fails (unless
    /// `inner` ends first).
    struct FailAfter {
        inner: VecPostings,
        ok_steps: usize,
        name: String,
        err: Option<IndexError>,
    }

    impl FailAfter {
        fn step(&mut self) -> bool {
            if self.ok_steps == 0 {
                self.err = Some(IndexError::InvalidInput {
                    file: "test".into(),
                    reason: self.name.clone(),
                });
                return false;
            }
            self.ok_steps -= 1;
            true
        }
    }

    impl Postings for FailAfter {
        fn next(&mut self) -> bool {
            self.step() && self.inner.next()
        }
        fn seek(&mut self, target: SeriesRef) -> bool {
            self.step() && self.inner.seek(target)
        }
        fn at(&self) -> SeriesRef {
            self.inner.at()
        }
        fn err(&self) -> Option<&IndexError> {
            self.err.as_ref()
        }
    }

    proptest! {
        #[test]
        fn merge_seek_heavy_matches_model((base, sets) in many_sets(), steps in steps()) {
            let model: Vec<u64> = sets.iter().flatten().copied().collect::<BTreeSet<_>>()
                .into_iter().collect();
            walk_against(merge(sets.iter().map(boxed).collect()), &model, base, &steps);
            let lists: Vec<Vec<u64>> = sets.iter().map(|s| s.iter().copied().collect()).collect();
            let typed = lists.iter().map(|l| ListPostings::new(l)).collect();
            walk_against(merge_lists(typed), &model, base, &steps);
            // Seeks only, each to or just past the current reference.
            let creeping: Vec<Step> = steps.iter().map(|s| match s {
                Step::SeekTo(t) => Step::SeekAhead(t % 4),
                other => other.clone(),
            }).collect();
            walk_against(merge(sets.iter().map(boxed).collect()), &model, base, &creeping);
            // A full walk by `next` alone sees the whole union.
            let mut all = vec![Step::Next; model.len() + 1];
            walk_against(merge(sets.iter().map(boxed).collect()), &model, base, &all);
            all.insert(0, Step::SeekTo(0));
            walk_against(merge(sets.iter().map(boxed).collect()), &model, base, &all);
        }

        #[test]
        fn merge_stops_at_first_failure(
            sets in proptest::collection::vec(proptest::collection::btree_set(0u64..200, 0..30), 2..12),
            fail_at in proptest::collection::vec(proptest::option::of(0usize..35), 12),
        ) {
            let its: Vec<FailAfter> = sets.iter().zip(&fail_at).enumerate().map(|(i, (s, f))| FailAfter {
                inner: VecPostings::new(s.iter().copied().collect()),
                ok_steps: f.unwrap_or(usize::MAX),
                name: format!("cursor {i}"),
                err: None,
            }).collect();
            // A full walk calls each cursor once per entry and once more to learn that it
            // ended, so a cursor failing on call `f + 1` fails iff `f <= len`. The merge then
            // stops right after yielding the entry the cursor sat on, `None` standing for
            // "before the first entry".
            let failures: Vec<(Option<u64>, usize)> = sets.iter().zip(&fail_at).enumerate()
                .filter_map(|(i, (s, f))| match *f {
                    Some(f) if f <= s.len() => {
                        Some((f.checked_sub(1).and_then(|j| s.iter().nth(j).copied()), i))
                    }
                    _ => None,
                }).collect();
            let stop = failures.iter().map(|&(v, _)| v).min();
            let model: Vec<u64> = sets.iter().flatten().copied().collect::<BTreeSet<_>>()
                .into_iter().filter(|&v| match stop { None => true, Some(None) => false, Some(Some(s)) => v <= s })
                .collect();
            let mut p = merge_lists(its);
            let mut got = Vec::new();
            while p.next() {
                got.push(p.at());
            }
            prop_assert_eq!(&got, &model);
            prop_assert!(!p.next());
            match (stop, p.err()) {
                (None, None) => {}
                (Some(s), Some(IndexError::InvalidInput { reason, .. })) => {
                    let culprits: Vec<String> = failures.iter().filter(|&&(v, _)| v == s)
                        .map(|&(_, i)| format!("cursor {i}")).collect();
                    prop_assert!(culprits.contains(reason), "{} not in {:?}", reason, culprits);
                }
                (stop, err) => prop_assert!(false, "stop {:?} but err {:?}", stop, err),
            }
        }
    }

    #[test]
    fn merge_yields_the_largest_reference() {
        let top = vec![1, u64::MAX];
        let also_top = vec![u64::MAX];
        let other = vec![5];
        let its = vec![
            ListPostings::new(&top),
            ListPostings::new(&other),
            ListPostings::new(&also_top),
        ];
        assert_eq!(collect(merge_lists(its)).unwrap(), vec![1, 5, u64::MAX]);
        let mut p = merge_lists(vec![ListPostings::new(&other), ListPostings::new(&top)]);
        assert!(p.seek(6));
        assert_eq!(p.at(), u64::MAX);
        assert!(p.seek(u64::MAX));
        assert!(!p.next());
        assert!(p.err().is_none());
    }

    #[test]
    fn seek_before_next_on_zero() {
        let v = vec![0u64, 4];
        let mut p = ListPostings::new(&v);
        assert!(p.seek(0));
        assert_eq!(p.at(), 0);
        assert!(p.next());
        assert_eq!(p.at(), 4);
        assert!(!p.next());
        assert!(!p.seek(0) || p.at() >= 4);
    }

    #[test]
    fn errors_propagate() {
        let err = || -> BoxPostings<'static> {
            Box::new(ErrPostings(IndexError::InvalidInput {
                file: "x".into(),
                reason: "boom".into(),
            }))
        };
        let one = || -> BoxPostings<'static> { Box::new(VecPostings::new(vec![1, 2])) };
        assert!(collect(intersect(vec![one(), err()])).is_err());
        assert!(collect(merge(vec![one(), err()])).is_err());
        assert!(collect(without(err(), one())).is_err());
        assert!(collect(without(one(), err())).is_err());
    }
}
