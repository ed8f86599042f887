//! loghub-2.0's correction rules for template text (Jiang et al., "A Large-Scale Evaluation for
//! Log Parsing Techniques: How Far Are We?", ISSTA 2024, section 3.2), applied to a template
//! before its text is compared with the corrected truth, as the published parsers' pipelines
//! do: the truth was corrected with them, so a template that differs only in what they erase
//! is not counted wrong. These are the rules the paper lists (DS, BL, US, DG, PS, WV, DV, CV);
//! the corrected truth keeps forms such as `<*>:<*>` for an address and its port, so a template
//! must write them the same way to count.

/// Tokens that are variables whatever the system: booleans, nulls, user names (BL, US).
const ALWAYS_VARIABLE: [&str; 5] = ["true", "false", "null", "root", "admin"];

/// Characters that end a path-like token (PS).
fn ends_path(c: char) -> bool {
    c.is_whitespace() || ",!;:=|\"'[](){}".contains(c)
}

/// Characters that end any other token (DG, WV, BL, US).
fn ends_token(c: char) -> bool {
    ends_path(c) || ".-+@#$%&".contains(c)
}

/// `text` cut into tokens and the single delimiters between them, in order.
fn split_keeping(text: &str, delimiter: fn(char) -> bool) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if delimiter(c) {
            if start < at {
                parts.push(&text[start..at]);
            }
            parts.push(&text[at..at + c.len_utf8()]);
            start = at + c.len_utf8();
        }
    }
    if start < text.len() {
        parts.push(&text[start..]);
    }
    parts
}

/// `/a/b`: one or more slash-led segments, nothing else.
fn is_path(token: &str) -> bool {
    token.len() > 1
        && token.starts_with('/')
        && token.split('/').skip(1).all(|segment| !segment.is_empty())
}

/// A token holding a variable with other characters glued to it (`blk_<*>`), but for `<*>/<*>`.
fn is_glued_variable(token: &str) -> bool {
    token.contains("<*>") && !token.contains('/') && token != "<*>"
}

fn replace_all(mut text: String, from: &str, to: &str) -> String {
    while text.contains(from) {
        text = text.replace(from, to);
    }
    text
}

/// The template as loghub-2.0 writes it.
pub fn correct(template: &str) -> String {
    // DS: one space between words.
    let spaced = template.split_whitespace().collect::<Vec<_>>().join(" ");
    // PS: a path is a variable.
    let pathless: String = split_keeping(&spaced, ends_path)
        .into_iter()
        .map(|t| if is_path(t) { "<*>" } else { t })
        .collect();
    // DG, WV, BL, US, token by token.
    let mut text: String = split_keeping(&pathless, ends_token)
        .into_iter()
        .map(|t| {
            let digits = !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
            let always = ALWAYS_VARIABLE.iter().any(|w| t.eq_ignore_ascii_case(w));
            if digits || always || is_glued_variable(t) {
                "<*>"
            } else {
                t
            }
        })
        .collect();
    // DV, CV: variables joined by a dot, or by nothing, are one.
    loop {
        let before = text.len();
        text = replace_all(text, "<*>.<*>", "<*>");
        text = replace_all(text, "<*><*>", "<*>");
        if text.len() == before {
            return text;
        }
    }
}
