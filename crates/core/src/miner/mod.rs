//! The template miner: turns messages into templates, online, in bounded memory.
//!
//! It follows Drain (P. He, J. Zhu, Z. Zheng, M. R. Lyu, "Drain: An Online Log Parsing Approach
//! with Fixed Depth Tree", ICWS 2017): a message is tokenized and its variable words masked
//! (`tokenizer`), routed through a fixed-depth prefix tree by its length and first tokens
//! (`tree`), and compared with the few clusters at that leaf (`cluster`); the best one at or
//! above the similarity threshold absorbs it, or it starts a new cluster. A message that
//! matches but for a word that has taken only a few values starts a sibling cluster instead
//! (`family`), so `stored as bytes` and `stored as values` stay apart while a user name
//! becomes a wildcard. Drain's routing takes the first tokens for constants; a program, client
//! or host name there would give one event a branch per value, so a message that finds no
//! template at its leaf is compared with the templates of its length on the other branches
//! too (at most 256 of them), and a template whose routing word became a
//! wildcard moves to the wildcard branch. The differences from the paper are noted where
//! they are made.
//!
//! Memory is bounded: at most [`MinerConfig::max_clusters`] clusters, each with at most
//! [`MinerConfig::max_tokens`] tokens. When a new cluster would exceed the limit, the least
//! recently used cluster is evicted; its id is never given again, so a pattern that returns
//! after its eviction gets a new id. The work per message is bounded too: a leaf keeps at
//! most 256 clusters, and the search beyond it stops at 256 comparisons.

mod cluster;
mod clusters;
mod family;
mod mask;
mod token;
mod tokenizer;
mod tree;

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use cluster::{Cluster, Similarity};
use clusters::Clusters;
use family::{Difference, Families, Swap, Verdict};
use token::Token;
use tokenizer::{Tokenizer, Tokens};
use tree::{Slot, Tree};

pub(crate) use token::FastBuild;
use token::WordHash;

/// Settings of the miner. Every field has a default that holds across log formats; the
/// defaults were chosen on the twelve loghub 2k samples with one setting for all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinerConfig {
    /// Share of a template's constant words a message must repeat to join it, in `0.0..=1.0`.
    /// Default 0.7: masking already turns most values into wildcards, which do not count, so
    /// the words left are mostly wording and a message must repeat most of them.
    pub similarity_threshold: f64,
    /// Leading tokens that route a message in the prefix tree, below the token count level
    /// (the paper's depth minus two). Default 2.
    pub prefix_depth: usize,
    /// Children per tree node; beyond it new words share the wildcard child. Default 100.
    pub max_children: usize,
    /// Distinct words a position may take in a family of templates and still be wording
    /// (`user=root`, `user=guest`) rather than a variable; see the `family` module. Default 3.
    pub max_word_values: usize,
    /// Clusters kept; the least recently used one is evicted to make room. Default 10 000.
    pub max_clusters: usize,
    /// Tokens kept per message; the rest of a longer message is one trailing wildcard.
    /// Default 128.
    pub max_tokens: usize,
    /// Longer words are masked as values (they are payloads, not wording). Default 128 bytes.
    pub max_word_len: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            similarity_threshold: 0.7,
            prefix_depth: 2,
            max_children: 100,
            max_word_values: 3,
            max_clusters: 10_000,
            max_tokens: 128,
            max_word_len: 128,
        }
    }
}

/// Clusters a message that found no template at its leaf is compared with, those at its leaf
/// included: the rest are on other branches of its length.
const FALLBACK_BUDGET: usize = 256;

/// Clusters kept at one leaf of the prefix tree.
const LEAF_CLUSTERS: usize = 256;

/// The id of a template, stable for as long as its cluster is kept. Prints as `T17`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId(pub u32);

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.0)
    }
}

impl Serialize for TemplateId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The online template miner. See the [module documentation](self).
#[derive(Debug)]
pub struct Miner {
    config: MinerConfig,
    tokenizer: Tokenizer,
    tree: Tree,
    clusters: Clusters,
    families: Families,
    next_id: u32,
    /// Messages added so far: the clock of the families' recent swaps.
    seen: u64,
    /// Where the ids of merged clusters went: a merged id keeps naming its messages' template.
    redirects: HashMap<TemplateId, TemplateId>,
    /// Reused for every message so the hot path does not allocate.
    scratch: Tokens,
    differences: Vec<Difference>,
    leaves: Vec<tree::NodeId>,
    stack: Vec<tree::NodeId>,
    /// How many kept templates hold each word as a constant: a word none holds is new to the
    /// stream's wording (see the `family` module's echoes).
    constants: HashMap<WordHash, u32, FastBuild>,
    lost: Vec<WordHash>,
}

impl Miner {
    /// A miner with no clusters. Out-of-range settings are clamped: the threshold to
    /// `0.0..=1.0`, the counts to at least 1.
    pub fn new(config: MinerConfig) -> Self {
        let config = MinerConfig {
            similarity_threshold: config.similarity_threshold.clamp(0.0, 1.0),
            max_children: config.max_children.max(1),
            max_clusters: config.max_clusters.max(1),
            max_tokens: config.max_tokens.max(1),
            max_word_len: config.max_word_len.max(1),
            ..config
        };
        Miner {
            tokenizer: Tokenizer {
                max_tokens: config.max_tokens,
                max_word_len: config.max_word_len,
            },
            tree: Tree::new(config.prefix_depth, config.max_children),
            clusters: Clusters::new(),
            families: Families::new(config.max_word_values),
            next_id: 1,
            seen: 0,
            redirects: HashMap::new(),
            scratch: Tokens::default(),
            differences: Vec::new(),
            leaves: Vec::new(),
            stack: Vec::new(),
            constants: HashMap::default(),
            lost: Vec::new(),
            config,
        }
    }

    /// The settings in use (after clamping).
    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// Assigns `message` to a template, creating one if none fits, and returns its id.
    pub fn add(&mut self, message: &str) -> TemplateId {
        self.seen += 1;
        let mut tokens = std::mem::take(&mut self.scratch);
        self.tokenizer.tokenize(message, &mut tokens);
        let id = match self.best_match(&tokens.tokens) {
            Some(slot) => self.join(slot, message, &tokens),
            None => self.create(None, message, &tokens.tokens, &tokens.pieces),
        };
        self.scratch = tokens;
        id
    }

    /// The current text of a template, wildcards printed as `<*>`; `None` for an unknown or
    /// evicted id. The id of a cluster merged into another names the other's template.
    pub fn template(&self, id: TemplateId) -> Option<String> {
        self.cluster(id)
            .map(|cluster| cluster.template().to_owned())
    }

    /// The current text of a template and its family: the id of the family's first cluster,
    /// shared by the siblings that differ from it only in words with few values; `None` for an
    /// unknown or evicted id.
    pub fn template_and_family(&self, id: TemplateId) -> Option<(String, TemplateId)> {
        self.cluster(id)
            .map(|cluster| (cluster.template().to_owned(), TemplateId(cluster.family)))
    }

    /// Messages the template has absorbed; `None` for an unknown or evicted id.
    pub fn count(&self, id: TemplateId) -> Option<u64> {
        self.cluster(id).map(|cluster| cluster.size)
    }

    /// The id of the kept cluster that holds `id`'s messages now: `id` itself, or the cluster
    /// it was merged into; `None` for an unknown or evicted id.
    pub fn resolve(&self, id: TemplateId) -> Option<TemplateId> {
        self.cluster(id).map(|cluster| cluster.id)
    }

    fn cluster(&self, mut id: TemplateId) -> Option<&Cluster> {
        // Merges form chains (a into b, later b into c); each hop is a merge that happened.
        for _ in 0..=self.redirects.len() {
            if let Some(cluster) = self.clusters.by_id(id) {
                return Some(cluster);
            }
            id = *self.redirects.get(&id)?;
        }
        None
    }

    /// Every kept template with its id, most recently used first.
    pub fn templates(&self) -> impl Iterator<Item = (TemplateId, String)> + '_ {
        self.clusters
            .iter()
            .map(|cluster| (cluster.id, cluster.template().to_owned()))
    }

    /// Clusters kept.
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    /// Whether no cluster is kept.
    pub fn is_empty(&self) -> bool {
        self.clusters.len() == 0
    }

    /// The best cluster at the message's leaf that reaches the threshold; failing that, the
    /// best of the clusters of its length on other branches that shares a word with it (a
    /// template of wildcards only matches anything of its length).
    fn best_match(&mut self, tokens: &[Token]) -> Option<Slot> {
        let threshold = self.config.similarity_threshold;
        let leaf = self.tree.find_leaf(tokens);
        let mut best = None;
        let mut compared = 0;
        if let Some(leaf) = leaf {
            let clusters = self.tree.clusters(leaf);
            compared = clusters.len();
            self.compare(clusters, tokens, &mut best, usize::MAX);
        }
        if let Some((slot, _)) = best.filter(|(_, sim)| sim.reaches(threshold)) {
            return Some(slot);
        }
        // The comparisons at the leaf count against the budget, so a message never costs more
        // than its leaf or the budget, whichever is more.
        let mut budget = FALLBACK_BUDGET.saturating_sub(compared);
        if budget == 0 {
            return None;
        }
        let mut leaves = std::mem::take(&mut self.leaves);
        // The walk lists the message's own leaf too, so it may stop at the whole budget.
        self.tree
            .leaves_of_length(tokens, FALLBACK_BUDGET, &mut leaves, &mut self.stack);
        let mut elsewhere = None;
        for &other in leaves.iter().filter(|&&other| Some(other) != leaf) {
            budget = self.compare(self.tree.clusters(other), tokens, &mut elsewhere, budget);
            if budget == 0 {
                break;
            }
        }
        self.leaves = leaves;
        elsewhere
            .filter(|(_, sim)| sim.matched > 0 && sim.reaches(threshold))
            .map(|(slot, _)| slot)
    }

    /// Compares the message with the clusters in `slots`, at most `budget` of them, keeping
    /// the most similar in `best`; returns the budget left.
    fn compare(
        &self,
        slots: &[Slot],
        tokens: &[Token],
        best: &mut Option<(Slot, Similarity)>,
        mut budget: usize,
    ) -> usize {
        for &slot in slots {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let Some(cluster) = self.clusters.get(slot) else {
                continue;
            };
            let sim = cluster.similarity(tokens);
            if best.is_none_or(|(_, top)| sim.better_than(top)) {
                *best = Some((slot, sim));
            }
        }
        budget
    }

    /// Puts a message in the cluster it matched, or in a new sibling of it when they differ in
    /// words that look like wording (see the `family` module).
    fn join(&mut self, slot: Slot, message: &str, tokens: &Tokens) -> TemplateId {
        let Some(cluster) = self.clusters.get(slot) else {
            return self.create(None, message, &tokens.tokens, &tokens.pieces);
        };
        cluster.word_differences(&tokens.tokens, &mut self.differences);
        if self.differences.is_empty() {
            return self.absorb(slot, tokens);
        }
        let family = cluster.family;
        let constants = &self.constants;
        let is_constant = |word| constants.contains_key(&word);
        match self
            .families
            .record(family, slot, &self.differences, self.seen, is_constant)
        {
            Verdict::Split => {
                let mut template = cluster.tokens.clone();
                for difference in &self.differences {
                    template[difference.position as usize] =
                        tokens.tokens[difference.position as usize];
                }
                self.create(Some(family), message, &template, &tokens.pieces)
            }
            Verdict::Generalize { echo } => {
                let id = self.absorb(slot, tokens);
                self.merge_covered(slot, family);
                if let Some(echo) = echo {
                    self.generalize_echo(echo);
                }
                id
            }
        }
    }

    /// Makes the position another family split on a variable in the cluster that split, and
    /// merges into it the sibling the split made.
    fn generalize_echo(&mut self, echo: Swap) {
        let Some(cluster) = self.clusters.get(echo.slot) else {
            return;
        };
        if cluster.family != echo.family {
            return; // evicted since, and its slot reused
        }
        let position = echo.position as usize;
        let lost = self.clusters.touch(echo.slot).generalize(position);
        if lost.is_some() && position < self.config.prefix_depth {
            self.relist(echo.slot);
        }
        self.uncount(lost);
        self.merge_covered(echo.slot, echo.family);
    }

    /// Lists a cluster again under its template's path once a word that routed it became a
    /// wildcard, so that messages with other words there find it on the wildcard branch.
    fn relist(&mut self, slot: Slot) {
        let Some(cluster) = self.clusters.get(slot) else {
            return;
        };
        let (old, tokens) = (cluster.leaf, cluster.tokens.clone());
        self.tree.remove(old, slot);
        let leaf = self.tree.insert(&tokens, slot);
        self.clusters.touch(slot).leaf = leaf;
        self.bound_leaf(leaf, slot);
    }

    fn absorb(&mut self, slot: Slot, tokens: &Tokens) -> TemplateId {
        let depth = self.config.prefix_depth;
        let cluster = self.clusters.touch(slot);
        let before = cluster.routing_wildcards(depth);
        let generalized = cluster.absorb(&tokens.tokens, &tokens.pieces, &mut self.lost);
        let rerouted = generalized && cluster.routing_wildcards(depth) > before;
        let id = cluster.id;
        // Generalizing is rare: only then can the routing or the constants have changed.
        if rerouted {
            self.relist(slot);
        }
        if generalized {
            let mut lost = std::mem::take(&mut self.lost);
            self.uncount(lost.drain(..));
            self.lost = lost;
        }
        id
    }

    /// Drops the siblings that the generalized cluster in `slot` now covers: their messages
    /// go to it from now on, and their ids are no longer kept.
    fn merge_covered(&mut self, slot: Slot, family: u32) {
        let Some(cluster) = self.clusters.get(slot) else {
            return;
        };
        let covered: Vec<Slot> = self
            .families
            .members(family)
            .iter()
            .copied()
            .filter(|&member| member != slot)
            .filter(|&member| self.clusters.get(member).is_some_and(|m| cluster.covers(m)))
            .collect();
        let into = cluster.id;
        for member in covered {
            if let Some(merged) = self.clusters.get(member).cloned() {
                self.clusters.touch(slot).absorb_sibling(&merged);
                self.redirects.insert(merged.id, into);
            }
            self.remove(member);
        }
        self.forget_dead_redirects();
    }

    /// Keeps the redirects bounded: once they outnumber the clusters, those that lead to an
    /// evicted cluster are dropped.
    fn forget_dead_redirects(&mut self) {
        if self.redirects.len() <= self.config.max_clusters {
            return;
        }
        let dead: Vec<TemplateId> = self
            .redirects
            .keys()
            .copied()
            .filter(|&id| self.cluster(id).is_none())
            .collect();
        for id in dead {
            self.redirects.remove(&id);
        }
    }

    /// Starts a cluster with template `template`, in `family` or in a family of its own,
    /// evicting the least recently used cluster when full.
    fn create(
        &mut self,
        family: Option<u32>,
        message: &str,
        template: &[Token],
        pieces: &[tokenizer::Piece],
    ) -> TemplateId {
        if self.clusters.len() >= self.config.max_clusters
            && let Some(oldest) = self.clusters.oldest()
        {
            self.remove(oldest);
        }
        let id = TemplateId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let family = family.unwrap_or(id.0);
        let slot = self
            .clusters
            .insert(Cluster::new(id, family, message, template, pieces));
        for word in words(template) {
            *self.constants.entry(word).or_default() += 1;
        }
        let leaf = self.tree.insert(template, slot);
        self.clusters.touch(slot).leaf = leaf;
        self.families.join(family, slot);
        self.bound_leaf(leaf, slot);
        id
    }

    /// Keeps a leaf to [`LEAF_CLUSTERS`]: past it, its least recently used cluster but the
    /// newest is evicted. Every message at a leaf is compared with all of its clusters, and
    /// text the masking does not catch (random words, ids of letters only) would otherwise
    /// pile thousands there, each line costing thousands of comparisons.
    fn bound_leaf(&mut self, leaf: tree::NodeId, newest: Slot) {
        let clusters = self.tree.clusters(leaf);
        if clusters.len() <= LEAF_CLUSTERS {
            return;
        }
        let others = clusters.iter().copied().filter(|&slot| slot != newest);
        if let Some(oldest) = self.clusters.least_recent(others) {
            self.remove(oldest);
        }
    }

    fn remove(&mut self, slot: Slot) {
        if let Some(cluster) = self.clusters.remove(slot) {
            self.tree.remove(cluster.leaf, slot);
            self.families.leave(cluster.family, slot);
            self.uncount(words(&cluster.tokens));
        }
    }

    /// Takes words a template no longer holds out of [`Miner::constants`].
    fn uncount(&mut self, lost: impl IntoIterator<Item = WordHash>) {
        for word in lost {
            if let Some(count) = self.constants.get_mut(&word) {
                *count -= 1;
                if *count == 0 {
                    self.constants.remove(&word);
                }
            }
        }
    }
}

/// The constant words of a template.
fn words(tokens: &[Token]) -> impl Iterator<Item = WordHash> + '_ {
    tokens.iter().filter_map(|token| match *token {
        Token::Word(word) => Some(word),
        Token::Wildcard | Token::Symbol(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words of letters only, which no mask takes for values: `n` written in base 26.
    fn word(mut n: usize) -> String {
        let letters = b"abcdefghijklmnopqrstuvwxyz";
        (0..4)
            .map(|_| {
                let letter = letters[n % 26];
                n /= 26;
                char::from(letter)
            })
            .collect()
    }

    fn tokens_of(miner: &Miner, message: &str) -> Vec<Token> {
        let mut tokens = Tokens::default();
        miner.tokenizer.tokenize(message, &mut tokens);
        tokens.tokens
    }

    #[test]
    fn a_template_whose_routing_token_became_a_wildcard_is_found_on_the_wildcard_branch() {
        let mut miner = Miner::new(MinerConfig::default());
        // A symbol first, then a word there: the position turns into a wildcard without
        // being a word difference.
        let id = miner.add("( alpha beta gamma delta");
        assert_eq!(miner.add("omega alpha beta gamma delta"), id);
        assert_eq!(miner.template(id).unwrap(), "<*> alpha beta gamma delta");
        let leaf = miner
            .tree
            .find_leaf(&tokens_of(&miner, "zeta alpha beta gamma delta"));
        let slot = leaf.and_then(|leaf| {
            let clusters = miner.tree.clusters(leaf);
            clusters
                .iter()
                .copied()
                .find(|&s| miner.clusters.get(s).is_some_and(|c| c.id == id))
        });
        assert!(
            slot.is_some(),
            "the template is listed where such messages are routed"
        );
    }

    #[test]
    fn a_leaf_keeps_its_most_recently_used_clusters_only() {
        let mut miner = Miner::new(MinerConfig::default());
        let first = miner.add("job started now ok");
        let ids: Vec<TemplateId> = (0..4 * LEAF_CLUSTERS)
            .map(|n| {
                // The first template stays in use; the others are used once each.
                miner.add("job started now ok");
                miner.add(&format!("job started {} {}", word(n), word(n + 7919)))
            })
            .collect();
        let leaf = miner
            .tree
            .find_leaf(&tokens_of(&miner, "job started now ok"));
        assert_eq!(miner.tree.clusters(leaf.unwrap()).len(), LEAF_CLUSTERS);
        assert_eq!(miner.len(), LEAF_CLUSTERS);
        assert!(miner.template(first).is_some(), "the template in use stays");
        assert!(miner.template(ids[0]).is_none(), "the oldest went");
        assert!(miner.template(*ids.last().unwrap()).is_some());
    }
}
