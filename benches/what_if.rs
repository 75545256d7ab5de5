//! Prototypes of the changes `docs/benchmarks.md` suggests, measured beside the
//! current code so the suggestions carry numbers. Nothing here is used by the
//! exporter.
//!
//! ```text
//! cargo bench --bench what_if
//! ```
//!
//! - `direct_render`: the storage-system families written straight from the
//!   snapshots into one text buffer (and then compressed as `Rendered::new` does),
//!   versus `Store::record_success`, which fills the prometheus registry, encodes
//!   and compresses it. The prototype leaves out the per-server families and
//!   counters, a few hundred lines at most.
//! - `gzip_tail`: closing the cached deflate stream with the process metrics as a
//!   stored block, versus compressing them with a fresh encoder per scrape.

mod support;

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write as _;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use ppdm_exporter::snapshot::{Snapshot, System, Tier};

const ESTATES: [(&str, usize, usize); 3] = [
    ("typical_10x10", 10, 10),
    ("large_50x20", 50, 20),
    ("single_1x10000", 1, 10_000),
];

const READINESS: [&str; 3] = ["READY", "NOT_READY", "MIGRATING"];
const CAPACITY: [&str; 3] = ["GOOD", "FAIR", "POOR"];

/// The tier families: name and how to read the value.
type TierValue = fn(&Tier) -> Option<f64>;
const TIER_FAMILIES: [(&str, TierValue); 6] = [
    ("physical_capacity_bytes", |t| t.physical_capacity_bytes),
    ("physical_used_bytes", |t| t.physical_used_bytes),
    ("logical_capacity_bytes", |t| t.logical_capacity_bytes),
    ("logical_used_bytes", |t| t.logical_used_bytes),
    ("licensed_capacity_bytes", |t| t.licensed_capacity_bytes),
    ("compression_ratio", |t| t.compression_ratio),
];

fn direct_render(c: &mut Criterion) {
    let mut group = c.benchmark_group("direct_render");
    for (name, servers, systems) in ESTATES {
        let snapshot = support::snapshot_of(&support::storage_systems_page(systems));
        let estate: Vec<(String, Snapshot)> = (0..servers)
            .map(|i| (support::server_name(i), snapshot.clone()))
            .collect();
        let store = support::filled_store(servers, &snapshot);
        let text = render_text(&estate);
        println!(
            "{name}: direct {} bytes, registry {} bytes",
            text.len(),
            store.rendered().text().len()
        );
        group.bench_function(BenchmarkId::new("direct", name), |b| {
            b.iter(|| render_text(black_box(&estate)));
        });
        group.bench_function(BenchmarkId::new("direct_and_deflate", name), |b| {
            b.iter(|| compress(render_text(black_box(&estate)).as_bytes()));
        });
        group.bench_function(BenchmarkId::new("registry", name), |b| {
            b.iter_batched(
                || snapshot.clone(),
                |s| store.record_success("ppdm-00", s, Duration::from_millis(250)),
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

/// Every storage-system family of the contract, family by family.
fn render_text(estate: &[(String, Snapshot)]) -> String {
    let mut out = String::with_capacity(estate.len() * 64 * 1024);
    family(&mut out, "info", estate, |out, server, system| {
        let labels = system_labels(server, system);
        let _ = writeln!(
            out,
            "ppdm_storage_system_info{{{labels},system_type=\"{}\",model=\"{}\",os_version=\"{}\",serial_number=\"{}\"}} 1",
            escape(&system.kind),
            escape(&system.model),
            escape(&system.os_version),
            escape(&system.serial_number)
        );
    });
    family(&mut out, "readiness", estate, |out, server, system| {
        if let Some(state) = &system.readiness {
            states(
                out,
                "readiness",
                &system_labels(server, system),
                &READINESS,
                state,
            );
        }
    });
    family(
        &mut out,
        "capacity_utilization_ratio",
        estate,
        |out, server, s| {
            value(
                out,
                "capacity_utilization_ratio",
                &system_labels(server, s),
                s.capacity_utilization_ratio,
            );
        },
    );
    family(
        &mut out,
        "last_discovery_timestamp_seconds",
        estate,
        |out, server, s| {
            value(
                out,
                "last_discovery_timestamp_seconds",
                &system_labels(server, s),
                s.last_discovery_seconds,
            );
        },
    );
    for (name, read) in TIER_FAMILIES {
        family(&mut out, name, estate, |out, server, system| {
            for tier in &system.tiers {
                value(out, name, &tier_labels(server, system, tier), read(tier));
            }
        });
    }
    family(
        &mut out,
        "capacity_status",
        estate,
        |out, server, system| {
            for tier in &system.tiers {
                if let Some(state) = &tier.capacity_status {
                    states(
                        out,
                        "capacity_status",
                        &tier_labels(server, system, tier),
                        &CAPACITY,
                        state,
                    );
                }
            }
        },
    );
    out
}

/// The compression `Rendered::new` does after encoding: fast deflate, sync flush,
/// and the CRC of the text.
fn compress(text: &[u8]) -> (Vec<u8>, u32) {
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(text.len() / 8), Compression::fast());
    encoder.write_all(text).expect("in memory");
    encoder.flush().expect("in memory");
    (std::mem::take(encoder.get_mut()), crc32fast::hash(text))
}

fn family(
    out: &mut String,
    name: &str,
    estate: &[(String, Snapshot)],
    mut line: impl FnMut(&mut String, &str, &System),
) {
    let _ = writeln!(
        out,
        "# HELP ppdm_storage_system_{name} A help text of about this length, in units."
    );
    let _ = writeln!(out, "# TYPE ppdm_storage_system_{name} gauge");
    for (server, snapshot) in estate {
        for system in &snapshot.systems {
            line(out, server, system);
        }
    }
}

fn system_labels(server: &str, system: &System) -> String {
    format!(
        "server=\"{}\",system=\"{}\",system_id=\"{}\"",
        escape(server),
        escape(&system.name),
        escape(&system.id)
    )
}

fn tier_labels(server: &str, system: &System, tier: &Tier) -> String {
    format!(
        "{},tier=\"{}\"",
        system_labels(server, system),
        escape(&tier.name)
    )
}

fn value(out: &mut String, name: &str, labels: &str, value: Option<f64>) {
    if let Some(value) = value {
        let _ = writeln!(out, "ppdm_storage_system_{name}{{{labels}}} {value}");
    }
}

fn states(out: &mut String, name: &str, labels: &str, known: &[&str], current: &str) {
    let unknown = (!known.contains(&current)).then_some(current);
    for state in known.iter().copied().chain(unknown) {
        let on = u8::from(state == current);
        let _ = writeln!(
            out,
            "ppdm_storage_system_{name}{{{labels},state=\"{}\"}} {on}",
            escape(state)
        );
    }
}

fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\\', '"', '\n']) {
        text.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .into()
    } else {
        text.into()
    }
}

fn gzip_tail(c: &mut Criterion) {
    let store = support::filled_store(1, &Snapshot::default());
    let tail = store.process_text();
    let mut group = c.benchmark_group("gzip_tail");
    group.bench_function("fresh_encoder", |b| {
        b.iter(|| {
            let mut encoder = DeflateEncoder::new(Vec::with_capacity(256), Compression::fast());
            encoder.write_all(black_box(&tail)).expect("in memory");
            encoder.finish().expect("in memory")
        });
    });
    group.bench_function("stored_block", |b| {
        b.iter(|| stored_block(black_box(&tail)));
    });
    group.finish();
    assert_stored_block_completes_a_stream(&tail);
}

/// Checks that a sync-flushed stream followed by the stored block inflates to
/// both texts, so the prototype measures something that works.
fn assert_stored_block_completes_a_stream(tail: &[u8]) {
    let head = b"ppdm_up{server=\"a\"} 1\n".repeat(1_000);
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&head).expect("in memory");
    encoder.flush().expect("in memory");
    let mut stream = std::mem::take(encoder.get_mut());
    stream.extend_from_slice(&stored_block(tail));

    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::DeflateDecoder::new(&stream[..]),
        &mut inflated,
    )
    .expect("a valid deflate stream");
    assert_eq!(inflated, [&head[..], tail].concat());
}

/// A final deflate block of type "stored" (RFC 1951, 3.2.4) holding `tail` as is.
/// It may follow the cached stream because that ends on a byte boundary.
fn stored_block(tail: &[u8]) -> Vec<u8> {
    let len = u16::try_from(tail.len()).expect("the process metrics are under 64 KiB");
    let mut block = Vec::with_capacity(tail.len() + 5);
    block.push(1);
    block.extend_from_slice(&len.to_le_bytes());
    block.extend_from_slice(&(!len).to_le_bytes());
    block.extend_from_slice(tail);
    block
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
    targets = direct_render, gzip_tail
}
criterion_main!(benches);
