//! Models kept in the order of a key each, refiled only when a model's key
//! changes: EDF's backlog by the deadline of each model's next request,
//! fair queuing's by counter. (Shepherd's pending counts, small integers
//! that change at nearly every event, are bucketed instead: `counts.rs`.)

use crate::state::ModelId;
use std::collections::BTreeSet;

/// Models ordered by (key, model), and each one's key (see the module's doc).
#[derive(Debug)]
pub struct Keyed<K> {
    order: BTreeSet<(K, ModelId)>,
    filed: Vec<Option<K>>,
}

impl<K> Default for Keyed<K> {
    fn default() -> Self {
        Keyed {
            order: BTreeSet::new(),
            filed: Vec::new(),
        }
    }
}

impl<K: Ord + Copy> Keyed<K> {
    /// Files `m` under `key`, or takes it out of the order (`None`).
    pub fn file(&mut self, m: ModelId, key: Option<K>) {
        if self.filed.len() <= m {
            self.filed.resize(m + 1, None);
        }
        if self.filed[m] != key {
            if let Some(k) = self.filed[m] {
                self.order.remove(&(k, m));
            }
            if let Some(k) = key {
                self.order.insert((k, m));
            }
            self.filed[m] = key;
        }
    }

    /// `m`'s key, if it is filed.
    pub fn key(&self, m: ModelId) -> Option<K> {
        self.filed.get(m).copied().flatten()
    }

    /// The filed models by (key, model).
    pub fn order(&self) -> &BTreeSet<(K, ModelId)> {
        &self.order
    }

    /// The filed models, in that order.
    pub fn models(&self) -> impl Iterator<Item = ModelId> + '_ {
        self.order.iter().map(|e| e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::Keyed;

    #[test]
    fn refiling_moves_a_model_and_none_takes_it_out() {
        let mut k = Keyed::default();
        k.file(3, Some(5));
        k.file(1, Some(5));
        k.file(0, Some(9));
        assert_eq!(k.models().collect::<Vec<_>>(), [1, 3, 0]);
        k.file(0, Some(2));
        k.file(3, None);
        assert_eq!(
            k.order().iter().copied().collect::<Vec<_>>(),
            [(2, 0), (5, 1)]
        );
        assert_eq!((k.key(0), k.key(3), k.key(7)), (Some(2), None, None));
    }
}
