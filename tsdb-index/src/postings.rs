//! Postings lists: sorted series references, and the lazy set operations queries are planned
//! with.
//!
//! A [`Postings`] is a cursor over strictly increasing [`SeriesRef`]s with `next`, `seek` and
//! `at`, like Prometheus' `index.Postings`. Lists read from an index file are
//! [`BigEndianPostings`] that decode the mmapped bytes in place; [`intersect`], [`merge`] and
//! [`without`] combine cursors lazily, so a query touches only the entries it needs.

use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::BinaryHeap;

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

/// The union of several cursors, merged through a min-heap.
///
/// Generic over the cursor type so that merging many lists of one concrete type (the common
/// case: every value of a label) avoids a dynamic call per element.
pub struct Merge<P> {
    its: Vec<P>,
    /// (current reference, cursor index) for every live cursor.
    heap: BinaryHeap<Reverse<(SeriesRef, usize)>>,
    cur: SeriesRef,
    initialized: bool,
    started: bool,
    done: bool,
    /// Index of the first cursor that stopped with an error.
    failed: Option<usize>,
}

/// Merges `its` lazily into their union. No inputs give the empty list; one input is returned
/// as is.
pub fn merge<'a>(its: Vec<BoxPostings<'a>>) -> BoxPostings<'a> {
    merge_lists(its)
}

/// Like [`merge`], over cursors of one concrete type.
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
            heap: BinaryHeap::with_capacity(n),
            cur: 0,
            initialized: false,
            started: false,
            done: false,
            failed: None,
        }),
    }
}

impl<P: Postings> Merge<P> {
    fn note_failure(&mut self, i: usize) {
        if self.failed.is_none() && self.its[i].err().is_some() {
            self.failed = Some(i);
        }
    }

    fn settle(&mut self) -> bool {
        if self.failed.is_some() {
            self.done = true;
            return false;
        }
        match self.heap.peek() {
            Some(&Reverse((v, _))) => {
                self.cur = v;
                self.started = true;
                true
            }
            None => {
                self.done = true;
                false
            }
        }
    }
}

impl<P: Postings> Postings for Merge<P> {
    fn next(&mut self) -> bool {
        if self.done {
            return false;
        }
        if !self.initialized {
            self.initialized = true;
            for i in 0..self.its.len() {
                if self.its[i].next() {
                    self.heap.push(Reverse((self.its[i].at(), i)));
                } else {
                    self.note_failure(i);
                }
            }
            return self.settle();
        }
        // Advance every cursor sitting on the current reference, replacing the heap's top in
        // place (one sift-down instead of a pop and a push).
        while let Some(mut top) = self.heap.peek_mut() {
            let Reverse((v, i)) = *top;
            if v != self.cur {
                break;
            }
            if self.its[i].next() {
                *top = Reverse((self.its[i].at(), i));
            } else {
                PeekMut::pop(top);
                if self.failed.is_none() && self.its[i].err().is_some() {
                    self.failed = Some(i);
                }
            }
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
            self.initialized = true;
            for i in 0..self.its.len() {
                if self.its[i].seek(target) {
                    self.heap.push(Reverse((self.its[i].at(), i)));
                } else {
                    self.note_failure(i);
                }
            }
            return self.settle();
        }
        while let Some(mut top) = self.heap.peek_mut() {
            let Reverse((v, i)) = *top;
            if v >= target {
                break;
            }
            if self.its[i].seek(target) {
                *top = Reverse((self.its[i].at(), i));
            } else {
                PeekMut::pop(top);
                if self.failed.is_none() && self.its[i].err().is_some() {
                    self.failed = Some(i);
                }
            }
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
