//! What the exporter spends on `/metrics`: the render after each poll, and the
//! per-scrape work of putting the cached body and the process metrics together.
//!
//! ```text
//! cargo bench --bench render
//! ```
//!
//! Estates: typical (10 servers × 10 systems), large (50 × 20) and one server with
//! 10,000 systems. `record_success` re-renders every server's series, so its cost
//! is the render of the whole estate; `write_gauges` and `deflate` are its two
//! parts (the gauge text written from the snapshots, and `Rendered::new`
//! compressing the whole body), so the bench shows what caching each server's
//! lines could save and what it could not.

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ppdm_exporter::render::{Rendered, encode};

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

/// The two parts of a render: writing the gauge text from the snapshots, and
/// compressing the whole body.
fn render_parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("render_parts");
    for (name, servers, systems) in ESTATES {
        let snapshot = support::snapshot_of(&support::storage_systems_page(systems));
        let store = support::filled_store(servers, &snapshot);
        let states = store.states();
        let body = store.rendered().text().to_vec();
        group.bench_function(BenchmarkId::new("write_gauges", name), |b| {
            b.iter(|| {
                let mut text = String::with_capacity(body.len() + 4096);
                ppdm_exporter::exposition::write_gauges(&mut text, black_box(&states));
                text
            });
        });
        group.bench_function(BenchmarkId::new("deflate", name), |b| {
            b.iter_batched(
                || body.clone(),
                |body| Rendered::new(black_box(body)),
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

/// What a scrape does (`src/http.rs` `metrics`): the shared chunks of the cached
/// body and the tail, and the tail itself, cached for a second.
fn scrape(c: &mut Criterion) {
    let mut group = c.benchmark_group("scrape");
    for (name, servers, systems) in ESTATES {
        let snapshot = support::snapshot_of(&support::storage_systems_page(systems));
        let store = support::filled_store(servers, &snapshot);
        let rendered = store.rendered();
        let tail = store.process_text();
        group.throughput(Throughput::Bytes(rendered.text().len() as u64));
        group.bench_function(BenchmarkId::new("plain_body", name), |b| {
            b.iter(|| rendered.plain_body(black_box(tail.clone())));
        });
        group.bench_function(BenchmarkId::new("gzip_body", name), |b| {
            b.iter(|| rendered.gzip_body(black_box(&tail)));
        });
    }
    let store = support::filled_store(1, &Default::default());
    group.bench_function("process_text_cached", |b| b.iter(|| store.process_text()));
    // What a cache miss costs, once a second at most: reading `/proc` and encoding.
    let process = prometheus::Registry::new();
    process
        .register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("registered once");
    group.bench_function("process_text_miss", |b| b.iter(|| encode(&process)));
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
    targets = record_success, render_parts, scrape
}
criterion_main!(benches);
