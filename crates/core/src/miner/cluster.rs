//! A log cluster: the template its messages share, and how a message is compared with it.

use super::TemplateId;
use super::family::Difference;
use super::token::{Token, WordHash};
use super::tokenizer::{List, Piece};

/// How well a message fits a template: constant words of the template that the message
/// repeats, out of all constant words (symbols and wildcards do not count).
///
/// Drain (He et al., ICWS 2017, section III-D) divides by the length including wildcards; a
/// template whose masked values fill most positions would then never reach the threshold, so
/// here wildcards count for neither side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Similarity {
    pub matched: usize,
    pub constants: usize,
}

impl Similarity {
    /// Whether the share of matched constants reaches `threshold` (an all-wildcard template
    /// matches every message of its length).
    pub fn reaches(self, threshold: f64) -> bool {
        let (matched, constants) = self.share();
        matched as f64 >= threshold * constants as f64
    }

    /// Orders two candidates: the higher share of matched constants wins, then the one with more
    /// matched constants (the more specific template).
    pub fn better_than(self, other: Similarity) -> bool {
        let (mine, theirs) = (self.share(), other.share());
        let lhs = mine.0 * theirs.1;
        let rhs = theirs.0 * mine.1;
        lhs > rhs || (lhs == rhs && self.matched > other.matched)
    }

    /// The share as a fraction; a template without constant words matches fully.
    fn share(self) -> (usize, usize) {
        if self.constants == 0 {
            (1, 1)
        } else {
            (self.matched, self.constants)
        }
    }
}

/// Where the text of one template position lives in [`Cluster::text`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    space_before: bool,
    /// A wildcard that every message so far left empty (`logname= uid=0`, `init()`): it
    /// prints as nothing, as the field's templates write it, until one holds a value there.
    empty: bool,
    /// A wildcard that every message so far filled with a list written the same way: it
    /// prints as that list's values; once lists differ, as one wildcard.
    list: Option<List>,
}

/// A template and the messages it has absorbed.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub id: TemplateId,
    /// The family (see [`super::family`]) this cluster belongs to.
    pub family: u32,
    pub tokens: Vec<Token>,
    /// Messages absorbed so far.
    pub size: u64,
    /// The tree leaf that lists this cluster.
    pub leaf: u32,
    /// Text of the constant positions, as the first message wrote them.
    text: String,
    spans: Vec<Span>,
    /// The template as text, kept up to date: it is asked for once per window per template
    /// and changes only when a message turns a word into a wildcard.
    template: String,
}

impl Cluster {
    /// A cluster with template `tokens`, whose constant positions print as the matching
    /// `pieces` of `message`.
    pub fn new(
        id: TemplateId,
        family: u32,
        message: &str,
        tokens: &[Token],
        pieces: &[Piece],
    ) -> Self {
        let mut text = String::new();
        let mut spans = Vec::with_capacity(tokens.len());
        for (token, piece) in tokens.iter().zip(pieces) {
            let start = text.len() as u32;
            let wildcard = *token == Token::Wildcard;
            if !wildcard {
                text.push_str(&message[piece.start..piece.end]);
            }
            spans.push(Span {
                start,
                end: text.len() as u32,
                space_before: piece.space_before,
                empty: wildcard && piece.start == piece.end,
                list: piece.list.filter(|_| wildcard),
            });
        }
        let mut cluster = Cluster {
            id,
            family,
            tokens: tokens.to_vec(),
            size: 1,
            leaf: 0,
            text,
            spans,
            template: String::new(),
        };
        cluster.template = cluster.render();
        cluster
    }

    /// Compares a message of the same length with the template.
    pub fn similarity(&self, tokens: &[Token]) -> Similarity {
        let mut sim = Similarity {
            matched: 0,
            constants: 0,
        };
        for (mine, theirs) in self.tokens.iter().zip(tokens) {
            if let Token::Word(_) = mine {
                sim.constants += 1;
                sim.matched += usize::from(mine == theirs);
            }
        }
        sim
    }

    /// Lists into `out` the positions where the template holds a word and the message another
    /// word or a masked value; punctuation is not such a difference.
    pub fn word_differences(&self, tokens: &[Token], out: &mut Vec<Difference>) {
        out.clear();
        for (position, (mine, theirs)) in self.tokens.iter().zip(tokens).enumerate() {
            let Token::Word(template) = *mine else {
                continue;
            };
            let message = match *theirs {
                Token::Word(word) if word == template => continue,
                Token::Word(word) => Some(word),
                Token::Wildcard => None,
                Token::Symbol(_) => continue,
            };
            out.push(Difference {
                position: position as u32,
                template,
                message,
            });
        }
    }

    /// Whether every message `other` would take in, this template takes in too.
    pub fn covers(&self, other: &Cluster) -> bool {
        self.tokens.len() == other.tokens.len()
            && self
                .tokens
                .iter()
                .zip(&other.tokens)
                .all(|(mine, theirs)| *mine == Token::Wildcard || mine == theirs)
    }

    /// Takes a message in: every position where it differs from the template becomes a
    /// wildcard (Drain's template update, section III-E), and a wildcard left empty so far
    /// that the message gives a value prints as one from now on.
    /// Returns whether a word or symbol became a wildcard; the words that did go to `lost`.
    pub fn absorb(&mut self, tokens: &[Token], pieces: &[Piece], lost: &mut Vec<WordHash>) -> bool {
        let mut changed = false;
        let mut generalized = false;
        for ((mine, theirs), (span, piece)) in self
            .tokens
            .iter_mut()
            .zip(tokens)
            .zip(self.spans.iter_mut().zip(pieces))
        {
            if mine != theirs && *mine != Token::Wildcard {
                if let Token::Word(word) = *mine {
                    lost.push(word);
                }
                *mine = Token::Wildcard;
                generalized = true;
            } else if span.empty && piece.start < piece.end {
                span.empty = false;
                changed = true;
            }
            if span.list.is_some() && span.list != piece.list {
                span.list = None;
                changed = true;
            }
        }
        if changed || generalized {
            self.template = self.render();
        }
        self.size += 1;
        generalized
    }

    /// Wildcards among the first `depth` tokens, which route the cluster in the tree.
    pub fn routing_wildcards(&self, depth: usize) -> usize {
        self.tokens
            .iter()
            .take(depth)
            .filter(|&&token| token == Token::Wildcard)
            .count()
    }

    /// Turns the word at `position` into a wildcard: another family showed it is a variable.
    /// Returns the word it was.
    pub fn generalize(&mut self, position: usize) -> Option<WordHash> {
        let token = self.tokens.get_mut(position)?;
        let Token::Word(word) = *token else {
            return None;
        };
        *token = Token::Wildcard;
        self.template = self.render();
        Some(word)
    }

    /// Takes in what a sibling it covers held: where the sibling had a value, so does this.
    pub fn absorb_sibling(&mut self, other: &Cluster) {
        let mut changed = false;
        for (span, (theirs, their_span)) in self
            .spans
            .iter_mut()
            .zip(other.tokens.iter().zip(&other.spans))
        {
            let valued = *theirs != Token::Wildcard || !their_span.empty;
            if span.empty && valued {
                span.empty = false;
                changed = true;
            }
            if span.list.is_some() && span.list != their_span.list {
                span.list = None;
                changed = true;
            }
        }
        if changed {
            self.template = self.render();
        }
        self.size += other.size;
    }

    /// The template as text, wildcards as `<*>`, spaced as the first message was.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Writes the template out: its tokens, with the first message's text and spacing.
    fn render(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 4 * self.tokens.len());
        for (token, span) in self.tokens.iter().zip(&self.spans) {
            if span.space_before {
                out.push(' ');
            }
            match token {
                Token::Wildcard if span.empty => {}
                Token::Wildcard => match span.list {
                    Some(list) => list.write(&mut out),
                    None => out.push_str(Token::WILDCARD_TEXT),
                },
                Token::Word(_) | Token::Symbol(_) => {
                    out.push_str(&self.text[span.start as usize..span.end as usize])
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Similarity;

    fn sim(matched: usize, constants: usize) -> Similarity {
        Similarity { matched, constants }
    }

    #[test]
    fn ranks_by_share_then_by_matched_words() {
        assert!(sim(3, 4).better_than(sim(1, 2)));
        assert!(sim(4, 4).better_than(sim(2, 2)));
        assert!(sim(0, 0).better_than(sim(0, 1)));
        assert!(!sim(1, 2).better_than(sim(2, 4)));
        assert!(sim(0, 0).reaches(1.0));
        assert!(sim(7, 10).reaches(0.7));
        assert!(!sim(6, 10).reaches(0.7));
    }
}
