//! `incidents`: the stored incidents, and one of them with its evidence.

use std::io::{self, IsTerminal, Write};

use chrono::Utc;
use ic_core::incident::{Incident, IncidentStatus};
use ic_store::{IncidentFilter, Store, StoreError};

use crate::cli::{IncidentsArgs, IncidentsCommand, ShowFormat, StatusFilter};
use crate::config::FileConfig;
use crate::output::{printable, render_incidents};

mod postmortem;

pub async fn run(args: IncidentsArgs, file: &FileConfig) -> anyhow::Result<()> {
    let url = file.db_url(args.db.db.as_deref())?;
    // A resolve goes to the outbox when the instances send webhooks, as theirs would: they
    // share this configuration.
    let notifying = !file.webhooks(&[])?.is_empty();
    let store = ic_store::open(&url).await?.notifying(notifying);
    let color = super::color_stdout(io::stdout().is_terminal());
    let text = match &args.command {
        Some(IncidentsCommand::Show { id, format }) => {
            let incident = found(id, store.get(id).await)?;
            let timeline = crate::timeline::Recorded::read(&store, id).await?;
            let format = match format {
                Some(format) => *format,
                None if args.json => ShowFormat::Json,
                None => ShowFormat::Text,
            };
            match format {
                ShowFormat::Json => serde_json::to_string_pretty(&incident)? + "\n",
                ShowFormat::Markdown => postmortem::render(&incident, &timeline),
                ShowFormat::Text => {
                    render_incidents(std::slice::from_ref(&incident), color)
                        + &render_timeline(&incident, &timeline)
                        + &render_evidence(&incident)
                }
            }
        }
        Some(IncidentsCommand::Ack { id, by }) => {
            let by = super::who(by.as_deref());
            let incident = found(id, store.acknowledge(id, Utc::now(), by.as_deref()).await)?;
            done(&incident, args.json, color)?
        }
        Some(IncidentsCommand::Resolve { id, by }) => {
            let by = super::who(by.as_deref());
            let incident = found(id, store.resolve(id, Utc::now(), by.as_deref()).await)?;
            done(&incident, args.json, color)?
        }
        None => {
            let filter = IncidentFilter {
                status: args.status.map(|s| match s {
                    StatusFilter::Open => IncidentStatus::Open,
                    StatusFilter::Resolved => IncidentStatus::Resolved,
                }),
                min_severity: args.severity.map(Into::into),
                service: args.service.clone(),
                limit: Some(args.limit),
            };
            let incidents = store.list(&filter).await?;
            if args.json {
                serde_json::to_string(&incidents)? + "\n"
            } else {
                render_incidents(&incidents, color)
            }
        }
    };
    match io::stdout().lock().write_all(text.as_bytes()) {
        Err(err) if super::is_broken_pipe(&err) => Ok(()),
        other => Ok(other?),
    }
}

/// The incident, or a message that says how to find one.
fn found(id: &str, incident: Result<Incident, StoreError>) -> anyhow::Result<Incident> {
    match incident {
        Err(StoreError::NotFound { .. }) => {
            anyhow::bail!("no incident {id}; `incident-commander incidents` lists them")
        }
        other => Ok(other?),
    }
}

/// The incident after an acknowledgement or a resolve: as JSON, or its line in the table.
fn done(incident: &Incident, json: bool, color: bool) -> anyhow::Result<String> {
    Ok(match json {
        true => serde_json::to_string_pretty(incident)? + "\n",
        false => render_incidents(std::slice::from_ref(incident), color),
    })
}

/// What the incident went through, with times: its recorded transitions and notes, and its
/// acknowledgement.
fn render_timeline(incident: &Incident, timeline: &crate::timeline::Recorded) -> String {
    let mut text = String::from("  Timeline:\n");
    for entry in crate::timeline::of(incident, timeline) {
        let at = postmortem::time(entry.at);
        text.push_str(&format!("    {at}  {}\n", printable(&entry.text())));
    }
    text
}

/// The templates of an incident with their exact counts and sample lines.
fn render_evidence(incident: &Incident) -> String {
    let mut text = format!("  Summary: {}\n  Evidence:\n", printable(&incident.summary));
    for evidence in &incident.templates {
        text.push_str(&format!(
            "    {} × {} {} [{}] {}\n",
            evidence.count,
            evidence.level,
            evidence.template_id,
            printable(&evidence.services.join(", ")),
            printable(&evidence.template)
        ));
        for line in &evidence.first_lines {
            text.push_str(&format!("        {}\n", printable(line)));
        }
        if !evidence.last_lines.is_empty() {
            text.push_str("        …\n");
        }
        for line in &evidence.last_lines {
            text.push_str(&format!("        {}\n", printable(line)));
        }
    }
    text
}
