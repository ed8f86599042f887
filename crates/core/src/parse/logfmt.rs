//! logfmt lines: `ts=… level=info msg="connection refused" service=db retries=3`.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::fields::Fields;
use super::trim_line_end;
use crate::event::LogEvent;

/// Parses a logfmt line; `None` if it is not one.
///
/// Values are bare (up to the next space) or double-quoted with backslash escapes (`\"`,
/// `\\`, `\n`, `\r`, `\t`; any other escaped character is kept with its backslash). The same
/// names as in JSON give the timestamp, level, service and message; other pairs become
/// attributes, and a bare word is an attribute with an empty value (logfmt's flag). The line
/// must start with a pair and have more pairs than bare words, so prose that merely contains
/// an `=` is left to the plain parser. Without a message field the whole line is the message.
pub fn parse(line: &str, received: DateTime<Utc>) -> Option<LogEvent> {
    let line = trim_line_end(line);
    let mut rest = line.trim_start_matches([' ', '\t']);
    if !looks_like(rest) {
        return None;
    }
    let mut fields = Fields::default();
    let (mut pairs, mut flags) = (0usize, 0usize);
    while !rest.is_empty() {
        let key_len = rest.find(['=', ' ', '\t']).unwrap_or(rest.len());
        let (key, after_key) = rest.split_at(key_len);
        if let Some(after_eq) = after_key.strip_prefix('=') {
            if key.is_empty() {
                return None;
            }
            let (value, after) = value(after_eq)?;
            fields.push(Cow::Borrowed(key), value);
            pairs += 1;
            rest = after;
        } else {
            fields.attribute(Cow::Borrowed(key), Cow::Borrowed(""));
            flags += 1;
            rest = after_key;
        }
        rest = rest.trim_start_matches([' ', '\t']);
    }
    (pairs > flags).then(|| fields.into_event(line, received))
}

/// Whether a line starts like logfmt: a field name (a letter, `_` or `@`, then letters,
/// digits, `_`, `.`, `-`, `@`, `/`) and `=`. Cheap enough to run on every line.
pub(crate) fn looks_like(line: &str) -> bool {
    let bytes = line.as_bytes();
    let name_char =
        |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'@' | b'/');
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || matches!(b, b'_' | b'@') => {}
        _ => return false,
    }
    let len = bytes.iter().take_while(|b| name_char(b)).count();
    bytes.get(len) == Some(&b'=')
}

/// A value and the text after it.
fn value(text: &str) -> Option<(Cow<'_, str>, &str)> {
    match text.strip_prefix('"') {
        Some(quoted_text) => quoted(quoted_text),
        None => {
            let len = text.find([' ', '\t']).unwrap_or(text.len());
            Some((Cow::Borrowed(&text[..len]), &text[len..]))
        }
    }
}

/// A quoted value (its opening quote already read), borrowed when it has no escapes;
/// `None` when the quote is never closed.
fn quoted(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let first = text.find(['"', '\\'])?;
    if text.as_bytes()[first] == b'"' {
        return Some((Cow::Borrowed(&text[..first]), &text[first + 1..]));
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((Cow::Owned(out), &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                escaped @ ('"' | '\\') => out.push(escaped),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            _ => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_unescape() {
        assert_eq!(quoted(r#"a b" x"#), Some((Cow::Borrowed("a b"), " x")));
        assert_eq!(
            quoted(r#"say \"hi\"\n\q\\" x"#),
            Some((Cow::Owned("say \"hi\"\n\\q\\".to_owned()), " x"))
        );
        assert_eq!(quoted(r#"never closed"#), None);
        assert_eq!(quoted(r#"ends in \"#), None);
    }

    #[test]
    fn sniffing() {
        assert!(looks_like("ts=1 msg=x"));
        assert!(looks_like("@timestamp=1"));
        assert!(looks_like("service.name=db"));
        assert!(!looks_like("=x"));
        assert!(!looks_like("1a=x"));
        assert!(!looks_like("hello world a=b"));
        assert!(!looks_like(""));
    }
}
