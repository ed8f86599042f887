//! The one error type of the store, with messages that tell the user what to do.

use std::fmt;

use sqlx::error::ErrorKind;

use crate::Backend;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend this store knows, or does not parse. `url` has its password
    /// redacted.
    #[error(
        "invalid database URL `{url}`: {reason}; use sqlite://PATH, sqlite::memory: or \
         postgres://USER@HOST:PORT/DATABASE (--db / IC_DB)"
    )]
    InvalidUrl {
        url: String,
        /// Why it is not usable.
        reason: String,
    },

    /// The database could not be reached or opened.
    #[error(
        "cannot connect to {backend} at {location}: {}; check --db / IC_DB{}",
        describe(.cause),
        .backend.connect_hint()
    )]
    Connect {
        backend: Backend,
        /// `HOST:PORT` or the file's path; never a password.
        location: String,
        /// Not a `source`: the message says it already, once.
        cause: sqlx::Error,
    },

    /// The schema could not be brought up to date.
    #[error("cannot migrate the {backend} database at {location}: {cause}")]
    Migrate {
        backend: Backend,
        location: String,
        /// Not a `source`: the message says it already, once.
        cause: sqlx::migrate::MigrateError,
    },

    /// No incident has this id.
    #[error("no incident with id `{id}`")]
    NotFound { id: String },

    /// No silence has this id.
    #[error("no silence with id `{id}`")]
    NoSilence { id: String },

    /// As many silences as a store keeps are not expired yet.
    #[error("{max} silences are already in force or pending; expire some first")]
    TooManySilences { max: u64 },

    /// Another incident with this fingerprint is already open (perhaps saved by another
    /// instance): adopt it, see [`crate::Store::open_by_fingerprint`].
    #[error(
        "incident `{id}` cannot open: another incident with fingerprint `{fingerprint}` is open"
    )]
    DuplicateOpen { id: String, fingerprint: String },

    /// An incident does not convert to or from its stored form.
    #[error("incident `{id}` is corrupt: {reason}")]
    Corrupt { id: String, reason: String },

    /// Any other database failure (not a `source`: the message says it already, once).
    #[error("database query failed: {}", describe(.0))]
    Query(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Query(error)
    }
}

/// A database error in one sentence. sqlx's own text repeats itself down its chain ("error
/// returned from database: X", then X) and adds where in the server's C source PostgreSQL
/// raised it ("at line 948"); the server's message is what the user can act on.
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

impl Backend {
    /// What to check when a connection fails, beyond the URL.
    fn connect_hint(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => "; is the server running, and does it accept this user?",
        }
    }
}

impl StoreError {
    /// Maps sqlx's "no row" to [`StoreError::NotFound`] for the incident `id`.
    pub(crate) fn for_incident(id: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |error| match error {
            sqlx::Error::RowNotFound => StoreError::NotFound { id: id.to_owned() },
            error => StoreError::Query(error),
        }
    }

    /// Maps a unique violation while saving an incident to [`StoreError::DuplicateOpen`]: the
    /// id conflict is handled by the upsert, so the only unique index left to violate is the
    /// one that allows a single open incident per fingerprint.
    pub(crate) fn on_save(id: &str, fingerprint: &str) -> impl FnOnce(sqlx::Error) -> StoreError {
        let (id, fingerprint) = (id.to_owned(), fingerprint.to_owned());
        move |error| match &error {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                StoreError::DuplicateOpen { id, fingerprint }
            }
            _ => StoreError::Query(error),
        }
    }

    pub(crate) fn corrupt(id: &str, reason: impl fmt::Display) -> StoreError {
        StoreError::Corrupt {
            id: id.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// The URL with its password (in `user:password@` or in a `password=` parameter) replaced by
/// `****`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let url = redact_user_info(url);
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let query: Vec<&str> = query
        .split('&')
        .map(|pair| {
            if pair.starts_with("password=") {
                "password=****"
            } else {
                pair
            }
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

fn redact_user_info(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    // The last `@` ends the user info: a password may itself hold an unescaped `@`.
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}****{}",
        &url[..scheme_end + colon + 1],
        &url[scheme_end + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_url("postgres://ic:s3cret@db:5432/ic?sslmode=require"),
            "postgres://ic:****@db:5432/ic?sslmode=require"
        );
        assert_eq!(
            redact_url("postgresql://ic:p@ss@db/ic"),
            "postgresql://ic:****@db/ic"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("postgres://db/ic?user=a@b"),
            "postgres://db/ic?user=a@b"
        );
        assert_eq!(
            redact_url("postgres://db/ic?user=ic&password=s3cret&sslmode=disable"),
            "postgres://db/ic?user=ic&password=****&sslmode=disable"
        );
        assert_eq!(redact_url("sqlite://incidents.db"), "sqlite://incidents.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }
}
