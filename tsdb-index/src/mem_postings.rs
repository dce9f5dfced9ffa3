//! An in-memory postings index, as a head block keeps it: label name -> value -> sorted series
//! references, plus the all-postings list.

use std::collections::{HashMap, HashSet};

use crate::error::IndexError;
use crate::labels::Labels;
use crate::postings::{self, BoxPostings, ListPostings, SeriesRef};
use crate::postings_for_matchers::{IndexReader, ALL_POSTINGS_KEY};

/// Label name -> label value -> sorted series references.
#[derive(Debug, Default, Clone)]
pub struct MemPostings {
    m: HashMap<String, HashMap<String, Vec<SeriesRef>>>,
}

impl MemPostings {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers series `id` with its labels (and in the all-postings list). References are
    /// normally added in increasing order; an older one is inserted in place.
    pub fn add(&mut self, id: SeriesRef, labels: &Labels) {
        for l in labels.iter() {
            self.add_for(id, l.name, l.value);
        }
        let (n, v) = ALL_POSTINGS_KEY;
        self.add_for(id, n, v);
    }

    fn add_for(&mut self, id: SeriesRef, name: &str, value: &str) {
        let values = match self.m.get_mut(name) {
            Some(v) => v,
            None => self.m.entry(name.to_string()).or_default(),
        };
        let list = match values.get_mut(value) {
            Some(l) => l,
            None => values.entry(value.to_string()).or_default(),
        };
        match list.last() {
            Some(&last) if last >= id => {
                if let Err(i) = list.binary_search(&id) {
                    list.insert(i, id);
                }
            }
            _ => list.push(id),
        }
    }

    /// Removes the series in `deleted`, which carry (some of) the labels in `affected`.
    pub fn delete<'l>(
        &mut self,
        deleted: &HashSet<SeriesRef>,
        affected: impl IntoIterator<Item = &'l Labels>,
    ) {
        if deleted.is_empty() {
            return;
        }
        let mut pairs: HashSet<(&str, &str)> = HashSet::new();
        for ls in affected {
            for l in ls.iter() {
                pairs.insert((l.name, l.value));
            }
        }
        pairs.insert(ALL_POSTINGS_KEY);
        for (name, value) in pairs {
            let Some(values) = self.m.get_mut(name) else {
                continue;
            };
            if let Some(list) = values.get_mut(value) {
                list.retain(|id| !deleted.contains(id));
                if list.is_empty() {
                    values.remove(value);
                }
            }
            if values.is_empty() {
                self.m.remove(name);
            }
        }
    }

    /// All label names (the all-postings key excluded), sorted.
    pub fn label_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .m
            .keys()
            .map(|k| k.as_str())
            .filter(|k| !k.is_empty())
            .collect();
        v.sort_unstable();
        v
    }

    /// The sorted list of `name` = `value`, if any.
    pub fn get(&self, name: &str, value: &str) -> Option<&[SeriesRef]> {
        self.m.get(name)?.get(value).map(|v| v.as_slice())
    }

    /// Number of series in the all-postings list.
    pub fn num_series(&self) -> usize {
        let (n, v) = ALL_POSTINGS_KEY;
        self.get(n, v).map_or(0, |l| l.len())
    }
}

impl IndexReader for MemPostings {
    fn postings<'a>(&'a self, name: &str, values: &[&str]) -> Result<BoxPostings<'a>, IndexError> {
        let Some(m) = self.m.get(name) else {
            return Ok(postings::empty());
        };
        let mut its: Vec<ListPostings<'a>> = Vec::with_capacity(values.len());
        let mut seen: HashSet<&str> = HashSet::with_capacity(values.len());
        for v in values {
            if let Some(l) = m.get(*v) {
                if seen.insert(v) {
                    its.push(ListPostings::new(l));
                }
            }
        }
        Ok(postings::merge_lists(its))
    }

    fn postings_for_label_matching<'a>(
        &'a self,
        name: &str,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<BoxPostings<'a>, IndexError> {
        let Some(m) = self.m.get(name) else {
            return Ok(postings::empty());
        };
        let its: Vec<ListPostings<'a>> = m
            .iter()
            .filter(|(v, _)| accept(v))
            .map(|(_, l)| ListPostings::new(l))
            .collect();
        Ok(postings::merge_lists(its))
    }

    fn postings_for_all_label_values<'a>(
        &'a self,
        name: &str,
    ) -> Result<BoxPostings<'a>, IndexError> {
        self.postings_for_label_matching(name, &|_| true)
    }

    fn label_values<'a>(&'a self, name: &str) -> Result<Vec<&'a str>, IndexError> {
        let mut v: Vec<&str> = self
            .m
            .get(name)
            .map(|m| m.keys().map(|k| k.as_str()).collect())
            .unwrap_or_default();
        v.sort_unstable();
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postings::collect;

    #[test]
    fn add_out_of_order_and_delete() {
        let mut p = MemPostings::new();
        let a = Labels::from_pairs([("job", "a")]);
        let b = Labels::from_pairs([("job", "b"), ("x", "1")]);
        p.add(5, &a);
        p.add(3, &a);
        p.add(4, &b);
        assert_eq!(p.get("job", "a"), Some(&[3, 5][..]));
        assert_eq!(p.num_series(), 3);
        assert_eq!(p.label_names(), vec!["job", "x"]);
        assert_eq!(
            collect(p.postings("job", &["a", "b", "a"]).unwrap()).unwrap(),
            vec![3, 4, 5]
        );
        p.delete(&HashSet::from([4]), [&b]);
        assert_eq!(p.label_names(), vec!["job"]);
        assert_eq!(p.label_values("job").unwrap(), vec!["a"]);
        assert_eq!(p.num_series(), 2);
    }
}
