//! A long run in compressed time: token lifetimes of a second, a fault every couple
//! of seconds, scrapes all along. Memory must stay flat, /metrics must answer 200
//! every time, and logins must be exactly those the faults force.
//!
//! Ignored by default because it runs for minutes; `.ci/run` runs a short form with
//! `SOAK_SECONDS=20 cargo test --test soak -- --ignored`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Harness, LAB_CAPTURE, sim_config};
use ppdm_exporter::sim::{BodyFault, Route, SimConfig, Systems};

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs for minutes; .ci/run runs a short form with SOAK_SECONDS=20"]
async fn token_expiries_and_faults_keep_memory_flat_and_logins_as_required() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let sim = SimConfig {
        access_token_lifetime: Duration::from_secs(1),
        refresh_token_lifetime: Duration::from_secs(4),
        systems: Systems::Fleet {
            count: 200,
            seed: 3,
        },
        ..sim_config(LAB_CAPTURE)
    };
    let harness =
        Arc::new(Harness::start(sim, |server| server.interval = Duration::from_secs(1)).await);
    harness.wait_up().await;

    let scrapes = Arc::new(AtomicU64::new(0));
    let scraper = {
        let (harness, scrapes) = (harness.clone(), scrapes.clone());
        tokio::spawn(async move {
            loop {
                assert_eq!(
                    harness.get("/metrics").await.0,
                    200,
                    "/metrics answered otherwise"
                );
                scrapes.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let control = harness.sim.control();
    let mut forced_logins = 0;
    let mut baseline_kib = 0;
    let cycles = seconds / 2;
    for cycle in 0..cycles {
        match cycle % 5 {
            0 => {
                control.revoke_all();
                forced_logins += 1;
            }
            1 => {
                control.fail_next(Route::Token, 1, 401, true);
                forced_logins += 1;
            }
            2 => control.fail_next(Route::StorageSystems, 1, 503, false),
            3 => control.set_body_fault(Some(BodyFault::CloseMidBody)),
            _ => control.set_body_fault(None),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        if cycle == 4 {
            baseline_kib = resident_kib();
        }
    }
    control.set_body_fault(None);
    harness.wait_up().await;
    let final_kib = resident_kib();
    scraper.abort();
    let _ = scraper.await;

    let counters = harness.sim.counters();
    println!(
        "soak: {seconds} s, {} scrapes, {} logins, {} refreshes, RSS {baseline_kib} KiB after warm-up, {final_kib} KiB at end",
        scrapes.load(Ordering::Relaxed),
        counters.logins,
        counters.refreshes
    );
    assert_eq!(counters.logins, 1 + forced_logins, "{counters:?}");
    assert!(counters.refreshes >= seconds / 2, "{counters:?}");
    assert!(counters.live_sessions <= 1, "{counters:?}");
    assert!(
        final_kib < baseline_kib + 8 * 1024,
        "memory grew from {baseline_kib} KiB to {final_kib} KiB"
    );
    Arc::try_unwrap(harness)
        .ok()
        .expect("only owner")
        .stop()
        .await;
}
