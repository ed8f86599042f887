//! Service names as small numbers, so the horizons' tables key on four bytes, not strings.

use std::collections::HashMap;

use crate::miner::FastBuild;

/// The services the stream has named, bounded: past the limit a new name gets no number and
/// its lines take part in no per-service test (they still count in every total). Lines that
/// named no service are no service's either.
#[derive(Debug)]
pub struct Services {
    numbers: HashMap<String, u32, FastBuild>,
    names: Vec<String>,
    limit: usize,
}

impl Services {
    /// Services numbered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn new(limit: usize) -> Self {
        Services {
            numbers: HashMap::default(),
            names: Vec::new(),
            limit,
        }
    }

    /// The number of `name`, given one on first sight while there is room.
    pub fn intern(&mut self, name: &str) -> Option<u32> {
        if name == crate::condense::UNKNOWN_SERVICE {
            return None;
        }
        if let Some(&n) = self.numbers.get(name) {
            return Some(n);
        }
        if self.names.len() >= self.limit {
            return None;
        }
        let n = self.names.len() as u32;
        self.numbers.insert(name.to_owned(), n);
        self.names.push(name.to_owned());
        Some(n)
    }

    /// The number of a name already seen.
    pub fn number(&self, name: &str) -> Option<u32> {
        self.numbers.get(name).copied()
    }

    pub fn name(&self, number: u32) -> &str {
        self.names.get(number as usize).map_or("", String::as_str)
    }
}
