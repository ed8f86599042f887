//! Prometheus metrics: names, descriptions, and the recorder behind `/metrics`.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Lines read, by source (`demo`, `stdin`, `file`).
pub const LINES_INGESTED: &str = "ic_lines_ingested_total";
/// Lines not analyzed, by reason (`blank`: a line with no text; `full`: a UDP syslog message
/// that found the pipeline full; `forward`: syslog lines NATS did not take).
pub const LINES_DROPPED: &str = "ic_lines_dropped_total";
/// NATS messages terminated after too many deliveries.
pub const NATS_TERMINATED: &str = "ic_nats_messages_terminated_total";
/// Lines published into the NATS stream by a gateway (`--forward nats`), by source.
pub const LINES_FORWARDED: &str = "ic_lines_forwarded_total";
/// Lines refused by the ingest endpoints, by reason (`full`: the whole body of a 429;
/// `malformed`: the bad lines of a 400).
pub const LINES_REJECTED: &str = "ic_lines_rejected_total";
/// Ingest requests refused before their lines reached the pipeline, by reason.
pub const REQUESTS_REJECTED: &str = "ic_ingest_requests_rejected_total";
/// Messages cut to the length limit, by source.
pub const LINES_TRUNCATED: &str = "ic_lines_truncated_total";
/// Syslog TCP connections closed at once because the connection limit was reached.
pub const CONNECTIONS_REJECTED: &str = "ic_syslog_connections_rejected_total";
/// Windows closed, by reason (`size`, `time`, `end`).
pub const WINDOWS: &str = "ic_windows_total";
/// Events stamped more than 5 minutes ahead of their arrival, counted at their arrival instead.
pub const TIMESTAMPS_AHEAD: &str = "ic_event_times_ahead_total";
/// Bytes of the ingest journal: accepted lines whose windows are not all stored yet.
pub const JOURNAL_BYTES: &str = "ic_journal_bytes";
/// Writes or syncs of the ingest journal that failed (their requests were answered 503).
pub const JOURNAL_ERRORS: &str = "ic_journal_write_failures_total";
/// Seconds to condense and analyze one window.
pub const ANALYSIS_SECONDS: &str = "ic_analysis_duration_seconds";
/// Open incidents, by severity.
pub const OPEN_INCIDENTS: &str = "ic_open_incidents";
/// Writes the store refused, by what (`windows`, `incidents`).
pub const STORE_WRITE_FAILURES: &str = "ic_store_write_failures_total";
/// Rows the retention deleted, by table (`incidents`, `windows`, `consumed`, `silences`).
pub const ROWS_PRUNED: &str = "ic_rows_pruned_total";
/// Silences muting now.
pub const SILENCES_ACTIVE: &str = "ic_silences_active";
/// Notifications not sent, by reason (`silenced`: held by a silence until it ends;
/// `unrouted`: no webhook's route takes the incident).
pub const NOTIFICATIONS_SUPPRESSED: &str = "ic_notifications_suppressed_total";
/// Webhook notifications, by target (`webhook #N (format)`) and outcome.
pub const NOTIFICATIONS: &str = "ic_notifications_total";
/// LLM calls by analyzer (`openai:MODEL`, `gemini:MODEL`) and outcome (`ok`, or the reason
/// the built-in report was used: `timeout`, `HTTP 500`, `circuit open`, `no JSON in answer`…).
pub const LLM_CALLS: &str = "ic_llm_calls_total";
/// Windows the LLM was not asked about, by reason (`below severity`, `recently asked`).
pub const LLM_SKIPPED: &str = "ic_llm_skipped_total";
/// Tokens the LLM API counted, by analyzer and kind (`prompt`, `completion`).
pub const LLM_TOKENS: &str = "ic_llm_tokens_total";
/// Seconds per LLM call, retries included.
pub const LLM_SECONDS: &str = "ic_llm_call_duration_seconds";
/// Secrets masked before a prompt left the machine, by rule.
pub const LLM_REDACTIONS: &str = "ic_llm_redactions_total";

/// The process-wide recorder, installed on first use.
pub fn handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .install_recorder()
                .map_err(|err| err.to_string())?;
            describe();
            Ok(handle)
        })
        .clone()
        .map_err(|err| anyhow::anyhow!("cannot start the metrics recorder: {err}"))
}

fn describe() {
    describe_counter!(LINES_INGESTED, Unit::Count, "Lines read, by source.");
    describe_gauge!(
        JOURNAL_BYTES,
        Unit::Bytes,
        "Bytes of the ingest journal: accepted lines not yet in stored windows."
    );
    describe_counter!(
        JOURNAL_ERRORS,
        Unit::Count,
        "Ingest journal writes that failed; their requests were answered 503."
    );
    describe_counter!(LINES_DROPPED, Unit::Count, "Lines not analyzed, by reason.");
    describe_counter!(
        NATS_TERMINATED,
        Unit::Count,
        "NATS messages terminated after too many deliveries."
    );
    describe_counter!(
        LINES_FORWARDED,
        Unit::Count,
        "Lines published into the NATS stream, by source."
    );
    describe_counter!(
        LINES_REJECTED,
        Unit::Count,
        "Lines refused by the ingest endpoints, by reason."
    );
    describe_counter!(
        REQUESTS_REJECTED,
        Unit::Count,
        "Ingest requests refused, by reason."
    );
    describe_counter!(
        LINES_TRUNCATED,
        Unit::Count,
        "Messages cut to the length limit, by source."
    );
    describe_counter!(
        CONNECTIONS_REJECTED,
        Unit::Count,
        "Syslog TCP connections refused over the limit."
    );
    describe_counter!(WINDOWS, Unit::Count, "Windows closed, by reason.");
    describe_counter!(
        TIMESTAMPS_AHEAD,
        Unit::Count,
        "Events stamped more than 5 minutes ahead of their arrival, counted at their arrival."
    );
    describe_counter!(
        STORE_WRITE_FAILURES,
        Unit::Count,
        "Batches of windows and incidents the store refused; failing writes make /readyz answer 503."
    );
    describe_counter!(
        ROWS_PRUNED,
        Unit::Count,
        "Rows the retention deleted (stored longer ago than it keeps), by table."
    );
    describe_histogram!(
        ANALYSIS_SECONDS,
        Unit::Seconds,
        "Time to condense and analyze a window."
    );
    describe_gauge!(OPEN_INCIDENTS, Unit::Count, "Open incidents, by severity.");
    describe_counter!(
        NOTIFICATIONS,
        Unit::Count,
        "Webhook notifications, by target and outcome."
    );
    describe_gauge!(SILENCES_ACTIVE, Unit::Count, "Silences muting now.");
    describe_counter!(
        NOTIFICATIONS_SUPPRESSED,
        Unit::Count,
        "Notifications not sent, by reason."
    );
    describe_counter!(
        LLM_CALLS,
        Unit::Count,
        "LLM calls, by analyzer and outcome."
    );
    describe_counter!(
        LLM_SKIPPED,
        Unit::Count,
        "Windows not sent to the LLM, by reason."
    );
    describe_counter!(
        LLM_TOKENS,
        Unit::Count,
        "Tokens counted by the LLM API, by analyzer and kind."
    );
    describe_histogram!(
        LLM_SECONDS,
        Unit::Seconds,
        "Time per LLM call, retries included."
    );
    describe_counter!(
        LLM_REDACTIONS,
        Unit::Count,
        "Secrets masked in prompts, by rule."
    );
}
