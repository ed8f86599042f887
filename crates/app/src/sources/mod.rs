//! Sources: everything that feeds the ingest channel.

pub mod checkpoint;
pub mod demo;
pub mod file;
pub mod nats;
pub mod reader;
pub mod syslog;

#[cfg(test)]
mod tests;
