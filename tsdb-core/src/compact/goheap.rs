//! A binary min-heap whose sift-up and sift-down steps are those of Go's `container/heap`.
//!
//! Compaction merges chunks and samples through heaps; when two entries compare equal, which
//! one comes out first depends on the heap's exact shape. Following Go's algorithm step for
//! step makes our choice among equal entries the one Prometheus makes.

/// A heap of `T` ordered by a caller-supplied `less`.
#[derive(Debug, Clone, Default)]
pub(crate) struct GoHeap<T> {
    items: Vec<T>,
}

impl<T> GoHeap<T> {
    pub(crate) fn new() -> Self {
        GoHeap { items: Vec::new() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The smallest entry.
    pub(crate) fn peek(&self) -> Option<&T> {
        self.items.first()
    }

    pub(crate) fn push(&mut self, x: T, less: impl Fn(&T, &T) -> bool) {
        self.items.push(x);
        let mut j = self.items.len() - 1;
        while j > 0 {
            let i = (j - 1) / 2;
            if !less(&self.items[j], &self.items[i]) {
                break;
            }
            self.items.swap(i, j);
            j = i;
        }
    }

    pub(crate) fn pop(&mut self, less: impl Fn(&T, &T) -> bool) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        let n = self.items.len() - 1;
        self.items.swap(0, n);
        // Sift down within the first n entries.
        let mut i = 0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && less(&self.items[j2], &self.items[j1]) {
                j = j2;
            }
            if !less(&self.items[j], &self.items[i]) {
                break;
            }
            self.items.swap(i, j);
            i = j;
        }
        self.items.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_order() {
        let mut h = GoHeap::new();
        for x in [5, 3, 9, 1, 4, 1, 8] {
            h.push(x, |a: &i32, b: &i32| a < b);
        }
        let mut out = Vec::new();
        while let Some(x) = h.pop(|a, b| a < b) {
            out.push(x);
        }
        assert_eq!(out, [1, 1, 3, 4, 5, 8, 9]);
    }

    #[test]
    fn ties_come_out_as_in_go() {
        // Go: push (1,a),(1,b),(1,c),(0,d); the pops give d, b, c, a
        // (what Go 1.27's container/heap prints for the same pushes).
        let less = |x: &(i32, char), y: &(i32, char)| x.0 < y.0;
        let mut h = GoHeap::new();
        for x in [(1, 'a'), (1, 'b'), (1, 'c'), (0, 'd')] {
            h.push(x, less);
        }
        let order: Vec<char> = std::iter::from_fn(|| h.pop(less)).map(|x| x.1).collect();
        assert_eq!(order, ['d', 'b', 'c', 'a']);
    }
}
