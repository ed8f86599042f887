//! Parsing throughput per format, in lines per second, over the fixture lines of each format.
//!
//! Run with `cargo bench -p ic-core --bench parse`.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ic_core::parse::{LineJoiner, parse_line};

const FIXTURES: [(&str, &str); 4] = [
    ("plain", include_str!("../tests/fixtures/parse/plain.log")),
    ("json", include_str!("../tests/fixtures/parse/json.log")),
    ("logfmt", include_str!("../tests/fixtures/parse/logfmt.log")),
    ("syslog", include_str!("../tests/fixtures/parse/syslog.log")),
];

fn parse_line_per_format(c: &mut Criterion) {
    let received = Utc.with_ymd_and_hms(2024, 5, 2, 12, 0, 0).unwrap();
    let mut group = c.benchmark_group("parse_line");
    for (format, text) in FIXTURES {
        let lines: Vec<&str> = text.lines().collect();
        group.throughput(Throughput::Elements(lines.len() as u64));
        group.bench_function(format, |b| {
            b.iter(|| {
                for line in &lines {
                    black_box(parse_line(black_box(line), received));
                }
            })
        });
    }
    group.finish();
}

fn joiner(c: &mut Criterion) {
    let received = Utc.with_ymd_and_hms(2024, 5, 2, 12, 0, 0).unwrap();
    let trace = "2024-05-02 10:00:00,001 ERROR [main] com.example.Api: request failed\n\
                 java.lang.IllegalStateException: pool exhausted\n\
                 \tat com.example.Pool.take(Pool.java:42)\n\
                 \tat com.example.Api.handle(Api.java:7)\n\
                 Caused by: java.net.ConnectException: refused\n\
                 \t... 12 more\n";
    let text = format!("{}{trace}", FIXTURES[0].1);
    let lines: Vec<&str> = text.lines().collect();
    let mut group = c.benchmark_group("joiner");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("plain_with_trace", |b| {
        b.iter(|| {
            let mut joiner = LineJoiner::new();
            for line in &lines {
                black_box(joiner.push(black_box(line), received));
            }
            black_box(joiner.finish())
        })
    });
    group.finish();
}

criterion_group!(benches, parse_line_per_format, joiner);
criterion_main!(benches);
