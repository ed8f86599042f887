//! Golden tests: the templates the miner yields on each fixture corpus, pinned.
//!
//! Every `tests/fixtures/miner/NAME.log` is mined with the default configuration and the result
//! compared with `NAME.golden`: one line per template, in order of first appearance, with its
//! id, the messages it took and its text. `UPDATE_GOLDEN=1` rewrites the golden files instead.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ic_core::miner::{Miner, MinerConfig, TemplateId};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/miner")
}

/// The templates of `corpus` as the golden file writes them.
fn mine(corpus: &str) -> String {
    let mut miner = Miner::new(MinerConfig::default());
    let mut order: Vec<TemplateId> = Vec::new();
    for line in corpus.lines() {
        let id = miner.add(line);
        if !order.contains(&id) {
            order.push(id);
        }
    }
    let mut out = String::new();
    for id in order {
        if let (Some(count), Some(template)) = (miner.count(id), miner.template(id)) {
            let _ = writeln!(out, "{id}\t{count}\t{template}");
        }
    }
    out
}

#[test]
fn fixtures_yield_their_golden_templates() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut corpora: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixture folder")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    corpora.sort();
    assert!(corpora.len() >= 5, "fixtures missing: {corpora:?}");
    let mut mismatches = Vec::new();
    for corpus in corpora {
        let text = std::fs::read_to_string(&corpus).expect("readable fixture");
        let actual = mine(&text);
        let golden = corpus.with_extension("golden");
        if update {
            std::fs::write(&golden, &actual).expect("writable golden file");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if actual != expected {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                golden.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "templates changed (rerun with UPDATE_GOLDEN=1 if intended):\n{}",
        mismatches.join("\n")
    );
}

/// Ids stay put: mining a corpus twice in a row gives every line the same id both times.
#[test]
fn ids_are_stable_across_a_second_pass() {
    let text = std::fs::read_to_string(fixtures().join("openssh.log")).expect("fixture");
    let mut miner = Miner::new(MinerConfig::default());
    let first: Vec<TemplateId> = text.lines().map(|line| miner.add(line)).collect();
    let clusters = miner.len();
    let second: Vec<TemplateId> = text.lines().map(|line| miner.add(line)).collect();
    assert_eq!(miner.len(), clusters);
    let last_ids: Vec<TemplateId> = text.lines().map(|line| miner.add(line)).collect();
    assert_eq!(second, last_ids);
    assert!(first.iter().zip(&second).filter(|(a, b)| a == b).count() * 10 >= first.len() * 9);
}
