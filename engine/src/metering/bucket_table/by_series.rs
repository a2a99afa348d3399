//! A map keyed by series ID. The registry hands IDs out densely from 0, so a vector indexed by
//! ID does a hash map's work here with no hashing per reading, and grows by copying one word per
//! ID instead of rehashing every entry (rehashing the map of per-port state was a third of the
//! commit observer's time while a million new series arrived).

/// Values by series ID; memory is one `Option<T>` per ID up to the highest inserted.
#[derive(Debug)]
pub(super) struct BySeries<T> {
    slots: Vec<Option<T>>,
    len: usize,
}

impl<T> Default for BySeries<T> {
    fn default() -> Self {
        Self { slots: Vec::new(), len: 0 }
    }
}

impl<T> BySeries<T> {
    /// The value of `id`.
    pub(super) fn get(&self, id: &u32) -> Option<&T> {
        self.slots.get(*id as usize)?.as_ref()
    }

    /// The value of `id`, mutably.
    pub(super) fn get_mut(&mut self, id: &u32) -> Option<&mut T> {
        self.slots.get_mut(*id as usize)?.as_mut()
    }

    /// Whether `id` has a value.
    pub(super) fn contains_key(&self, id: &u32) -> bool {
        self.get(id).is_some()
    }

    /// The slot of `id`, the vector grown to hold it.
    fn slot(&mut self, id: u32) -> &mut Option<T> {
        let i = id as usize;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        &mut self.slots[i]
    }

    /// Sets the value of `id`; returns the one it replaced.
    pub(super) fn insert(&mut self, id: u32, value: T) -> Option<T> {
        let old = self.slot(id).replace(value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value of `id`, made by `make` when it has none.
    pub(super) fn get_or_insert_with(&mut self, id: u32, make: impl FnOnce() -> T) -> &mut T {
        if self.get(&id).is_none() {
            self.len += 1;
        }
        self.slot(id).get_or_insert_with(make)
    }

    /// IDs with a value.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Every `(id, value)`, by ID.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, v)| Some((i as u32, v.as_ref()?)))
    }

    /// Every value, by ID.
    pub(super) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map_of_ids() {
        let mut m = BySeries::default();
        assert_eq!((m.get(&0), m.len()), (None, 0));
        assert_eq!(m.insert(5, "five"), None);
        assert_eq!(m.insert(5, "FIVE"), Some("five"));
        *m.get_or_insert_with(2, || "two") = "Two";
        assert_eq!(*m.get_or_insert_with(2, || "never"), "Two");
        assert_eq!((m.len(), m.get(&5), m.get(&3), m.get(&99)), (2, Some(&"FIVE"), None, None));
        assert!(m.contains_key(&2) && !m.contains_key(&4));
        if let Some(v) = m.get_mut(&5) {
            *v = "5";
        }
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(2, &"Two"), (5, &"5")]);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), vec!["Two", "5"]);
    }
}
