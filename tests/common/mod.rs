//! A simulated PPDM and an exporter pointed at it, both on port 0, for the
//! integration tests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use ppdm_exporter::app;
use ppdm_exporter::config::ServerConfig;
use ppdm_exporter::sim::{SimConfig, Simulator, Systems};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The password the test simulator accepts.
pub const PASSWORD: &str = "correct-horse-battery-staple";

/// The lab capture fixture, a real PPDM answer.
pub const LAB_CAPTURE: &str = include_str!("../fixtures/storage-systems-lab-capture.json");

/// A simulator loaded with `fixture`, with PPDM's default token lifetimes.
pub fn sim_config(fixture: &str) -> SimConfig {
    SimConfig {
        password: PASSWORD.to_owned(),
        systems: Systems::Json(serde_json::from_str(fixture).expect("fixture is JSON")),
        ..SimConfig::default()
    }
}

/// A running simulator and an exporter polling it.
pub struct Harness {
    pub sim: Simulator,
    pub addr: SocketAddr,
    pub server: ServerConfig,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts both; `tweak` adjusts the server entry (interval 1 s by default).
    pub async fn start(sim: SimConfig, tweak: impl FnOnce(&mut ServerConfig)) -> Harness {
        let sim = Simulator::start(sim).await.expect("simulator starts");
        Harness::with_sim(sim, tweak).await
    }

    /// Starts an exporter for a simulator the test already started (and maybe stopped).
    pub async fn with_sim(sim: Simulator, tweak: impl FnOnce(&mut ServerConfig)) -> Harness {
        Harness::with_sim_and_config(sim, tweak, "").await
    }

    /// As [`Harness::with_sim`], with top-level TOML settings such as `[web]` tables.
    pub async fn with_sim_and_config(
        sim: Simulator,
        tweak: impl FnOnce(&mut ServerConfig),
        toml: &str,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, sim.ca_pem()).expect("CA written");
        let mut server = server_config(&sim, ca_file);
        tweak(&mut server);
        let base =
            format!("{toml}\n[[servers]]\nurl = \"https://x\"\nusername = \"u\"\npassword = \"p\"");
        let mut config = ppdm_exporter::config::Config::from_toml(&base).expect("base config");
        config.servers = vec![server.clone()];
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app::run(config, None, listener, shutdown.clone()));
        Harness {
            sim,
            addr,
            server,
            shutdown,
            task,
            _dir: dir,
        }
    }

    /// GETs a path of the exporter: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let url = format!("http://{}{path}", self.addr);
        let response = reqwest::get(url).await.expect("exporter answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// The /metrics body, asserting it is served with 200.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "/metrics status");
        body
    }

    /// Polls /metrics until `done` holds, failing after `limit`.
    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let body = self.metrics().await;
            if done(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not met in {limit:?}:\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the first successful poll.
    pub async fn wait_up(&self) -> String {
        let name = self.server.name.clone().unwrap_or_default();
        let line = format!("ppdm_up{{server=\"{name}\"}} 1");
        self.wait_for(Duration::from_secs(20), |body| body.contains(&line))
            .await
    }

    /// Shuts the exporter down and waits for it.
    pub async fn stop(self) -> Simulator {
        self.shutdown.cancel();
        self.task
            .await
            .expect("exporter task")
            .expect("exporter ran cleanly");
        self.sim
    }
}

/// A server entry for `sim`, polled every second.
pub fn server_config(sim: &Simulator, ca_file: std::path::PathBuf) -> ServerConfig {
    ServerConfig {
        name: Some("lab".to_owned()),
        url: sim.base_url(),
        username: "admin".to_owned(),
        password: Some(PASSWORD.to_owned().into()),
        password_file: None,
        password_env: None,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        page_size: 100,
        ca_file: Some(ca_file),
        insecure_skip_verify: false,
        stale_after: None,
        max_response_bytes: 8 * 1024 * 1024,
    }
}

/// The sample lines of `body` whose labels contain `needle`, sorted.
pub fn series_with(body: &str, needle: &str) -> Vec<String> {
    let mut lines: Vec<String> = body
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains(needle))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The value of the one sample line that starts with `series`.
pub fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
