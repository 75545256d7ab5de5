//! The exporter end to end against the simulated PPDM: values, sessions, endpoints.

mod common;

use std::time::Duration;

use common::{Harness, LAB_CAPTURE, series_with, sim_config, value};
use ppdm_exporter::sim::{Route, SimConfig};

const DDVE_01: &str = "d533789b-7474-00bd-2523-05c7b4f36e08";

fn ddve_01_expected() -> Vec<String> {
    let ids = format!(r#"server="lab",system="ddve-01.lab.example",system_id="{DDVE_01}""#);
    let mut lines = vec![
        format!(
            r#"ppdm_storage_system_info{{model="DD VE",os_version="8.0.0.20-1107705",serial_number="DDVE0000000001",{ids},system_type="DATA_DOMAIN_SYSTEM"}} 1"#
        ),
        format!(
            r#"ppdm_storage_system_readiness{{server="lab",state="MIGRATING",system="ddve-01.lab.example",system_id="{DDVE_01}"}} 0"#
        ),
        format!(
            r#"ppdm_storage_system_readiness{{server="lab",state="NOT_READY",system="ddve-01.lab.example",system_id="{DDVE_01}"}} 0"#
        ),
        format!(
            r#"ppdm_storage_system_readiness{{server="lab",state="READY",system="ddve-01.lab.example",system_id="{DDVE_01}"}} 1"#
        ),
    ];
    for tier in ["active", "combined"] {
        let labels = format!(r#"{ids},tier="{tier}""#);
        for (name, value) in [
            ("physical_capacity_bytes", "112377987072"),
            ("physical_used_bytes", "30618943488"),
            ("logical_capacity_bytes", "2792067979265"),
            ("logical_used_bytes", "760737702278"),
            ("licensed_capacity_bytes", "1000000000000"),
            ("compression_ratio", "24.845328"),
        ] {
            lines.push(format!("ppdm_storage_system_{name}{{{labels}}} {value}"));
        }
        for (state, value) in [("FAIR", 0), ("GOOD", 1), ("POOR", 0)] {
            lines.push(format!(
                r#"ppdm_storage_system_capacity_status{{server="lab",state="{state}",system="ddve-01.lab.example",system_id="{DDVE_01}",tier="{tier}"}} {value}"#
            ));
        }
    }
    lines.sort();
    lines
}

#[tokio::test]
async fn lab_capture_dd_ve_is_exported_with_exactly_the_captured_values() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;

    let body = harness.wait_up().await;

    assert_eq!(series_with(&body, DDVE_01), ddve_01_expected());
    assert_eq!(
        value(&body, r#"ppdm_storage_systems{server="lab"}"#),
        Some(4.0)
    );
    harness.stop().await;
}

#[tokio::test]
async fn powerscale_and_generic_array_have_info_and_readiness_but_no_capacity() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;

    let body = harness.wait_up().await;

    for id in [
        "52e53b96-97d3-9e86-ebd4-61fa2dc4ae23",
        "fa97f8e5-c5bf-8088-362d-7b2184b7ad15",
    ] {
        let series = series_with(&body, id);
        let names: Vec<&str> = series
            .iter()
            .map(|l| l.split('{').next().unwrap_or(""))
            .collect();
        assert_eq!(
            names,
            [
                "ppdm_storage_system_info",
                "ppdm_storage_system_readiness",
                "ppdm_storage_system_readiness",
                "ppdm_storage_system_readiness",
            ],
            "{series:#?}"
        );
    }
    assert!(body.contains(r#"serial_number="",server="lab",system="GENERIC ARRAY""#));
    harness.stop().await;
}

#[tokio::test]
async fn deprecated_totals_alone_yield_the_active_tier() {
    let payload = r#"[{"id":"old-1","name":"dd-old","type":"DATA_DOMAIN_SYSTEM","readiness":"READY",
        "details":{"dataDomain":{"model":"DD6300","version":"6.2.1.0","totalSize":5.0e13,
        "totalUsed":1.25e13,"compressionFactor":7.5}}}]"#;
    let harness = Harness::start(sim_config(payload), |_| {}).await;

    let body = harness.wait_up().await;

    let tier = r#"{server="lab",system="dd-old",system_id="old-1",tier="active"}"#;
    assert_eq!(
        value(
            &body,
            &format!("ppdm_storage_system_physical_capacity_bytes{tier}")
        ),
        Some(5.0e13)
    );
    assert_eq!(
        value(
            &body,
            &format!("ppdm_storage_system_physical_used_bytes{tier}")
        ),
        Some(1.25e13)
    );
    assert_eq!(
        value(
            &body,
            &format!("ppdm_storage_system_compression_ratio{tier}")
        ),
        Some(7.5)
    );
    assert!(
        !body.contains("ppdm_storage_system_logical_used_bytes{"),
        "no value PPDM did not send"
    );
    assert!(!body.contains(r#"tier="combined""#));
    harness.stop().await;
}

#[tokio::test]
async fn access_token_is_refreshed_before_it_expires() {
    let sim = SimConfig {
        access_token_lifetime: Duration::from_secs(2),
        ..sim_config(LAB_CAPTURE)
    };
    let harness = Harness::start(sim, |server| server.interval = Duration::from_secs(1)).await;
    harness.wait_up().await;

    tokio::time::sleep(Duration::from_millis(4_500)).await;

    let counters = harness.sim.counters();
    assert_eq!(counters.logins, 1, "{counters:?}");
    assert!(counters.refreshes >= 2, "{counters:?}");
    assert_eq!(
        counters.unauthorized, 0,
        "never sent an expired token: {counters:?}"
    );
    harness.stop().await;
}

#[tokio::test]
async fn refused_refresh_leads_to_a_new_login() {
    let sim = SimConfig {
        access_token_lifetime: Duration::from_secs(2),
        ..sim_config(LAB_CAPTURE)
    };
    let harness = Harness::start(sim, |_| {}).await;
    harness.wait_up().await;
    harness.sim.control().fail_next(Route::Token, 1, 401, true);

    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let counters = harness.sim.counters();
    assert_eq!(counters.failed_refreshes, 1, "{counters:?}");
    assert_eq!(counters.logins, 2, "{counters:?}");
    assert_eq!(
        counters.live_sessions, 1,
        "the replaced session was logged out: {counters:?}"
    );
    let body = harness.metrics().await;
    assert_eq!(value(&body, r#"ppdm_up{server="lab"}"#), Some(1.0));
    harness.stop().await;
}

#[tokio::test]
async fn a_401_on_data_renews_the_session_and_retries_once() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;
    harness.wait_up().await;
    let before = harness.sim.counters();

    harness.sim.control().revoke_all();
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let after = harness.sim.counters();
    assert_eq!(after.logins, before.logins + 1, "{after:?}");
    assert_eq!(
        after.unauthorized - before.unauthorized,
        2,
        "data call and refresh refused: {after:?}"
    );
    let body = harness.metrics().await;
    assert_eq!(value(&body, r#"ppdm_up{server="lab"}"#), Some(1.0));
    assert_eq!(
        value(
            &body,
            r#"ppdm_poll_failures_total{reason="auth",server="lab"}"#
        ),
        Some(0.0)
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_second_401_fails_the_poll_instead_of_looping() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;
    harness.wait_up().await;
    let before = harness.sim.counters();

    harness
        .sim
        .control()
        .fail_next(Route::StorageSystems, 2, 401, true);
    let body = harness
        .wait_for(Duration::from_secs(5), |body| {
            body.contains(r#"ppdm_up{server="lab"} 0"#)
        })
        .await;

    let after = harness.sim.counters();
    assert_eq!(
        after.storage_calls - before.storage_calls,
        2,
        "one call and one retry: {after:?}"
    );
    assert_eq!(
        value(
            &body,
            r#"ppdm_poll_failures_total{reason="auth",server="lab"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&body, r#"ppdm_storage_systems{server="lab"}"#),
        Some(4.0),
        "last good data kept"
    );
    harness.stop().await;
}

#[tokio::test]
async fn shutdown_logs_out_of_ppdm() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;
    harness.wait_up().await;

    let sim = harness.stop().await;

    let counters = sim.counters();
    assert_eq!(counters.logouts, 1, "{counters:?}");
    assert_eq!(counters.live_sessions, 0, "{counters:?}");
}

#[tokio::test]
async fn endpoints_answer_with_the_right_status_and_type() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;
    harness.wait_up().await;

    let url = format!("http://{}/metrics", harness.addr);
    let response = reqwest::get(&url).await.expect("metrics");
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();

    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(harness.get("/-/healthy").await.0, 200);
    assert_eq!(harness.get("/-/ready").await.0, 200);
    let (status, page) = harness.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("href=\"/metrics\"") && page.contains("<td>lab</td><td>up</td><td>4</td>")
    );
    harness.stop().await;
}

#[tokio::test]
async fn readiness_waits_for_the_first_poll_attempt() {
    let sim = sim_config(LAB_CAPTURE);
    let harness = Harness::start(sim, |server| server.timeout = Duration::from_secs(1)).await;
    harness
        .sim
        .control()
        .set_delay(Route::Login, Duration::from_millis(700));

    let (early, _) = harness.get("/-/ready").await;
    harness.wait_up().await;
    let (late, _) = harness.get("/-/ready").await;

    assert_eq!(early, 503);
    assert_eq!(late, 200);
    harness.stop().await;
}

#[tokio::test]
async fn basic_auth_protects_metrics_but_not_the_probes() {
    let hash = bcrypt::hash("scrape-secret", 4).expect("hash");
    let toml = format!("[web.basic_auth_users]\nprometheus = \"{hash}\"\n");
    let sim = ppdm_exporter::sim::Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    let harness = Harness::with_sim_and_config(sim, |_| {}, &toml).await;
    let url = format!("http://{}/metrics", harness.addr);
    let client = reqwest::Client::new();

    let anonymous = client.get(&url).send().await.expect("answer").status();
    let wrong = client
        .get(&url)
        .basic_auth("prometheus", Some("guess"))
        .send()
        .await
        .expect("answer");
    let right = client
        .get(&url)
        .basic_auth("prometheus", Some("scrape-secret"))
        .send()
        .await
        .expect("answer");

    assert_eq!(anonymous, 401);
    assert_eq!(wrong.status(), 401);
    assert_eq!(right.status(), 200);
    assert!(
        right
            .text()
            .await
            .expect("body")
            .contains("ppdm_exporter_build_info")
    );
    assert_eq!(harness.get("/-/healthy").await.0, 200);
    let mut ready = 0;
    for _ in 0..100 {
        ready = harness.get("/-/ready").await.0;
        if ready != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready, 200, "probes need no credentials");
    assert_eq!(harness.get("/").await.0, 401);
    harness.stop().await;
}
