//! `silences`: list, add and expire silences in the database every instance reads them from.

use std::io::{self, Write};

use anyhow::Context;
use chrono::{DateTime, Utc};
use ic_core::silence::{
    Location, Matcher, Schedule, Silence, SilenceSpec, SilenceState, Terms, TimeRange,
};
use ic_store::{Store, StoreError};

use crate::cli::{SilenceAddArgs, SilencesArgs, SilencesCommand};
use crate::config::FileConfig;
use crate::output::printable;

pub async fn run(args: SilencesArgs, file: &FileConfig) -> anyhow::Result<()> {
    let url = file.db_url(args.db.db.as_deref())?;
    let store = ic_store::open(&url).await?;
    let now = Utc::now();
    let text = match args.command {
        None | Some(SilencesCommand::List) => {
            let ending_after = (!args.all).then_some(now);
            let silences = store.silences(ending_after).await?;
            if args.json {
                serde_json::to_string(&crate::silences::shown(&store, silences, now).await?)? + "\n"
            } else {
                render(&silences, now)
            }
        }
        Some(SilencesCommand::Add(add)) => {
            let spec = spec(&add, now)?;
            spec.validate(now)?;
            let silence = spec.into_silence(uuid::Uuid::now_v7().to_string(), now);
            store.save_silence(&silence, now).await?;
            if args.json {
                serde_json::to_string(&serde_json::json!({ "silenceID": silence.id }))? + "\n"
            } else {
                format!("{}\n", silence.id)
            }
        }
        Some(SilencesCommand::Expire { id }) => {
            let silence = match store.expire_silence(&id, now).await {
                Err(StoreError::NoSilence { .. }) => anyhow::bail!(
                    "no silence {}; `incident-commander silences --all` lists them",
                    printable(&id)
                ),
                other => other?,
            };
            if args.json {
                serde_json::to_string(&crate::silences::shown(&store, vec![silence], now).await?)?
                    + "\n"
            } else {
                render(std::slice::from_ref(&silence), now)
            }
        }
    };
    match io::stdout().lock().write_all(text.as_bytes()) {
        Err(err) if super::is_broken_pipe(&err) => Ok(()),
        other => Ok(other?),
    }
}

/// The silence the flags of `silences add` ask for.
fn spec(add: &SilenceAddArgs, now: DateTime<Utc>) -> anyhow::Result<SilenceSpec> {
    let duration = &add.duration;
    let matchers = add
        .matchers
        .iter()
        .map(|m| m.parse::<Matcher>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let length = humantime::parse_duration(duration)
        .with_context(|| format!("--duration {duration:?}: write 90m, 2h or 7d"))?;
    let starts_at = match &add.start {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("--start {text:?}: write RFC 3339, 2026-12-24T22:00:00Z"))?
            .with_timezone(&Utc),
        None => now,
    };
    let ends_at = chrono::TimeDelta::from_std(length)
        .ok()
        .and_then(|length| starts_at.checked_add_signed(length))
        .context("--duration is too long")?;
    let created_by = match super::who(add.by.as_deref()) {
        Some(name) => name,
        None => anyhow::bail!(
            "say who makes the silence with --by NAME ($USER and $LOGNAME are not set)"
        ),
    };
    let schedule = (!add.weekdays.is_empty() || !add.times.is_empty())
        .then(|| schedule(&add.weekdays, &add.times, add.location.as_deref()))
        .transpose()?;
    Ok(SilenceSpec {
        id: None,
        terms: Terms {
            matchers,
            starts_at,
            ends_at,
            created_by,
            comment: add.comment.clone(),
            schedule,
        },
    })
}

/// `--weekdays`, `--times` (`HH:MM-HH:MM` ranges) and `--location` as a schedule.
fn schedule(
    weekdays: &[String],
    times: &[String],
    location: Option<&str>,
) -> anyhow::Result<Schedule> {
    let weekdays = weekdays
        .iter()
        .map(|days| days.clone().try_into().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let times = times
        .iter()
        .map(|range| {
            let (start, end) = range
                .split_once('-')
                .with_context(|| format!("--times {range:?}: write HH:MM-HH:MM"))?;
            Ok(TimeRange {
                start_time: start.to_owned().try_into().map_err(anyhow::Error::msg)?,
                end_time: end.to_owned().try_into().map_err(anyhow::Error::msg)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let location = location
        .map(|name| Location::try_from(name.to_owned()).map_err(anyhow::Error::msg))
        .transpose()
        .context("--location")?;
    Ok(Schedule {
        weekdays,
        times,
        location,
    })
}

/// One block per silence: id, state and span, matchers, author and reason, what it matched.
fn render(silences: &[Silence], now: DateTime<Utc>) -> String {
    let mut text = format!("Silences: {}\n", silences.len());
    let time = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    for silence in silences {
        let state = silence.state(now);
        text.push_str(&format!(
            "  {} {:<8} {} – {}\n",
            silence.id,
            state.as_str(),
            time(silence.terms.starts_at),
            time(silence.terms.ends_at)
        ));
        let matchers: Vec<String> = silence
            .terms
            .matchers
            .iter()
            .map(ToString::to_string)
            .collect();
        text.push_str(&format!("      {}\n", printable(&matchers.join(", "))));
        if let Some(schedule) = &silence.terms.schedule {
            let days: Vec<String> = schedule.weekdays.iter().map(ToString::to_string).collect();
            let times: Vec<String> = schedule
                .times
                .iter()
                .map(|r| format!("{}-{}", r.start_time, r.end_time))
                .collect();
            let zone = schedule
                .location
                .map_or_else(|| "UTC".to_owned(), |l| l.to_string());
            text.push_str(&format!(
                "      recurring ({zone}): {} {}\n",
                if days.is_empty() {
                    "every day".to_owned()
                } else {
                    days.join(", ")
                },
                if times.is_empty() {
                    "all day".to_owned()
                } else {
                    times.join(", ")
                },
            ));
        }
        text.push_str(&format!(
            "      by {}: {}\n",
            printable(&silence.terms.created_by),
            printable(&silence.terms.comment)
        ));
        let matched = match (silence.matched_at, state) {
            (Some(at), _) => format!("first muted an incident {}", time(at)),
            (None, SilenceState::Expired) => "matched nothing in its whole life".to_owned(),
            (None, _) => "has matched nothing yet".to_owned(),
        };
        text.push_str(&format!("      {matched}\n"));
    }
    text
}
