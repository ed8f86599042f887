//! The clusters, in slots, ordered by last use so the least recently used one can be evicted in
//! constant time.

use std::collections::HashMap;

use super::TemplateId;
use super::cluster::Cluster;
use super::token::FastBuild;
use super::tree::Slot;

const NONE: Slot = Slot::MAX;

#[derive(Debug)]
struct Entry {
    cluster: Option<Cluster>,
    /// Neighbours in the use order: `prev` was used more recently, `next` less.
    prev: Slot,
    next: Slot,
    /// When it was last used, on [`Clusters::clock`].
    used: u64,
}

/// A slab of clusters threaded on a doubly linked list from most to least recently used.
#[derive(Debug)]
pub struct Clusters {
    entries: Vec<Entry>,
    free: Vec<Slot>,
    newest: Slot,
    oldest: Slot,
    by_id: HashMap<TemplateId, Slot, FastBuild>,
    /// Uses so far: orders the clusters of one leaf by their last use.
    clock: u64,
}

impl Clusters {
    pub fn new() -> Self {
        Clusters {
            entries: Vec::new(),
            free: Vec::new(),
            newest: NONE,
            oldest: NONE,
            by_id: HashMap::default(),
            clock: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Stores `cluster` as the most recently used one.
    pub fn insert(&mut self, cluster: Cluster) -> Slot {
        let id = cluster.id;
        let entry = Entry {
            cluster: Some(cluster),
            prev: NONE,
            next: NONE,
            used: 0,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = entry;
                slot
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as Slot
            }
        };
        self.link_newest(slot);
        self.by_id.insert(id, slot);
        slot
    }

    pub fn get(&self, slot: Slot) -> Option<&Cluster> {
        self.entries.get(slot as usize)?.cluster.as_ref()
    }

    pub fn by_id(&self, id: TemplateId) -> Option<&Cluster> {
        self.get(*self.by_id.get(&id)?)
    }

    /// Marks the cluster in `slot` as just used and returns it. `slot` must hold a cluster:
    /// the tree lists only slots in use.
    pub fn touch(&mut self, slot: Slot) -> &mut Cluster {
        if self.newest != slot {
            self.unlink(slot);
            self.link_newest(slot);
        }
        self.entries[slot as usize]
            .cluster
            .as_mut()
            .expect("the tree lists only slots that hold a cluster")
    }

    /// Of `slots`, the one least recently used.
    pub fn least_recent(&self, slots: impl Iterator<Item = Slot>) -> Option<Slot> {
        slots
            .filter(|&slot| self.get(slot).is_some())
            .min_by_key(|&slot| self.entries[slot as usize].used)
    }

    /// The slot of the least recently used cluster.
    pub fn oldest(&self) -> Option<Slot> {
        self.get(self.oldest).map(|_| self.oldest)
    }

    /// Removes and returns the cluster in `slot`.
    pub fn remove(&mut self, slot: Slot) -> Option<Cluster> {
        let cluster = self.entries.get_mut(slot as usize)?.cluster.take()?;
        self.unlink(slot);
        self.by_id.remove(&cluster.id);
        self.free.push(slot);
        Some(cluster)
    }

    /// Every cluster, most recently used first.
    pub fn iter(&self) -> impl Iterator<Item = &Cluster> {
        let mut slot = self.newest;
        std::iter::from_fn(move || {
            let entry = self.entries.get(slot as usize)?;
            slot = entry.next;
            entry.cluster.as_ref()
        })
    }

    fn link_newest(&mut self, slot: Slot) {
        let old_newest = self.newest;
        self.clock += 1;
        let entry = &mut self.entries[slot as usize];
        entry.used = self.clock;
        entry.prev = NONE;
        entry.next = old_newest;
        match self.entries.get_mut(old_newest as usize) {
            Some(old) => old.prev = slot,
            None => self.oldest = slot,
        }
        self.newest = slot;
    }

    fn unlink(&mut self, slot: Slot) {
        let Entry { prev, next, .. } = self.entries[slot as usize];
        match self.entries.get_mut(prev as usize) {
            Some(entry) => entry.next = next,
            None => self.newest = next,
        }
        match self.entries.get_mut(next as usize) {
            Some(entry) => entry.prev = prev,
            None => self.oldest = prev,
        }
    }
}
