//! Drain's fixed-depth prefix tree (He et al., ICWS 2017, section III-C): the first level
//! splits messages by token count, the next levels by their first tokens, and each leaf lists
//! the clusters to compare a message with. It keeps the comparison to a handful of clusters.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::token::{FastBuild, Token};

/// Index of a node in the arena.
pub type NodeId = u32;
/// Index of a cluster in [`super::clusters::Clusters`].
pub type Slot = u32;

const ROOT: NodeId = 0;

/// What leads from a parent to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// Below the root: the token count.
    Length(u32),
    /// Deeper: the token at that position.
    Token(Token),
}

/// One word into the hasher per key (a derived hash feeds it each enum tag too). Words are
/// already hashes; keys that share the word fed here are told apart by `Eq`.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(match *self {
            Key::Length(n) => u64::from(n),
            Key::Token(Token::Word(word) | Token::Symbol(word)) => word.0,
            Key::Token(Token::Wildcard) => u64::MAX,
        });
    }
}

#[derive(Debug, Default)]
struct Node {
    /// The parent and the key under which it lists this node; `None` for the root and for
    /// free nodes.
    parent: Option<(NodeId, Key)>,
    children: HashMap<Key, NodeId, FastBuild>,
    clusters: Vec<Slot>,
}

/// The prefix tree. Nodes live in an arena; a node left with neither children nor clusters
/// after an eviction is freed, so the tree never outgrows the clusters it indexes.
#[derive(Debug)]
pub struct Tree {
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    /// Tokens that route a message below the length level.
    prefix_tokens: usize,
    /// Children per node before new words go to the wildcard child.
    max_children: usize,
}

impl Tree {
    pub fn new(prefix_tokens: usize, max_children: usize) -> Self {
        Tree {
            nodes: vec![Node::default()],
            free: Vec::new(),
            prefix_tokens,
            max_children: max_children.max(1),
        }
    }

    /// The leaf whose clusters a message should be compared with, if any: at each level the
    /// child of the message's word, or else the wildcard child.
    pub fn find_leaf(&self, tokens: &[Token]) -> Option<NodeId> {
        let mut node = *self.nodes[ROOT as usize]
            .children
            .get(&Key::Length(length_key(tokens)))?;
        for &token in self.routing_tokens(tokens) {
            let children = &self.nodes[node as usize].children;
            node = match children.get(&Key::Token(token)) {
                Some(&child) => child,
                None => *children.get(&Key::Token(Token::Wildcard))?,
            };
        }
        Some(node)
    }

    /// The leaves under the message's length node, depth first, wildcard children first,
    /// until they list `budget` clusters; the message's own leaf may be among them. `stack`
    /// is scratch space, kept by the caller so the search does not allocate.
    pub fn leaves_of_length(
        &self,
        tokens: &[Token],
        budget: usize,
        out: &mut Vec<NodeId>,
        stack: &mut Vec<NodeId>,
    ) {
        out.clear();
        stack.clear();
        let Some(&top) = self.nodes[ROOT as usize]
            .children
            .get(&Key::Length(length_key(tokens)))
        else {
            return;
        };
        stack.push(top);
        let mut listed = 0;
        while let Some(node) = stack.pop() {
            let current = &self.nodes[node as usize];
            if !current.clusters.is_empty() {
                out.push(node);
                listed += current.clusters.len();
                if listed >= budget {
                    return;
                }
            }
            let wildcard = current.children.get(&Key::Token(Token::Wildcard)).copied();
            stack.extend(
                current
                    .children
                    .values()
                    .copied()
                    .filter(|&c| Some(c) != wildcard),
            );
            stack.extend(wildcard);
        }
    }

    /// The clusters listed at `leaf`.
    pub fn clusters(&self, leaf: NodeId) -> &[Slot] {
        &self.nodes[leaf as usize].clusters
    }

    /// Lists a new cluster with template `tokens`, creating the path to its leaf; returns the
    /// leaf. A word takes a new child while the node has room, else the wildcard child.
    pub fn insert(&mut self, tokens: &[Token], slot: Slot) -> NodeId {
        let mut node = self.child_or_new(ROOT, Key::Length(length_key(tokens)));
        let routing = &tokens[..tokens.len().min(self.prefix_tokens)];
        for &token in routing {
            let key = Key::Token(token);
            let children = &self.nodes[node as usize].children;
            node = if children.contains_key(&key) || children.len() + 1 < self.max_children {
                self.child_or_new(node, key)
            } else {
                self.child_or_new(node, Key::Token(Token::Wildcard))
            };
        }
        self.nodes[node as usize].clusters.push(slot);
        node
    }

    /// Unlists `slot` from `leaf` and frees the nodes this leaves empty.
    pub fn remove(&mut self, leaf: NodeId, slot: Slot) {
        let clusters = &mut self.nodes[leaf as usize].clusters;
        if let Some(at) = clusters.iter().position(|&s| s == slot) {
            clusters.swap_remove(at);
        }
        let mut node = leaf;
        while node != ROOT {
            let current = &self.nodes[node as usize];
            if !current.clusters.is_empty() || !current.children.is_empty() {
                return;
            }
            let Some((parent, key)) = current.parent else {
                return;
            };
            self.nodes[parent as usize].children.remove(&key);
            self.free_node(node);
            node = parent;
        }
    }

    /// Nodes in use, the root included.
    #[cfg(test)]
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    fn routing_tokens<'t>(&self, tokens: &'t [Token]) -> &'t [Token] {
        &tokens[..tokens.len().min(self.prefix_tokens)]
    }

    fn child_or_new(&mut self, parent: NodeId, key: Key) -> NodeId {
        if let Some(&child) = self.nodes[parent as usize].children.get(&key) {
            return child;
        }
        let child = self.alloc_node(parent, key);
        self.nodes[parent as usize].children.insert(key, child);
        child
    }

    fn alloc_node(&mut self, parent: NodeId, key: Key) -> NodeId {
        let node = Node {
            parent: Some((parent, key)),
            ..Node::default()
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as NodeId
            }
        }
    }

    fn free_node(&mut self, node: NodeId) {
        self.nodes[node as usize] = Node::default();
        self.free.push(node);
    }
}

/// Token counts are bounded by the tokenizer's `max_tokens`, far below `u32::MAX`.
fn length_key(tokens: &[Token]) -> u32 {
    u32::try_from(tokens.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miner::token::WordHash;

    fn word(text: &str) -> Token {
        Token::Word(WordHash::of(text.as_bytes()))
    }

    #[test]
    fn routes_by_length_then_prefix() {
        let mut tree = Tree::new(2, 100);
        let a = [word("open"), word("file"), Token::Wildcard];
        let leaf = tree.insert(&a, 7);
        assert_eq!(tree.find_leaf(&a), Some(leaf));
        assert_eq!(tree.clusters(leaf), &[7]);
        assert_eq!(tree.find_leaf(&a[..2]), None);
        assert_eq!(
            tree.find_leaf(&[word("close"), word("file"), word("x")]),
            None
        );
    }

    #[test]
    fn full_nodes_send_new_words_to_the_wildcard_child() {
        let mut tree = Tree::new(1, 3);
        let first = tree.insert(&[word("a")], 0);
        let second = tree.insert(&[word("b")], 1);
        let third = tree.insert(&[word("c")], 2);
        let fourth = tree.insert(&[word("d")], 3);
        assert_ne!(first, second);
        assert_ne!(second, third);
        assert_eq!(third, fourth);
        assert_eq!(tree.clusters(third), &[2, 3]);
        assert_eq!(tree.find_leaf(&[word("z")]), Some(third));
    }

    #[test]
    fn removing_the_last_cluster_frees_the_path() {
        let mut tree = Tree::new(2, 100);
        let tokens = [word("a"), word("b"), word("c")];
        let leaf = tree.insert(&tokens, 0);
        assert_eq!(tree.node_count(), 4);
        tree.remove(leaf, 0);
        assert_eq!(tree.node_count(), 1);
        assert_eq!(tree.find_leaf(&tokens), None);
        assert_eq!(tree.insert(&tokens, 1), leaf);
    }
}
