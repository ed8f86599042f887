//! Template miner (in progress).
