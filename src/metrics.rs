//! The exported metric families, and how server states fill them.
//!
//! [`Metrics`] owns its registry. Storage-system families are cleared and refilled
//! from the stores' snapshots at every render, so a system that vanished from PPDM
//! vanishes from `/metrics`. Counters persist across renders.

use std::collections::HashMap;

use prometheus::core::Collector;
use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

use crate::ppdm::FailureReason;
use crate::ppdm::session::AuthKind;
use crate::snapshot::{SkipReason, System, Tier};
use crate::store::ServerState;

const SYSTEM: &[&str] = &["server", "system_id", "system"];
const TIER: &[&str] = &["server", "system_id", "system", "tier"];

/// Readiness states that always get a series, 0 or 1.
pub const READINESS_STATES: [&str; 3] = ["READY", "NOT_READY", "MIGRATING"];

/// Capacity states that always get a series, 0 or 1.
pub const CAPACITY_STATES: [&str; 3] = ["GOOD", "FAIR", "POOR"];

/// Every family the exporter serves, except the per-scrape process metrics.
pub struct Metrics {
    registry: Registry,
    system_info: GaugeVec,
    readiness: GaugeVec,
    utilization: GaugeVec,
    last_discovery: GaugeVec,
    physical_capacity: GaugeVec,
    physical_used: GaugeVec,
    logical_capacity: GaugeVec,
    logical_used: GaugeVec,
    licensed_capacity: GaugeVec,
    compression: GaugeVec,
    capacity_status: GaugeVec,
    up: GaugeVec,
    poll_duration: GaugeVec,
    last_success: GaugeVec,
    systems: GaugeVec,
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
            system_info: families.system(
                "ppdm_storage_system_info",
                "Storage system known to PPDM; always 1, descriptive labels.",
                &["system_type", "model", "os_version", "serial_number"],
            ),
            readiness: families.system(
                "ppdm_storage_system_readiness",
                "Readiness of the storage system: 1 for the current state, 0 for the other known states.",
                &["state"],
            ),
            utilization: families.system(
                "ppdm_storage_system_capacity_utilization_ratio",
                "Physical capacity utilisation of the storage system as PPDM reports it (0 to 1).",
                &[],
            ),
            last_discovery: families.system(
                "ppdm_storage_system_last_discovery_timestamp_seconds",
                "End of PPDM's last discovery of the storage system, in Unix seconds.",
                &[],
            ),
            physical_capacity: families.tier(
                "ppdm_storage_system_physical_capacity_bytes",
                "Physical capacity of the Data Domain tier, in bytes.",
                &[],
            ),
            physical_used: families.tier(
                "ppdm_storage_system_physical_used_bytes",
                "Physical space used in the Data Domain tier, in bytes.",
                &[],
            ),
            logical_capacity: families.tier(
                "ppdm_storage_system_logical_capacity_bytes",
                "Logical capacity of the Data Domain tier before deduplication and compression, in bytes.",
                &[],
            ),
            logical_used: families.tier(
                "ppdm_storage_system_logical_used_bytes",
                "Logical data stored in the Data Domain tier before deduplication and compression, in bytes.",
                &[],
            ),
            licensed_capacity: families.tier(
                "ppdm_storage_system_licensed_capacity_bytes",
                "Licensed capacity of the Data Domain tier, in bytes (0 when unlicensed).",
                &[],
            ),
            compression: families.tier(
                "ppdm_storage_system_compression_ratio",
                "Compression factor of the Data Domain tier: logical used / physical used.",
                &[],
            ),
            capacity_status: families.tier(
                "ppdm_storage_system_capacity_status",
                "PPDM's capacity judgement of the tier: 1 for the current state, 0 for the other known states.",
                &["state"],
            ),
            up: families.server(
                "ppdm_up",
                "Whether the last poll of the PPDM server succeeded (1) or failed (0).",
            ),
            poll_duration: families.server(
                "ppdm_poll_duration_seconds",
                "Duration of the last poll of the PPDM server, in seconds.",
            ),
            last_success: families.server(
                "ppdm_last_poll_success_timestamp_seconds",
                "Time of the last successful poll of the PPDM server, in Unix seconds.",
            ),
            systems: families.server(
                "ppdm_storage_systems",
                "Number of storage systems exported for the PPDM server.",
            ),
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

    /// Replaces the gauges with the values of `states`.
    pub fn fill<'a>(&self, states: impl Iterator<Item = (&'a str, &'a ServerState)>) {
        self.clear_gauges();
        for (server, state) in states {
            self.fill_server(server, state);
        }
    }

    fn clear_gauges(&self) {
        let gauges = [
            &self.system_info,
            &self.readiness,
            &self.utilization,
            &self.last_discovery,
            &self.physical_capacity,
            &self.physical_used,
            &self.logical_capacity,
            &self.logical_used,
            &self.licensed_capacity,
            &self.compression,
            &self.capacity_status,
            &self.up,
            &self.poll_duration,
            &self.last_success,
            &self.systems,
        ];
        for family in gauges {
            family.reset();
        }
    }

    fn fill_server(&self, server: &str, state: &ServerState) {
        if state.attempted {
            let up = f64::from(u8::from(state.up));
            self.up.with_label_values(&[server]).set(up);
        }
        if let Some(seconds) = state.last_duration_seconds {
            self.poll_duration.with_label_values(&[server]).set(seconds);
        }
        if let Some(unix) = state.last_success_unix {
            self.last_success.with_label_values(&[server]).set(unix);
        }
        let systems = state.snapshot.as_ref().map_or(&[][..], |s| &s.systems[..]);
        self.systems
            .with_label_values(&[server])
            .set(systems.len() as f64);
        for system in systems {
            self.fill_system(server, system);
        }
    }

    fn fill_system(&self, server: &str, system: &System) {
        let ids = [server, system.id.as_str(), system.name.as_str()];
        let info = [
            &ids[..],
            &[
                &system.kind,
                &system.model,
                &system.os_version,
                &system.serial_number,
            ],
        ]
        .concat();
        self.system_info.with_label_values(&info).set(1.0);
        if let Some(state) = &system.readiness {
            set_states(&self.readiness, &ids, &READINESS_STATES, state);
        }
        set_opt(&self.utilization, &ids, system.capacity_utilization_ratio);
        set_opt(&self.last_discovery, &ids, system.last_discovery_seconds);
        for tier in &system.tiers {
            let labels = [
                server,
                system.id.as_str(),
                system.name.as_str(),
                tier.name.as_str(),
            ];
            self.fill_tier(&labels, tier);
        }
    }

    fn fill_tier(&self, labels: &[&str; 4], tier: &Tier) {
        set_opt(
            &self.physical_capacity,
            labels,
            tier.physical_capacity_bytes,
        );
        set_opt(&self.physical_used, labels, tier.physical_used_bytes);
        set_opt(&self.logical_capacity, labels, tier.logical_capacity_bytes);
        set_opt(&self.logical_used, labels, tier.logical_used_bytes);
        set_opt(
            &self.licensed_capacity,
            labels,
            tier.licensed_capacity_bytes,
        );
        set_opt(&self.compression, labels, tier.compression_ratio);
        if let Some(state) = &tier.capacity_status {
            set_states(&self.capacity_status, labels, &CAPACITY_STATES, state);
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

/// Creates families in one registry, with the label sets of this exporter.
struct Families(Registry);

impl Families {
    /// A per-system gauge: `server`, `system_id`, `system` and `extra` labels.
    fn system(&self, name: &str, help: &str, extra: &[&str]) -> GaugeVec {
        self.gauge(name, help, &[SYSTEM, extra].concat())
    }

    /// A per-tier gauge: the system labels, `tier` and `extra` labels.
    fn tier(&self, name: &str, help: &str, extra: &[&str]) -> GaugeVec {
        self.gauge(name, help, &[TIER, extra].concat())
    }

    /// A per-server gauge.
    fn server(&self, name: &str, help: &str) -> GaugeVec {
        self.gauge(name, help, &["server"])
    }

    fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        let family = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
        self.0
            .register(Box::new(family.clone()))
            .expect("metric registered once");
        family
    }

    fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let family =
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
        self.0
            .register(Box::new(family.clone()))
            .expect("metric registered once");
        family
    }
}

fn set_opt(family: &GaugeVec, labels: &[&str], value: Option<f64>) {
    if let Some(value) = value {
        family.with_label_values(labels).set(value);
    }
}

/// Sets 1 on `current` and 0 on the other known states; an unknown state gets its own 1.
fn set_states(family: &GaugeVec, labels: &[&str], known: &[&str], current: &str) {
    let mut with_state = labels.to_vec();
    with_state.push("");
    let last = with_state.len() - 1;
    for state in known
        .iter()
        .copied()
        .chain((!known.contains(&current)).then_some(current))
    {
        with_state[last] = state;
        family
            .with_label_values(&with_state)
            .set(f64::from(u8::from(state == current)));
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
