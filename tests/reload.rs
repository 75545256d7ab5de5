//! Reloading the configuration: by `POST /-/reload` and by SIGHUP. Added servers
//! start, removed ones stop and log out, unchanged ones keep session and data, and an
//! invalid file is refused while the running configuration goes on.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Harness, LAB_CAPTURE, PASSWORD, sim_config, value};
use ppdm_exporter::app;
use ppdm_exporter::config::{Config, Overrides};
use ppdm_exporter::sim::Simulator;
use tokio_util::sync::CancellationToken;

fn server_toml(name: &str, sim: &Simulator, ca: &Path) -> String {
    format!(
        "[[servers]]\nname = \"{name}\"\nurl = \"{}\"\nusername = \"admin\"\npassword = \"{PASSWORD}\"\n\
         ca_file = \"{}\"\ninterval = \"1s\"\ntimeout = \"1s\"\n",
        sim.base_url(),
        ca.display()
    )
}

fn write_config(path: &Path, servers: &[String]) {
    let text = format!("enable_reload_endpoint = true\n{}", servers.concat());
    std::fs::write(path, text).expect("config written");
}

async fn post_reload(base: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/-/reload"))
        .send()
        .await
        .expect("reload answered");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

async fn metrics_when(base: &str, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let body = reqwest::get(format!("{base}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 10 s");
}

#[tokio::test]
async fn reload_adds_removes_and_keeps_servers_and_refuses_bad_files() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca: PathBuf = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).expect("CA written");
    let file = dir.path().join("config.toml");
    let (a, b) = (server_toml("a", &sim, &ca), server_toml("b", &sim, &ca));
    write_config(&file, std::slice::from_ref(&a));

    let config = Config::load(Some(&file), &Overrides::default()).expect("valid config");
    let loader_file = file.clone();
    let loader: app::ConfigLoader =
        Box::new(move || Config::load(Some(&loader_file), &Overrides::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let shutdown = CancellationToken::new();
    let exporter = tokio::spawn(app::run(config, Some(loader), listener, shutdown.clone()));
    metrics_when(&base, |b| b.contains(r#"ppdm_up{server="a"} 1"#)).await;

    write_config(&file, &[a.clone(), b.clone()]);
    let added = post_reload(&base).await;
    let both = metrics_when(&base, |b| b.contains(r#"ppdm_up{server="b"} 1"#)).await;
    assert_eq!(
        added,
        (
            200,
            "reloaded: 1 added, 0 changed, 0 removed, 1 unchanged\n".to_owned()
        )
    );
    assert_eq!(
        value(&both, r#"ppdm_storage_systems{server="a"}"#),
        Some(4.0)
    );
    assert_eq!(sim.counters().logins, 2, "a kept its session");

    std::fs::write(
        &file,
        "enable_reload_endpoint = true\nservers = \"nonsense\"\n",
    )
    .expect("written");
    let (status, text) = post_reload(&base).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("invalid configuration") && text.contains("servers"),
        "{text}"
    );
    let still = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(
        still.contains(r#"ppdm_up{server="a"} 1"#) && still.contains(r#"ppdm_up{server="b"} 1"#)
    );

    write_config(&file, std::slice::from_ref(&b));
    std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    let only_b = metrics_when(&base, |body| !body.contains(r#"server="a""#)).await;
    assert!(only_b.contains(r#"ppdm_up{server="b"} 1"#));
    let counters = sim.counters();
    assert_eq!(
        (counters.logins, counters.logouts, counters.live_sessions),
        (2, 1, 1),
        "{counters:?}"
    );

    shutdown.cancel();
    exporter.await.expect("task").expect("clean exit");
    assert_eq!(sim.counters().live_sessions, 0);
}

#[tokio::test]
async fn reload_endpoint_is_forbidden_unless_enabled() {
    let harness = Harness::start(sim_config(LAB_CAPTURE), |_| {}).await;

    let (status, text) = post_reload(&format!("http://{}", harness.addr)).await;

    assert_eq!(status, 403);
    assert!(text.contains("enable_reload_endpoint"));
    harness.stop().await;
}
