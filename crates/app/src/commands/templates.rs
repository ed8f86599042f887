//! `templates`: the template table of a file, or the template of every line.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, BufWriter, Write};

use chrono::Utc;
use ic_core::miner::{Miner, MinerConfig, TemplateId};
use ic_core::parse::parse_line;
use serde::Serialize;

use crate::cli::TemplatesArgs;
use crate::output::Format;
use crate::sources::reader::read_line;

pub fn run(args: &TemplatesArgs) -> anyhow::Result<()> {
    let input = BufReader::with_capacity(1 << 16, super::open_input(args.path.as_deref())?);
    let mut out = BufWriter::new(io::stdout().lock());
    match mine(input, args, &mut out) {
        Err(err)
            if err
                .downcast_ref::<io::Error>()
                .is_some_and(super::is_broken_pipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

#[derive(Serialize)]
struct Row {
    id: TemplateId,
    count: u64,
    template: String,
}

fn mine<R: BufRead, W: Write>(
    mut input: R,
    args: &TemplatesArgs,
    out: &mut W,
) -> anyhow::Result<()> {
    let mut miner = Miner::new(MinerConfig::default());
    let mut counts: HashMap<TemplateId, u64> = HashMap::new();
    let mut line = Vec::new();
    while let Some(bytes) = read_line(&mut input, &mut line)? {
        let text = String::from_utf8_lossy(bytes);
        let event = parse_line(&text, Utc::now());
        let id = miner.add(&event.message);
        if args.assign {
            let template = miner.template(id).unwrap_or_default();
            writeln!(out, "{id}\t{}", one_line(&template))?;
        } else {
            *counts.entry(id).or_default() += 1;
        }
    }
    if !args.assign {
        // A template merged into another counts as that other one, as a window's digest does.
        let mut merged: HashMap<TemplateId, u64> = HashMap::new();
        for (id, count) in counts {
            *merged.entry(miner.resolve(id).unwrap_or(id)).or_default() += count;
        }
        let mut rows: Vec<Row> = merged
            .into_iter()
            .map(|(id, count)| Row {
                id,
                count,
                template: miner.template(id).unwrap_or_default(),
            })
            .collect();
        rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
        write_table(out, &rows, args.format)?;
    }
    out.flush()?;
    Ok(())
}

fn write_table<W: Write>(out: &mut W, rows: &[Row], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer(&mut *out, rows)?;
            writeln!(out)?;
        }
        Format::Text => {
            writeln!(out, "{:<8} {:>8}  TEMPLATE", "ID", "COUNT")?;
            for row in rows {
                writeln!(
                    out,
                    "{:<8} {:>8}  {}",
                    row.id.to_string(),
                    row.count,
                    one_line(&row.template)
                )?;
            }
        }
    }
    Ok(())
}

/// A template on one output line: tabs and newlines of the log text must not break the
/// `ID<TAB>TEMPLATE` format, and other control characters (escape sequences) of the input
/// reach the terminal shown, not obeyed.
fn one_line(template: &str) -> String {
    crate::output::printable(&template.replace(['\t', '\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(input: &str, assign: bool, format: Format) -> String {
        let args = TemplatesArgs {
            path: None,
            assign,
            format,
        };
        let mut out = Vec::new();
        mine(input.as_bytes(), &args, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    const INPUT: &str = "Connection from 10.0.0.1 closed\n\
        Connection from 10.0.0.2 closed\n\
        Disk full on /dev/sda1\n\
        Connection from 10.0.0.3 closed\n";

    #[test]
    fn assign_prints_one_line_per_input_line_in_order() {
        let out = run_on(INPUT, true, Format::Text);
        let rows: Vec<(&str, &str)> = out.lines().map(|l| l.split_once('\t').unwrap()).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].0, rows[1].0);
        assert_eq!(rows[1].0, rows[3].0);
        assert_ne!(rows[0].0, rows[2].0);
        assert!(rows[3].1.contains("<*>"), "{out}");
    }

    #[test]
    fn the_table_counts_lines_per_template() {
        let out = run_on(INPUT, false, Format::Json);
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(rows[0]["count"], 3);
        assert_eq!(rows[1]["count"], 1);
        let text = run_on(INPUT, false, Format::Text);
        assert!(text.starts_with("ID"), "{text}");
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn the_table_counts_a_merged_template_as_the_one_it_went_into() {
        // The first names are kept apart as wording; the fourth makes the name a variable,
        // and the siblings merge.
        let names = ["alice", "bob", "carol", "dave", "erin"];
        let input: String = names
            .iter()
            .map(|name| format!("session closed for user {name} on console\n"))
            .collect();
        let out = run_on(&input, false, Format::Json);
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 1, "{out}");
        assert_eq!(rows[0]["count"], 5);
        assert_eq!(
            rows[0]["template"],
            "session closed for user <*> on console"
        );
    }

    #[test]
    fn escape_sequences_of_the_input_are_shown_not_obeyed() {
        let input = "boot \u{1b}]0;title\u{7} done\nboot \u{1b}[2J done\n";
        for assign in [true, false] {
            let out = run_on(input, assign, Format::Text);
            assert!(
                !out.chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{out:?}"
            );
            assert!(out.contains('\u{fffd}'), "{out:?}");
        }
    }
}
