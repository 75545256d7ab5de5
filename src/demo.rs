//! `--demo`: the exporter pointed at a simulated PPDM started in the same process.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::ServerConfig;
use crate::sim::{SimConfig, Simulator, Systems};

/// Poll interval of the demo server, short so that drift shows quickly.
pub const DEMO_INTERVAL: Duration = Duration::from_secs(10);

/// A running demo PPDM and the server entry that points at it.
pub struct Demo {
    /// The simulator; dropping it stops serving.
    pub simulator: Simulator,
    /// A server configured for the simulator.
    pub server: ServerConfig,
}

/// Starts a simulated PPDM with `systems` generated storage systems on loopback.
///
/// # Errors
///
/// Fails when the simulator cannot start or its CA cannot be written.
pub async fn start(systems: usize) -> anyhow::Result<Demo> {
    let password = format!("demo-{}", std::process::id());
    let ca_file =
        std::env::temp_dir().join(format!("ppdm-exporter-demo-{}-ca.pem", std::process::id()));
    let config = SimConfig {
        password: password.clone(),
        systems: Systems::Fleet {
            count: systems,
            seed: 1,
        },
        ca_file: Some(ca_file.clone()),
        ..SimConfig::default()
    };
    let simulator = Simulator::start(config)
        .await
        .context("cannot start the demo PPDM")?;
    let server = demo_server(simulator.base_url(), password, ca_file);
    Ok(Demo { simulator, server })
}

fn demo_server(url: String, password: String, ca_file: PathBuf) -> ServerConfig {
    ServerConfig {
        name: Some("demo".to_owned()),
        url,
        username: "admin".to_owned(),
        password: Some(password.into()),
        password_file: None,
        password_env: None,
        interval: DEMO_INTERVAL,
        timeout: Duration::from_secs(5),
        page_size: 100,
        ca_file: Some(ca_file),
        insecure_skip_verify: false,
        stale_after: None,
        max_response_bytes: 64 * 1024 * 1024,
    }
}
