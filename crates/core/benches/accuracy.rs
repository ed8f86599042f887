//! Grouping accuracy (GA) of the template miner on the loghub 2k samples.
//!
//! Run: `cargo bench -p ic-core --bench accuracy -- [FOLDER]`, where FOLDER holds one directory
//! per data set `D` with `D_2k.log_structured.csv` (default: `shared/data/loghub-2k` next to
//! the workspace). Every data set is mined with the default configuration. A message counts as
//! correct when the set of messages sharing its predicted template equals the set sharing its
//! true `EventId`; GA is the share of correct messages.
//!
//! Two columns: `GA` groups each message by the template that holds it once the whole data set
//! was mined (a template merged into another counts as that other one, as in the template
//! table and in a window's digest); `GA online` by the id `add` returned at the time, as
//! `templates --assign` prints it.
//!
//! With `GA_SHOW=<data set>` it also prints, for that data set, every predicted template whose
//! group differs from a true group, with sample messages.

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ic_core::miner::{Miner, MinerConfig, TemplateId};

/// One data set's score.
struct Score {
    name: String,
    lines: usize,
    true_groups: usize,
    predicted_groups: usize,
    accuracy: f64,
    online: f64,
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
            let csv = folder
                .join(&name)
                .join(format!("{name}_2k.log_structured.csv"));
            score_one(&name, &csv).map_err(|error| format!("{}: {error}", csv.display()).into())
        })
        .collect()
}

fn score_one(name: &str, csv: &Path) -> Result<Score, Box<dyn Error>> {
    let (contents, truth) = read_structured(csv)?;
    let mut miner = Miner::new(MinerConfig::default());
    let assigned: Vec<TemplateId> = contents.iter().map(|line| miner.add(line)).collect();
    let predicted: Vec<TemplateId> = assigned
        .iter()
        .map(|id| miner.resolve(*id).unwrap_or(*id))
        .collect();
    if std::env::var_os("GA_SHOW").is_some_and(|v| v == name) {
        show_errors(&contents, &truth, &predicted, &miner);
    }
    Ok(Score {
        name: name.to_owned(),
        lines: contents.len(),
        true_groups: distinct(&truth),
        predicted_groups: distinct(&predicted),
        accuracy: grouping_accuracy(&truth, &predicted),
        online: grouping_accuracy(&truth, &assigned),
    })
}

/// The `Content` and `EventId` columns, in order.
fn read_structured(csv: &Path) -> Result<(Vec<String>, Vec<String>), Box<dyn Error>> {
    let mut reader = csv::Reader::from_path(csv)?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no `{name}` column"))
    };
    let (content, event) = (column("Content")?, column("EventId")?);
    let (mut contents, mut truth) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let record = record?;
        contents.push(record.get(content).unwrap_or_default().to_owned());
        truth.push(record.get(event).unwrap_or_default().to_owned());
    }
    Ok((contents, truth))
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
fn show_errors(contents: &[String], truth: &[String], predicted: &[TemplateId], miner: &Miner) {
    let mut by_predicted: HashMap<TemplateId, Vec<usize>> = HashMap::new();
    for (i, p) in predicted.iter().enumerate() {
        by_predicted.entry(*p).or_default().push(i);
    }
    let mut groups: Vec<_> = by_predicted.into_iter().collect();
    groups.sort_by_key(|(id, _)| *id);
    for (id, lines) in groups {
        let truths = distinct(&lines.iter().map(|&i| &truth[i]).collect::<Vec<_>>());
        let expected = truth.iter().filter(|t| **t == truth[lines[0]]).count();
        if truths > 1 || expected != lines.len() {
            let template = miner.template(id).unwrap_or_default();
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

fn print_table(scores: &[Score]) {
    println!(
        "{:<12} {:>6} {:>6} {:>6} {:>7} {:>10}",
        "data set", "lines", "true", "pred", "GA", "GA online"
    );
    for s in scores {
        println!(
            "{:<12} {:>6} {:>6} {:>6} {:>7.4} {:>10.4}",
            s.name, s.lines, s.true_groups, s.predicted_groups, s.accuracy, s.online
        );
    }
    let mean = |f: fn(&Score) -> f64| scores.iter().map(f).sum::<f64>() / scores.len() as f64;
    println!(
        "{:<12} {:>6} {:>6} {:>6} {:>7.4} {:>10.4}",
        "average",
        "",
        "",
        "",
        mean(|s| s.accuracy),
        mean(|s| s.online)
    );
}
