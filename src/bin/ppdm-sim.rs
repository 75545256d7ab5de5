//! `ppdm-sim`: a simulated PowerProtect Data Manager on its own, for demos and
//! end-to-end tests driven from a shell.
//!
//! ```text
//! ppdm-sim --fleet 50 --ca-file /tmp/ppdm-sim-ca.pem
//! curl --cacert /tmp/ppdm-sim-ca.pem https://127.0.0.1:8443/sim/counters
//! ```
//!
//! It runs until Ctrl-C or SIGTERM. The `/sim` control routes need no
//! authentication; keep it on a loopback or otherwise private address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ppdm_exporter::sim::{SimConfig, Simulator, Systems};
use tracing_subscriber::EnvFilter;

/// Serve a simulated PPDM REST API over HTTPS.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// User name that can log in.
    #[arg(long, default_value = "admin")]
    username: String,
    /// Password that can log in.
    #[arg(
        long,
        env = "PPDM_SIM_PASSWORD",
        default_value = "demo-password",
        hide_env_values = true
    )]
    password: String,
    /// Serve the storage systems of this JSON file (a list or a page envelope).
    #[arg(long, value_name = "FILE", conflicts_with = "fleet")]
    fixture: Option<PathBuf>,
    /// Serve this many generated storage systems.
    #[arg(long, value_name = "N", default_value_t = 5)]
    fleet: usize,
    /// Seed of the generated fleet.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Lifetime of access tokens, e.g. "8h" or "30s".
    #[arg(long, default_value = "8h", value_parser = humantime::parse_duration)]
    access_token_lifetime: Duration,
    /// Lifetime of refresh tokens, e.g. "24h".
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    refresh_token_lifetime: Duration,
    /// Write the PEM of the generated CA to this file.
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
}

impl Args {
    fn into_config(self) -> anyhow::Result<SimConfig> {
        let systems = match &self.fixture {
            Some(path) => Systems::from_file(path)?,
            None => Systems::Fleet {
                count: self.fleet,
                seed: self.seed,
            },
        };
        Ok(SimConfig {
            listen: self.listen,
            username: self.username,
            password: self.password,
            access_token_lifetime: self.access_token_lifetime,
            refresh_token_lifetime: self.refresh_token_lifetime,
            systems,
            ca_file: self.ca_file,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let config = match Args::parse().into_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ppdm-sim: {error:#}");
            return ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ppdm-sim: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: SimConfig) -> anyhow::Result<()> {
    let ca_file = config.ca_file.clone();
    let simulator = Simulator::start(config).await?;

    println!("base URL: {}", simulator.base_url());
    match ca_file {
        Some(path) => println!("CA file:  {}", path.display()),
        None => println!("CA (not written, use --ca-file):\n{}", simulator.ca_pem()),
    }

    shutdown_signal().await.context("waiting for a signal")?;
    simulator.shutdown().await;
    tracing::info!("simulated ppdm shut down");
    Ok(())
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
