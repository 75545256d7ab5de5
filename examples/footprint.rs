//! Memory of the store alone, without the HTTP server, TLS clients or pollers.
//!
//! ```text
//! cargo run --release --example footprint -- 50 20
//! ```
//!
//! Fills a [`Store`](ppdm_exporter::store::Store) with SERVERS servers of SYSTEMS
//! generated Data Domain systems each (the generator of `benches/support`), one
//! successful poll per server, and prints the resident memory before and after,
//! the peak, and the size of the rendered body. `benches/load.sh` gives the same
//! figures for the whole process.

#[path = "../benches/support/mod.rs"]
mod support;

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: footprint SERVERS SYSTEMS";
    let servers: usize = args.next().context(usage)?.parse().context(usage)?;
    let systems: usize = args.next().context(usage)?.parse().context(usage)?;

    let before = memory()?;
    let page = support::storage_systems_page(systems);
    let snapshot = support::snapshot_of(&page);
    drop(page);
    let with_snapshot = memory()?;
    let store = support::filled_store(servers, &snapshot);
    drop(snapshot);
    let filled = memory()?;
    let rendered = store.rendered();
    let tail = store.process_text();

    println!("estate: {servers} server(s) x {systems} systems");
    println!(
        "body: text {} bytes, gzip {} bytes",
        rendered.text().len(),
        rendered.gzip_with(&tail).len()
    );
    println!("RSS at start: {} kB", before.rss_kb);
    println!("RSS with one snapshot: {} kB", with_snapshot.rss_kb);
    println!(
        "RSS with the filled store: {} kB (+{} kB), peak {} kB (+{} kB)",
        filled.rss_kb,
        filled.rss_kb - before.rss_kb,
        filled.peak_kb,
        filled.peak_kb - before.rss_kb
    );
    Ok(())
}

/// Resident and peak resident memory of this process, from /proc/self/status.
struct Memory {
    rss_kb: i64,
    peak_kb: i64,
}

fn memory() -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading status")?;
    let field = |name: &str| -> anyhow::Result<i64> {
        let line = status
            .lines()
            .find(|line| line.starts_with(name))
            .with_context(|| format!("no {name} in /proc/self/status"))?;
        let kb = line.split_whitespace().nth(1).context("empty field")?;
        Ok(kb.parse()?)
    };
    Ok(Memory {
        rss_kb: field("VmRSS:")?,
        peak_kb: field("VmHWM:")?,
    })
}
