//! Sources: everything that feeds the ingest channel.

pub mod demo;
pub mod file;
pub mod reader;
