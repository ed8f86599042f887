//! Parsers (in progress).
