//! This run's name: what it signs in the store (its windows' and incidents' writer, its stats
//! row) and in the names of what it reads (a file source's checkpoint key, the journal's
//! stream), so that instances sharing a database never mistake one another's work.

use chrono::Utc;

/// This run's name, `HOST-PID-MILLIS`: the host from the kernel (or `HOSTNAME`), this
/// process, and its start; no two runs, here or on another machine, share one.
pub fn name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(name_this_run)
}

fn name_this_run() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    )
}
