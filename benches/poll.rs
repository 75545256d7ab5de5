//! What one poll costs the exporter once PPDM has answered: decoding a page of
//! storage systems and turning its items into a snapshot.
//!
//! ```text
//! cargo bench --bench poll
//! ```
//!
//! Sizes are 10, 1,000 and 10,000 Data Domain systems in one page (see
//! `support`). The target for 10,000 systems, decode plus snapshot, is under 100 ms.

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ppdm_exporter::ppdm::model::StorageSystemsPage;
use ppdm_exporter::snapshot::SnapshotBuilder;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn decode_page(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_page");
    for size in SIZES {
        let text = support::storage_systems_page(size);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &text, |b, text| {
            b.iter(|| serde_json::from_str::<StorageSystemsPage>(black_box(text)).expect("page"));
        });
    }
    group.finish();
}

fn build_snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("build_snapshot");
    for size in SIZES {
        let text = support::storage_systems_page(size);
        let page: StorageSystemsPage = serde_json::from_str(&text).expect("page");
        let items = page.content.expect("content");
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &items, |b, items| {
            b.iter(|| {
                let mut builder = SnapshotBuilder::default();
                for raw in items {
                    builder.add_raw(black_box(raw));
                }
                builder.finish()
            });
        });
    }
    group.finish();
}

fn decode_and_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_and_build");
    for size in SIZES {
        let text = support::storage_systems_page(size);
        let systems = support::snapshot_of(&text).systems.len();
        assert_eq!(systems, size, "every generated system is kept");
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &text, |b, text| {
            b.iter(|| support::snapshot_of(black_box(text)));
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = decode_page, build_snapshot, decode_and_build
}
criterion_main!(benches);
