//! Secret masking: what is cut out of log text before it leaves the machine for an LLM.
//!
//! Each [`Rule`] is a family of secrets. A [`Redactor`] applies the chosen rules, then the
//! user's own patterns, one pass each in a fixed order, and replaces every match with
//! `<redacted:NAME>`. A pass never looks inside what an earlier pass masked, nor inside the
//! miner's `<*>` wildcards: one secret is masked and counted once, and a template keeps its
//! shape.
//!
//! Where a case is doubtful the rules mask: a value the LLM does not see costs a little
//! context, a secret it has seen cannot be taken back.
//!
//! The built-in patterns are compiled once per process, on first use, and shared by every
//! redactor; user patterns are compiled by [`Redactor::new`].

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// A family of secrets.
///
/// The variants are in the order the rules are applied: a value found by its key (a header, a
/// `password=`) is masked whole before the shapes inside it (a JWT, an AWS key id) are looked
/// for, so it counts once, under the rule that names its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `Authorization` and `Proxy-Authorization` values, as headers, `authorization=…` or JSON.
    /// The scheme word (`Bearer`, `Basic`, …) is kept: it tells which kind of auth failed.
    Authorization,
    /// Values of keys that name a secret (`password=…`, `db_password: …`, `"accessToken": "…"`)
    /// and passwords in URLs (`postgres://app:…@db`).
    Secret,
    /// Keys whose shape gives them away wherever they appear: OpenAI `sk-…`, AWS access key ids,
    /// JWTs, GitHub and Slack tokens.
    ApiKey,
    /// E-mail addresses: personal data, not needed to explain an outage.
    Email,
    /// Payment card numbers that pass the Luhn check.
    Card,
}

impl Rule {
    /// Every rule, in the order they are applied.
    pub const ALL: [Rule; 5] = [
        Rule::Authorization,
        Rule::Secret,
        Rule::ApiKey,
        Rule::Email,
        Rule::Card,
    ];

    /// The name used in configuration, in counts and in the mask.
    pub const fn name(self) -> &'static str {
        match self {
            Rule::Authorization => "authorization",
            Rule::Secret => "secret",
            Rule::ApiKey => "api_key",
            Rule::Email => "email",
            Rule::Card => "card",
        }
    }

    /// The rule a configuration names, if any.
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.name() == name)
    }

    /// The passes of this rule, in order: each sees the text the one before left.
    fn finders(self) -> &'static [Finder] {
        match self {
            Rule::Authorization => &[authorization_values],
            Rule::Secret => &[secret_values, url_passwords],
            Rule::ApiKey => &[api_keys],
            Rule::Email => &[emails],
            Rule::Card => &[cards],
        }
    }
}

/// Finds the spans of a text to mask, in order and not overlapping.
type Finder = fn(&str) -> Vec<Range<usize>>;

/// The name user patterns are counted and masked under.
const CUSTOM: &str = "custom";

/// A user pattern that does not compile.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error(
        "invalid redaction pattern {pattern:?}: {source}. Fix or remove it in [llm] redact_patterns."
    )]
    Pattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
}

/// Masks secrets in text bound for an LLM. Built once from configuration, then shared.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// In [`Rule::ALL`] order, whatever order they were configured in.
    rules: Vec<Rule>,
    patterns: Vec<Regex>,
}

impl Redactor {
    /// `rules` to apply, plus user `patterns` (regexes whose whole match is masked, counted
    /// under the name "custom"). User patterns run after the rules, so a secret a rule knows
    /// is counted under that rule; they never match an empty string.
    pub fn new(rules: &[Rule], patterns: &[String]) -> Result<Self, RedactError> {
        let patterns = patterns
            .iter()
            .map(|pattern| {
                Regex::new(pattern).map_err(|source| RedactError::Pattern {
                    pattern: pattern.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            rules: Rule::ALL
                .into_iter()
                .filter(|rule| rules.contains(rule))
                .collect(),
            patterns,
        })
    }

    /// Masks every match; returns the text (borrowed when nothing matched) and what was masked.
    pub fn redact<'a>(&self, text: &'a str) -> Redacted<'a> {
        let mut redacted = Redacted {
            text: Cow::Borrowed(text),
            counts: Vec::new(),
        };
        for rule in &self.rules {
            for &finder in rule.finders() {
                redacted.apply(rule.name(), finder);
            }
        }
        for pattern in &self.patterns {
            redacted.apply(CUSTOM, |gap| whole_matches(pattern, gap));
        }
        redacted
    }
}

impl Default for Redactor {
    /// Every rule and no user pattern: the safe choice when nothing is configured.
    fn default() -> Self {
        Self {
            rules: Rule::ALL.to_vec(),
            patterns: Vec::new(),
        }
    }
}

/// Text with its secrets masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted<'a> {
    /// The text with every match replaced by `<redacted:NAME>`.
    pub text: Cow<'a, str>,
    /// (rule name, matches), only rules that matched, in the order they were applied.
    pub counts: Vec<(&'static str, u32)>,
}

impl Redacted<'_> {
    /// Runs one pass: masks the spans `spans` finds in each stretch of text between masks and
    /// wildcards, and counts them under `name`.
    fn apply(&mut self, name: &'static str, spans: impl Fn(&str) -> Vec<Range<usize>>) {
        let Some((text, n)) = mask(&self.text, name, spans) else {
            return;
        };
        self.text = Cow::Owned(text);
        match self.counts.iter_mut().find(|(counted, _)| *counted == name) {
            Some((_, total)) => *total += n,
            None => self.counts.push((name, n)),
        }
    }
}

/// `text` with the spans found between protected stretches replaced by `<redacted:NAME>`, and
/// their number; `None` when there were none, so that unchanged text stays borrowed.
fn mask(
    text: &str,
    name: &str,
    spans: impl Fn(&str) -> Vec<Range<usize>>,
) -> Option<(String, u32)> {
    let mut out = String::new();
    let mut copied = 0;
    let mut n = 0;
    for gap in gaps(text) {
        for span in spans(&text[gap.clone()]) {
            out.push_str(&text[copied..gap.start + span.start]);
            out.push_str("<redacted:");
            out.push_str(name);
            out.push('>');
            copied = gap.start + span.end;
            n += 1;
        }
    }
    if n == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some((out, n))
}

/// Masks already made and the miner's wildcards: no pass looks inside them. Both start and end
/// with a non-word character, so word boundaries at the edge of a gap are the ones the whole
/// text has.
static PROTECTED: LazyLock<Regex> = LazyLock::new(|| regex(r"<\*>|<redacted:[a-z_]+>"));

/// The stretches of `text` between protected ones.
fn gaps(text: &str) -> Vec<Range<usize>> {
    let mut gaps = Vec::new();
    let mut start = 0;
    for protected in PROTECTED.find_iter(text) {
        gaps.push(start..protected.start());
        start = protected.end();
    }
    gaps.push(start..text.len());
    gaps
}

/// Compiles a built-in pattern; the tests compile every one.
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in redaction patterns are valid")
}

/// Every non-empty match of `pattern`: an empty one would insert a mask between characters.
fn whole_matches(pattern: &Regex, text: &str) -> Vec<Range<usize>> {
    pattern
        .find_iter(text)
        .filter(|found| !found.is_empty())
        .map(|found| found.range())
        .collect()
}

/// A key ending in one of `words`, its closing quote if any (`"`, `'`, or `\"` in JSON escaped
/// inside a string, once or more), and the separator: `=`, `:`, `:=` or `=>`, spaces around it.
fn key_regex(words: &str) -> Regex {
    regex(&format!(
        r#"(?i)(?:{words})(?:\\*["'])?[ \t]*(?:=>|:=|[:=])[ \t]*"#
    ))
}

/// Words that make a key secret. Only the end of a key counts, so `tokenizer`, `tokens`,
/// `token_count` and `passwords_checked` are not secret keys, and `db_password`,
/// `access_token` and `clientSecret` are.
static SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| {
    key_regex(concat!(
        "passw(?:or)?d|passphrase|pwd|secret|token|session(?:[_-]?id)?",
        "|api[_-]?key|private[_-]?key|secret[_-]?(?:access[_-]?)?key",
    ))
});

/// `Authorization`, `Proxy-Authorization`, `HTTP_AUTHORIZATION`, `"authorization"`.
static AUTHORIZATION_KEY: LazyLock<Regex> = LazyLock::new(|| key_regex("authorization"));

fn secret_values(text: &str) -> Vec<Range<usize>> {
    keyed_values(&SECRET_KEY, text)
}

fn authorization_values(text: &str) -> Vec<Range<usize>> {
    keyed_values(&AUTHORIZATION_KEY, text)
}

/// The password in a URL's user info (`postgres://app:hunter2@db:5432`), up to the last `@`
/// before the path: a password may hold an `@`. Connection errors print these.
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:([^\s/?#]+)@"));

fn url_passwords(text: &str) -> Vec<Range<usize>> {
    URL_PASSWORD
        .captures_iter(text)
        .filter_map(|found| found.get(1))
        .map(|password| password.range())
        .collect()
}

/// The spans of the values that follow each key `key` finds, where the key is a word of its own.
fn keyed_values(key: &Regex, text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(found) = key.find_at(text, at) {
        if !starts_word(text, found.start()) {
            // `mypassword=`: look again from the next character, for `mysession_token=`.
            at = found.start()
                + text[found.start()..]
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8);
            continue;
        }
        at = found.end();
        if let Some(value) = value_span(&text[found.end()..]) {
            spans.push(found.end() + value.start..found.end() + value.end);
            at = found.end() + value.end;
        }
    }
    spans
}

/// Whether the key word at `at` starts a word: at the start of the text, after a character
/// that is not a letter or digit (`_`, `-`, `.`, a quote), or as a camelCase hump
/// (`dbPassword`). `mypassword` and `APIPASSWORD` are other words.
fn starts_word(text: &str, at: usize) -> bool {
    match text[..at].chars().next_back() {
        None => true,
        Some(before) if !before.is_alphanumeric() => true,
        Some(before) => {
            (before.is_lowercase() || before.is_ascii_digit())
                && text[at..].starts_with(char::is_uppercase)
        }
    }
}

/// The part of the value at the start of `rest` to mask: inside its quotes if it is quoted,
/// after its auth scheme if it has one. `None` when there is nothing to hide: an empty value,
/// a bare scheme (`Authorization: Bearer`), `null`, `true`, `false`, a nested object.
fn value_span(rest: &str) -> Option<Range<usize>> {
    let span = match quoted(rest) {
        Some(inner) => inner.start + scheme_len(&rest[inner.clone()])..inner.end,
        None => match scheme_len(rest) {
            0 => 0..bare_len(rest),
            scheme => scheme..scheme + credential_len(&rest[scheme..]),
        },
    };
    let value = rest[span.clone()].trim();
    let nothing = ["null", "nil", "none", "true", "false"];
    let hidden = !value.is_empty() && !nothing.iter().any(|w| value.eq_ignore_ascii_case(w));
    hidden.then_some(span)
}

/// The range inside the quotes when `rest` starts with a quoted string: `"…"` or `'…'` with
/// backslash escapes, or `\"…\"` (JSON escaped inside a JSON string, once or more). An unclosed
/// quote runs to the end of the line: a cut-off line must not leak the rest of its secret.
fn quoted(rest: &str) -> Option<Range<usize>> {
    let escapes = rest.len() - rest.trim_start_matches('\\').len();
    if escapes > 0 {
        // Closed by the same backslashes and quote that opened it.
        let open = escapes + 1;
        let delimiter = rest.get(..open).filter(|d| d.ends_with('"'))?;
        let inner = &rest[open..];
        let end = [inner.find(delimiter), inner.find('\n')]
            .into_iter()
            .flatten()
            .min();
        return Some(open..open + end.unwrap_or(inner.len()));
    }
    let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let mut escaped = false;
    for (i, c) in rest[1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\n' => return Some(1..1 + i),
            c if c == quote => return Some(1..1 + i),
            _ => {}
        }
    }
    Some(1..rest.len())
}

/// HTTP auth schemes: the word before the credentials, which is kept.
static SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"(?i)^(?:basic|bearer|digest|negotiate|ntlm|token|apikey|dpop|hoba|mutual|vapid|oauth",
        r"|gssapi|scram-sha-(?:1|256)|aws4-hmac-sha256)\b[ \t]*",
    ))
});

/// Length of the auth scheme and the spaces after it at the start of `value`, 0 if none.
fn scheme_len(value: &str) -> usize {
    SCHEME.find(value).map_or(0, |found| found.end())
}

/// Credentials after a scheme: a token (`dXNlcjpwYXNz`, a JWT), or the `key=value` list of
/// Digest and AWS signatures, whose values may be quoted and hold commas and spaces.
static CREDENTIAL: LazyLock<Regex> = LazyLock::new(|| {
    let item = r#"(?:[^\s,"'\\]|"(?:[^"\\\n]|\\.)*")"#;
    regex(&format!(r"^{item}+(?:,[ \t]*[\w-]+={item}*)*"))
});

fn credential_len(rest: &str) -> usize {
    CREDENTIAL.find(rest).map_or(0, |found| found.end())
}

/// Length of an unquoted value: up to whitespace, a quote, or the punctuation that ends a value
/// in URLs (`&`), cookies (`;`) and printed structs (`,`, `)`, `]`, `}`). A value that opens
/// an object or a list is not a secret itself; `=` at the start is a comparison (`==`).
fn bare_len(rest: &str) -> usize {
    if rest.starts_with(['{', '[', '(', '=']) {
        return 0;
    }
    rest.find(|c: char| c.is_whitespace() || "\"',;&)]}".contains(c))
        .unwrap_or(rest.len())
}

/// OpenAI (`sk-…`, `sk-proj-…`), AWS access key ids, JWTs (header and payload both JSON, so
/// both start `eyJ`), GitHub tokens (classic and fine-grained) and Slack tokens. Each must
/// start a word, so `disk-pressure-…` and `task-…` ids are left alone.
static API_KEY: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"\bsk-[A-Za-z0-9_-]{20,}",
        r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
        r"|\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
        r"|\bgh[opsur]_[A-Za-z0-9]{36,}",
        r"|\bgithub_pat_[A-Za-z0-9_]{22,}",
        r"|\bxox[abprs]-[A-Za-z0-9-]{10,}",
    ))
});

/// An address with a dotted domain and a letter TLD: not `user@localhost`, `pkg@1.2.3` or
/// `image@sha256:…`.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?";
    regex(&format!(
        r"[A-Za-z0-9._%+-]+@{label}(?:\.{label})*\.[A-Za-z]{{2,}}"
    ))
});

fn api_keys(text: &str) -> Vec<Range<usize>> {
    whole_matches(&API_KEY, text)
}

fn emails(text: &str) -> Vec<Range<usize>> {
    whole_matches(&EMAIL, text)
}

static DIGITS: LazyLock<Regex> = LazyLock::new(|| regex("[0-9]+"));

/// Card numbers have 13 to 19 digits.
const CARD_DIGITS: Range<usize> = 13..20;

/// Spans of card numbers: runs of digit groups joined by single spaces or dashes, 13 to 19
/// digits in all, that pass the Luhn check. In a longer run (a date, then a card) each card is
/// found on its own, as the longest card starting at the earliest group.
fn cards(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    for run in digit_runs(text) {
        let mut start = 0;
        while start < run.len() {
            match longest_card(text, &run[start..]) {
                Some(groups) => {
                    spans.push(run[start].start..run[start + groups - 1].end);
                    start += groups;
                }
                None => start += 1,
            }
        }
    }
    spans
}

/// How many of the leading `groups` make the longest card, if any do.
fn longest_card(text: &str, groups: &[Range<usize>]) -> Option<usize> {
    let mut digits = Vec::new();
    let mut longest = None;
    for (i, group) in groups.iter().enumerate() {
        digits.extend(text[group.clone()].bytes().map(|b| b - b'0'));
        if digits.len() >= CARD_DIGITS.end {
            break;
        }
        if is_card(&digits) {
            longest = Some(i + 1);
        }
    }
    longest
}

/// Whether `digits` are a card number: the right length, a first digit of an issuer that
/// prints cards (2 Mastercard, 3 Amex, Diners and JCB, 4 Visa, 5 Mastercard, 6 Discover and
/// UnionPay), and the Luhn check. The first-digit test keeps epoch timestamps in ms, µs and ns,
/// which all start with 1, from passing one time in ten.
fn is_card(digits: &[u8]) -> bool {
    CARD_DIGITS.contains(&digits.len()) && (2..=6).contains(&digits[0]) && luhn(digits)
}

/// The Luhn checksum: from the right, every second digit doubled (less 9 past 9), sum ending in 0.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match i % 2 {
                0 => d,
                _ if d * 2 > 9 => d * 2 - 9,
                _ => d * 2,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Digit groups that could be part of a card, gathered into runs of groups one space or dash
/// apart. A group of one or two digits (a month, a day) ends a run: cards print in groups of
/// three or more.
fn digit_runs(text: &str) -> Vec<Vec<Range<usize>>> {
    let mut runs: Vec<Vec<Range<usize>>> = Vec::new();
    for group in DIGITS.find_iter(text).map(|found| found.range()) {
        if group.len() < 3 || glued(text, &group) {
            continue;
        }
        // Groups are maximal, so a skipped group between two others keeps them apart.
        let joined = |last: &Range<usize>| {
            last.end + 1 == group.start && matches!(text.as_bytes()[last.end], b' ' | b'-')
        };
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(joined) => run.push(group),
            _ => runs.push(vec![group]),
        }
    }
    runs
}

/// Whether the digits at `group` belong to a longer word (`id4111…`, `txn_4111…`) or a decimal
/// (`0.4111…`, `v1.4111`) rather than standing as a number of their own.
fn glued(text: &str, group: &Range<usize>) -> bool {
    sticks(text[..group.start].chars().rev()) || sticks(text[group.end..].chars())
}

/// Whether the characters on one side, nearest first, join the digits into a longer token.
fn sticks(mut side: impl Iterator<Item = char>) -> bool {
    match side.next() {
        Some(c) if c.is_alphanumeric() || c == '_' => true,
        Some('.') => side.next().is_some_and(char::is_alphanumeric),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.\
                       dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

    fn redact(text: &str) -> (String, Vec<(&'static str, u32)>) {
        let redacted = Redactor::default().redact(text);
        (redacted.text.into_owned(), redacted.counts)
    }

    /// Each case is `(input, expected output)`; every change must be a mask of `rule`.
    fn assert_masks(rule: Rule, cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            let (text, counts) = redact(input);
            assert_eq!(&text, expected, "{input}");
            let n = expected.matches("<redacted:").count() as u32;
            assert_eq!(counts, vec![(rule.name(), n)], "{input}");
        }
    }

    fn assert_untouched(lines: &[&str]) {
        for line in lines {
            let redacted = Redactor::default().redact(line);
            assert!(matches!(redacted.text, Cow::Borrowed(_)), "{line}");
            assert_eq!(redacted.counts, [], "{line}");
        }
    }

    #[test]
    fn built_in_patterns_compile() {
        for pattern in [
            &PROTECTED,
            &SECRET_KEY,
            &AUTHORIZATION_KEY,
            &URL_PASSWORD,
            &SCHEME,
            &CREDENTIAL,
            &API_KEY,
            &EMAIL,
            &DIGITS,
        ] {
            LazyLock::force(pattern);
        }
    }

    #[test]
    fn secret_masks_the_values_of_secret_keys() {
        assert_masks(
            Rule::Secret,
            &[
                (
                    r#"level=error msg="login failed" user=bob password=hunter2 retry=3"#,
                    r#"level=error msg="login failed" user=bob password=<redacted:secret> retry=3"#,
                ),
                (
                    r#"connect db_password="p@ss word" DB_PASSWORD=x1 spring.datasource.password=y2"#,
                    r#"connect db_password="<redacted:secret>" DB_PASSWORD=<redacted:secret> spring.datasource.password=<redacted:secret>"#,
                ),
                (
                    r#"{"user":"bob","token": "abc123","client_secret":"s3cr3t","accessToken":"t0k"}"#,
                    r#"{"user":"bob","token": "<redacted:secret>","client_secret":"<redacted:secret>","accessToken":"<redacted:secret>"}"#,
                ),
                (
                    "GET /oauth/cb?code=x&access_token=ya29.a0Af&state=y HTTP/1.1",
                    "GET /oauth/cb?code=x&access_token=<redacted:secret>&state=y HTTP/1.1",
                ),
                (
                    r#"{"msg":"{\"password\":\"hunter2\",\"user\":\"bob\"}"}"#,
                    r#"{"msg":"{\"password\":\"<redacted:secret>\",\"user\":\"bob\"}"}"#,
                ),
                (
                    r#"{"log":"{\"body\":\"{\\\"token\\\":\\\"abc\\\"}\"}"}"#,
                    r#"{"log":"{\"body\":\"{\\\"token\\\":\\\"<redacted:secret>\\\"}\"}"}"#,
                ),
                (
                    "config loaded: {'api_key': 'abc', 'region': 'eu'} Config{apiKey=k1, x-api-key: k2}",
                    "config loaded: {'api_key': '<redacted:secret>', 'region': 'eu'} Config{apiKey=<redacted:secret>, x-api-key: <redacted:secret>}",
                ),
                (
                    "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY private_key := k",
                    "aws_secret_access_key=<redacted:secret> private_key := <redacted:secret>",
                ),
                (
                    "Cookie: sessionid=8f2c; theme=dark; session=a1",
                    "Cookie: sessionid=<redacted:secret>; theme=dark; session=<redacted:secret>",
                ),
                ("password: hunter2", "password: <redacted:secret>"),
                (
                    "dial postgres://app:hunter2@db:5432/app failed; retry redis://:p@ss@cache:6379",
                    "dial postgres://app:<redacted:secret>@db:5432/app failed; retry redis://:<redacted:secret>@cache:6379",
                ),
                (
                    r#"password="unclosed secret"#,
                    r#"password="<redacted:secret>"#,
                ),
            ],
        );
    }

    /// The key must end with the secret word: `token_count`, `max_tokens` and `tokenizer` are
    /// counts and settings, not secrets; `mypassword` is some other word.
    #[test]
    fn secret_leaves_other_keys_and_empty_values_alone() {
        assert_untouched(&[
            "tokenizer=bpe tokens=5 token_count=3 max_tokens=512 prompt_tokens=80",
            "passwords_checked=3 secrets=2 mypassword=x sessions_active=12",
            "invalid token for user 42",
            "token expired, refreshing token",
            r#"{"token": null, "password": "", "session": {"id": 7}, "secret": false}"#,
            "password=<*> token=<*>",
            r#"{"password": "<*>"}"#,
            "GET https://api.example.com:8443/v1/orders?page=2 via http://[::1]:8080/x@y",
            "postgres://<*>:<*>@<*>/app",
        ]);
    }

    #[test]
    fn authorization_masks_header_values_and_keeps_the_scheme() {
        let jwt_header = format!("Authorization: Bearer {JWT}\r\nUser-Agent: curl/8.5.0");
        assert_masks(
            Rule::Authorization,
            &[
                (
                    jwt_header.as_str(),
                    "Authorization: Bearer <redacted:authorization>\r\nUser-Agent: curl/8.5.0",
                ),
                (
                    "upstream 407 Proxy-Authorization: Basic dXNlcjpwYXNz, Host: api",
                    "upstream 407 Proxy-Authorization: Basic <redacted:authorization>, Host: api",
                ),
                (
                    r#"level=warn authorization="Bearer abc.def" status=401"#,
                    r#"level=warn authorization="Bearer <redacted:authorization>" status=401"#,
                ),
                (
                    r#"{"headers":{"Authorization":"Basic dXNl","Accept":"*/*"}}"#,
                    r#"{"headers":{"Authorization":"Basic <redacted:authorization>","Accept":"*/*"}}"#,
                ),
                (
                    "HTTP_AUTHORIZATION=rawkey123 path=/v1",
                    "HTTP_AUTHORIZATION=<redacted:authorization> path=/v1",
                ),
                (
                    r#"authorization: Digest username="bob", realm="Staff only", nonce="dcd98b", response="6629fae4" ok"#,
                    "authorization: Digest <redacted:authorization> ok",
                ),
                (
                    "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240610/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3be",
                    "Authorization: AWS4-HMAC-SHA256 <redacted:authorization>",
                ),
            ],
        );
        assert_untouched(&[
            "Authorization: Bearer <*>",
            "Authorization: Bearer",
            "authorization failed for user bob",
        ]);
    }

    #[test]
    fn api_keys_are_masked_wherever_they_appear() {
        assert_masks(
            Rule::ApiKey,
            &[
                (
                    "openai call failed with key sk-proj-AbCdEf1234567890_GhIjKlMnOp-QrStUv: 401",
                    "openai call failed with key <redacted:api_key>: 401",
                ),
                (
                    "s3 put denied for AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A",
                    "s3 put denied for <redacted:api_key> and <redacted:api_key>",
                ),
                (
                    format!("verifying {JWT} failed: expired").as_str(),
                    "verifying <redacted:api_key> failed: expired",
                ),
                (
                    "git clone https://ghp_1234567890abcdefghijklmnopqrstuvwxyz@github.com/o/r",
                    "git clone https://<redacted:api_key>@github.com/o/r",
                ),
                (
                    "slack post with xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
                    "slack post with <redacted:api_key>",
                ),
            ],
        );
        assert_untouched(&[
            "sk-short-key",
            "pod disk-pressure-eviction-threshold-exceeded evicted task-0123456789abcdefghij",
            "AKIAIOSFODNN7EXAMP",
            "header eyJhbGciOiJIUzI1NiJ9 only",
        ]);
    }

    #[test]
    fn a_token_inside_a_keyed_value_counts_once() {
        let (text, counts) = redact(&format!("token={JWT} Authorization: Bearer {JWT}"));
        assert_eq!(
            text,
            "token=<redacted:secret> Authorization: Bearer <redacted:authorization>"
        );
        assert_eq!(counts, [("authorization", 1), ("secret", 1)]);
    }

    #[test]
    fn emails_are_masked() {
        assert_masks(
            Rule::Email,
            &[
                (
                    "password reset sent to bob.smith+alerts@mail.example.co.uk.",
                    "password reset sent to <redacted:email>.",
                ),
                (
                    r#"{"user":"alice@example.com","event":"signup"}"#,
                    r#"{"user":"<redacted:email>","event":"signup"}"#,
                ),
            ],
        );
        assert_untouched(&[
            "ssh root@localhost",
            "installed pkg@1.2.3 from image@sha256:9f86d08",
            "template user <*>@<*> logged in",
        ]);
    }

    #[test]
    fn cards_that_pass_luhn_are_masked() {
        assert_masks(
            Rule::Card,
            &[
                (
                    "charge failed card=4111111111111111 amount=12.50",
                    "charge failed card=<redacted:card> amount=12.50",
                ),
                (
                    "card 4111 1111 1111 1111 and 5555-5555-5555-4444 declined",
                    "card <redacted:card> and <redacted:card> declined",
                ),
                (
                    r#"{"pan":"378282246310005","amex":"3782 822463 10005"}"#,
                    r#"{"pan":"<redacted:card>","amex":"<redacted:card>"}"#,
                ),
                (
                    "2024-06-10 4111111111111111 declined",
                    "2024-06-10 <redacted:card> declined",
                ),
                ("order-4111111111111111 1234", "order-<redacted:card> 1234"),
            ],
        );
    }

    #[test]
    fn numbers_that_are_not_cards_stay() {
        assert_untouched(&[
            // Luhn fails.
            "order_id=4111111111111112 ref=4539876512345678",
            // Passes Luhn, but epoch timestamps start with 1, card numbers do not.
            "ts=1718035200126 took=12ms",
            // 20 digits, and digits inside longer tokens or decimals.
            "trace=41111111111111112222 txn_4111111111111111 id4111111111111111 score=0.4111111111111111",
            "2024-06-10T12:00:00.123Z request 550e8400-e29b-41d4-a716-446655440000 from 10.0.12.7:8080",
            "HikariPool-1 - Connection is not available, request timed out after 30000ms. Pool exhausted (total=10, active=10, idle=0, waiting=42)",
            "template <*> took <*> ms for order <*>",
        ]);
    }

    #[test]
    fn nothing_to_mask_stays_borrowed() {
        let line = "level=info msg=\"GET /healthz 200\" latency=1.2ms";
        let redacted = Redactor::default().redact(line);
        assert!(matches!(redacted.text, Cow::Borrowed(text) if text == line));
        assert!(redacted.counts.is_empty());
    }

    #[test]
    fn counts_every_match_per_rule() {
        let (text, counts) = redact(
            "password=a token=b mail alice@example.com and bob@example.org card 4111111111111111",
        );
        assert_eq!(
            text,
            "password=<redacted:secret> token=<redacted:secret> mail <redacted:email> and \
             <redacted:email> card <redacted:card>"
        );
        assert_eq!(counts, [("secret", 2), ("email", 2), ("card", 1)]);
    }

    #[test]
    fn redacting_again_changes_nothing() {
        let (once, _) = redact(&format!(
            "password=x Authorization: Bearer {JWT} alice@example.com 4111111111111111"
        ));
        assert_untouched(&[&once]);
    }

    #[test]
    fn only_chosen_rules_apply() {
        let redactor = Redactor::new(&[Rule::Email], &[]).unwrap();
        let redacted = redactor.redact("password=x alice@example.com");
        assert_eq!(redacted.text, "password=x <redacted:email>");
        assert_eq!(redacted.counts, [("email", 1)]);
    }

    #[test]
    fn custom_patterns_mask_the_whole_match_as_custom() {
        let patterns = [
            r"\bcust-\d{6}\b".to_owned(),
            r"tenant=\w+".to_owned(),
            "x*".to_owned(),
        ];
        let redactor = Redactor::new(&Rule::ALL, &patterns).unwrap();
        let redacted = redactor.redact("cust-004217 tenant=acme password=x cust-000001");
        assert_eq!(
            redacted.text,
            "<redacted:custom> <redacted:custom> password=<redacted:secret> <redacted:custom>"
        );
        assert_eq!(redacted.counts, [("secret", 1), ("custom", 3)]);
    }

    #[test]
    fn an_invalid_pattern_is_an_error_that_names_it() {
        let err =
            Redactor::new(&Rule::ALL, &["ok".to_owned(), "(unclosed".to_owned()]).unwrap_err();
        let RedactError::Pattern { pattern, .. } = &err;
        assert_eq!(pattern, "(unclosed");
        let message = err.to_string();
        assert!(
            message.starts_with("invalid redaction pattern \"(unclosed\": "),
            "{message}"
        );
        assert!(
            message.ends_with("Fix or remove it in [llm] redact_patterns."),
            "{message}"
        );
    }

    #[test]
    fn names_round_trip() {
        let names = Rule::ALL.map(Rule::name);
        assert_eq!(
            names,
            ["authorization", "secret", "api_key", "email", "card"]
        );
        for rule in Rule::ALL {
            assert_eq!(Rule::from_name(rule.name()), Some(rule));
        }
        assert_eq!(Rule::from_name("custom"), None);
        assert_eq!(Rule::from_name("Email"), None);
    }

    /// A 16-digit number with a card's first digit and a valid Luhn check digit.
    fn card() -> impl Strategy<Value = String> {
        (2u8..=6, prop::collection::vec(0u8..10, 14)).prop_map(|(first, rest)| {
            let mut digits = vec![first];
            digits.extend(rest);
            let check = (0..10)
                .find(|&c| luhn(&[&digits[..], &[c]].concat()))
                .unwrap();
            digits.push(check);
            digits.iter().map(|d| char::from(b'0' + d)).collect()
        })
    }

    /// Text that reaches the parsers' corners: keys, quotes, escapes, schemes, wildcards, masks,
    /// digits and multi-byte characters, in any order, mixed with arbitrary strings.
    fn text() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "password",
            "Token",
            "authorization",
            "=",
            ":",
            "=>",
            "\"",
            "'",
            "\\\"",
            "\\",
            " ",
            "\n",
            "Bearer ",
            "Digest a=\"",
            ",",
            "<*>",
            "<redacted:secret>",
            "<",
            ">",
            "@",
            ".com",
            "-",
            "_",
            "4111",
            "eyJ",
            "sk-",
            "AKIA",
            "ſ",
            "K",
            "é",
            "日本",
        ]);
        let piece = prop_oneof![
            3 => pieces.prop_map(str::to_owned),
            1 => any::<String>(),
            1 => "[0-9 -]{1,20}",
        ];
        prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn never_panics_and_masks_are_final(text in text()) {
            let once = Redactor::default().redact(&text);
            let twice = Redactor::default().redact(&once.text);
            prop_assert_eq!(&twice.text, &once.text);
            prop_assert!(twice.counts.is_empty());
        }

        #[test]
        fn cards_and_openai_keys_never_get_through(
            before in text(),
            between in text(),
            after in text(),
            card in card(),
            key in "[A-Za-z0-9]{20}",
        ) {
            let key = format!("sk-{key}");
            let line = format!("{before} {card} {between} {key} {after}");
            let redacted = Redactor::default().redact(&line);
            prop_assert!(!redacted.text.contains(&card), "{}", redacted.text);
            prop_assert!(!redacted.text.contains(&key), "{}", redacted.text);
        }
    }
}
