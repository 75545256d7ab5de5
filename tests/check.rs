//! `ppdm-exporter check` against the simulator: summary, warnings, failure.

mod common;

use common::{LAB_CAPTURE, server_config, sim_config};
use ppdm_exporter::check;
use ppdm_exporter::config::Config;
use ppdm_exporter::sim::Simulator;

async fn config_for(sim: &Simulator, dir: &tempfile::TempDir) -> Config {
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, sim.ca_pem()).expect("CA written");
    let mut config =
        Config::from_toml("[[servers]]\nurl = \"https://x\"\nusername = \"u\"\npassword = \"p\"")
            .expect("base config");
    config.servers = vec![server_config(sim, ca_file)];
    config
}

#[tokio::test]
async fn check_summarises_systems_logs_out_and_prints_metrics() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_for(&sim, &dir).await;

    let report = check::run(&config).await;

    assert!(report.ok, "{}", report.text);
    assert!(
        report
            .text
            .contains("ok: logged in, 4 storage systems with 4 tiers"),
        "{}",
        report.text
    );
    assert!(
        report
            .text
            .contains("- ddve-01.lab.example [DATA_DOMAIN_SYSTEM] READY, tiers: active, combined")
    );
    assert!(
        report
            .text
            .contains("- GENERIC ARRAY [GENERIC_NAS_APPLIANCE] READY, tiers: none")
    );
    assert!(
        report
            .text
            .contains(r#"ppdm_storage_systems{server="lab"} 4"#)
    );
    let counters = sim.counters();
    assert_eq!(
        (counters.logins, counters.logouts, counters.live_sessions),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn check_warns_about_deprecated_totals_and_skip_verify() {
    let payload = r#"[{"id":"old","name":"dd-old","type":"DATA_DOMAIN_SYSTEM",
        "details":{"dataDomain":{"totalSize":10.0,"totalUsed":5.0}}}]"#;
    let sim = Simulator::start(sim_config(payload))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config_for(&sim, &dir).await;
    config.servers[0].ca_file = None;
    config.servers[0].insecure_skip_verify = true;

    let report = check::run(&config).await;

    assert!(report.ok, "{}", report.text);
    assert!(
        report
            .text
            .contains("warning: certificate not verified (insecure_skip_verify = true)")
    );
    assert!(
        report.text.contains("warning: only deprecated totals sent"),
        "{}",
        report.text
    );
}

#[tokio::test]
async fn check_fails_and_names_the_cause_when_the_password_is_wrong() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config_for(&sim, &dir).await;
    config.servers[0].password = Some("wrong".to_owned().into());

    let report = check::run(&config).await;

    assert!(!report.ok);
    assert!(
        report
            .text
            .contains("FAILED: PPDM refused the login: wrong user name or password (401)")
    );
    assert!(
        report
            .text
            .contains(r#"ppdm_auth_requests_total{kind="login",result="failure",server="lab"} 1"#)
    );
}
