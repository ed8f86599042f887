//! Throughput of the template miner on the fixture corpora (lines per second).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ic_core::miner::{Miner, MinerConfig};

/// Every message of every fixture corpus, in file order.
fn corpus() -> Vec<String> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/miner");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .expect("fixture folder")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).expect("readable fixture");
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

fn bench_miner(c: &mut Criterion) {
    let lines = corpus();
    let mut group = c.benchmark_group("miner");
    group.throughput(Throughput::Elements(lines.len() as u64));
    // Steady state: the templates exist, as they do a few seconds into a log storm.
    let mut warm = Miner::new(MinerConfig::default());
    lines.iter().for_each(|line| {
        warm.add(line);
    });
    group.bench_function("add_warm", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(warm.add(black_box(line)));
            }
        })
    });
    // From empty: every template is created along the way.
    group.bench_function("add_cold", |b| {
        b.iter(|| {
            let mut miner = Miner::new(MinerConfig::default());
            for line in &lines {
                black_box(miner.add(black_box(line)));
            }
            miner.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_miner);
criterion_main!(benches);
