//! The `ppdm-exporter` binary: flags, configuration, logging, run, exit code.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use tokio_util::sync::CancellationToken;

use ppdm_exporter::cli::{self, Cli, Command};
use ppdm_exporter::config::{Config, ConfigError, ServerConfig, default_listen_address};
use ppdm_exporter::{app, check, demo, telemetry};

/// Exit code for an invalid configuration (EX_CONFIG of sysexits.h).
const EXIT_CONFIG: u8 = 78;

enum Failure {
    Config(ConfigError),
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Runtime(error)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ppdm-exporter: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(error)) => {
            eprintln!("ppdm-exporter: {error}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("ppdm-exporter: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Some(Command::Completions { shell }) => {
            cli::write_completions(shell, &mut std::io::stdout());
            return Ok(());
        }
        Some(Command::Man) => {
            cli::write_man_page(&mut std::io::stdout()).context("cannot write the manual page")?;
            return Ok(());
        }
        _ => {}
    }
    let mut config =
        Config::extract(cli.config.as_deref(), &cli.overrides()).map_err(Failure::Config)?;
    let demo = if cli.demo {
        if config.listen_address == default_listen_address() {
            config.listen_address.set_ip([127, 0, 0, 1].into());
        }
        let demo = demo::start(cli.demo_systems).await?;
        config.servers.push(demo.server.clone());
        Some(demo)
    } else {
        None
    };
    config.validate().map_err(Failure::Config)?;
    if let Some(Command::Check { offline }) = cli.command {
        return check(&config, offline).await;
    }
    telemetry::init(&config.log_level, config.log_format)?;

    let listener = tokio::net::TcpListener::bind(config.listen_address)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_address))?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(%address, servers = config.servers.len(), "listening");
    if let Some(demo) = &demo {
        let host = if address.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            address.ip().to_string()
        };
        println!("demo PPDM simulated at {}", demo.simulator.base_url());
        let scheme = match config.web.tls_server_config {
            Some(_) => "https",
            None => "http",
        };
        let (port, path) = (address.port(), &config.telemetry_path);
        println!("metrics at {scheme}://{host}:{port}{path}");
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let loader = config_loader(&cli, demo.as_ref().map(|demo| demo.server.clone()));
    app::run(config, Some(loader), listener, shutdown).await?;
    Ok(())
}

/// `check`: validation only when `offline`, else a login and a poll of each server.
async fn check(config: &Config, offline: bool) -> Result<(), Failure> {
    if offline {
        println!("configuration is valid: {} server(s)", config.servers.len());
        return Ok(());
    }
    let report = check::run(config).await;
    print!("{}", report.text);
    if report.ok {
        Ok(())
    } else {
        Err(anyhow::anyhow!("check failed for at least one server").into())
    }
}

/// Reads the configuration again the way it was read at start, for reloads.
fn config_loader(cli: &Cli, demo_server: Option<ServerConfig>) -> app::ConfigLoader {
    let path = cli.config.clone();
    let overrides = cli.overrides();
    Box::new(move || {
        let mut config = Config::extract(path.as_deref(), &overrides)?;
        config.servers.extend(demo_server.clone());
        config.validate()?;
        Ok(config)
    })
}

/// Cancels `shutdown` at Ctrl-C or SIGTERM.
async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    shutdown.cancel();
}
