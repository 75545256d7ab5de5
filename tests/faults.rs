//! Every fault PPDM or the network can produce, against the simulator: the exporter
//! keeps serving /metrics with 200, keeps the last good data, counts the failure under
//! the right reason and recovers without extra sessions.

mod common;

use std::time::Duration;

use common::{Harness, LAB_CAPTURE, sim_config, value};
use ppdm_exporter::config::ServerConfig;
use ppdm_exporter::sim::{BodyFault, Route, SimConfig, Simulator, Systems};

const UP: &str = r#"ppdm_up{server="lab"}"#;
const SYSTEMS: &str = r#"ppdm_storage_systems{server="lab"}"#;

fn failures(body: &str, reason: &str) -> f64 {
    value(
        body,
        &format!(r#"ppdm_poll_failures_total{{reason="{reason}",server="lab"}}"#),
    )
    .unwrap_or(f64::NAN)
}

/// A server tweak setting the poll interval and the request timeout.
fn timing(interval: Duration, timeout: Duration) -> impl FnOnce(&mut ServerConfig) {
    move |server| {
        server.interval = interval;
        server.timeout = timeout;
    }
}

/// Asserts that the exporter logged in once and holds exactly one live session.
fn assert_one_session(harness: &Harness) {
    let counters = harness.sim.counters();
    assert_eq!(
        (counters.logins, counters.live_sessions),
        (1, 1),
        "{counters:?}"
    );
}

async fn wait_down(harness: &Harness) -> String {
    harness
        .wait_for(Duration::from_secs(8), |body| {
            body.contains(r#"ppdm_up{server="lab"} 0"#)
        })
        .await
}

/// Injects a failure of every data call after a good poll, then lifts it: the poll
/// fails under `reason`, data and session survive, and the next poll recovers.
async fn data_fault_is_survived(
    reason: &str,
    inject: impl FnOnce(&Simulator),
    lift: impl FnOnce(&Simulator),
) {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;
    harness.wait_up().await;

    inject(&harness.sim);
    let down = wait_down(&harness).await;
    lift(&harness.sim);
    let up = harness.wait_up().await;

    assert_eq!(failures(&down, reason), 1.0, "reason {reason}:\n{down}");
    assert_eq!(value(&down, SYSTEMS), Some(4.0), "last good data kept");
    assert!(down.contains("ppdm_storage_system_physical_used_bytes{"));
    assert_eq!(value(&up, UP), Some(1.0));
    assert_one_session(&harness);
    harness.stop().await;
}

#[tokio::test]
async fn error_statuses_with_and_without_json_body_fail_one_poll_each() {
    let cases = [
        (403, "auth"),
        (429, "http_status"),
        (500, "http_status"),
        (502, "http_status"),
        (503, "http_status"),
    ];
    for (status, reason) in cases {
        for json_body in [true, false] {
            data_fault_is_survived(
                reason,
                |sim| {
                    sim.control()
                        .fail_next(Route::StorageSystems, 1, status, json_body);
                },
                |_| {},
            )
            .await;
        }
    }
}

#[tokio::test]
async fn slow_answers_count_as_timeouts() {
    data_fault_is_survived(
        "timeout",
        |sim| {
            sim.control()
                .set_delay(Route::StorageSystems, Duration::from_millis(1_500));
        },
        |sim| {
            sim.control()
                .set_delay(Route::StorageSystems, Duration::ZERO);
        },
    )
    .await;
}

#[tokio::test]
async fn a_connection_closed_mid_body_counts_as_connect() {
    data_fault_is_survived(
        "connect",
        |sim| {
            sim.control().set_body_fault(Some(BodyFault::CloseMidBody));
        },
        |sim| {
            sim.control().set_body_fault(None);
        },
    )
    .await;
}

#[tokio::test]
async fn truncated_and_non_json_bodies_count_as_decode() {
    for fault in [BodyFault::Truncated, BodyFault::NotJson] {
        data_fault_is_survived(
            "decode",
            |sim| {
                sim.control().set_body_fault(Some(fault));
            },
            |sim| {
                sim.control().set_body_fault(None);
            },
        )
        .await;
    }
}

#[tokio::test]
async fn a_page_count_that_changes_while_paging_fails_the_poll_not_the_data() {
    for fault in [BodyFault::TotalPagesGrows, BodyFault::TotalPagesShrinks] {
        let sim = SimConfig {
            systems: Systems::Fleet {
                count: 250,
                seed: 7,
            },
            ..sim_config(LAB_CAPTURE)
        };
        let harness = Harness::start(sim, |_| {}).await;
        harness.wait_up().await;

        harness.sim.control().set_body_fault(Some(fault));
        let down = wait_down(&harness).await;
        harness.sim.control().set_body_fault(None);
        harness.wait_up().await;

        assert_eq!(failures(&down, "decode"), 1.0, "{fault:?}");
        assert_eq!(
            value(&down, SYSTEMS),
            Some(250.0),
            "{fault:?}: no partial list"
        );
        harness.stop().await;
    }
}

#[tokio::test]
async fn answers_larger_than_the_cap_are_refused() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |server| {
        server.max_response_bytes = 2048;
    })
    .await;

    let body = wait_down(&harness).await;

    assert_eq!(failures(&body, "decode"), 1.0, "{body}");
    assert_eq!(value(&body, SYSTEMS), Some(0.0));
    harness.stop().await;
}

#[tokio::test]
async fn malformed_items_are_skipped_and_counted_while_the_rest_yields_gauges() {
    let payload = r#"[
        {"id":"ok-1","name":"dd-ok","type":"DATA_DOMAIN_SYSTEM","readiness":"READY","details":{"dataDomain":{
            "capacities":[{"type":"ACTIVE","totalPhysicalSize":1000.0,"totalPhysicalUsed":-5.0}]}}},
        {"id":"no-details","name":"bare","type":"POWER_STORE_APPLIANCE","readiness":"READY"},
        {"id":"new-type","name":"future","type":"QUANTUM_ARRAY","readiness":"HIBERNATING"},
        {"id":"bad-number","name":"bad","capacityUtilization":"eighty"},
        {"id":"nan","name":"nan","capacityUtilization":"NaN"},
        {"id":"ok-1","name":"dd-ok-again"},
        {"name":"nameless"}
    ]"#;
    let harness = Harness::start(sim_config(payload), |_| {}).await;

    let body = harness.wait_up().await;

    let skipped = |reason: &str| {
        value(
            &body,
            &format!(r#"ppdm_storage_systems_skipped_total{{reason="{reason}",server="lab"}}"#),
        )
    };
    assert_eq!(value(&body, SYSTEMS), Some(3.0));
    assert_eq!(skipped("malformed"), Some(2.0));
    assert_eq!(skipped("duplicate_id"), Some(1.0));
    assert_eq!(skipped("missing_id"), Some(1.0));
    let dd = r#"{server="lab",system="dd-ok",system_id="ok-1",tier="active"}"#;
    assert_eq!(
        value(
            &body,
            &format!("ppdm_storage_system_physical_capacity_bytes{dd}")
        ),
        Some(1000.0)
    );
    assert_eq!(
        value(
            &body,
            &format!("ppdm_storage_system_physical_used_bytes{dd}")
        ),
        None
    );
    let future = r#"ppdm_storage_system_readiness{server="lab",state="HIBERNATING",system="future",system_id="new-type"}"#;
    assert_eq!(value(&body, future), Some(1.0));
    assert!(body.contains(r#"system_type="QUANTUM_ARRAY""#));
    harness.stop().await;
}

#[tokio::test]
async fn huge_capacities_arrays_are_capped_per_system() {
    let tiers: Vec<String> = (0..5_000)
        .map(|i| format!(r#"{{"type":"T{i}","totalPhysicalSize":{i}.0}}"#))
        .collect();
    let payload = format!(
        r#"[{{"id":"wide","name":"wide","details":{{"dataDomain":{{"capacities":[{}]}}}}}}]"#,
        tiers.join(",")
    );
    let harness = Harness::start(sim_config(&payload), |_| {}).await;

    let body = harness.wait_up().await;

    let count = body
        .lines()
        .filter(|l| l.starts_with("ppdm_storage_system_physical_capacity_bytes{"))
        .count();
    assert_eq!(count, ppdm_exporter::snapshot::MAX_TIERS);
    harness.stop().await;
}

#[tokio::test]
async fn a_vanished_system_vanishes_from_metrics() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;
    harness.wait_up().await;

    let fewer = r#"[{"id":"52e53b96-97d3-9e86-ebd4-61fa2dc4ae23","type":"POWER_SCALE_APPLIANCE","name":"powerscale-01","readiness":"READY"}]"#;
    harness
        .sim
        .control()
        .set_systems(Systems::Json(serde_json::from_str(fewer).expect("json")));
    let body = harness
        .wait_for(Duration::from_secs(5), |b| {
            b.contains(r#"ppdm_storage_systems{server="lab"} 1"#)
        })
        .await;

    assert!(!body.contains("ddve-01"));
    assert!(!body.contains("ppdm_storage_system_physical_used_bytes{"));
    harness.stop().await;
}

#[tokio::test]
async fn stale_data_is_dropped_after_stale_after_while_self_metrics_stay() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |server| {
        server.stale_after = Some(Duration::from_secs(2));
    })
    .await;
    harness.wait_up().await;

    harness.sim.stop().await;
    let down = wait_down(&harness).await;
    let stale = harness
        .wait_for(Duration::from_secs(6), |b| {
            b.contains(r#"ppdm_storage_systems{server="lab"} 0"#)
        })
        .await;

    assert_eq!(value(&down, SYSTEMS), Some(4.0), "kept at first");
    assert!(!stale.contains("ppdm_storage_system_info{"));
    assert_eq!(value(&stale, UP), Some(0.0));
    assert!(failures(&stale, "connect") >= 2.0);
    assert!(stale.contains("ppdm_last_poll_success_timestamp_seconds{server=\"lab\"}"));
    harness.stop().await;
}

#[tokio::test]
async fn ppdm_down_at_start_is_retried_while_metrics_answer() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    sim.stop().await;
    let harness = Harness::with_sim(sim, |_| {}).await;

    let down = wait_down(&harness).await;
    let (ready, _) = harness.get("/-/ready").await;
    harness.sim.resume().await.expect("simulator back");
    let up = harness.wait_up().await;

    assert!(failures(&down, "connect") >= 1.0);
    let failed_logins = r#"ppdm_auth_requests_total{kind="login",result="failure",server="lab"}"#;
    assert_eq!(
        value(&down, failed_logins),
        Some(0.0),
        "no login reached PPDM"
    );
    assert_eq!(ready, 200, "a failed attempt counts as an attempt");
    assert_eq!(value(&up, SYSTEMS), Some(4.0));
    assert_eq!(harness.sim.counters().logins, 1);
    harness.stop().await;
}

#[tokio::test]
async fn refused_connections_then_return_reuse_the_session() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;
    harness.wait_up().await;

    harness.sim.stop().await;
    let down = wait_down(&harness).await;
    harness.sim.resume().await.expect("simulator back");
    harness.wait_up().await;

    assert!(failures(&down, "connect") >= 1.0);
    assert_one_session(&harness);
    harness.stop().await;
}

#[tokio::test]
async fn wrong_password_at_start_is_retried_slowly_not_hammered() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    sim.control()
        .set_password("not-what-the-exporter-has".to_owned());
    let harness = Harness::with_sim(sim, |_| {}).await;

    let down = wait_down(&harness).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;

    let failed = harness.sim.counters().failed_logins;
    assert!(
        (2..=3).contains(&failed),
        "1 s, then 2 s, then 4 s apart: {failed} logins"
    );
    assert_eq!(failures(&down, "auth"), 1.0);
    assert_eq!(harness.get("/metrics").await.0, 200);
    harness.stop().await;
}

#[tokio::test]
async fn locked_expired_and_mfa_logins_are_auth_failures_that_heal() {
    for status in [423, 302, 307] {
        let sim = Simulator::start(sim_config(LAB_CAPTURE))
            .await
            .expect("simulator");
        sim.control().fail_next(Route::Login, 1, status, true);
        let harness = Harness::with_sim(sim, |_| {}).await;

        let down = wait_down(&harness).await;
        let up = harness.wait_up().await;

        assert_eq!(failures(&down, "auth"), 1.0, "status {status}");
        assert_eq!(value(&up, SYSTEMS), Some(4.0));
        harness.stop().await;
    }
}

#[tokio::test]
async fn transient_failures_are_retried_within_the_interval() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    sim.control()
        .fail_next(Route::StorageSystems, 2, 503, false);
    let harness =
        Harness::with_sim(sim, timing(Duration::from_secs(30), Duration::from_secs(2))).await;

    let body = harness.wait_up().await;

    assert_eq!(
        harness.sim.counters().storage_calls,
        3,
        "two failures, then success"
    );
    assert_eq!(
        failures(&body, "http_status"),
        0.0,
        "the poll itself succeeded"
    );
    harness.stop().await;
}

#[tokio::test]
async fn many_scrapers_never_reach_ppdm() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |server| {
        server.interval = Duration::from_secs(60);
    })
    .await;
    harness.wait_up().await;
    let before = harness.sim.counters();

    let url = format!("http://{}/metrics", harness.addr);
    let client = reqwest::Client::new();
    let scrapes: Vec<_> = (0..64)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    let status = client.get(&url).send().await.expect("scrape").status();
                    assert_eq!(status, 200);
                }
            })
        })
        .collect();
    for scrape in scrapes {
        scrape.await.expect("scraper");
    }

    assert_eq!(harness.sim.counters(), before);
    harness.stop().await;
}

#[tokio::test]
async fn shutdown_is_bounded_when_logout_hangs() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;
    harness.wait_up().await;
    harness
        .sim
        .control()
        .set_delay(Route::Logout, Duration::from_secs(30));

    let started = std::time::Instant::now();
    harness.stop().await;

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_rotated_password_file_is_read_again_at_the_next_login() {
    let dir = tempfile::tempdir().expect("temp dir");
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{}\n", common::PASSWORD)).expect("written");
    let file = password_file.clone();
    let harness = Harness::start(sim_config(LAB_CAPTURE), move |server| {
        server.password = None;
        server.password_file = Some(file);
    })
    .await;
    harness.wait_up().await;

    harness
        .sim
        .control()
        .set_password("rotated-in-ppdm".to_owned());
    harness.sim.control().revoke_all();
    wait_down(&harness).await;
    let (_, page) = harness.get("/").await;
    std::fs::write(&password_file, "rotated-in-ppdm\n").expect("rotated");
    let up = harness.wait_up().await;

    assert!(
        page.contains("PPDM refused the password read from"),
        "{page}"
    );
    assert!(page.contains("if it was rotated, update the file"));
    assert_eq!(value(&up, SYSTEMS), Some(4.0));
    assert_eq!(harness.sim.counters().logins, 2);
    harness.stop().await;
}

#[tokio::test]
async fn a_failing_refresh_is_retried_later_not_in_a_loop() {
    let sim = SimConfig {
        access_token_lifetime: Duration::from_secs(2),
        ..sim_config(LAB_CAPTURE)
    };
    let harness =
        Harness::start(sim, timing(Duration::from_secs(10), Duration::from_secs(1))).await;
    harness.wait_up().await;

    harness
        .sim
        .control()
        .fail_next(Route::Token, 1_000, 503, false);
    tokio::time::sleep(Duration::from_millis(3_000)).await;

    let counters = harness.sim.counters();
    assert!(
        (1..=3).contains(&counters.failed_refreshes),
        "refresh retried at most once per second: {counters:?}"
    );
    harness.stop().await;
}

#[tokio::test]
async fn shutdown_abandons_a_poll_in_progress_and_still_logs_out() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    sim.control()
        .set_delay(Route::StorageSystems, Duration::from_secs(20));
    let harness = Harness::with_sim(
        sim,
        timing(Duration::from_secs(60), Duration::from_secs(30)),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while harness.sim.counters().storage_calls == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = std::time::Instant::now();
    let sim = harness.stop().await;

    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let counters = sim.counters();
    assert_eq!((counters.logins, counters.logouts), (1, 1), "{counters:?}");
}

#[tokio::test]
async fn a_poll_never_outlasts_its_interval() {
    let sim = SimConfig {
        systems: Systems::Fleet {
            count: 250,
            seed: 5,
        },
        ..sim_config(LAB_CAPTURE)
    };
    let harness = Harness::start(
        sim,
        timing(Duration::from_secs(2), Duration::from_millis(1_500)),
    )
    .await;
    harness.wait_up().await;

    harness
        .sim
        .control()
        .set_delay(Route::StorageSystems, Duration::from_millis(1_000));
    let down = wait_down(&harness).await;

    assert_eq!(failures(&down, "timeout"), 1.0, "{down}");
    assert_eq!(value(&down, SYSTEMS), Some(250.0), "last good data kept");
    harness.stop().await;
}
