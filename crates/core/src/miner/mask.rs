//! Which words are variables: the rules that mask a word before the tree sees it.
//!
//! The Drain paper (He et al., ICWS 2017, section III-B) preprocesses logs with domain regexes
//! for IPs and block ids; these rules are the general form of that step. A word with a digit is
//! almost always a value (numbers, hex, UUIDs, IPs, ports, durations, ids, timestamps), so the
//! digit rule carries most of the weight; the others catch values written without digits.

/// Hex strings without a digit are rare words; from this length on they are taken as ids.
const MIN_BARE_HEX_LEN: usize = 8;

/// A digit or a backslash: the word is a value.
const VALUE: u8 = 1;
/// `@` or `:`: a value depending on where it stands (see [`has_placed_value`]).
const PLACED: u8 = 2;
/// Anything but `0-9`, `a-f` and `A-F`.
const NOT_HEX: u8 = 4;
/// Every flag [`class`] sets; the bits above are free for a caller's own flags.
pub const CLASS_BITS: u8 = VALUE | PLACED | NOT_HEX;

/// What `byte` says about a word that holds it. Or-ed over a word's bytes (see [`classes`]),
/// these flags are all [`is_variable_with`] needs to know about the bytes, so a scan that reads
/// the word anyway can gather them on the way.
pub const fn class(byte: u8) -> u8 {
    if byte.is_ascii_digit() || byte == b'\\' {
        VALUE
    } else if byte == b'@' || byte == b':' {
        PLACED | NOT_HEX
    } else if byte.is_ascii_hexdigit() {
        0
    } else {
        NOT_HEX
    }
}

const CLASS: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = class(byte as u8);
        byte += 1;
    }
    table
};

/// The [`class`] flags of `word`'s bytes, or-ed together.
pub fn classes(word: &[u8]) -> u8 {
    word.iter()
        .fold(0, |seen, &byte| seen | CLASS[usize::from(byte)])
}

/// Whether `word` (one token of a message, punctuation already split off) is a variable.
pub fn is_variable(word: &[u8]) -> bool {
    is_variable_with(word, classes(word))
}

/// [`is_variable`] for a word whose [`classes`] are known: a digit, a backslash (a Windows
/// path), an `@` after the first byte (an address) or `://` (a URL) make a value; so do rooted
/// paths, long hex runs and date names.
pub fn is_variable_with(word: &[u8], classes: u8) -> bool {
    if classes & VALUE != 0 || (classes & PLACED != 0 && has_placed_value(word)) {
        return true;
    }
    let hex_only = classes & NOT_HEX == 0;
    is_rooted_path(word) || (hex_only && word.len() >= MIN_BARE_HEX_LEN) || is_date_name(word)
}

/// An `@` after the first byte (an address) or a `:` that starts `://` (a URL).
fn has_placed_value(word: &[u8]) -> bool {
    word.iter().enumerate().any(|(i, &byte)| match byte {
        b'@' => i > 0,
        b':' => word[i + 1..].starts_with(b"//"),
        _ => false,
    })
}

/// `/var/log/x`, `./run`, `~/.cache`: file system paths (not a lone `/`).
fn is_rooted_path(word: &[u8]) -> bool {
    match word {
        [b'/', rest @ ..] => rest.iter().any(|&b| b != b'/'),
        [b'.' | b'~', b'/', ..] => true,
        _ => false,
    }
}

/// Month and weekday names, as dates print them (`Fri Jun 17 07:07:00 2005`).
fn is_date_name(word: &[u8]) -> bool {
    matches!(
        word,
        b"Jan"
            | b"Feb"
            | b"Mar"
            | b"Apr"
            | b"May"
            | b"Jun"
            | b"Jul"
            | b"Aug"
            | b"Sep"
            | b"Sept"
            | b"Oct"
            | b"Nov"
            | b"Dec"
            | b"Mon"
            | b"Tue"
            | b"Wed"
            | b"Thu"
            | b"Fri"
            | b"Sat"
            | b"Sun"
    )
}

/// Units of size and time, which follow a number and vary with its magnitude (`93.0 B`,
/// `5.2 KB`).
pub fn is_unit(word: &[u8]) -> bool {
    matches!(
        word,
        b"B" | b"KB"
            | b"MB"
            | b"GB"
            | b"TB"
            | b"KiB"
            | b"MiB"
            | b"GiB"
            | b"TiB"
            | b"bytes"
            | b"ns"
            | b"us"
            | b"ms"
            | b"s"
            | b"sec"
            | b"secs"
            | b"seconds"
            | b"min"
            | b"mins"
            | b"minutes"
            | b"h"
            | b"hours"
    )
}

#[cfg(test)]
mod tests {
    use super::{is_unit, is_variable};

    #[test]
    fn knows_units() {
        for unit in ["B", "KB", "GiB", "ms", "s", "seconds"] {
            assert!(is_unit(unit.as_bytes()), "{unit}");
        }
        for word in ["Block", "b", "kb", "stored"] {
            assert!(!is_unit(word.as_bytes()), "{word}");
        }
    }

    #[test]
    fn masks_values_and_keeps_words() {
        let cases: &[(&str, bool)] = &[
            ("connection", false),
            ("refused", false),
            ("Pool", false),
            ("org.apache.hadoop.mapred.MapTask", false),
            ("blk_-6952295868487656571", true),
            ("42", true),
            ("-3.5e7", true),
            ("0x7fed806eb5d", true),
            ("deadbeefcafe", true),
            ("facade", false),
            ("123e4567-e89b-12d3-a456-426614174000", true),
            ("10.251.73.220", true),
            ("[fe80::1]:8080", true),
            ("2001:db8::ff00:42:8329", true),
            ("12ms", true),
            ("1.5s", true),
            ("/etc/httpd/conf/workers.properties", true),
            ("./run", true),
            ("C:\\Windows\\winsxs", true),
            ("/", false),
            ("//", false),
            ("https://example.com/a?b=c", true),
            ("root@host", true),
            ("@", false),
            ("u0", true),
            ("Jun", true),
            ("Sun", true),
            ("June", false),
            ("", false),
        ];
        for &(word, variable) in cases {
            assert_eq!(is_variable(word.as_bytes()), variable, "{word:?}");
        }
    }
}
