//! `analyze`: replay a file (or stdin) through the pipeline by event time.

use std::io::{self, BufWriter, IsTerminal};
use std::time::Instant;

use ic_core::incident::{Incident, IncidentEvent};

use crate::cli::AnalyzeArgs;
use crate::config::FileConfig;
use crate::notify::Notifier;
use crate::output::Format;
use crate::output::{ReportPrinter, Tally, render_incidents};
use crate::pipeline::sink::{self, IncidentSink};
use crate::pipeline::{self, Counters, Engine, EventTime, Hooks, LlmMode, SharedCounters};
use crate::shutdown;
use crate::sources::reader::{self, Stamping};

pub async fn run(args: AnalyzeArgs, file: &FileConfig) -> anyhow::Result<()> {
    let window = file.window(&args.window)?;
    let llm = super::llm_stage(file.llm(&args.llm)?, LlmMode::Wait)?;
    let correlator = file.correlator(&args.incidents)?;
    let mut engine = Engine::new(window, correlator);
    let webhooks = file.webhooks(&args.incidents.webhooks)?;
    let (store, restored) = match &args.db {
        Some(url) => {
            let (store, restored) = sink::open_store(url, !webhooks.is_empty()).await?;
            (Some(store), restored)
        }
        None => (None, Vec::new()),
    };
    let notifier = match webhooks.is_empty() {
        true => None,
        false => Some(Notifier::start(webhooks)?),
    };
    let sink = IncidentSink::new(
        store,
        notifier,
        Default::default(),
        &correlator,
        Default::default(),
    );
    sink.restored(&restored);
    sink.watch_silences().await;
    engine.restore(restored);
    let stdout_is_terminal = io::stdout().is_terminal();
    let format = file.format(args.format, stdout_is_terminal);
    let input = super::open_input(args.path.as_deref())?;
    let name = super::input_name(args.path.as_ref());

    let cancel = shutdown::on_signals();
    let counters = SharedCounters::default();
    let (tx, rx) = pipeline::ingest_channel();
    let source = tokio::spawn(reader::relay(
        if args.path.as_deref().is_none_or(|p| p.as_os_str() == "-") {
            "stdin"
        } else {
            "file"
        },
        input,
        Stamping::Replay,
        tx,
        counters.clone(),
        cancel.clone(),
    ));
    let give_up = shutdown::grace_after(&cancel, super::STORE_GRACE);
    let hooks = Hooks {
        llm,
        ..Hooks::default()
    };
    let (mut analyzed, stages) = pipeline::spawn(rx, window, EventTime, engine, hooks)?;

    let started = Instant::now();
    let color = super::color_stdout(stdout_is_terminal);
    let min_severity = file.min_severity(args.min_severity);
    let mut printer = ReportPrinter::new(
        // A replay prints thousands of reports a second: fewer, larger writes.
        BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        format,
        min_severity,
        color,
    );
    let mut incidents = Incidents::default();
    while let Some(out) = analyzed.recv().await {
        let stored = sink
            .store(&out.reports, &out.origins, &out.incidents, &give_up)
            .await;
        incidents.record(stored);
        let printed = printer
            .print_all(&out.reports)
            .and_then(|()| flush_if_live(&mut printer, stdout_is_terminal));
        if let Err(err) = printed {
            if super::is_broken_pipe(&err) {
                return Ok(());
            }
            return Err(err.into());
        }
    }
    let listing = render_incidents(&incidents.0, color && format == Format::Text);
    let written = match format {
        Format::Text => printer.write_raw(&listing),
        // stdout holds exactly the reports.
        Format::Json => {
            eprint!("{listing}");
            Ok(())
        }
    };
    match written.and_then(|()| printer.flush()) {
        Err(err) if super::is_broken_pipe(&err) => return Ok(()),
        other => other?,
    }
    stages.await?;
    sink.close(super::WEBHOOK_GRACE).await;
    source
        .await?
        .map_err(|err| anyhow::anyhow!("reading {name} failed: {err}"))?;
    eprintln!(
        "{}",
        summary(&name, &counters, printer.tally(), started.elapsed())
    );
    Ok(())
}

/// The latest state of each incident of the run, in the order they opened.
#[derive(Default)]
struct Incidents(Vec<Incident>);

impl Incidents {
    fn record(&mut self, events: Vec<IncidentEvent>) {
        for IncidentEvent { incident, .. } in events {
            match self.0.iter_mut().find(|i| i.id == incident.id) {
                Some(known) => *known = incident,
                None => self.0.push(incident),
            }
        }
    }
}

fn flush_if_live<W: io::Write>(printer: &mut ReportPrinter<W>, terminal: bool) -> io::Result<()> {
    if terminal { printer.flush() } else { Ok(()) }
}

/// The closing line on stderr: lines, windows, reports by severity, throughput.
fn summary(name: &str, counters: &Counters, tally: Tally, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let lines = counters.lines();
    format!(
        "{name}: {lines} lines ({} events) in {} windows: {} critical, {} warning, {} info; {:.2} s, {:.0} lines/s",
        counters.events(),
        tally.windows,
        tally.critical,
        tally.warning,
        tally.info,
        secs,
        lines as f64 / secs
    )
}
