//! `ppdm-exporter check`: what a user runs first against a real PPDM.
//!
//! For each configured server it logs in, polls once, prints a summary with warnings,
//! and logs out; then it prints the metrics the exporter would serve. Any failure
//! makes the command fail.

use std::fmt::Write as _;
use std::time::Instant;

use crate::config::{Config, ServerConfig};
use crate::poller::poll_once;
use crate::ppdm::{HttpClients, Session};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// The report of a check: human-readable text and whether every server passed.
#[derive(Debug)]
pub struct Report {
    /// Per-server summaries followed by the metrics.
    pub text: String,
    /// Whether every server was reached and polled.
    pub ok: bool,
}

/// Checks every server of `config`.
pub async fn run(config: &Config) -> Report {
    let store = Store::new();
    let mut text = String::new();
    let mut ok = true;
    for server in &config.servers {
        let label = server.label().unwrap_or_else(|| server.url.clone());
        let _ = writeln!(text, "server {label} ({})", server.url);
        match check_server(server, &label, &store).await {
            Ok(summary) => text.push_str(&summary),
            Err(error) => {
                ok = false;
                let _ = writeln!(text, "  FAILED: {error:#}");
            }
        }
    }
    store.touch();
    let _ = writeln!(text, "\n# metrics the exporter would serve:");
    text.push_str(&String::from_utf8_lossy(store.rendered().text()));
    Report { text, ok }
}

async fn check_server(server: &ServerConfig, label: &str, store: &Store) -> anyhow::Result<String> {
    let mut summary = String::new();
    if server.insecure_skip_verify {
        summary.push_str("  warning: certificate not verified (insecure_skip_verify = true)\n");
    }
    let auth = store.metrics().auth_requests.clone();
    let session = Session::for_server(server, label, &HttpClients::default(), auth)?;
    store.add_server(label, server.stale_after());
    let started = Instant::now();
    let result = poll_once(&session, server.page_size).await;
    session.logout().await;
    let snapshot = result?;
    describe(&snapshot, started.elapsed().as_secs_f64(), &mut summary);
    store.record_success(label, snapshot, started.elapsed());
    Ok(summary)
}

fn describe(snapshot: &Snapshot, seconds: f64, out: &mut String) {
    let tiers: usize = snapshot.systems.iter().map(|s| s.tiers.len()).sum();
    let _ = writeln!(
        out,
        "  ok: logged in, {} storage systems with {tiers} tiers in {seconds:.2} s, logged out",
        snapshot.systems.len()
    );
    for system in &snapshot.systems {
        let names: Vec<&str> = system.tiers.iter().map(|t| t.name.as_str()).collect();
        let readiness = system.readiness.as_deref().unwrap_or("unknown readiness");
        let _ = writeln!(
            out,
            "  - {} [{}] {readiness}, tiers: {}",
            system.name,
            system.kind,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
        if system.from_deprecated_totals {
            let _ = writeln!(
                out,
                "    warning: only deprecated totals sent (older PPDM); exporting the active tier from them"
            );
        }
    }
    for (reason, count) in &snapshot.skipped {
        let _ = writeln!(
            out,
            "  warning: {count} item(s) skipped: {}",
            reason.as_label()
        );
    }
}
