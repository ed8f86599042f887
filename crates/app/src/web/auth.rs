//! Bearer tokens for the endpoints that feed or steer the server: every request but a read
//! (`GET`, `HEAD`, `OPTIONS`), so that a write route added later is protected too: logs,
//! the demo's switches, acknowledging and resolving incidents, making and expiring silences.
//! Reading stays open, as the dashboard's views only read.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::error::{Reason, count_rejected_request};
use crate::secret::SecretString;

/// Whether a request feeds or steers the server, and so needs the token.
pub fn is_protected(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Middleware: with a token set, protected requests must carry `Authorization: Bearer TOKEN`;
/// others answer 401 before their body is read.
pub async fn require_token(
    State(token): State<Option<SecretString>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    if !is_protected(request.method()) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| bearer(value.as_bytes()));
    if given.is_some_and(|given| token.matches(given)) {
        return next.run(request).await;
    }
    count_rejected_request(Reason::Unauthorized);
    ApiError::Unauthorized.into_response()
}

/// The token of an `Authorization: Bearer …` value (the scheme is case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_are_open() {
        for method in [Method::POST, Method::DELETE, Method::PUT, Method::PATCH] {
            assert!(is_protected(&method), "{method}");
        }
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!is_protected(&method), "{method}");
        }
    }

    #[test]
    fn bearer_tokens_are_read_and_compared_whole() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bear"), None);
        let secret = SecretString::new("abc");
        assert!(secret.matches(b"abc"));
        assert!(!secret.matches(b"abd"));
        assert!(!secret.matches(b"ab"));
        assert_eq!(format!("{secret} {secret:?}"), "**REDACTED** **REDACTED**");
    }
}
