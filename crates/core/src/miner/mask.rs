//! Which words are variables: the rules that mask a word before the tree sees it.
//!
//! The Drain paper (He et al., ICWS 2017, section III-B) preprocesses logs with domain regexes
//! for IPs and block ids; these rules are the general form of that step. A word with a digit is
//! almost always a value (numbers, hex, UUIDs, IPs, ports, durations, ids, timestamps), so the
//! digit rule carries most of the weight; the others catch values written without digits.

/// Hex strings without a digit are rare words; from this length on they are taken as ids.
const MIN_BARE_HEX_LEN: usize = 8;

/// Whether `word` (one token of a message, punctuation already split off) is a variable.
///
/// One pass over the bytes: a digit, a backslash (a Windows path), an `@` after the first byte
/// (an address) or `://` (a URL) decide at once; then rooted paths, long hex runs and date
/// names.
pub fn is_variable(word: &[u8]) -> bool {
    let mut hex_only = true;
    for (i, &byte) in word.iter().enumerate() {
        match byte {
            b'0'..=b'9' | b'\\' => return true,
            b'@' if i > 0 => return true,
            b':' if word[i + 1..].starts_with(b"//") => return true,
            _ => hex_only &= byte.is_ascii_hexdigit(),
        }
    }
    is_rooted_path(word) || (hex_only && word.len() >= MIN_BARE_HEX_LEN) || is_date_name(word)
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
    const NAMES: [&[u8]; 19] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Sept", b"Oct",
        b"Nov", b"Dec", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat",
    ];
    word.len() <= 4 && (NAMES.contains(&word) || word == b"Sun")
}

/// Units of size and time, which follow a number and vary with its magnitude (`93.0 B`,
/// `5.2 KB`).
pub fn is_unit(word: &[u8]) -> bool {
    const UNITS: [&[u8]; 22] = [
        b"B", b"KB", b"MB", b"GB", b"TB", b"KiB", b"MiB", b"GiB", b"TiB", b"bytes", b"ns", b"us",
        b"ms", b"s", b"sec", b"secs", b"seconds", b"min", b"mins", b"minutes", b"h", b"hours",
    ];
    UNITS.contains(&word)
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
