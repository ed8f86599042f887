//! Splits a message into tokens, masking variables on the way.
//!
//! One pass over the bytes, no allocation once the output buffers have grown: the miner
//! reuses one [`Tokens`] for every message. Splitting happens only on ASCII bytes, so every
//! piece boundary is a UTF-8 boundary.
//!
//! - Whitespace separates words and is remembered (as "space before") only to print templates.
//! - Brackets, quotes, commas and semicolons are tokens of their own, so `[preauth]`,
//!   `(uid=0)` and `value,` line up with the same words elsewhere.
//! - `key=value` and `key:value` split after the key, so a masked value keeps its key:
//!   `uid=0` becomes `uid`, `=`, wildcard. The same holds for logfmt and for JSON's
//!   `"key": value`; a quoted value after `=` or `:` is one wildcard even when it holds spaces.
//! - A word is masked by [`mask::is_variable`] (digits, paths, URLs, long hex).
//! - A list of values (`blk_1 blk_2 blk_3`, `a1, b2, c3`: masked values one after another,
//!   separated by spaces or by one `,` or `;` each time) is one wildcard however long it is,
//!   so one event's lines keep one length, which the prefix tree routes by. Its [`List`]
//!   says how it was written, so a template whose lines all held the same count still prints
//!   each value (`time=<*>,<*>,<*>`).

use super::mask;
use super::token::Token;

/// Where a token came from in the message: used to print a template, never to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Byte range of the token in the message.
    pub start: usize,
    pub end: usize,
    /// Whether whitespace preceded the token.
    pub space_before: bool,
    /// For a wildcard that stands for a list of values, how the list was written.
    pub list: Option<List>,
}

/// A list of values one wildcard stands for: how many, and what separated them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct List {
    pub values: u16,
    pub separator: Separator,
}

/// What stood between two values of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    Space,
    /// A `,` or `;` right after a value, with or without a space after it.
    Symbol {
        byte: u8,
        space_after: bool,
    },
}

impl List {
    /// The list as a template writes it: a wildcard per value, separated as it was.
    pub fn write(&self, out: &mut String) {
        for value in 0..self.values {
            if value > 0 {
                match self.separator {
                    Separator::Space => out.push(' '),
                    Separator::Symbol { byte, space_after } => {
                        out.push(char::from(byte));
                        if space_after {
                            out.push(' ');
                        }
                    }
                }
            }
            out.push_str(Token::WILDCARD_TEXT);
        }
    }
}

/// A tokenized message: `tokens[i]` came from `pieces[i]`.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    pub tokens: Vec<Token>,
    pub pieces: Vec<Piece>,
    /// One past the last value's token, and past the last `,` or `;`.
    value_end: usize,
    separator_end: usize,
    /// Tokens a fold of lists would take away, at most: the scan's limit counts without them,
    /// and only when there are some is there a list to fold.
    foldable: usize,
    /// Whether the last token is the rest of a message too long to read on (never a list's).
    rest: bool,
}

impl Tokens {
    fn clear(&mut self) {
        self.tokens.clear();
        self.pieces.clear();
        self.value_end = 0;
        self.separator_end = 0;
        self.foldable = 0;
        self.rest = false;
    }

    /// Tokens left once the lists are folded, or a few more.
    fn folded_len(&self) -> usize {
        self.tokens.len() - self.foldable
    }

    #[inline(always)]
    fn push(&mut self, token: Token, start: usize, end: usize, space_before: bool) {
        if token == Token::Wildcard && start < end {
            let at = self.tokens.len();
            let after_value = at > 0 && self.value_end == at;
            let after_separator = self.separator_end == at && self.value_end + 1 == at;
            self.foldable += usize::from(after_value) + 2 * usize::from(after_separator);
            self.value_end = at + 1;
        }
        self.tokens.push(token);
        self.pieces.push(Piece {
            start,
            end,
            space_before,
            list: None,
        });
    }

    /// Whether token `at` is a wildcard standing for a value the message holds (not an empty
    /// one, not a list already).
    fn holds_value(&self, at: usize) -> bool {
        self.tokens.get(at) == Some(&Token::Wildcard)
            && self.pieces[at].start < self.pieces[at].end
            && self.pieces[at].list.is_none()
            && !(self.rest && at + 1 == self.tokens.len())
    }

    /// The separator between the value at `at` and a next one, and where that one is.
    fn next_value(&self, text: &[u8], at: usize) -> Option<(Separator, usize)> {
        if self.holds_value(at + 1) && self.pieces[at + 1].space_before {
            return Some((Separator::Space, at + 1));
        }
        let piece = self.pieces.get(at + 1)?;
        let byte = *text.get(piece.start)?;
        let symbol = piece.end == piece.start + 1 && matches!(byte, b',' | b';');
        (symbol && !piece.space_before && self.holds_value(at + 2)).then(|| {
            let space_after = self.pieces[at + 2].space_before;
            (Separator::Symbol { byte, space_after }, at + 2)
        })
    }

    /// Folds every list of values into one wildcard (see the module documentation).
    fn fold_lists(&mut self, text: &[u8]) {
        let mut write = 0;
        let mut read = 0;
        while read < self.tokens.len() {
            let (mut last, mut values, mut separator) = (read, 1u16, None);
            if self.holds_value(read) {
                while let Some((sep, next)) = self.next_value(text, last) {
                    if separator.is_some_and(|s| s != sep) || values == u16::MAX {
                        break;
                    }
                    (separator, last, values) = (Some(sep), next, values + 1);
                }
            }
            let mut piece = self.pieces[read];
            if let Some(separator) = separator {
                piece.end = self.pieces[last].end;
                piece.list = Some(List { values, separator });
            }
            if write != read || separator.is_some() {
                self.tokens[write] = self.tokens[read];
                self.pieces[write] = piece;
            }
            write += 1;
            read = last + 1;
        }
        self.tokens.truncate(write);
        self.pieces.truncate(write);
    }

    fn last_is(&self, text: &[u8], byte: u8) -> bool {
        self.pieces
            .last()
            .is_some_and(|p| p.end - p.start == 1 && text[p.start] == byte)
    }
}

/// Limits that bound the work and the memory spent on one message.
#[derive(Debug, Clone, Copy)]
pub struct Tokenizer {
    /// Tokens kept per message; the rest of a longer message becomes one trailing wildcard.
    pub max_tokens: usize,
    /// Longer words are masked: they are payloads, and a template must not store them.
    pub max_word_len: usize,
}

/// Bytes that are tokens of their own wherever they appear.
const fn is_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b'\'' | b',' | b';'
    )
}

/// Where the dot is in a name numbered after a dot (`core.3717`, `part.2`): letters (or `_`),
/// one dot, digits only. Such a word is one name's instances, not an arbitrary value.
fn numbered_name(word: &[u8]) -> Option<usize> {
    let dot = word.iter().position(|&b| b == b'.')?;
    let (name, number) = (&word[..dot], &word[dot + 1..]);
    let named = !name.is_empty() && name.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_');
    let numbered = !number.is_empty() && number.iter().all(u8::is_ascii_digit);
    (named && numbered).then_some(dot)
}

/// A name as code writes it: a letter, then letters, digits and `_`.
fn is_identifier(word: &[u8]) -> bool {
    word.first().is_some_and(u8::is_ascii_alphabetic)
        && word.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Where the slash is in two values joined by one (`host-7/10.0.0.1`): one slash, inside the
/// word, each side a value by itself. A path (`/var/log`, `a/b/c`) has a root or more slashes.
fn value_pair(word: &[u8]) -> Option<usize> {
    let slash = word.iter().position(|&b| b == b'/')?;
    let (left, right) = (&word[..slash], &word[slash + 1..]);
    let pair = !left.is_empty()
        && !right.contains(&b'/')
        && mask::is_variable(left)
        && mask::is_variable(right);
    pair.then_some(slash)
}

/// Tokens read per message before folding lists, in `max_tokens`: a longer list reads as the
/// rest of the message.
const SCAN_SLACK: usize = 4;

/// Marks the bytes that may end a word: whitespace, delimiters, `=` and `:`.
const ENDS_WORD: u8 = 0x80;
/// Marks sentence punctuation, which [`Scan::flush_word`] splits off the end of a word.
const SENTENCE_END: u8 = 0x40;
/// Marks `.` and `/`: only a word holding one can be a numbered name or a pair of values, so
/// the scan learns for free which words to look at again.
const JOINS: u8 = 0x20;
/// What [`Scan::read_word`] keeps of a word's bytes.
const WORD_BITS: u8 = mask::CLASS_BITS | JOINS;
const _: () = assert!(mask::CLASS_BITS & (ENDS_WORD | SENTENCE_END | JOINS) == 0);

/// Per byte, [`ENDS_WORD`], [`SENTENCE_END`] and its [`mask::class`]. Any byte not marked as
/// ending a word continues it, so the scan reads a word with one table look-up per byte and
/// learns on the way what the mask needs to know about it.
const BYTES: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        let ends = b.is_ascii_whitespace() || is_delimiter(b) || b == b'=' || b == b':';
        let sentence_end = matches!(b, b'.' | b'!' | b'?' | b':');
        table[byte] = mask::class(b)
            | if ends { ENDS_WORD } else { 0 }
            | if sentence_end { SENTENCE_END } else { 0 }
            | if b == b'.' || b == b'/' { JOINS } else { 0 };
        byte += 1;
    }
    table
};

impl Tokenizer {
    /// Tokenizes `message` into `out` (cleared first).
    pub fn tokenize(&self, message: &str, out: &mut Tokens) {
        out.clear();
        let mut scan = Scan {
            text: message.as_bytes(),
            pos: 0,
            word_start: 0,
            word_classes: 0,
            space_before: false,
            limits: *self,
        };
        scan.run(out);
        if out.foldable > 0 {
            out.fold_lists(message.as_bytes());
        }
        self.cap(message, out);
    }

    /// A word can end in punctuation tokens, and a list that did not fold after all was
    /// counted as one, so the tokens may overshoot `max_tokens`: fold the overshoot into one
    /// trailing wildcard.
    fn cap(&self, message: &str, out: &mut Tokens) {
        let keep = self.max_tokens.max(1) - 1;
        if out.tokens.len() <= self.max_tokens {
            return;
        }
        let Piece {
            start,
            space_before,
            ..
        } = out.pieces[keep];
        let end = message.trim_ascii_end().len();
        out.tokens.truncate(keep);
        out.pieces.truncate(keep);
        out.push(Token::Wildcard, start, end, space_before);
    }
}

/// The state of one pass over a message.
struct Scan<'a> {
    text: &'a [u8],
    pos: usize,
    /// Start of the word being read; `word_start == pos` when none is.
    word_start: usize,
    /// The [`mask::classes`] of the word being read (of `text[word_start..pos]`), and [`JOINS`].
    word_classes: u8,
    space_before: bool,
    limits: Tokenizer,
}

impl Scan<'_> {
    fn run(&mut self, out: &mut Tokens) {
        while self.pos < self.text.len() {
            // Lists fold to one token each, so the limit counts them as one; a hard bound on
            // the tokens read keeps the work bounded however long a list is.
            let max = self.limits.max_tokens;
            if out.tokens.len() + 1 >= max
                && (out.folded_len() + 1 >= max || out.tokens.len() + 1 >= SCAN_SLACK * max)
            {
                self.finish_with_rest(out);
                out.rest = true;
                return;
            }
            let byte = self.text[self.pos];
            if BYTES[usize::from(byte)] & ENDS_WORD == 0 {
                // The common case, tested first: a byte that can only go on (or start) a word.
                self.read_word(byte);
            } else if byte.is_ascii_whitespace() {
                self.flush_word(out);
                self.pos += 1;
                self.start_word();
                self.space_before = !out.tokens.is_empty();
            } else if byte == b'"' && self.at_value(out) {
                self.quoted_value(out);
            } else if is_delimiter(byte)
                || (byte == b'=' && self.equals_splits())
                || (byte == b':' && self.colon_splits())
            {
                self.flush_word(out);
                if self.closes_empty_brackets(out, byte) {
                    self.emit(out, Token::Wildcard, self.pos, self.pos);
                }
                self.emit(out, Token::constant(&[byte]), self.pos, self.pos + 1);
                if matches!(byte, b',' | b';') {
                    out.separator_end = out.tokens.len();
                }
                self.pos += 1;
                self.start_word();
                if byte == b'=' && self.at_word_end() {
                    self.emit(out, Token::Wildcard, self.pos, self.pos);
                }
            } else {
                self.read_word(byte);
            }
        }
        self.flush_word(out);
    }

    /// Reads on from `byte` (at `pos`, which continues the word whatever it is) up to the next
    /// byte that may end the word.
    fn read_word(&mut self, byte: u8) {
        let mut classes = self.word_classes | BYTES[usize::from(byte)];
        let mut end = self.pos + 1;
        while let Some(&next) = self.text.get(end) {
            let flags = BYTES[usize::from(next)];
            if flags & ENDS_WORD != 0 {
                break;
            }
            classes |= flags;
            end += 1;
        }
        self.word_classes = classes & WORD_BITS;
        self.pos = end;
    }

    /// `()`, `[]`, `{}`: an empty value where others have one, as in `host ()` next to
    /// `host (example.org)`; a wildcard stands in it so both line up.
    fn closes_empty_brackets(&self, out: &Tokens, byte: u8) -> bool {
        let opener = match byte {
            b')' => b'(',
            b']' => b'[',
            b'}' => b'{',
            _ => return false,
        };
        out.pieces.last().is_some_and(|p| p.end == self.pos) && out.last_is(self.text, opener)
    }

    /// Whether the word that would start here is empty: `key= next` has an empty value.
    fn at_word_end(&self) -> bool {
        self.text
            .get(self.pos)
            .is_none_or(|b| b.is_ascii_whitespace() || matches!(b, b',' | b';'))
    }

    /// Whether a `"` here opens a value: it follows `=` or `:` (JSON, logfmt).
    fn at_value(&self, out: &Tokens) -> bool {
        self.word_start == self.pos
            && (out.last_is(self.text, b'=') || out.last_is(self.text, b':'))
    }

    /// A `=` splits a key from its value, but not inside a URL's query (`/x?id=1`).
    fn equals_splits(&self) -> bool {
        !self.text[self.word_start..self.pos]
            .iter()
            .any(|b| matches!(b, b'/' | b'?' | b'&'))
    }

    /// A `:` splits after a key (`Service:`, `key:value`, `"key": 1`) and between an address
    /// and its port (`10.0.0.1:80`, `db-2:5432`: two values, as the field's benchmarks write
    /// them, `<*>:<*>`), but not inside other values (`12:30:01`, `fe80::1`, `http://x`).
    fn colon_splits(&self) -> bool {
        let next = self.text.get(self.pos + 1).copied();
        let word = &self.text[self.word_start..self.pos];
        match next {
            None => true,
            Some(b) if b.is_ascii_whitespace() || b == b'"' => true,
            Some(b'/' | b':' | b'\\') => false,
            // Not after other colons: the last pair of a MAC address, or a time's seconds.
            Some(_) if self.port_follows() => !word.is_empty() && !word.contains(&b':'),
            Some(_) => {
                !word.is_empty()
                    && word[0].is_ascii_alphabetic()
                    && word
                        .iter()
                        .all(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'-' | b'.'))
            }
        }
    }

    /// Whether the `:` at `pos` is followed by a port: one to five digits, then the word ends,
    /// perhaps with sentence punctuation (a time's `12:30:01` goes on with another value).
    fn port_follows(&self) -> bool {
        let rest = &self.text[self.pos + 1..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let ends = |at: usize| {
            rest.get(at)
                .is_none_or(|&b| b.is_ascii_whitespace() || is_delimiter(b) || b == b'/')
        };
        let sentence_end = |at: usize| {
            rest.get(at)
                .is_some_and(|&b| BYTES[usize::from(b)] & SENTENCE_END != 0)
        };
        (1..=5).contains(&digits) && (ends(digits) || (sentence_end(digits) && ends(digits + 1)))
    }

    /// Reads `"…"` (with `\"` escapes) as one wildcard; an unclosed quote is a plain delimiter.
    fn quoted_value(&mut self, out: &mut Tokens) {
        let start = self.pos;
        let mut i = start + 1;
        while i < self.text.len() && self.text[i] != b'"' {
            i += if self.text[i] == b'\\' { 2 } else { 1 };
        }
        if i >= self.text.len() {
            self.emit(out, Token::constant(b"\""), start, start + 1);
            self.pos = start + 1;
        } else {
            self.emit(out, Token::Wildcard, start, i + 1);
            self.pos = i + 1;
        }
        self.start_word();
    }

    /// Emits the word read so far, with sentence punctuation (`.`, `:`, `!`, `?`) at its end
    /// split off so `done.` and `done` are the same word.
    fn flush_word(&mut self, out: &mut Tokens) {
        let (start, mut end) = (self.word_start, self.pos);
        if start == end {
            return;
        }
        while end - start > 1 && BYTES[usize::from(self.text[end - 1])] & SENTENCE_END != 0 {
            end -= 1;
        }
        let word = &self.text[start..end];
        let after_value = out.tokens.last() == Some(&Token::Wildcard);
        // A name called as a function (`jk2_init()`, `worker2(`) is code, whatever its digits.
        let variable = self.is_variable(end)
            && !(end == self.pos && self.text.get(end) == Some(&b'(') && is_identifier(word));
        // Only a word short enough to be kept may keep a part: longer ones are payloads.
        let joined =
            variable && self.word_classes & JOINS != 0 && word.len() <= self.limits.max_word_len;
        if let Some(dot) = joined.then(|| numbered_name(word)).flatten() {
            // `core.3717`: a name and the number it was given. The name stays.
            self.emit(out, Token::constant(&word[..dot]), start, start + dot);
            self.emit(out, Token::constant(b"."), start + dot, start + dot + 1);
            self.emit(out, Token::Wildcard, start + dot + 1, end);
        } else if let Some(slash) = joined.then(|| value_pair(word)).flatten() {
            // `host-7/10.0.0.1`, `10.0.0.0/24`: two values, as the field's templates write them.
            self.emit(out, Token::Wildcard, start, start + slash);
            self.emit(out, Token::constant(b"/"), start + slash, start + slash + 1);
            self.emit(out, Token::Wildcard, start + slash + 1, end);
        } else {
            let token = if word.len() > self.limits.max_word_len
                || variable
                || (after_value && mask::is_unit(word))
            {
                Token::Wildcard
            } else {
                Token::constant(word)
            };
            self.emit(out, token, start, end);
        }
        for i in end..self.pos {
            self.emit(out, Token::constant(&self.text[i..=i]), i, i + 1);
        }
        self.start_word();
    }

    /// [`mask::is_variable`] of the word read, cut at `end`: from the classes gathered while
    /// reading it, unless punctuation was split off its end.
    fn is_variable(&self, end: usize) -> bool {
        let word = &self.text[self.word_start..end];
        match end == self.pos {
            true => mask::is_variable_with(word, self.word_classes),
            false => mask::is_variable(word),
        }
    }

    /// A word starts (or may start) at `pos`.
    fn start_word(&mut self) {
        self.word_start = self.pos;
        self.word_classes = 0;
    }

    fn emit(&mut self, out: &mut Tokens, token: Token, start: usize, end: usize) {
        out.push(token, start, end, self.space_before);
        self.space_before = false;
    }

    /// The message has more tokens than kept: the rest is one wildcard.
    fn finish_with_rest(&mut self, out: &mut Tokens) {
        let start = self.word_start.min(self.pos);
        let end = self.text.trim_ascii_end().len().max(start);
        if start < end {
            self.emit(out, Token::Wildcard, start, end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Tokenizer = Tokenizer {
        max_tokens: 64,
        max_word_len: 64,
    };

    /// The tokens of `message` written back as text, wildcards as `<*>`, one space between.
    fn render(message: &str, limits: Tokenizer) -> String {
        let mut out = Tokens::default();
        limits.tokenize(message, &mut out);
        let words: Vec<String> = out
            .tokens
            .iter()
            .zip(&out.pieces)
            .map(|(token, piece)| match (token, piece.list) {
                (Token::Wildcard, Some(list)) => {
                    let mut text = String::new();
                    list.write(&mut text);
                    text
                }
                (Token::Wildcard, None) => Token::WILDCARD_TEXT.to_owned(),
                (Token::Word(_) | Token::Symbol(_), _) => {
                    message[piece.start..piece.end].to_owned()
                }
            })
            .collect();
        words.join(" ")
    }

    #[test]
    fn a_list_longer_than_the_token_limit_keeps_the_words_after_it() {
        let limits = Tokenizer {
            max_tokens: 10,
            max_word_len: 64,
        };
        let blocks: Vec<String> = (0..30).map(|i| format!("blk_{i}")).collect();
        let long = format!("Deleting {} from node alpha", blocks.join(" "));
        let mut out = Tokens::default();
        limits.tokenize(&long, &mut out);
        assert_eq!(out.tokens.len(), 5);
        assert_eq!(out.pieces[1].list.map(|l| l.values), Some(30));
        assert_eq!(&long[out.pieces[4].start..out.pieces[4].end], "alpha");
        // Past what the scan reads, the rest is one wildcard, never a list's value.
        let endless = format!("Deleting {} from node alpha", vec!["blk_7"; 100].join(" "));
        limits.tokenize(&endless, &mut out);
        assert_eq!(out.tokens.len(), 3, "{:?}", out.pieces);
        assert!(out.pieces[2].list.is_none());
    }

    #[test]
    fn a_list_of_values_is_one_token() {
        let lists = |message: &str| {
            let mut out = Tokens::default();
            LIMITS.tokenize(message, &mut out);
            let lists: Vec<_> = out.pieces.iter().map(|p| p.list).collect();
            (out.tokens.len(), lists)
        };
        let list = |values, separator| Some(List { values, separator });
        let comma = |space_after| Separator::Symbol {
            byte: b',',
            space_after,
        };
        assert_eq!(
            lists("delete blk_1 blk_2 blk_3"),
            (2, vec![None, list(3, Separator::Space)])
        );
        assert_eq!(lists("delete blk_1"), (2, vec![None, None]));
        assert_eq!(
            lists("time=1,2,3"),
            (3, vec![None, None, list(3, comma(false))])
        );
        assert_eq!(
            lists("hosts 10.0.0.1, 10.0.0.2 up"),
            (3, vec![None, list(2, comma(true)), None])
        );
        // The separator must stay the same: `1, 2;3` is a list of two, then `;`, then a value.
        assert_eq!(lists("at 1, 2;3").0, 4);
        // An address and its port stay two values; a key's value stays after its key.
        assert_eq!(lists("to 10.0.0.1:80").0, 4);
        assert_eq!(lists("uid=0 euid=0").0, 6);
        assert_eq!(
            render("ask 10.0.0.1:80 to delete  blk_1 blk_2", LIMITS),
            "ask <*> : <*> to delete <*> <*>"
        );
    }

    #[test]
    fn splits_and_masks() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("   ", ""),
            ("Connection refused", "Connection refused"),
            ("Pool exhausted: 42 active", "Pool exhausted : <*> active"),
            ("terminating.", "terminating ."),
            (
                "uid=0 euid=0 tty=NODEVssh",
                "uid = <*> euid = <*> tty = NODEVssh",
            ),
            ("logname= uid=0", "logname = <*> uid = <*>"),
            ("from 1.2.3.4 () at", "from <*> ( <*> ) at"),
            ("a=,b= c=x", "a = <*> , b = <*> c = x"),
            (
                "Invalid user webmaster from 173.234.31.186",
                "Invalid user webmaster from <*>",
            ),
            (
                "connect to 10.0.0.1:5432 failed",
                "connect to <*> : <*> failed",
            ),
            ("src: /10.0.0.2:50010 dest", "src : <*> : <*> dest"),
            ("at db-main:5432.", "at db-main : <*> ."),
            ("mac 0D:60:E9:40:93 seen", "mac <*> seen"),
            ("to 10.0.0.1:80: severed", "to <*> : <*> : severed"),
            ("generating core.3717", "generating core . <*>"),
            ("version 1.2 and v1.2", "version <*> and <*>"),
            ("Old: host-7/10.0.0.1:8030", "Old : <*> / <*> : <*>"),
            (
                "open src/main.rs and /var/log/x",
                "open src/main.rs and <*>",
            ),
            ("jk2_init() found 42", "jk2_init ( <*> ) found <*>"),
            ("listening on [::1]:8080", "listening on [ <*> ] <*>"),
            ("took 12ms (1.5s total)", "took <*> ( <*> total )"),
            ("size 5.2 KB, free 93 B", "size <*> <*> , free <*> <*>"),
            ("stored as bytes", "stored as bytes"),
            (
                "request_id=3f2c9a1e-77aa-4b1c-9d0e-5a6b7c8d9e0f",
                "request_id = <*>",
            ),
            ("open /etc/passwd: denied", "open <*> : denied"),
            ("GET https://example.com/x?id=1 200", "GET <*> <*>"),
            ("onExtend:1514038530000 14 0", "onExtend : <*> <*> <*>"),
            ("at 12:30:01 done", "at <*> done"),
            (
                r#"msg="disk full on /dev/sda1" level=error"#,
                "msg = <*> level = error",
            ),
            (
                r#"{"user": "bob smith", "n": 5}"#,
                r#"{ " user " : <*> , " n " : <*> }"#,
            ),
            ("Can't find child", "Can ' t find child"),
            ("[preauth]", "[ preauth ]"),
            (
                r#"blocker "PowerManagerService.WakeLocks"."#,
                r#"blocker " PowerManagerService.WakeLocks " ."#,
            ),
            ("key=\"unclosed", "key = \" unclosed"),
            ("héllo wörld 3", "héllo wörld <*>"),
        ];
        for &(message, expected) in cases {
            assert_eq!(render(message, LIMITS), expected, "{message:?}");
        }
    }

    #[test]
    fn long_messages_and_words_are_bounded() {
        let limits = Tokenizer {
            max_tokens: 4,
            max_word_len: 8,
        };
        assert_eq!(render("a b c d e f", limits), "a b c <*>");
        assert_eq!(render("a b c", limits), "a b c");
        assert_eq!(render("short averyveryverylongword", limits), "short <*>");
        assert_eq!(
            render("core.123 averylongname.12", limits),
            "core . <*> <*>"
        );
    }

    #[test]
    fn remembers_spacing() {
        let mut out = Tokens::default();
        LIMITS.tokenize("a (b) c", &mut out);
        let spaces: Vec<bool> = out.pieces.iter().map(|p| p.space_before).collect();
        assert_eq!(spaces, [false, true, false, false, true]);
    }
}
