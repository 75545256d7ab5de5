//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{LogFormat, Overrides};

/// Prometheus exporter for Dell PowerProtect Data Manager storage capacity and health.
#[derive(Debug, Parser)]
#[command(name = "ppdm-exporter", version, about)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', env = "PPDM_EXPORTER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on, such as 0.0.0.0:9823.
    #[arg(long)]
    pub listen_address: Option<SocketAddr>,
    /// Log filter, such as `info` or `ppdm_exporter=debug`.
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Log line format.
    #[arg(long, value_enum, global = true)]
    pub log_format: Option<LogFormatArg>,
    /// Start a built-in simulated PPDM and export it (no real PPDM needed).
    #[arg(long)]
    pub demo: bool,
    /// Number of storage systems the demo PPDM simulates.
    #[arg(long, default_value_t = 6, requires = "demo")]
    pub demo_systems: usize,
    /// What to do; the default is to run the exporter.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration, log in to each server, poll once, print a summary
    /// and the metrics that would be served, log out. Exits non-zero on any failure.
    Check {
        /// Only validate the configuration; contact no PPDM (for ExecStartPre and
        /// reload hooks, where an unreachable PPDM must not block the exporter).
        #[arg(long)]
        offline: bool,
    },
    /// Print a shell completion script to standard output.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to standard output.
    Man,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Cli {
    /// The configuration layer made of the flags.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen_address: self.listen_address,
            log_level: self.log_level.clone(),
            log_format: self.log_format.map(|format| match format {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            }),
        }
    }
}

/// Writes the completion script for `shell`.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "ppdm-exporter", out);
}

/// Writes the manual page.
///
/// # Errors
///
/// Fails when `out` cannot be written.
pub fn write_man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_page_name_the_flags() {
        let mut bash = Vec::new();
        write_completions(clap_complete::Shell::Bash, &mut bash);
        let mut man = Vec::new();
        write_man_page(&mut man).expect("written to memory");

        let bash = String::from_utf8(bash).expect("utf-8");
        let man = String::from_utf8(man).expect("utf-8");
        assert!(bash.contains("--listen-address") && bash.contains("check"));
        assert!(
            man.contains(".TH ppdm-exporter") && man.contains("listen\\-address"),
            "{man}"
        );
    }

    #[test]
    fn command_line_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
