//! Services named inside messages: the caller logs the callee's failure.
//!
//! "No instances available for billing", "connection refused to billing:8080",
//! "POST http://billing/charge returned 500": the line's own service is the caller, and the
//! culprit is named in the message. A name counts when a whole token of the message is a
//! service the stream has seen: tokens are the runs of characters service and host names are
//! made of, so a host in a URL or an address with a port is found too, and a name never
//! matches inside a longer word.

use super::services::Services;

/// Characters of service and host names.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// The services other than `own` named in `message`, each once, in order of appearance.
pub fn named_services(message: &str, own: Option<u32>, services: &Services, out: &mut Vec<u32>) {
    for token in message.split(|c: char| !is_name_char(c)) {
        // A sentence's full stop is not part of the name before it.
        let token = token.trim_end_matches('.');
        if token.len() < 2 {
            continue;
        }
        if let Some(n) = services.number(token)
            && Some(n) != own
            && !out.contains(&n)
        {
            out.push(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_names_in_messages_hosts_and_urls_are_found() {
        let mut services = Services::new(16);
        let api = services.intern("api");
        let billing = services.intern("billing").unwrap();
        let db = services.intern("db-main").unwrap();
        let mut out = Vec::new();
        named_services(
            "No instances available for billing. Retrying db-main:5432 via http://db-main/x",
            api,
            &services,
            &mut out,
        );
        assert_eq!(out, [billing, db]);
        out.clear();
        named_services("rapid billingservice apiary", api, &services, &mut out);
        assert!(out.is_empty(), "no name inside a longer word: {out:?}");
        named_services("api failed", api, &services, &mut out);
        assert!(out.is_empty(), "a service naming itself is no pointer");
    }
}
