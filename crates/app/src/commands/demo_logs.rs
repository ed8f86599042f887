//! `demo-logs`: the demo generator's JSON lines on stdout.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::time::{Duration, Instant};

use chrono::Utc;
use ic_core::demo::{DemoGenerator, to_json_line};

use crate::cli::DemoLogsArgs;
use crate::setting::seconds;

/// When the meltdown is on, in seconds of simulated time from the first line.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    from_start: bool,
    after: Option<f64>,
    until: Option<f64>,
}

impl Schedule {
    fn meltdown_at(&self, elapsed: f64) -> bool {
        match self.after {
            Some(after) => elapsed >= after && self.until.is_none_or(|until| elapsed < until),
            None => self.from_start,
        }
    }
}

pub fn run(args: &DemoLogsArgs) -> anyhow::Result<()> {
    if let Some(rate) = args.rate {
        seconds(1.0 / rate)
            .map_err(|_| anyhow::anyhow!("--rate must be a positive number of lines per second"))?;
    }
    let schedule = Schedule {
        from_start: args.meltdown,
        after: args.meltdown_after,
        until: args
            .meltdown_after
            .zip(args.meltdown_for)
            .map(|(a, f)| a + f),
    };
    let stdout = io::stdout();
    let live = !args.fast && stdout.is_terminal();
    let mut out = BufWriter::new(stdout.lock());
    match generate(args, schedule, &mut out, live) {
        Err(err) if super::is_broken_pipe(&err) => Ok(()),
        other => Ok(other?),
    }
}

fn generate<W: Write>(
    args: &DemoLogsArgs,
    schedule: Schedule,
    out: &mut W,
    flush_each: bool,
) -> io::Result<()> {
    let seed = args
        .seed
        .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64);
    let mut generator = DemoGenerator::new(seed);
    let start = args.start.unwrap_or_else(Utc::now);
    let wall_start = Instant::now();
    let mut elapsed = 0.0f64;
    let mut n = 0u64;
    while args.count.is_none_or(|count| n < count) {
        let now = start + Duration::from_secs_f64(elapsed);
        generator.set_meltdown(schedule.meltdown_at(elapsed), now);
        let line = to_json_line(&generator.next_event(now));
        if !args.fast {
            let due = wall_start + Duration::from_secs_f64(elapsed);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                out.flush()?;
                std::thread::sleep(wait);
            }
        }
        writeln!(out, "{line}")?;
        if flush_each {
            out.flush()?;
        }
        n += 1;
        elapsed += 1.0 / args.rate.unwrap_or_else(|| generator.default_rate());
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(count: u64) -> DemoLogsArgs {
        DemoLogsArgs {
            meltdown: false,
            rate: None,
            count: Some(count),
            seed: Some(42),
            fast: true,
            start: Some("2026-01-01T00:00:00Z".parse().unwrap()),
            meltdown_after: Some(10.0),
            meltdown_for: Some(1.0),
        }
    }

    fn lines(args: &DemoLogsArgs) -> Vec<serde_json::Value> {
        let schedule = Schedule {
            from_start: args.meltdown,
            after: args.meltdown_after,
            until: Some(11.0),
        };
        let mut out = Vec::new();
        generate(args, schedule, &mut out, false).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_seed_and_a_start_make_the_output_reproducible() {
        assert_eq!(lines(&args(300)), lines(&args(300)));
    }

    #[test]
    fn the_schedule_switches_the_meltdown_in_simulated_time() {
        let lines = lines(&args(700));
        assert_eq!(lines.len(), 700);
        assert_eq!(lines[0]["timestamp"], "2026-01-01T00:00:00.000Z");
        assert_eq!(
            lines[1]["timestamp"], "2026-01-01T00:00:00.100Z",
            "10 lines/s before"
        );
        let pool = |l: &&serde_json::Value| l["message"] == ic_core::demo::MELTDOWN_MESSAGE;
        assert_eq!(lines[..100].iter().filter(pool).count(), 0);
        let meltdown = lines[100..600].iter().filter(pool).count();
        assert!((300..400).contains(&meltdown), "{meltdown} of 500");
        assert_eq!(
            lines[600..].iter().filter(pool).count(),
            0,
            "the meltdown ended after 1 s"
        );
    }
}
