//! The route table: every route key with its paths, built so that a
//! million routes take little more than the routes themselves, at rest
//! and while the table grows.
//!
//! A hash map of (key, paths) slots is a power of two of slots, 7/8 of
//! them usable: at rest it holds up to twice the slots it needs, and
//! growing copies every slot into a map twice as large, so for a moment
//! it takes three times what its routes need (a million VPN routes:
//! 49 octets a slot, 98 MiB at rest, 147 MiB while it doubles).
//!
//! So the entries live apart from their index:
//!
//! * `chunks`: the (key, value) pairs, densely, in chunks of [`CHUNK`].
//!   Growing adds a chunk; nothing is copied. A removal moves the last
//!   entry into the hole, so the chunks stay dense and an emptied chunk
//!   is freed.
//! * `index`: a hash table of 4-octet positions into the chunks, hashed
//!   by key. It still doubles, but at 5 octets a slot (position and
//!   control byte) instead of 49: 10 MiB for a million routes.
//!
//! Iteration walks the chunks in memory order, which is also what makes
//! full-table walks (a peer's initial table, a peer going down) fast.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// Entries per chunk: large enough that the chunk list stays short, small
/// enough that a half-used last chunk does not matter (for route keys and
/// paths, 48 octets an entry: 96 KiB a chunk).
pub const CHUNK: usize = 2048;

/// Indexes with room for fewer entries than this are never shrunk.
const MIN_SHRINK: usize = 4096;

/// A map from keys to values: dense chunked storage with a hash index.
pub struct Table<K, V> {
    chunks: Vec<Vec<(K, V)>>,
    len: usize,
    index: HashTable<u32>,
    /// An emptied chunk kept for the next growth, so that a table going
    /// back and forth across a chunk boundary does not allocate each time.
    spare: Option<Vec<(K, V)>>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            chunks: Vec::new(),
            len: 0,
            index: HashTable::new(),
            spare: None,
        }
    }
}

fn hash<K: Hash>(key: &K) -> u64 {
    FxBuildHasher.hash_one(key)
}

fn at<K, V>(chunks: &[Vec<(K, V)>], pos: u32) -> &(K, V) {
    let pos = pos as usize;
    &chunks[pos / CHUNK][pos % CHUNK]
}

fn at_mut<K, V>(chunks: &mut [Vec<(K, V)>], pos: u32) -> &mut (K, V) {
    let pos = pos as usize;
    &mut chunks[pos / CHUNK][pos % CHUNK]
}

/// A key's place in the table, found or not (see [`Table::slot`]).
pub enum Slot<'a, K, V> {
    Occupied(&'a mut V),
    Vacant(Vacant<'a, K, V>),
}

/// Where an absent key goes.
pub struct Vacant<'a, K, V> {
    table: &'a mut Table<K, V>,
    key: K,
    hash: u64,
}

impl<'a, K: Hash + Eq, V> Vacant<'a, K, V> {
    pub fn insert(self, value: V) -> &'a mut V {
        let Vacant { table, key, hash } = self;
        table.push(hash, key, value)
    }
}

impl<K: Hash + Eq, V> Table<K, V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn position(&self, hash: u64, key: &K) -> Option<u32> {
        let chunks = &self.chunks;
        self.index.find(hash, |&p| at(chunks, p).0 == *key).copied()
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        let p = self.position(hash(key), key)?;
        Some(&at(&self.chunks, p).1)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let p = self.position(hash(key), key)?;
        Some(&mut at_mut(&mut self.chunks, p).1)
    }

    /// The value of `key`, or where it would go.
    pub fn slot(&mut self, key: K) -> Slot<'_, K, V> {
        self.positioned_slot(key).1
    }

    /// The value of `key`, or where it would go, with its position: where
    /// it is, or where inserting it puts it.
    pub fn positioned_slot(&mut self, key: K) -> (u32, Slot<'_, K, V>) {
        let h = hash(&key);
        match self.position(h, &key) {
            Some(p) => (p, Slot::Occupied(&mut at_mut(&mut self.chunks, p).1)),
            None => (
                self.len as u32,
                Slot::Vacant(Vacant {
                    table: self,
                    key,
                    hash: h,
                }),
            ),
        }
    }

    /// The entry at position `pos` (positions are `0..len()`, in storage
    /// order; a removal moves the last entry into the hole it leaves).
    pub fn get_at(&self, pos: u32) -> Option<(&K, &V)> {
        ((pos as usize) < self.len).then(|| {
            let (k, v) = at(&self.chunks, pos);
            (k, v)
        })
    }

    /// The entry at position `pos`, its value mutable.
    pub fn get_at_mut(&mut self, pos: u32) -> Option<(&K, &mut V)> {
        if (pos as usize) < self.len {
            let (k, v) = at_mut(&mut self.chunks, pos);
            Some((&*k, v))
        } else {
            None
        }
    }

    /// Sets the value of `key`, returning the one it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.slot(key) {
            Slot::Occupied(v) => Some(std::mem::replace(v, value)),
            Slot::Vacant(s) => {
                s.insert(value);
                None
            }
        }
    }

    fn push(&mut self, hash_of_key: u64, key: K, value: V) -> &mut V {
        let pos = self.len;
        assert!(pos < u32::MAX as usize, "route table full");
        if pos / CHUNK == self.chunks.len() {
            let chunk = self
                .spare
                .take()
                .unwrap_or_else(|| Vec::with_capacity(CHUNK));
            self.chunks.push(chunk);
        }
        let chunk = self.chunks.last_mut().expect("a chunk with room");
        chunk.push((key, value));
        self.len += 1;
        let chunks = &self.chunks;
        self.index
            .insert_unique(hash_of_key, pos as u32, |&p| hash(&at(chunks, p).0));
        &mut at_mut(&mut self.chunks, pos as u32).1
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.remove_moving(key).map(|(v, _)| v)
    }

    /// Removes `key`, returning its value and, when the last entry was
    /// moved into the hole, the position it now has.
    pub fn remove_moving(&mut self, key: &K) -> Option<(V, Option<u32>)> {
        let chunks = &self.chunks;
        let entry = self
            .index
            .find_entry(hash(key), |&p| at(chunks, p).0 == *key)
            .ok()?;
        let (pos, _) = entry.remove();
        let last = (self.len - 1) as u32;
        if pos != last {
            // The last entry moves into the hole: its index says so.
            let h = hash(&at(&self.chunks, last).0);
            let moved = self
                .index
                .find_mut(h, |&p| p == last)
                .expect("every entry is indexed");
            *moved = pos;
        }
        let tail = self
            .chunks
            .last_mut()
            .expect("a non-empty table has chunks");
        let last_entry = tail.pop().expect("the last chunk is never empty");
        if tail.is_empty() {
            self.spare = self.chunks.pop();
        }
        self.len -= 1;
        if pos == last {
            return Some((last_entry.1, None));
        }
        let (_, value) = std::mem::replace(at_mut(&mut self.chunks, pos), last_entry);
        Some((value, Some(pos)))
    }

    /// Every entry, in storage order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.chunks.iter().flatten().map(|(k, v)| (k, v))
    }

    /// The keys, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Every entry, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> + '_ {
        self.chunks.iter_mut().flatten().map(|(k, v)| (&*k, v))
    }

    /// How many entries the index is allocated for (removals do not
    /// lower it; [`Table::shrink_if_sparse`] does).
    pub fn capacity(&self) -> usize {
        // The index's rule: 7/8 of its slots, all but one of a small one.
        let buckets = self.index.num_buckets();
        if buckets < 8 {
            buckets.saturating_sub(1)
        } else {
            buckets / 8 * 7
        }
    }

    /// A table three quarters empty (a peer that held most routes went
    /// away) gives the index's memory back, keeping room to double again.
    pub fn shrink_if_sparse(&mut self) {
        let room = self.capacity();
        if room > MIN_SHRINK && self.len < room / 4 {
            let chunks = &self.chunks;
            self.index
                .shrink_to(self.len * 2, |&p| hash(&at(chunks, p).0));
            self.chunks.shrink_to_fit();
            self.spare = None;
        }
    }

    /// Heap bytes the table holds: its chunks (whole, as allocated) and
    /// its index.
    pub fn heap_bytes(&self) -> usize {
        let chunk = CHUNK * std::mem::size_of::<(K, V)>();
        let chunks = self.chunks.len() + usize::from(self.spare.is_some());
        chunks * chunk
            + self.chunks.capacity() * std::mem::size_of::<Vec<(K, V)>>()
            + self.index.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Shrink,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct keys, so that inserts hit present keys and removals
        // hit absent ones; enough ops to cross chunk boundaries.
        prop_oneof![
            6 => (0u16..3000, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            4 => (0u16..3000).prop_map(Op::Remove),
            1 => Just(Op::Shrink),
        ]
    }

    fn same<
        K: Hash + Eq + Clone + std::fmt::Debug + Ord,
        V: PartialEq + std::fmt::Debug + Clone,
    >(
        t: &Table<K, V>,
        model: &HashMap<K, V>,
    ) {
        assert_eq!(t.len(), model.len());
        let mut seen: Vec<(K, V)> = t.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want: Vec<(K, V)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(seen, want);
        for (k, v) in model {
            assert_eq!(t.get(k), Some(v));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The table behaves as a map: every operation's answer and the
        /// contents after it match those of a HashMap.
        #[test]
        fn table_matches_a_map(ops in proptest::collection::vec(op(), 1..6000)) {
            let mut t: Table<u16, u32> = Table::default();
            let mut model: HashMap<u16, u32> = HashMap::new();
            for op in &ops {
                match *op {
                    Op::Insert(k, v) => prop_assert_eq!(t.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => {
                        // The last entry moves into the hole, and says where.
                        let last = t.len().checked_sub(1).and_then(|l| t.get_at(l as u32)).map(|(k, _)| *k);
                        let removed = t.remove_moving(&k);
                        if let Some((_, Some(pos))) = removed {
                            prop_assert_eq!(t.get_at(pos).map(|(k, _)| *k), last);
                            prop_assert_ne!(last, Some(k));
                        }
                        prop_assert_eq!(removed.map(|(v, _)| v), model.remove(&k));
                    }
                    Op::Shrink => t.shrink_if_sparse(),
                }
                prop_assert_eq!(t.len(), model.len());
            }
            same(&t, &model);
            // Positions are storage order, 0..len.
            for (i, (k, v)) in t.iter().enumerate() {
                prop_assert_eq!(t.get_at(i as u32), Some((k, v)));
            }
            prop_assert!(t.get_at(t.len() as u32).is_none());
        }
    }

    #[test]
    fn slot_finds_present_keys_and_places_absent_ones() {
        let mut t: Table<String, Vec<u32>> = Table::default();
        for round in 0..2 {
            for i in 0..5000u32 {
                match t.slot(format!("k{i}")) {
                    Slot::Occupied(v) => v.push(round),
                    Slot::Vacant(s) => s.insert(vec![round]).push(99),
                }
            }
        }
        assert_eq!(t.len(), 5000);
        assert_eq!(t.get(&"k4999".to_string()), Some(&vec![0, 99, 1]));
        for (_, v) in t.iter_mut() {
            v.clear();
        }
        assert!(t.iter().all(|(_, v)| v.is_empty()));
    }

    #[test]
    fn emptying_the_table_frees_its_chunks_and_index() {
        let mut t: Table<u32, u64> = Table::default();
        for i in 0..(10 * CHUNK as u32) {
            t.insert(i, u64::from(i));
        }
        let full = t.heap_bytes();
        assert!(full >= 10 * CHUNK * 16);
        for i in 0..(10 * CHUNK as u32) {
            assert_eq!(t.remove(&i), Some(u64::from(i)));
            t.shrink_if_sparse();
        }
        assert!(t.is_empty());
        assert_eq!(t.iter().count(), 0);
        assert!(t.heap_bytes() < full / 5, "{} of {full}", t.heap_bytes());
        // And it fills again.
        t.insert(7, 7);
        assert_eq!(t.get(&7), Some(&7));
    }
}
