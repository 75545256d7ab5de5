//! The counters and build information, which live in a prometheus registry.
//!
//! Counters persist across polls, so they stay in the registry and are encoded with
//! the gauges that [`crate::exposition`] writes from the snapshots at every render.

use std::collections::HashMap;

use prometheus::core::Collector;
use prometheus::{IntCounterVec, Opts, Registry};

use crate::ppdm::FailureReason;
use crate::ppdm::session::AuthKind;
use crate::snapshot::SkipReason;

/// The counter families and build information.
pub struct Metrics {
    registry: Registry,
    /// `ppdm_poll_failures_total{server, reason}`.
    pub poll_failures: IntCounterVec,
    /// `ppdm_auth_requests_total{server, kind, result}`.
    pub auth_requests: IntCounterVec,
    /// `ppdm_storage_systems_skipped_total{server, reason}`.
    pub skipped: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every family.
    pub fn new() -> Metrics {
        let families = Families(Registry::new());
        let metrics = Metrics {
            poll_failures: families.counter(
                "ppdm_poll_failures_total",
                "Polls of the PPDM server that failed, by reason.",
                &["server", "reason"],
            ),
            auth_requests: families.counter(
                "ppdm_auth_requests_total",
                "Authentication requests sent to the PPDM server, by kind and result.",
                &["server", "kind", "result"],
            ),
            skipped: families.counter(
                "ppdm_storage_systems_skipped_total",
                "Storage system items PPDM sent that were left out, by reason.",
                &["server", "reason"],
            ),
            registry: families.0,
        };
        metrics.register_build_info();
        metrics
    }

    /// The registry holding every family, for encoding.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Creates a server's counters at zero, so rates work from the first failure.
    pub fn add_server(&self, server: &str) {
        for reason in FailureReason::ALL {
            self.poll_failures
                .with_label_values(&[server, reason.as_label()]);
        }
        for reason in SkipReason::ALL {
            self.skipped.with_label_values(&[server, reason.as_label()]);
        }
        for kind in AuthKind::ALL {
            for result in ["success", "failure"] {
                self.auth_requests
                    .with_label_values(&[server, kind.as_label(), result]);
            }
        }
    }

    /// Forgets every series of a server that is no longer configured.
    pub fn remove_server(&self, server: &str) {
        for family in [&self.poll_failures, &self.skipped, &self.auth_requests] {
            remove_server_series(family, server);
        }
    }

    fn register_build_info(&self) {
        let opts = Opts::new(
            "ppdm_exporter_build_info",
            "Version of the running ppdm-exporter; always 1.",
        )
        .const_label("version", env!("CARGO_PKG_VERSION"))
        .const_label(
            "revision",
            option_env!("PPDM_EXPORTER_REVISION").unwrap_or("unknown"),
        );
        let build = prometheus::Gauge::with_opts(opts).expect("valid build info metric");
        build.set(1.0);
        self.registry
            .register(Box::new(build))
            .expect("build info registered once");
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Creates families in one registry.
struct Families(Registry);

impl Families {
    fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let family =
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
        self.0
            .register(Box::new(family.clone()))
            .expect("metric registered once");
        family
    }
}

fn remove_server_series(family: &IntCounterVec, server: &str) {
    for metric_family in family.collect() {
        for metric in metric_family.get_metric() {
            let labels: HashMap<&str, &str> = metric
                .get_label()
                .iter()
                .map(|pair| (pair.name(), pair.value()))
                .collect();
            if labels.get("server") == Some(&server) {
                let _ = family.remove(&labels);
            }
        }
    }
}
