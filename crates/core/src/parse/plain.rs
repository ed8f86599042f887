//! Plain-text lines: a header (timestamp, level, service, process and thread ids) in one of
//! the orders real logs use, then the message.
//!
//! The header is read as a short run of parts, each recognized by its own shape:
//!
//! - a timestamp first (ISO 8601, ctime, syslog, HDFS, logcat, epoch and other shapes),
//!   possibly in brackets (`[Sun Dec 04 04:47:44 2005]`, env_logger's
//!   `[2024-01-01T12:00:00Z INFO  app] …`);
//! - a level word: `INFO`, `Info`, `ERROR:`, `[notice]`, `[php7:emerg]`, or one capital
//!   letter right before a `Tag:` (logcat's `D WindowManager:`);
//! - numeric ids (`148`, `1702  2395`) when another header part follows them;
//! - a `[bracket]`: the thread when a service name follows, else the service;
//! - the service: `sshd[24200]:`, `name:` after a level or id, or a name followed by `|`,
//!   ` - ` (Python, logback), `   : ` (Spring) or column padding right after the level
//!   (Windows CBS);
//! - separators between parts: spaces, `,`, `|` and dashes (`-`, `---`).
//!
//! The first text that fits none of these starts the message, so an unusual header costs
//! fields, never text. klog/glog lines (`I0101 12:00:00.123456  1234 main.go:42] …`) have
//! their own reader.

use chrono::{DateTime, Utc};

use super::{timestamp, trim_line_end};
use crate::event::{Level, LogEvent};

/// Parses a plain-text line; `None` when no header was recognized: no timestamp, and neither
/// an upper-case level word nor a `service[pid]:` at its start.
pub fn parse(line: &str, received: DateTime<Utc>) -> Option<LogEvent> {
    let line = trim_line_end(line);
    let mut reader = HeaderReader::default();
    let message = if let Some(message) = reader.klog(line, received) {
        message
    } else if let Some(rest) = reader.leading_timestamp(line, received) {
        reader.parts(rest)
    } else {
        reader.strict = true;
        reader.parts(line)
    };
    reader
        .header
        .recognized()
        .then(|| reader.header.into_event(message, received))
}

/// The most header parts read before the rest is taken as the message.
const MAX_PARTS: usize = 8;

/// The longest `[bracket]` read as a header part.
const MAX_BRACKET: usize = 256;

/// The longest service name.
const MAX_NAME: usize = 128;

/// What the header of a line gave.
#[derive(Default)]
struct Header<'a> {
    timestamp: Option<DateTime<Utc>>,
    level: Option<Level>,
    service: Option<&'a str>,
    pid: Option<&'a str>,
    tid: Option<&'a str>,
    thread: Option<&'a str>,
    source: Option<&'a str>,
    source_line: Option<&'a str>,
}

impl<'a> Header<'a> {
    fn recognized(&self) -> bool {
        self.timestamp.is_some()
            || self.level.is_some()
            || (self.service.is_some() && self.pid.is_some())
    }

    fn into_event(self, message: &str, received: DateTime<Utc>) -> LogEvent {
        let mut event = LogEvent::new(
            self.timestamp.unwrap_or(received),
            self.service.unwrap_or_default(),
            self.level.unwrap_or_default(),
            message,
        );
        for (key, value) in [
            ("pid", self.pid),
            ("tid", self.tid),
            ("thread", self.thread),
            ("source", self.source),
            ("line", self.source_line),
        ] {
            if let Some(value) = value {
                event.attributes.insert(key.to_owned(), value.to_owned());
            }
        }
        event
    }
}

/// How a header part ended.
enum Step<'a> {
    /// More parts may follow this text.
    Continue(&'a str),
    /// The header is complete (a `service:` ends it); the message follows.
    End(&'a str),
}

/// What follows a token.
#[derive(PartialEq, Eq)]
enum Next<'a> {
    Pipe,
    Dash,
    PaddedColon(&'a str),
    Padded,
    Other,
}

impl<'a> Next<'a> {
    fn of(after: &'a str) -> Self {
        if after.starts_with('|') {
            return Next::Pipe;
        }
        let trimmed = after.trim_start_matches(' ');
        let spaces = after.len() - trimmed.len();
        if spaces == 0 {
            return Next::Other;
        }
        if trimmed == "-" || trimmed.starts_with("- ") {
            return Next::Dash;
        }
        if let Some(rest) = trimmed.strip_prefix(':')
            && (rest.is_empty() || rest.starts_with(' '))
        {
            return Next::PaddedColon(rest);
        }
        if spaces >= 2 {
            Next::Padded
        } else {
            Next::Other
        }
    }
}

#[derive(Default)]
struct HeaderReader<'a> {
    header: Header<'a>,
    /// A `[bracket]` not yet known to be the thread or the service, with the text from it on.
    bracket: Option<(&'a str, &'a str)>,
    /// Whether a dash separator was seen (Python's `ts - name - LEVEL - msg`).
    dashed: bool,
    /// Whether the previous part was the level (a padded column right after it is a name).
    after_level: bool,
    /// No timestamp: only upper-case level words count, so prose is not mistaken for a header.
    strict: bool,
}

impl<'a> HeaderReader<'a> {
    /// klog/glog: `I0101 12:00:00.123456    1234 main.go:42] message`.
    fn klog(&mut self, line: &'a str, received: DateTime<Utc>) -> Option<&'a str> {
        let level = match line.as_bytes() {
            [b'I', d, ..] if d.is_ascii_digit() => Level::Info,
            [b'W', d, ..] if d.is_ascii_digit() => Level::Warn,
            [b'E', d, ..] if d.is_ascii_digit() => Level::Error,
            [b'F', d, ..] if d.is_ascii_digit() => Level::Fatal,
            _ => return None,
        };
        let (at, len) = timestamp::month_day_compact(&line[1..], received)?;
        let (id, rest) = split_token(line[1 + len..].trim_start());
        let (source, rest) = split_token(rest.trim_start());
        let source = source.strip_suffix(']')?;
        if !is_id(id) || source.is_empty() {
            return None;
        }
        self.header = Header {
            timestamp: Some(at),
            level: Some(level),
            pid: Some(id),
            source: Some(source),
            ..Header::default()
        };
        Some(rest.trim_start())
    }

    /// A leading timestamp, bare or in brackets; the text after it.
    fn leading_timestamp(&mut self, line: &'a str, received: DateTime<Utc>) -> Option<&'a str> {
        let Some(inner) = line.strip_prefix('[') else {
            let (at, len) = timestamp::leading(line, received)?;
            self.header.timestamp = Some(at);
            return Some(&line[len..]);
        };
        let (at, len) = timestamp::leading(inner, received)?;
        let after = &inner[len..];
        if let Some(rest) = after.strip_prefix(']') {
            self.header.timestamp = Some(at);
            return Some(rest);
        }
        // env_logger: `[2024-01-01T12:00:00Z INFO  my_crate::module] message`.
        let close = after.find(']')?;
        let mut words = after[..close].split_whitespace();
        let level = Level::from_word(words.next()?)?;
        let service = words.next();
        if words.next().is_some() {
            return None;
        }
        self.header.timestamp = Some(at);
        self.header.level = Some(level);
        self.header.service = service;
        Some(&after[close + 1..])
    }

    /// Reads header parts from `text`; returns the message.
    fn parts(&mut self, text: &'a str) -> &'a str {
        let mut rest = text;
        for _ in 0..MAX_PARTS {
            let (after, dash) = separators(rest);
            rest = after;
            if dash {
                // A dash after the level and a name closes the header (Zookeeper, logback).
                if self.header.level.is_some()
                    && (self.header.service.is_some() || self.bracket.is_some())
                {
                    break;
                }
                self.dashed = true;
            }
            match self.part(rest) {
                Some(Step::Continue(after)) => rest = after,
                Some(Step::End(after)) => {
                    rest = after;
                    break;
                }
                None => break,
            }
        }
        if let Some((content, from)) = self.bracket {
            if self.header.service.is_some() {
                self.header.thread = Some(content);
            } else if !self.bracket_service(content) {
                // Words in brackets with no name after them are message text (`[client …]`).
                return from;
            }
        }
        rest.trim_start()
    }

    /// The service from a `[bracket]`, unless it holds words (then it is message text).
    /// log4j's `[%t:%C{1}@%L]`, as in Zookeeper's
    /// `[SendWorker:188978561024:QuorumCnxManager$SendWorker@688]`, names the thread, the
    /// class and the source line: the class is the service, so it does not change with every
    /// thread.
    fn bracket_service(&mut self, content: &'a str) -> bool {
        let located = content
            .rsplit_once('@')
            .filter(|(_, line)| is_id(line))
            .and_then(|(before, line)| Some((before.rsplit_once(':')?, line)));
        match located {
            Some(((thread, class), line)) if is_name(class) => {
                self.header.service = Some(class);
                self.header.thread = Some(thread.trim_end_matches(':'));
                self.header.source_line = Some(line);
            }
            _ if content.contains(char::is_whitespace) => return false,
            _ => self.header.service = Some(content),
        }
        true
    }

    /// One header part at the start of `text`, if there is one.
    fn part(&mut self, text: &'a str) -> Option<Step<'a>> {
        let after_level = std::mem::take(&mut self.after_level);
        if text.starts_with('[') {
            return self.bracketed(text);
        }
        let (token, after) = split_token(text);
        if token.is_empty() {
            return None;
        }
        if self.header.level.is_none()
            && let Some(level) = self.level_token(token, after)
        {
            self.header.level = Some(level);
            self.after_level = true;
            return Some(Step::Continue(after));
        }
        if is_id(token)
            && self.header.tid.is_none()
            && (after.starts_with('|') || header_follows(after))
        {
            let slot = if self.header.pid.is_none() {
                &mut self.header.pid
            } else {
                &mut self.header.tid
            };
            *slot = Some(token);
            return Some(Step::Continue(after));
        }
        if self.header.service.is_none() {
            return self.service(token, after, after_level);
        }
        None
    }

    /// A level word in one of the forms the module doc lists.
    fn level_token(&self, token: &str, after: &str) -> Option<Level> {
        let (word, colon) = match token.strip_suffix(':') {
            Some(word) => (word, true),
            None => (token, false),
        };
        let shaped = if word.len() == 1 {
            !colon && is_upper(word) && next_is_service_colon(after)
        } else if self.strict {
            is_upper(word)
        } else {
            colon || is_upper(word) || is_capitalized(word)
        };
        if shaped { Level::from_word(word) } else { None }
    }

    /// The service, in one of the forms the module doc lists.
    fn service(&mut self, token: &'a str, after: &'a str, after_level: bool) -> Option<Step<'a>> {
        if let Some(name) = token.strip_suffix(':') {
            if let Some((name, pid)) = name_with_pid(name) {
                self.header.service = Some(name);
                match self.header.pid {
                    None => self.header.pid = Some(pid),
                    Some(_) => self.header.tid = self.header.tid.or(Some(pid)),
                }
                return Some(Step::End(after));
            }
            let something_before =
                self.header.level.is_some() || self.header.pid.is_some() || self.bracket.is_some();
            if something_before && is_name(name) {
                self.header.service = Some(name);
                return Some(Step::End(after));
            }
            return None;
        }
        if !is_name(token) {
            return None;
        }
        let step = match Next::of(after) {
            Next::Pipe => Step::Continue(after),
            Next::Dash if self.header.level.is_some() || self.dashed => Step::Continue(after),
            Next::PaddedColon(rest) => Step::End(rest),
            Next::Padded if after_level => Step::Continue(after),
            _ => return None,
        };
        self.header.service = Some(token);
        Some(step)
    }

    /// `[notice]`, `[php7:emerg]`, or a `[bracket]` held until the header ends.
    fn bracketed(&mut self, text: &'a str) -> Option<Step<'a>> {
        let len = bracket_len(text)?;
        let content = text[1..len - 1].trim();
        let after = &text[len..];
        if self.header.level.is_none() {
            if let Some(level) = Level::from_word(content) {
                self.header.level = Some(level);
                self.after_level = true;
                return Some(Step::Continue(after));
            }
            if let Some((module, word)) = content.rsplit_once(':')
                && let Some(level) = Level::from_word(word)
            {
                self.header.level = Some(level);
                if !module.is_empty() && self.header.service.is_none() {
                    self.header.service = Some(module);
                }
                return Some(Step::Continue(after));
            }
        }
        if self.bracket.is_none() && self.header.service.is_none() && !content.is_empty() {
            self.bracket = Some((content, text));
            return Some(Step::Continue(after));
        }
        None
    }
}

/// Skips the separators between header parts; tells whether one was a dash.
/// Separators are ASCII, so they are skipped byte by byte, and every cut falls between
/// characters.
fn separators(text: &str) -> (&str, bool) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut dash = false;
    loop {
        while matches!(bytes.get(i), Some(b' ' | b'\t' | b',' | b'|')) {
            i += 1;
        }
        let dashes = bytes[i..].iter().take_while(|&&b| b == b'-').count();
        let standalone =
            (1..=3).contains(&dashes) && matches!(bytes.get(i + dashes), Some(b' ' | b'\t'));
        if !standalone {
            return (&text[i..], dash);
        }
        dash = true;
        i += dashes;
    }
}

/// A token: up to whitespace or `|`.
fn split_token(text: &str) -> (&str, &str) {
    text.split_at(token_len(text))
}

/// Where [`split_token`] cuts: the first `|` or `char::is_whitespace`. Headers are ASCII, so
/// each byte is looked up in [`TOKEN_BYTES`] and only a non-ASCII one decoded as a character.
fn token_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match TOKEN_BYTES[usize::from(byte)] {
            GOES_ON => i += 1,
            ENDS => return i,
            _ => {
                let c = text[i..].chars().next().expect("a character starts here");
                if c.is_whitespace() {
                    return i;
                }
                i += c.len_utf8();
            }
        }
    }
    i
}

/// [`TOKEN_BYTES`]: an ASCII byte that goes on with a token or ends it, or a non-ASCII one.
const GOES_ON: u8 = 0;
const ENDS: u8 = 1;
const NOT_ASCII: u8 = 2;

const TOKEN_BYTES: [u8; 256] = {
    let mut table = [NOT_ASCII; 256];
    let mut byte = 0;
    while byte < 128 {
        let ends = byte == b'|' || (byte as char).is_whitespace();
        table[byte as usize] = if ends { ENDS } else { GOES_ON };
        byte += 1;
    }
    table
};

/// Whether the text after a numeric token goes on with another header part, which is what
/// tells a process id from a number that starts the message.
fn header_follows(after: &str) -> bool {
    let (token, _) = split_token(after.trim_start());
    token.starts_with('[')
        || token.starts_with("---")
        || is_id(token)
        || next_is_service_colon(after)
        || ((is_upper(token) || is_capitalized(token)) && Level::from_word(token).is_some())
}

/// Whether the next token is `name:` or `name[pid]:`.
fn next_is_service_colon(after: &str) -> bool {
    let (token, _) = split_token(after.trim_start());
    token
        .strip_suffix(':')
        .is_some_and(|name| is_name(name) || name_with_pid(name).is_some())
}

/// `sshd[24200]`, `sshd(pam_unix)[19939]`: the name and the id.
fn name_with_pid(token: &str) -> Option<(&str, &str)> {
    let (name, pid) = token.strip_suffix(']')?.rsplit_once('[')?;
    (is_name(name) && !pid.is_empty() && !pid.contains(['[', ']'])).then_some((name, pid))
}

/// A process or thread id: one to ten digits.
fn is_id(token: &str) -> bool {
    (1..=10).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_digit())
}

/// A service or logger name: `dfs.DataNode$PacketResponder`, `my_crate::module`, `CBS`.
/// One pass over the bytes with [`NAME_BYTES`]: every byte a name byte, one of them a letter.
fn is_name(token: &str) -> bool {
    if !(1..=MAX_NAME).contains(&token.len()) {
        return false;
    }
    let mut seen = NAME_BYTE;
    for &b in token.as_bytes() {
        let class = NAME_BYTES[usize::from(b)];
        if class == 0 {
            return false;
        }
        seen |= class;
    }
    seen & LETTER != 0
}

/// [`NAME_BYTES`]: a byte a name may hold, and whether it is a letter.
const NAME_BYTE: u8 = 1;
const LETTER: u8 = 2;

const NAME_BYTES: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        let punctuation = matches!(
            b,
            b'.' | b'_' | b'-' | b'$' | b'/' | b'@' | b'#' | b'(' | b')' | b':'
        );
        table[byte] = if b.is_ascii_alphabetic() {
            NAME_BYTE | LETTER
        } else if b.is_ascii_digit() || punctuation {
            NAME_BYTE
        } else {
            0
        };
        byte += 1;
    }
    table
};

fn is_upper(word: &str) -> bool {
    word.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_capitalized(word: &str) -> bool {
    let mut bytes = word.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_uppercase()) && bytes.all(|b| b.is_ascii_lowercase())
}

/// The length of a `[bracket]` at the start of `text`, nested brackets included.
fn bracket_len(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate().take(MAX_BRACKET) {
        match b {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'\n' => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{is_name, separators, split_token};

    #[test]
    fn separators_skip_spaces_commas_pipes_and_dashes() {
        assert_eq!(separators(" , | msg"), ("msg", false));
        assert_eq!(separators(" - x"), ("x", true));
        assert_eq!(separators("--- x"), ("x", true));
        assert_eq!(separators("---- x"), ("---- x", false));
        assert_eq!(separators("-x"), ("-x", false));
        assert_eq!(separators("-"), ("-", false));
        assert_eq!(separators(" é"), ("é", false));
    }

    #[test]
    fn names_have_a_letter_and_only_name_bytes() {
        for (token, name) in [
            ("dfs.DataNode$PacketResponder", true),
            ("my_crate::module", true),
            ("sshd(pam_unix)", true),
            ("CBS", true),
            ("1234", false),
            ("-._", false),
            ("", false),
            ("a b", false),
            ("café", false),
            (&"a".repeat(129), false),
        ] {
            assert_eq!(is_name(token), name, "{token:?}");
        }
    }

    #[test]
    fn tokens_end_at_any_whitespace_or_a_pipe() {
        for text in [
            "",
            "sshd[1]: x",
            "a|b",
            "a\u{b}b",
            "é\u{a0}x",
            "日本\u{3000}語",
            "tail",
        ] {
            let end = text
                .find(|c: char| c.is_whitespace() || c == '|')
                .unwrap_or(text.len());
            assert_eq!(split_token(text), text.split_at(end), "{text:?}");
        }
    }
}
