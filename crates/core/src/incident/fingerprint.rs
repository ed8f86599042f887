//! Fingerprints: the identity of a failure, derived from text, so every instance and every
//! restart computes the same one.

/// The signature of a template: its text with each run of wildcards and the spacing around
/// them collapsed, so `a <*> <*> b` and `a <*> b` (one value that became two tokens) agree.
pub fn template_signature(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut last_was_wildcard = false;
    for word in template.split_whitespace() {
        let wildcard = word == "<*>";
        if wildcard && last_was_wildcard {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        last_was_wildcard = wildcard;
    }
    out
}

/// The fingerprint of a failure: 16 hex digits of a 64-bit FNV-1a hash of the root-cause
/// service and its template's signature. FNV-1a is fixed by its definition, so the value never
/// changes with a library or compiler version.
pub fn fingerprint(service: &str, template: &str) -> String {
    let mut hash = Fnv1a::default();
    hash.write(service.as_bytes());
    hash.write(&[0]);
    hash.write(template_signature(template).as_bytes());
    format!("{:016x}", hash.0)
}

struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_distinguish_service_and_template() {
        let fp = fingerprint(
            "inventory-db",
            "Database Connection Refused: Pool exhausted",
        );
        assert_eq!(
            fp,
            fingerprint(
                "inventory-db",
                "Database  Connection Refused: Pool exhausted"
            )
        );
        assert_eq!(fp.len(), 16);
        // Pinned: a fingerprint must never change between versions.
        assert_eq!(fingerprint("a", "b"), "e5d29919042666b2");
        assert_ne!(
            fp,
            fingerprint(
                "order-service",
                "Database Connection Refused: Pool exhausted"
            )
        );
        assert_ne!(
            fp,
            fingerprint("inventory-db", "Database Connection Refused")
        );
        assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
    }

    #[test]
    fn signatures_collapse_wildcard_runs() {
        assert_eq!(template_signature("a <*> <*> b"), "a <*> b");
        assert_eq!(template_signature("  x   <*>  "), "x <*>");
    }
}
