//! Accuracy of the template miner on the loghub 2k samples: grouping (GA), template text (PA)
//! and templates (FTA), as loghub-2.0 measures them (Jiang et al., ISSTA 2024).
//!
//! Run: `cargo bench -p ic-core --bench accuracy -- [FOLDER]`, where FOLDER holds one directory
//! per data set `D` with `D_2k.log_structured.csv` and, for some, loghub-2.0's corrected truth
//! `D_2k.log_structured_corrected.csv` (default: `shared/data/loghub-2k` next to the
//! workspace). Every data set is mined with the default configuration, and scored against its
//! original truth (groups by `EventId`) and, where there is one, its corrected truth (groups by
//! the corrected `EventTemplate`).
//!
//! - GA: a message is correct when the set of messages sharing its predicted template equals
//!   the set sharing its true group. `GA` groups each message by the template that holds it
//!   once the whole data set was mined (a template merged into another counts as that other
//!   one, as in the template table and in a window's digest); `online` by the id `add` returned
//!   at the time, as `templates --assign` prints it.
//! - PA: a message is correct when its final template's text, after loghub-2.0's corrections
//!   (see [`correct`]), is its true template. The original truth is not corrected in the files,
//!   so it is corrected the same way before comparing.
//! - FTA: the F1 of templates that are right, group and text: precision over the predicted
//!   templates, recall over the true ones.
//!
//! With `GA_SHOW=<data set>` it also prints, for that data set, every predicted template whose
//! group differs from a true group, with sample messages; with `PA_SHOW=<data set>`, every
//! corrected true template that the predicted text misses, with what was predicted instead.

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ic_core::miner::{Miner, MinerConfig, TemplateId};

#[path = "accuracy/correct.rs"]
mod correct;
use correct::correct;

/// One data set's score.
struct Score {
    name: String,
    lines: usize,
    true_groups: usize,
    predicted_groups: usize,
    original: Measures,
    corrected: Option<Measures>,
}

/// The measures against one truth.
#[derive(Clone, Copy)]
struct Measures {
    accuracy: f64,
    online: f64,
    parsing: f64,
    templates: f64,
}

/// One truth of a data set: each message's group and its template text.
struct Truth {
    groups: Vec<String>,
    templates: Vec<String>,
}

/// What the miner made of a data set: each message's id at the time, its final id and the
/// final template's corrected text.
struct Mined {
    assigned: Vec<TemplateId>,
    predicted: Vec<TemplateId>,
    texts: Vec<String>,
}

fn main() -> ExitCode {
    let folder = match data_folder() {
        Ok(folder) => folder,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    match score_all(&folder) {
        Ok(scores) => {
            print_table(&scores);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}: {error}", folder.display());
            ExitCode::FAILURE
        }
    }
}

/// The first argument that is not a flag (cargo passes `--bench`), else the default folder.
/// Cargo runs benches from the crate's folder, so a relative path that does not exist there is
/// taken relative to the workspace root, where the command was most likely typed.
fn data_folder() -> Result<PathBuf, String> {
    if let Some(arg) = std::env::args().skip(1).find(|arg| !arg.starts_with("--")) {
        let path = PathBuf::from(arg);
        let from_root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(&path);
        return Ok(if path.is_relative() && !path.exists() {
            from_root
        } else {
            path
        });
    }
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/loghub-2k");
    if default.is_dir() {
        Ok(default)
    } else {
        Err(format!(
            "no data folder given and the default {} does not exist; pass the folder holding \
             the loghub 2k data sets: cargo bench -p ic-core --bench accuracy -- FOLDER",
            default.display()
        ))
    }
}

fn score_all(folder: &Path) -> Result<Vec<Score>, Box<dyn Error>> {
    let mut names: Vec<String> = std::fs::read_dir(folder)?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    if names.is_empty() {
        return Err("no data set folders".into());
    }
    names
        .into_iter()
        .map(|name| {
            let dir = folder.join(&name);
            score_one(&name, &dir).map_err(|error| format!("{}: {error}", dir.display()).into())
        })
        .collect()
}

fn score_one(name: &str, dir: &Path) -> Result<Score, Box<dyn Error>> {
    let (contents, original) = read_structured(&dir.join(format!("{name}_2k.log_structured.csv")))?;
    let mined = mine(&contents);
    if std::env::var_os("GA_SHOW").is_some_and(|v| v == name) {
        show_errors(&contents, &original.groups, &mined);
    }
    let original = Truth {
        templates: original.templates.iter().map(|t| correct(t)).collect(),
        ..original
    };
    let corrected_csv = dir.join(format!("{name}_2k.log_structured_corrected.csv"));
    let corrected = if corrected_csv.exists() {
        let (lines, truth) = read_structured(&corrected_csv)?;
        if lines != contents {
            return Err(format!("{} holds other lines", corrected_csv.display()).into());
        }
        let truth = Truth {
            groups: truth.templates.clone(),
            ..truth
        };
        if std::env::var_os("PA_SHOW").is_some_and(|v| v == name) {
            show_text_errors(&truth, &mined);
        }
        Some(measures(&truth, &mined))
    } else {
        None
    };
    Ok(Score {
        name: name.to_owned(),
        lines: contents.len(),
        true_groups: distinct(&original.groups),
        predicted_groups: distinct(&mined.predicted),
        original: measures(&original, &mined),
        corrected,
    })
}

fn mine(contents: &[String]) -> Mined {
    let mut miner = Miner::new(MinerConfig::default());
    let assigned: Vec<TemplateId> = contents.iter().map(|line| miner.add(line)).collect();
    let predicted: Vec<TemplateId> = assigned
        .iter()
        .map(|id| miner.resolve(*id).unwrap_or(*id))
        .collect();
    let mut text_of: HashMap<TemplateId, String> = HashMap::new();
    let texts = predicted
        .iter()
        .map(|id| {
            text_of
                .entry(*id)
                .or_insert_with(|| correct(&miner.template(*id).unwrap_or_default()))
                .clone()
        })
        .collect();
    Mined {
        assigned,
        predicted,
        texts,
    }
}

fn measures(truth: &Truth, mined: &Mined) -> Measures {
    let right_text = truth
        .templates
        .iter()
        .zip(&mined.texts)
        .filter(|(t, p)| t == p)
        .count();
    Measures {
        accuracy: grouping_accuracy(&truth.groups, &mined.predicted),
        online: grouping_accuracy(&truth.groups, &mined.assigned),
        parsing: right_text as f64 / truth.templates.len().max(1) as f64,
        templates: template_f1(truth, mined),
    }
}

/// FTA: a predicted template is right when its messages are exactly one true group's and its
/// text is that group's template.
fn template_f1(truth: &Truth, mined: &Mined) -> f64 {
    let mut true_size: HashMap<&String, usize> = HashMap::new();
    let mut predicted_size: HashMap<TemplateId, usize> = HashMap::new();
    let mut pair_size: HashMap<(TemplateId, &String), usize> = HashMap::new();
    for (t, p) in truth.groups.iter().zip(&mined.predicted) {
        *true_size.entry(t).or_default() += 1;
        *predicted_size.entry(*p).or_default() += 1;
        *pair_size.entry((*p, t)).or_default() += 1;
    }
    let mut right = std::collections::HashSet::new();
    for (i, (t, p)) in truth.groups.iter().zip(&mined.predicted).enumerate() {
        let pair = pair_size[&(*p, t)];
        if pair == true_size[t] && pair == predicted_size[p] && truth.templates[i] == mined.texts[i]
        {
            right.insert(*p);
        }
    }
    let precision = right.len() as f64 / predicted_size.len().max(1) as f64;
    let recall = right.len() as f64 / true_size.len().max(1) as f64;
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// The `Content`, `EventId` and `EventTemplate` columns, in order.
fn read_structured(csv: &Path) -> Result<(Vec<String>, Truth), Box<dyn Error>> {
    let mut reader = csv::Reader::from_path(csv)?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no `{name}` column"))
    };
    let (content, event, template) = (
        column("Content")?,
        column("EventId")?,
        column("EventTemplate")?,
    );
    let (mut contents, mut groups, mut templates) = (Vec::new(), Vec::new(), Vec::new());
    for record in reader.records() {
        let record = record?;
        let field = |i: usize| record.get(i).unwrap_or_default().to_owned();
        contents.push(field(content));
        groups.push(field(event));
        templates.push(field(template));
    }
    Ok((contents, Truth { groups, templates }))
}

fn distinct<T: std::hash::Hash + Eq>(labels: &[T]) -> usize {
    labels
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// A message is correct when its predicted group and its true group hold the same messages:
/// both groups have the same size and every message of the predicted group shares its truth.
fn grouping_accuracy<T: std::hash::Hash + Eq, P: std::hash::Hash + Eq>(
    truth: &[T],
    predicted: &[P],
) -> f64 {
    let mut true_size: HashMap<&T, usize> = HashMap::new();
    let mut pair_size: HashMap<(&P, &T), usize> = HashMap::new();
    let mut predicted_size: HashMap<&P, usize> = HashMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        *true_size.entry(t).or_default() += 1;
        *predicted_size.entry(p).or_default() += 1;
        *pair_size.entry((p, t)).or_default() += 1;
    }
    let correct = truth
        .iter()
        .zip(predicted)
        .filter(|&(t, p)| {
            let pair = pair_size[&(p, t)];
            pair == true_size[t] && pair == predicted_size[p]
        })
        .count();
    correct as f64 / truth.len().max(1) as f64
}

/// With `GA_SHOW=<data set>`: the wrongly grouped messages by predicted template, for study.
fn show_errors(contents: &[String], truth: &[String], mined: &Mined) {
    let mut by_predicted: HashMap<TemplateId, Vec<usize>> = HashMap::new();
    for (i, p) in mined.predicted.iter().enumerate() {
        by_predicted.entry(*p).or_default().push(i);
    }
    let mut groups: Vec<_> = by_predicted.into_iter().collect();
    groups.sort_by_key(|(id, _)| *id);
    for (id, lines) in groups {
        let truths = distinct(&lines.iter().map(|&i| &truth[i]).collect::<Vec<_>>());
        let expected = truth.iter().filter(|t| **t == truth[lines[0]]).count();
        if truths > 1 || expected != lines.len() {
            let template = &mined.texts[lines[0]];
            println!(
                "{id} n={} truths={truths} true_n={expected}  {template}",
                lines.len()
            );
            for &i in lines.iter().take(3) {
                println!("    {}  {}", truth[i], contents[i]);
            }
        }
    }
}

/// With `PA_SHOW=<data set>`: each true template the predicted text misses, how often, and
/// what was predicted for its first message.
fn show_text_errors(truth: &Truth, mined: &Mined) {
    let mut missed: HashMap<&String, (usize, &String)> = HashMap::new();
    for (t, p) in truth.templates.iter().zip(&mined.texts) {
        if t != p {
            missed.entry(t).or_insert((0, p)).0 += 1;
        }
    }
    let mut missed: Vec<_> = missed.into_iter().collect();
    missed.sort_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
    for (t, (n, p)) in missed {
        println!("{n:>5}  true: {t}\n       ours: {p}");
    }
}

fn print_table(scores: &[Score]) {
    println!(
        "{:<12} {:>5} {:>5} {:>5} | {:>7} {:>7} {:>7} {:>7} | {:>9} {:>7} {:>7} {:>7}",
        "", "", "", "", "original", "truth", "", "", "corrected", "truth", "", ""
    );
    println!(
        "{:<12} {:>5} {:>5} {:>5} | {:>7} {:>7} {:>7} {:>7} | {:>9} {:>7} {:>7} {:>7}",
        "data set",
        "lines",
        "true",
        "pred",
        "GA",
        "online",
        "PA",
        "FTA",
        "GA",
        "online",
        "PA",
        "FTA"
    );
    let row = |m: &Measures| {
        format!(
            "{:>7.4} {:>7.4} {:>7.4} {:>7.4}",
            m.accuracy, m.online, m.parsing, m.templates
        )
    };
    for s in scores {
        let corrected = s.corrected.as_ref().map_or_else(
            || format!("{:>9} {:>23}", "-", ""),
            |m| format!("  {}", row(m)),
        );
        println!(
            "{:<12} {:>5} {:>5} {:>5} | {} | {}",
            s.name,
            s.lines,
            s.true_groups,
            s.predicted_groups,
            row(&s.original),
            corrected
        );
    }
    let mean = |measures: Vec<Measures>| {
        let n = measures.len().max(1) as f64;
        let sum = |f: fn(&Measures) -> f64| measures.iter().map(f).sum::<f64>() / n;
        Measures {
            accuracy: sum(|m| m.accuracy),
            online: sum(|m| m.online),
            parsing: sum(|m| m.parsing),
            templates: sum(|m| m.templates),
        }
    };
    let original = mean(scores.iter().map(|s| s.original).collect());
    let corrected: Vec<Measures> = scores.iter().filter_map(|s| s.corrected).collect();
    let sets = corrected.len();
    println!(
        "{:<12} {:>5} {:>5} {:>5} | {} |   {}",
        "average",
        scores.len(),
        "",
        "",
        row(&original),
        row(&mean(corrected))
    );
    println!(
        "(averages over {} data sets, and the {sets} with corrected truth)",
        scores.len()
    );
}
