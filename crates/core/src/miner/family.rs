//! Families of clusters: templates that differ only in a few words that take few values.
//!
//! Drain merges two messages whose tokens are similar enough and turns the differing positions
//! into wildcards. That is right for a user name and wrong for `user=root` next to
//! `user=guest`, or `stored as bytes` next to `stored as values`: a position that takes a handful
//! of values, each often, is wording, while a variable keeps taking new values. So when a message
//! matches a cluster but for some words, the miner records those words per position in the
//! cluster's family. While every differing position has taken at most
//! [`Families::max_values`] values, the message starts a sibling cluster with its own words;
//! once a position takes more, it is a variable: the cluster absorbs the message and its
//! siblings that differ only there are merged into it (the merge step of the Brain and Logram
//! parsers, done online).

use std::collections::HashMap;

use super::token::{FastBuild, WordHash};
use super::tree::Slot;

/// A position where a message differs from a template's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    pub position: u32,
    pub template: WordHash,
    /// The message's word, or `None` when the message holds a masked value there: proof that
    /// the position is a variable.
    pub message: Option<WordHash>,
}

/// What to do with a message that differs from its best cluster in some words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The words are still few per position: start a sibling cluster.
    Split,
    /// A position has taken too many values: it is a variable.
    Generalize,
}

/// The words seen at one position of a family's templates.
#[derive(Debug)]
struct Position {
    index: u32,
    /// Distinct words, at most `max_values + 1` before the position saturates.
    values: Vec<WordHash>,
    saturated: bool,
}

#[derive(Debug, Default)]
struct Family {
    members: Vec<Slot>,
    positions: Vec<Position>,
}

/// All families, by family id (the id number of the family's first cluster).
#[derive(Debug)]
pub struct Families {
    map: HashMap<u32, Family, FastBuild>,
    /// Values a position may take and still be wording.
    max_values: usize,
}

impl Families {
    pub fn new(max_values: usize) -> Self {
        Families {
            map: HashMap::default(),
            max_values,
        }
    }

    /// Adds a cluster to a family, creating the family if needed.
    pub fn join(&mut self, family: u32, slot: Slot) {
        self.map.entry(family).or_default().members.push(slot);
    }

    /// Removes a cluster from its family; a family without members is dropped.
    pub fn leave(&mut self, family: u32, slot: Slot) {
        let Some(entry) = self.map.get_mut(&family) else {
            return;
        };
        entry.members.retain(|&member| member != slot);
        if entry.members.is_empty() {
            self.map.remove(&family);
        }
    }

    /// The clusters of a family.
    pub fn members(&self, family: u32) -> &[Slot] {
        self.map.get(&family).map_or(&[], |f| &f.members)
    }

    /// Records the words of `differences` and decides: a split while every position has taken
    /// at most `max_values` words, else a generalization.
    pub fn record(&mut self, family: u32, differences: &[Difference]) -> Verdict {
        let max_values = self.max_values;
        let entry = self.map.entry(family).or_default();
        let mut verdict = Verdict::Split;
        for difference in differences {
            let position = entry.position(difference.position);
            if position.saturated || !position.admit(difference, max_values) {
                position.saturated = true;
                position.values = Vec::new();
                verdict = Verdict::Generalize;
            }
        }
        verdict
    }
}

impl Family {
    fn position(&mut self, index: u32) -> &mut Position {
        let at = match self.positions.iter().position(|p| p.index == index) {
            Some(at) => at,
            None => {
                self.positions.push(Position {
                    index,
                    values: Vec::new(),
                    saturated: false,
                });
                self.positions.len() - 1
            }
        };
        &mut self.positions[at]
    }
}

impl Position {
    /// Adds both words; false once more than `max_values` distinct words have been seen, or
    /// for a masked value.
    fn admit(&mut self, difference: &Difference, max_values: usize) -> bool {
        let Some(message) = difference.message else {
            return false;
        };
        for word in [difference.template, message] {
            if !self.values.contains(&word) {
                self.values.push(word);
            }
        }
        self.values.len() <= max_values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn difference(position: u32, template: &str, message: &str) -> Difference {
        Difference {
            position,
            template: WordHash::of(template.as_bytes()),
            message: Some(WordHash::of(message.as_bytes())),
        }
    }

    #[test]
    fn few_values_split_and_many_generalize_for_good() {
        let mut families = Families::new(3);
        families.join(1, 0);
        assert_eq!(
            families.record(1, &[difference(4, "root", "guest")]),
            Verdict::Split
        );
        assert_eq!(
            families.record(1, &[difference(4, "root", "test")]),
            Verdict::Split
        );
        assert_eq!(
            families.record(1, &[difference(4, "guest", "test")]),
            Verdict::Split
        );
        assert_eq!(
            families.record(1, &[difference(2, "a", "b")]),
            Verdict::Split
        );
        assert_eq!(
            families.record(1, &[difference(4, "root", "admin")]),
            Verdict::Generalize
        );
        assert_eq!(
            families.record(1, &[difference(4, "root", "guest")]),
            Verdict::Generalize
        );
        assert_eq!(
            families.record(1, &[difference(2, "a", "b")]),
            Verdict::Split
        );
    }

    #[test]
    fn a_family_lives_while_it_has_members() {
        let mut families = Families::new(3);
        families.join(1, 0);
        families.join(1, 5);
        families.leave(1, 0);
        assert_eq!(families.members(1), &[5]);
        families.leave(1, 5);
        assert!(families.members(1).is_empty());
        assert!(families.map.is_empty());
    }
}
