//! `serve`: the pipeline live on its sources, reports printed as they are produced.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::config::{FileConfig, ServeSettings, SourceSpec};
use ic_core::incident::{IncidentEvent, Transition};

use crate::journal::Journal;
use crate::log_stream::Forwarder;
use crate::notify::Notifier;
use crate::output::Format;
use crate::output::{ReportPrinter, render_transition};
use crate::pipeline::sink::{self, IncidentSink};
use crate::pipeline::{
    self, Analyzed, ArrivalTime, Engine, Envelope, Hooks, LlmMode, SharedCounters,
};
use crate::shutdown;
use crate::sources::demo::{self, DemoControl, DemoState};
use crate::sources::file::{self, FileSource, FileSourceConfig};
use crate::sources::reader::{self, Stamping};
use crate::sources::{self, syslog};
use crate::web;
use crate::web::live::{self, Live};

/// The first words of the line `serve` prints on stderr once it listens, followed by the
/// address: what scripts and tests wait for to learn the port of `--listen 127.0.0.1:0`.
pub const BANNER: &str = "Incident Commander on http://";

pub async fn run(args: ServeArgs, file: &FileConfig) -> anyhow::Result<()> {
    let stdout_is_terminal = io::stdout().is_terminal();
    let settings = ServeSettings::resolve(&args, file, stdout_is_terminal)?;
    let (store, restored) = sink::open_store(&settings.db, !settings.webhooks.is_empty()).await?;
    let listener = TcpListener::bind(settings.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; choose another address with --listen",
            settings.listen
        )
    })?;
    let address = listener.local_addr()?;

    let cancel = shutdown::on_signals();
    let counters = SharedCounters::default();
    let (tx, rx) = pipeline::ingest_channel();
    // The HTTP and OTLP endpoints send through a gate that closes like a source ends.
    let gate = web::IngestGate::new(tx.clone());
    let forward = start_forwarding(&settings).await?;
    // Forwarded lines are durable in the stream before they are answered; local ones in the
    // journal.
    let (journal, replay) = match forward {
        Some(_) => None,
        None => Journal::open_at(&settings.journal, settings.ingest.journal_max_bytes)?,
    }
    .unzip();
    let ingest = web::Ingest::new(gate.clone(), counters.clone(), &settings.ingest)
        .forwarding(forward.clone())
        .journaling(journal.clone());
    let replaying = replay.map(|replay| {
        tokio::spawn(web::replay(
            replay,
            store.clone(),
            tx.clone(),
            counters.clone(),
            cancel.clone(),
        ))
    });
    let (nats, nats_client) = match settings.sources.contains(&SourceSpec::Nats) {
        true => {
            let (consumer, client) = sources::nats::open_consumer(&settings.nats).await?;
            (Some(consumer), Some(client))
        }
        false => (None, None),
    };
    let inputs = Inputs {
        tx,
        forward: forward.clone(),
        nats,
        store: store.clone(),
    };
    let (sources, demo) = start_sources(&settings, inputs, &counters, &cancel)?;
    let sources = tokio::spawn(finish_sources(sources, gate, cancel.clone()));
    let live = Live::new(counters, demo);
    live.track_open(&restored);

    let mut engine = Engine::new(settings.window, settings.correlator);
    let restored_copies = restored.clone();
    engine.restore(restored);
    let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let hooks = Hooks {
        observer: live.clone(),
        control: Some(control_rx),
        llm: super::llm_stage(settings.llm.clone(), LlmMode::Background)?,
    };
    let (analyzed, stages) = pipeline::spawn(rx, settings.window, ArrivalTime, engine, hooks)?;

    let web_stop = CancellationToken::new();
    let writes = Arc::new(crate::pipeline::sink::WriteHealth::default());
    let silences = Arc::new(crate::silences::Silences::default());
    let state = web::AppState {
        silences: silences.clone(),
        live: live.clone(),
        writes: writes.clone(),
        store: store.clone(),
        control,
        metrics: crate::metrics::handle()?,
        shutdown: web_stop.clone(),
        nats: nats_client.or_else(|| forward.as_ref().map(|f| f.client())),
        journal,
    };
    let app = web::app(state, ingest, &settings.ingest);
    let server = tokio::spawn(web::serve(
        listener,
        app,
        web_stop.clone(),
        settings.ingest.clone(),
    ));
    let publisher = tokio::spawn(live::publish(live.clone(), web_stop.clone()));
    eprintln!(
        "{BANNER}{address} (sources: {})",
        settings
            .sources
            .iter()
            .map(ToString::to_string)
            .chain(["http".into(), "otlp".into()])
            .collect::<Vec<_>>()
            .join(", ")
    );

    let notifier = match settings.webhooks.is_empty() {
        true => None,
        false => Some(Notifier::start(settings.webhooks.clone())?),
    };
    let sink = IncidentSink::new(
        Some(store),
        notifier,
        silences,
        &settings.correlator,
        writes,
    );
    sink.restored(&restored_copies);
    sink.watch_silences().await;
    let color = super::color_stdout(stdout_is_terminal);
    let outputs = Outputs {
        settings: &settings,
        sink: &sink,
        live: &live,
        color,
    };
    let printed = outputs.follow(analyzed, &cancel).await;

    if let Some(replaying) = replaying
        && let Err(err) = replaying.await?
    {
        tracing::error!(
            "Replaying the ingest journal failed: {err:#}; what it holds is analyzed at the next start."
        );
    }
    stages.await?;
    sink.close(super::WEBHOOK_GRACE).await;
    sources.await?;
    web_stop.cancel();
    server.await??;
    publisher.await?;
    io::stderr().flush()?;
    printed
}

/// Where the pipeline's results go: stdout, the store and webhooks, the dashboard.
struct Outputs<'a> {
    settings: &'a ServeSettings,
    sink: &'a IncidentSink,
    live: &'a Live,
    color: bool,
}

impl Outputs<'_> {
    /// Hands every result on until the pipeline ends; prunes old incidents now and then.
    async fn follow(
        &self,
        mut analyzed: mpsc::Receiver<Analyzed>,
        cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
        let settings = self.settings;
        let mut printer = ReportPrinter::new(
            io::stdout(),
            settings.format,
            settings.min_severity,
            self.color,
        );
        let give_up = shutdown::grace_after(cancel, super::STORE_GRACE);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        let mut outbox = tokio::time::interval(OUTBOX_EVERY);
        loop {
            let mut out = tokio::select! {
                out = analyzed.recv() => match out {
                    Some(out) => out,
                    None => return Ok(()),
                },
                _ = prune.tick() => {
                    self.sink.prune(&settings.retention).await;
                    continue;
                }
                _ = outbox.tick() => {
                    let changes = self.sink.resolve_abandoned().await;
                    for event in &changes {
                        self.live.publish_incident(event);
                        log_transition(event);
                    }
                    self.sink.watch_silences().await;
                    self.sink.send_waiting().await;
                    // Other instances sharing the database change incidents this dashboard
                    // shows, and resolve them.
                    for event in self.sink.shared_changes(&self.live.shown_open()).await {
                        self.live.publish_incident(&event);
                    }
                    continue;
                }
            };
            // Behind (a backlog, a slow database): what else is ready goes with it, so the
            // store pays one transaction for the windows and one merge per incident for all.
            while out.reports.len() < COALESCED_WINDOWS
                && let Ok(more) = analyzed.try_recv()
            {
                out.absorb(more);
            }
            let stored = self
                .sink
                .store(&out.reports, &out.origins, &out.incidents, &give_up)
                .await;
            let mut printed = printer.print_all(&out.reports);
            for event in &stored {
                self.live.publish_incident(event);
                log_transition(event);
                if settings.format == Format::Text {
                    let line = render_transition(event, self.color);
                    printed = printed.and_then(|()| printer.write_raw(&line));
                }
            }
            if let Err(err) = printed.and_then(|()| printer.flush()) {
                if !super::is_broken_pipe(&err) {
                    return Err(err.into());
                }
                // Nobody reads stdout any more: stop the sources, keep the rest draining.
                cancel.cancel();
            }
        }
    }
}

/// Windows handed to the store at once, at most, when results are waiting.
const COALESCED_WINDOWS: usize = 2000;

/// Manual resolves waiting for the analysis stage.
const CONTROL_QUEUE: usize = 16;
/// Resolved incidents past the retention are deleted at start and then this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the outbox and the shared incidents are looked at between results: for
/// transitions made on the dashboard or left by an instance that died before sending them,
/// and for what other instances changed.
const OUTBOX_EVERY: Duration = Duration::from_secs(5);

/// Opens, escalations, reopens and resolves at info; the update every window of a storm
/// brings only at debug, or it would flood the log.
fn log_transition(event: &IncidentEvent) {
    let incident = &event.incident;
    let (id, severity, service) = (
        &incident.id,
        incident.severity,
        &incident.root_cause.service,
    );
    let transition = event.transition.as_str();
    if event.transition == Transition::Updated {
        tracing::debug!(%id, %severity, %service, "Incident {transition}.");
    } else {
        tracing::info!(%id, %severity, %service, "Incident {transition}.");
    }
}

/// With `--forward nats`: the stream, opened (and created if absent) before anything starts.
async fn start_forwarding(settings: &ServeSettings) -> anyhow::Result<Option<Arc<Forwarder>>> {
    let Some(nats) = &settings.forward else {
        return Ok(None);
    };
    let context = crate::log_stream::open_stream(nats).await?;
    eprintln!(
        "Forwarding HTTP, OTLP and syslog lines to NATS stream {} ({})",
        nats.stream, nats.subject
    );
    let run = crate::instance::name().to_owned();
    Ok(Some(Arc::new(Forwarder::new(context, nats, run))))
}

/// What the sources send into or need, beyond their settings.
struct Inputs {
    tx: mpsc::Sender<Envelope>,
    /// With `--forward nats`: where syslog publishes instead.
    forward: Option<Arc<Forwarder>>,
    /// With `--source nats`: the consumer, opened before anything starts.
    nats: Option<async_nats::jetstream::consumer::PullConsumer>,
    /// Where the NATS and file sources look up what of their input is counted already.
    store: Arc<dyn ic_store::Store>,
}

/// Starts every source; they share the ingest sender, so the channel closes when the last
/// one ends. With `forward`, syslog publishes into the stream instead.
fn start_sources(
    settings: &ServeSettings,
    inputs: Inputs,
    counters: &SharedCounters,
    cancel: &CancellationToken,
) -> anyhow::Result<(JoinSet<anyhow::Result<()>>, Option<DemoControl>)> {
    // The recorder first: lines counted before it exists would be missing from /metrics.
    crate::metrics::handle()?;
    let Inputs {
        tx,
        forward,
        mut nats,
        store,
    } = inputs;
    let mut tasks = JoinSet::new();
    let mut control = None;
    for spec in &settings.sources {
        let (tx, counters, cancel) = (tx.clone(), counters.clone(), cancel.clone());
        match spec {
            SourceSpec::Demo => {
                let state = DemoState {
                    running: true,
                    meltdown: settings.meltdown,
                    rate: settings.demo_rate,
                };
                let (control_tx, control_rx) = watch::channel(state);
                control = Some(control_tx);
                let seed = settings.demo_seed.unwrap_or_else(seed_from_clock);
                tasks.spawn(async move {
                    demo::run(seed, control_rx, tx, counters, cancel).await;
                    Ok(())
                });
            }
            SourceSpec::Stdin => {
                tasks.spawn(async move {
                    reader::relay(
                        "stdin",
                        io::stdin(),
                        Stamping::Arrival,
                        tx,
                        counters,
                        cancel,
                    )
                    .await
                    .context("reading stdin failed")
                });
            }
            // Every pattern goes to one file source below: one checkpoint, one reader.
            SourceSpec::File(_) => {}
            SourceSpec::Nats => {
                let consumer = nats.take().context("the NATS consumer is opened before")?;
                let (stream, store) = (settings.nats.stream.clone(), store.clone());
                eprintln!(
                    "Pulling from NATS stream {} (consumer {})",
                    settings.nats.stream, settings.nats.consumer
                );
                tasks.spawn(sources::nats::run(
                    consumer, stream, store, tx, counters, cancel,
                ));
            }
        }
    }
    let patterns: Vec<String> = (settings.sources.iter())
        .filter_map(|spec| match spec {
            SourceSpec::File(path) => Some(path.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if !patterns.is_empty() {
        let source = FileSource::new(FileSourceConfig {
            patterns,
            checkpoint: Some(settings.checkpoint.clone()),
            poll: file::POLL,
        })?;
        let (tx, counters, cancel) = (tx.clone(), counters.clone(), cancel.clone());
        let store = Some(store.clone());
        tasks.spawn(async move {
            source.run(tx, store, counters, cancel).await?;
            Ok(())
        });
    }
    if let Some(settings) = &settings.syslog {
        let listeners = syslog::Listeners::bind(settings.listen)?;
        eprintln!("Syslog on udp+tcp {}", listeners.local_addr()?);
        let (config, counters, cancel) = (settings.config, counters.clone(), cancel.clone());
        let tx = match forward {
            Some(forward) => {
                let (relay_tx, relay_rx) = pipeline::ingest_channel();
                tasks.spawn(async move {
                    forward.relay("syslog", relay_rx).await;
                    Ok(())
                });
                relay_tx
            }
            None => tx,
        };
        tasks.spawn(async move {
            syslog::run(listeners, config, tx, counters, cancel).await;
            Ok(())
        });
    }
    Ok((tasks, control))
}

/// Waits for the sources, and closes the ingest endpoints' gate at shutdown or once every
/// source has ended (stdin at its end), so the pipeline drains and `serve` ends as it would
/// without them. With no source (`--source none`) only shutdown closes it.
async fn finish_sources(
    mut sources: JoinSet<anyhow::Result<()>>,
    gate: Arc<web::IngestGate>,
    cancel: CancellationToken,
) {
    if sources.is_empty() {
        cancel.cancelled().await;
    } else {
        tokio::select! {
            () = join_sources(&mut sources) => {}
            () = cancel.cancelled() => {}
        }
    }
    gate.close();
    join_sources(&mut sources).await;
}

async fn join_sources(sources: &mut JoinSet<anyhow::Result<()>>) {
    while let Some(result) = sources.join_next().await {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!("{err:#}"),
            Err(err) => tracing::error!(%err, "A source failed."),
        }
    }
}

fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
