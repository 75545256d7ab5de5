//! What the exporter spends on `/metrics`: the render after each poll, and the
//! per-scrape work of appending the process metrics to the cached body.
//!
//! ```text
//! cargo bench --bench render
//! ```
//!
//! Estates: typical (10 servers × 10 systems), large (50 × 20) and one server with
//! 10,000 systems. `record_success` re-renders every server's series, so its cost
//! is the render of the whole estate.

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Servers and systems per server of each estate.
const ESTATES: [(&str, usize, usize); 3] = [
    ("typical_10x10", 10, 10),
    ("large_50x20", 50, 20),
    ("single_1x10000", 1, 10_000),
];

fn record_success(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_success");
    for (name, servers, systems) in ESTATES {
        let snapshot = support::snapshot_of(&support::storage_systems_page(systems));
        let store = support::filled_store(servers, &snapshot);
        let server = support::server_name(0);
        report_sizes(name, &store);
        group.throughput(Throughput::Elements((servers * systems) as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched(
                || snapshot.clone(),
                |snapshot| store.record_success(&server, snapshot, Duration::from_millis(250)),
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn scrape(c: &mut Criterion) {
    let mut group = c.benchmark_group("scrape");
    for (name, servers, systems) in ESTATES {
        let snapshot = support::snapshot_of(&support::storage_systems_page(systems));
        let store = support::filled_store(servers, &snapshot);
        let rendered = store.rendered();
        let tail = store.process_text();
        group.throughput(Throughput::Bytes(rendered.text().len() as u64));
        group.bench_function(BenchmarkId::new("plain_with", name), |b| {
            b.iter(|| rendered.plain_with(black_box(&tail)));
        });
        group.bench_function(BenchmarkId::new("gzip_with", name), |b| {
            b.iter(|| rendered.gzip_with(black_box(&tail)));
        });
    }
    let store = support::filled_store(1, &Default::default());
    group.bench_function("process_text", |b| b.iter(|| store.process_text()));
    group.finish();
}

/// Prints the body sizes once, so the bench log shows what was rendered.
fn report_sizes(name: &str, store: &ppdm_exporter::store::Store) {
    let rendered = store.rendered();
    let tail = store.process_text();
    println!(
        "{name}: text {} bytes, gzip {} bytes, {} lines, process tail {} bytes",
        rendered.text().len(),
        rendered.gzip_with(&tail).len(),
        rendered.text().iter().filter(|b| **b == b'\n').count(),
        tail.len()
    );
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
}

criterion_group! {
    name = benches;
    config = config();
    targets = record_success, scrape
}
criterion_main!(benches);
