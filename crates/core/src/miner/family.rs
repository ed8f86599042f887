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
//!
//! A value can also show itself before it has taken many values: the events of one session or
//! request carry the same user, host or file, so when two families split on the same pair of
//! words within a few messages of each other (`session opened for user news` after
//! `... for user cyrus`, then `session closed for user news`), the pair is a variable's values,
//! not wording of either event: both positions become variables at once. Wording belongs to
//! one event type, so two unrelated templates rarely swap the same two words at the same time;
//! when they do, it is a word of the stream's vocabulary (`opened`, `closed`, which other
//! templates hold as constants), while a user or host name first seen there is new to it. So
//! only a swap to a word no kept template holds as a constant can echo.

use std::collections::{HashMap, VecDeque};

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
    /// A position has taken too many values, or swapped the words another family swapped
    /// lately: it is a variable. `echo` is that other family's swap, to generalize too.
    Generalize { echo: Option<Swap> },
}

/// A pair of words a family split on: where, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swap {
    /// The two words, the smaller hash first, so that either order is the same swap.
    words: (WordHash, WordHash),
    pub family: u32,
    /// The cluster the message differed from, which holds one of the words.
    pub slot: Slot,
    pub position: u32,
    /// The message count when it was seen.
    at: u64,
    /// Whether the message's word was no template's constant then: new to the stream.
    fresh: bool,
}

/// Swaps remembered, most recent last: splits are rare, so a few cover a long stretch.
const RECENT_SWAPS: usize = 32;

/// How many messages apart two families' swaps may be and still be one value passing through
/// the events of one session; lines of one request are logged close together.
const ECHO_WITHIN: u64 = 16;

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
    recent: VecDeque<Swap>,
}

impl Families {
    pub fn new(max_values: usize) -> Self {
        Families {
            map: HashMap::default(),
            max_values,
            recent: VecDeque::with_capacity(RECENT_SWAPS),
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

    /// Records the words in which message number `at` differs from the cluster in `slot` and
    /// decides: a split while every position has taken at most `max_values` words and no
    /// other family swapped the same words within [`ECHO_WITHIN`] messages, else a
    /// generalization.
    pub fn record(
        &mut self,
        family: u32,
        slot: Slot,
        differences: &[Difference],
        at: u64,
        is_constant: impl Fn(WordHash) -> bool,
    ) -> Verdict {
        let max_values = self.max_values;
        let entry = self.map.entry(family).or_default();
        let mut saturated = false;
        for difference in differences {
            let position = entry.position(difference.position);
            if position.saturated || !position.admit(difference, max_values) {
                position.saturate();
                saturated = true;
            }
        }
        if saturated {
            return Verdict::Generalize { echo: None };
        }
        let swaps = differences.iter().filter_map(|difference| {
            let message = difference.message?;
            Some(Swap {
                words: ordered(difference.template, message),
                family,
                slot,
                position: difference.position,
                at,
                fresh: !is_constant(message),
            })
        });
        for swap in swaps {
            if let Some(echo) = self.echo_of(&swap) {
                self.saturate(family, swap.position);
                self.saturate(echo.family, echo.position);
                return Verdict::Generalize { echo: Some(echo) };
            }
            if self.recent.len() == RECENT_SWAPS {
                self.recent.pop_front();
            }
            self.recent.push_back(swap);
        }
        Verdict::Split
    }

    /// A recent swap of the same words by another family.
    fn echo_of(&self, swap: &Swap) -> Option<Swap> {
        self.recent
            .iter()
            .rev()
            .take_while(|seen| swap.at.saturating_sub(seen.at) <= ECHO_WITHIN)
            .find(|seen| seen.fresh && seen.words == swap.words && seen.family != swap.family)
            .copied()
    }

    fn saturate(&mut self, family: u32, position: u32) {
        if let Some(entry) = self.map.get_mut(&family) {
            entry.position(position).saturate();
        }
    }
}

fn ordered(a: WordHash, b: WordHash) -> (WordHash, WordHash) {
    if a <= b { (a, b) } else { (b, a) }
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
    /// Marks the position a variable for good; its words are no longer needed.
    fn saturate(&mut self) {
        self.saturated = true;
        self.values = Vec::new();
    }

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
            families.record(1, 0, &[difference(4, "root", "guest")], 0, NONE_CONSTANT),
            Verdict::Split
        );
        assert_eq!(
            families.record(1, 0, &[difference(4, "root", "test")], 0, NONE_CONSTANT),
            Verdict::Split
        );
        assert_eq!(
            families.record(1, 0, &[difference(4, "guest", "test")], 0, NONE_CONSTANT),
            Verdict::Split
        );
        assert_eq!(
            families.record(1, 0, &[difference(2, "a", "b")], 0, NONE_CONSTANT),
            Verdict::Split
        );
        assert_eq!(
            families.record(1, 0, &[difference(4, "root", "admin")], 0, NONE_CONSTANT),
            Verdict::Generalize { echo: None }
        );
        assert_eq!(
            families.record(1, 0, &[difference(4, "root", "guest")], 0, NONE_CONSTANT),
            Verdict::Generalize { echo: None }
        );
        assert_eq!(
            families.record(1, 0, &[difference(2, "a", "b")], 0, NONE_CONSTANT),
            Verdict::Split
        );
    }

    #[test]
    fn two_families_swapping_the_same_words_at_once_make_it_a_variable() {
        let mut families = Families::new(3);
        families.join(1, 0);
        families.join(2, 7);
        assert_eq!(
            families.record(1, 0, &[difference(4, "cyrus", "news")], 10, NONE_CONSTANT),
            Verdict::Split
        );
        let echo = families.record(2, 7, &[difference(3, "news", "cyrus")], 11, NONE_CONSTANT);
        let Verdict::Generalize { echo: Some(echo) } = echo else {
            panic!("expected a generalization with the first family's swap, got {echo:?}");
        };
        assert_eq!((echo.family, echo.slot, echo.position), (1, 0, 4));
        // Both positions are variables for good now.
        assert_eq!(
            families.record(1, 0, &[difference(4, "cyrus", "test")], 30, NONE_CONSTANT),
            Verdict::Generalize { echo: None }
        );
        assert_eq!(
            families.record(2, 7, &[difference(3, "cyrus", "test")], 31, NONE_CONSTANT),
            Verdict::Generalize { echo: None }
        );
    }

    /// No word is any template's constant.
    const NONE_CONSTANT: fn(WordHash) -> bool = |_| false;

    #[test]
    fn a_word_other_templates_hold_as_wording_is_no_echo() {
        let mut families = Families::new(3);
        families.join(1, 0);
        families.join(2, 7);
        let closed = WordHash::of(b"closed");
        let is_constant = |word| word == closed;
        families.record(1, 0, &[difference(4, "opened", "closed")], 10, is_constant);
        assert_eq!(
            families.record(2, 7, &[difference(3, "opened", "closed")], 11, is_constant),
            Verdict::Split
        );
    }

    #[test]
    fn a_swap_long_ago_or_in_the_same_family_is_no_echo() {
        let mut families = Families::new(3);
        families.join(1, 0);
        families.join(2, 7);
        families.record(1, 0, &[difference(4, "bytes", "values")], 10, NONE_CONSTANT);
        assert_eq!(
            families.record(1, 0, &[difference(4, "bytes", "values")], 11, NONE_CONSTANT),
            Verdict::Split
        );
        assert_eq!(
            families.record(
                2,
                7,
                &[difference(1, "bytes", "values")],
                12 + ECHO_WITHIN,
                NONE_CONSTANT
            ),
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
