//! A series' label set: sorted by name, `__name__` included, as Prometheus keeps it.

use std::fmt;
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A sorted set of `(name, value)` pairs. Empty values are never stored: in Prometheus a
/// label with an empty value is the same as a missing label. Shared on clone (every
/// selected sample carries its series' labels), copied on change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Arc<Vec<(String, String)>>);

impl Labels {
    /// The empty label set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from pairs in any order; a later pair wins over an earlier one with
    /// the same name, and pairs with an empty value are left out.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut out = Self::new();
        for (k, v) in pairs {
            out.set(k.into(), v.into());
        }
        out
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| self.0[i].1.as_str())
    }

    /// The metric name (`__name__`), if set.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// This set with `name` set to `value` (removed when `value` is empty).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(name.into(), value.into());
        self
    }

    /// This set without the given names.
    pub fn without(&self, names: &[&str]) -> Self {
        if !self.0.iter().any(|(k, _)| names.contains(&k.as_str())) {
            return self.clone();
        }
        Self(Arc::new(
            self.0
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .cloned()
                .collect(),
        ))
    }

    /// Only the given names of this set.
    pub fn keep_only(&self, names: &[&str]) -> Self {
        Self(Arc::new(
            self.0
                .iter()
                .filter(|(k, _)| names.contains(&k.as_str()))
                .cloned()
                .collect(),
        ))
    }

    /// This set without `__name__`, as functions and arithmetic return it.
    pub fn without_name(&self) -> Self {
        self.without(&[METRIC_NAME])
    }

    /// Sets `name` in place (removes it when `value` is empty).
    pub fn set(&mut self, name: String, value: String) {
        match self.position(&name) {
            Ok(i) if value.is_empty() => {
                Arc::make_mut(&mut self.0).remove(i);
            }
            Ok(i) if self.0[i].1 == value => {}
            Ok(i) => Arc::make_mut(&mut self.0)[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => Arc::make_mut(&mut self.0).insert(i, (name, value)),
        }
    }

    /// Removes `name` in place.
    pub fn remove(&mut self, name: &str) {
        if let Ok(i) = self.position(name) {
            Arc::make_mut(&mut self.0).remove(i);
        }
    }

    /// The pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many labels are set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no label is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Heap bytes held by this set (the shared block, the pair vector, names and values),
    /// for the store's memory accounting.
    pub fn heap_bytes(&self) -> usize {
        2 * std::mem::size_of::<usize>()
            + std::mem::size_of::<Vec<(String, String)>>()
            + self.0.capacity() * std::mem::size_of::<(String, String)>()
            + self
                .0
                .iter()
                .map(|(k, v)| k.capacity() + v.capacity())
                .sum::<usize>()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }
}

impl fmt::Display for Labels {
    /// Prometheus's notation: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (k, v) in self.iter().filter(|(k, _)| *k != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}
