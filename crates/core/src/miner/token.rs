//! The unit the miner compares: a constant word, known by the hash of its text, or a wildcard.

use std::hash::{BuildHasherDefault, Hasher};

/// The identity of a constant word: a 64-bit hash of its text.
///
/// Comparing hashes instead of strings keeps the hot path free of allocations and of string
/// comparisons; two distinct words sharing a hash would only merge two templates, never break
/// an invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WordHash(pub u64);

impl WordHash {
    /// Hashes `bytes` eight at a time with a folded 128-bit multiply (the mixing step of
    /// wyhash and foldhash), which spreads short, similar words well.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hash = SEED ^ bytes.len() as u64;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            hash = fold_mul(hash ^ u64::from_le_bytes(word), MULTIPLIER);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            hash = fold_mul(hash ^ little_endian(rest), MULTIPLIER);
        }
        WordHash(fold_mul(hash, SEED))
    }
}

/// `rest` (1 to 7 bytes) as a little-endian number, as if padded with zeros to eight bytes.
/// Overlapping reads (wyhash's trick) put every byte where the padded word has it, without
/// copying the tail into a zeroed buffer first.
fn little_endian(rest: &[u8]) -> u64 {
    let n = rest.len();
    let at = |i: usize| u64::from(rest[i]) << (8 * i);
    if n >= 4 {
        let low = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let high = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]);
        u64::from(low) | u64::from(high) << (8 * (n - 4))
    } else {
        at(0) | at(n / 2) | at(n - 1)
    }
}

const SEED: u64 = 0x243f_6a88_85a3_08d3;
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

const fn fold_mul(a: u64, b: u64) -> u64 {
    let full = a as u128 * b as u128;
    (full as u64) ^ ((full >> 64) as u64)
}

/// One position of a message or of a template.
///
/// The wildcard is a variant, not the text `<*>`, so a message that really contains `<*>`
/// stays a constant word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Token {
    /// A constant word: it has a letter or a digit.
    Word(WordHash),
    /// A constant run of punctuation (`(`, `=`, `->`). It routes and aligns like a word, but
    /// does not count when a message is compared with a template: two messages that share
    /// only their punctuation are not alike.
    Symbol(WordHash),
    /// A variable position: masked in the message, or generalized in the template.
    Wildcard,
}

impl Token {
    /// How a wildcard prints in a template.
    pub const WILDCARD_TEXT: &'static str = "<*>";

    /// The constant token for `text`: a word when it holds anything but ASCII punctuation.
    pub fn constant(text: &[u8]) -> Self {
        if let [byte] = text {
            return ONE_BYTE[usize::from(*byte)];
        }
        let hash = WordHash::of(text);
        if text.iter().all(u8::is_ascii_punctuation) {
            Token::Symbol(hash)
        } else {
            Token::Word(hash)
        }
    }
}

/// [`Token::constant`] of every one-byte text, worked out at compile time: brackets, quotes and
/// sentence punctuation are tokens of their own, and the tokenizer asks for them all the time.
const ONE_BYTE: [Token; 256] = {
    let mut table = [Token::Wildcard; 256];
    let mut byte = 0;
    while byte < 256 {
        // `WordHash::of(&[b])`: the length, then one word holding the byte.
        let b = byte as u8;
        let hash = WordHash(fold_mul(fold_mul(SEED ^ 1 ^ b as u64, MULTIPLIER), SEED));
        table[byte] = if b.is_ascii_punctuation() {
            Token::Symbol(hash)
        } else {
            Token::Word(hash)
        };
        byte += 1;
    }
    table
};

/// A fast hasher for keys that are already hashes (tokens, lengths, ids); the std SipHash would
/// cost more than the rest of a tree step.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = fold_mul(self.0 ^ WordHash::of(bytes).0, MULTIPLIER);
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = fold_mul(self.0 ^ value, MULTIPLIER);
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn write_isize(&mut self, value: isize) {
        self.write_u64(value as u64);
    }
}

/// `HashMap` state for [`FastHasher`].
pub type FastBuild = BuildHasherDefault<FastHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_tokens_are_the_tokens_of_their_text() {
        for b in 0..=u8::MAX {
            let hash = WordHash::of(&[b]);
            let token = match b.is_ascii_punctuation() {
                true => Token::Symbol(hash),
                false => Token::Word(hash),
            };
            assert_eq!(Token::constant(&[b]), token, "{b}");
        }
    }

    #[test]
    fn a_short_tail_reads_as_if_padded_with_zeros() {
        let bytes = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
        for n in 1..=bytes.len() {
            let mut padded = [0u8; 8];
            padded[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(
                little_endian(&bytes[..n]),
                u64::from_le_bytes(padded),
                "{n}"
            );
        }
    }

    #[test]
    fn equal_words_hash_equal_and_neighbours_differ() {
        assert_eq!(WordHash::of(b"connection"), WordHash::of(b"connection"));
        let words: [&[u8]; 6] = [b"", b"a", b"b", b"ab", b"abcdefgh", b"abcdefgh\0"];
        for (i, a) in words.iter().enumerate() {
            for b in &words[i + 1..] {
                assert_ne!(WordHash::of(a), WordHash::of(b), "{a:?} vs {b:?}");
            }
        }
    }
}
