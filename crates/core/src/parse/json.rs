//! JSON lines: one object per line, as structured loggers write them.
//!
//! The object is read by a small scanner rather than into a `serde_json::Value` tree: strings
//! without escapes are borrowed from the line, numbers keep their exact text, and nested
//! objects and arrays are kept whole as compact JSON text, so a line costs about one
//! allocation per field it keeps.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::fields::{self, Fields};
use super::trim_line_end;
use crate::event::LogEvent;

/// Parses a line holding one JSON object; `None` if it is not one.
///
/// Known names give the timestamp (`timestamp`, `@timestamp`, `time`, `ts`; RFC 3339 and the
/// other shapes plain text uses, or epoch seconds/milliseconds/nanoseconds as numbers or
/// numeric strings), the level (`level`, `severity`, `lvl`, words or numbers), the service
/// (`service`, `service.name`, `service: {"name": …}`, `app`, `component`, `logger`) and the
/// message (`message`, `msg`, `log`); every other field becomes an attribute, its value as
/// text. An object without a message field keeps the whole line as its message.
pub fn parse(line: &str, received: DateTime<Utc>) -> Option<LogEvent> {
    let line = trim_line_end(line);
    let mut reader = Reader::new(line);
    let mut fields = Fields::default();
    reader.ws();
    reader.object(|key, value| add(&mut fields, key, value))?;
    reader.ws();
    reader.at_end().then(|| fields.into_event(line, received))
}

/// Adds one top-level field; a nested `service` object gives its `name` as the service and
/// its other fields as `service.*` attributes.
fn add<'a>(fields: &mut Fields<'a>, key: Cow<'a, str>, value: Value<'a>) {
    if let Value::Object(raw) = value
        && fields::is_service_key(&key)
    {
        let mut nested = Reader::new(raw);
        let mut inner = Vec::new();
        if nested
            .object(|k, v| inner.push((k, v.into_text())))
            .is_some()
        {
            for (k, v) in inner {
                if k == "name" {
                    fields.push(key.clone(), v);
                } else {
                    fields.attribute(Cow::Owned(format!("{key}.{k}")), v);
                }
            }
            return;
        }
    }
    fields.push(key, value.into_text());
}

/// A JSON value as the event needs it.
enum Value<'a> {
    /// A string, unescaped.
    Text(Cow<'a, str>),
    /// A number, `true`, `false` or `null`, as written.
    Literal(&'a str),
    /// A nested object or array, as written.
    Object(&'a str),
    Array(&'a str),
}

impl<'a> Value<'a> {
    /// The value as attribute text: nested values become compact JSON.
    fn into_text(self) -> Cow<'a, str> {
        match self {
            Value::Text(text) => text,
            Value::Literal(raw) => Cow::Borrowed(raw),
            Value::Object(raw) | Value::Array(raw) => compact(raw),
        }
    }
}

/// JSON text without the whitespace outside its strings.
fn compact(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(is_ws) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii() && is_ws(c as u8) {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A position in the line. Every method returns `None` on text that is not JSON.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.pos += 1)
    }

    /// An object's members, each handed to `each` in order.
    fn object(&mut self, mut each: impl FnMut(Cow<'a, str>, Value<'a>)) -> Option<()> {
        self.expect(b'{')?;
        self.ws();
        if self.expect(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            each(key, self.value()?);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self) -> Option<Value<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Value::Text),
            b'{' => self.nested().map(Value::Object),
            b'[' => self.nested().map(Value::Array),
            _ => self.literal().map(Value::Literal),
        }
    }

    /// A number, `true`, `false` or `null`, checked only loosely: the text is kept as written.
    fn literal(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let rest = &self.bytes()[start..];
        let len = if rest.starts_with(b"true") || rest.starts_with(b"null") {
            4
        } else if rest.starts_with(b"false") {
            5
        } else if rest[0] == b'-' || rest[0].is_ascii_digit() {
            rest.iter()
                .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(rest.len())
        } else {
            return None;
        };
        self.pos += len;
        Some(&self.text[start..self.pos])
    }

    /// A nested object or array, skipped with its brackets balanced (without recursion, so
    /// deep nesting cannot exhaust the stack); its raw text.
    fn nested(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return Some(&self.text[start..self.pos]);
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        None
    }

    /// A string, borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = start
            + self.bytes()[start..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\')?;
        self.pos = end;
        if self.bytes()[end] == b'"' {
            self.pos += 1;
            return Some(Cow::Borrowed(&self.text[start..end]));
        }
        let mut out = String::from(&self.text[start..end]);
        self.unescape_into(&mut out)?;
        Some(Cow::Owned(out))
    }

    /// The rest of a string from its first backslash, unescaped into `out`.
    fn unescape_into(&mut self, out: &mut String) -> Option<()> {
        loop {
            let start = self.pos;
            let run = self.bytes()[start..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\')?;
            out.push_str(&self.text[start..start + run]);
            self.pos = start + run + 1;
            if self.bytes()[start + run] == b'"' {
                return Some(());
            }
            let escape = self.peek()?;
            self.pos += 1;
            match escape {
                b'"' | b'\\' | b'/' => out.push(char::from(escape)),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => out.push(self.unicode_escape()?),
                _ => return None,
            }
        }
    }

    /// The character of a `\uXXXX` escape (its `\u` already read), joining surrogate pairs;
    /// a lone surrogate becomes U+FFFD.
    fn unicode_escape(&mut self) -> Option<char> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return Some(char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        if self.bytes()[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let low = self.hex4()?;
            if (0xDC00..0xE000).contains(&low) {
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return char::from_u32(code);
            }
            self.pos = save;
        }
        Some(char::REPLACEMENT_CHARACTER)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let code = u32::from_str_radix(digits, 16).ok()?;
        self.pos += 4;
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_unescape() {
        let mut r = Reader::new(r#""a\"b\\c\/d\n\u00e9\ud83d\ude00\ud800x""#);
        assert_eq!(r.string().unwrap(), "a\"b\\c/d\né😀\u{fffd}x");
        assert!(r.at_end());
        assert!(Reader::new(r#""abc"#).string().is_none());
        assert!(Reader::new(r#""\q""#).string().is_none());
        assert!(Reader::new(r#""\u12""#).string().is_none());
        assert!(Reader::new(r#""\u+123""#).string().is_none());
    }

    #[test]
    fn nested_values_are_compacted() {
        assert_eq!(
            compact(r#"{"a": [1, 2], "b c": "x y"}"#),
            r#"{"a":[1,2],"b c":"x y"}"#
        );
        assert_eq!(compact(r#"{"q":"\" ]"}"#), r#"{"q":"\" ]"}"#);
        assert!(matches!(compact("[1,2]"), Cow::Borrowed(_)));
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let mut r = Reader::new(&deep);
        assert!(r.object(|_, _| {}).is_some());
    }
}
