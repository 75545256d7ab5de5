//! The gauge families, written straight from the server states in the Prometheus
//! text format.
//!
//! Gauges are rebuilt from the snapshots at every render, so a system that vanished
//! from PPDM vanishes from `/metrics`. They are written directly rather than through
//! a registry of gauge vectors: a registry keeps a copy of every label set per series
//! and copies it again to encode, which made a render of 10,000 systems cost seconds
//! and hundreds of megabytes. Counters, which persist, stay in [`crate::metrics`].
//!
//! Each family is one `# HELP` / `# TYPE` block; a family without samples is left out.
//! Label names are written in alphabetical order, as the prometheus crate does for the
//! counters, and label values are escaped as the text format requires.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::snapshot::{System, Tier};
use crate::store::ServerState;

/// Readiness states that always get a series, 0 or 1.
pub const READINESS_STATES: [&str; 3] = ["READY", "NOT_READY", "MIGRATING"];

/// Capacity states that always get a series, 0 or 1.
pub const CAPACITY_STATES: [&str; 3] = ["GOOD", "FAIR", "POOR"];

/// A value of one server, system or tier, if it has one.
type ServerValue = fn(&ServerState) -> Option<f64>;
type SystemValue = fn(&System) -> Option<f64>;
type TierValue = fn(&Tier) -> Option<f64>;

/// The per-tier byte and ratio families: name, help, value.
const TIER_FAMILIES: [(&str, &str, TierValue); 6] = [
    (
        "ppdm_storage_system_physical_capacity_bytes",
        "Physical capacity of the Data Domain tier, in bytes.",
        |tier| tier.physical_capacity_bytes,
    ),
    (
        "ppdm_storage_system_physical_used_bytes",
        "Physical space used in the Data Domain tier, in bytes.",
        |tier| tier.physical_used_bytes,
    ),
    (
        "ppdm_storage_system_logical_capacity_bytes",
        "Logical capacity of the Data Domain tier before deduplication and compression, in bytes.",
        |tier| tier.logical_capacity_bytes,
    ),
    (
        "ppdm_storage_system_logical_used_bytes",
        "Logical data stored in the Data Domain tier before deduplication and compression, in bytes.",
        |tier| tier.logical_used_bytes,
    ),
    (
        "ppdm_storage_system_licensed_capacity_bytes",
        "Licensed capacity of the Data Domain tier, in bytes (0 when unlicensed).",
        |tier| tier.licensed_capacity_bytes,
    ),
    (
        "ppdm_storage_system_compression_ratio",
        "Compression factor of the Data Domain tier: logical used / physical used.",
        |tier| tier.compression_ratio,
    ),
];

/// Writes every gauge family of `servers` to `out`.
pub fn write_gauges(out: &mut String, servers: &BTreeMap<String, ServerState>) {
    let mut writer = Writer { out };
    writer.server_families(servers);
    writer.system_families(servers);
    writer.tier_families(servers);
}

/// Appends families and samples to the text.
struct Writer<'a> {
    out: &'a mut String,
}

impl Writer<'_> {
    fn server_families(&mut self, servers: &BTreeMap<String, ServerState>) {
        let per_server: [(&str, &str, ServerValue); 4] = [
            (
                "ppdm_up",
                "Whether the last poll of the PPDM server succeeded (1) or failed (0).",
                |s| s.attempted.then_some(f64::from(u8::from(s.up))),
            ),
            (
                "ppdm_poll_duration_seconds",
                "Duration of the last poll of the PPDM server, in seconds.",
                |s| s.last_duration_seconds,
            ),
            (
                "ppdm_last_poll_success_timestamp_seconds",
                "Time of the last successful poll of the PPDM server, in Unix seconds.",
                |s| s.last_success_unix,
            ),
            (
                "ppdm_storage_systems",
                "Number of storage systems exported for the PPDM server.",
                |s| Some(s.snapshot.as_ref().map_or(0, |snap| snap.systems.len()) as f64),
            ),
        ];
        for (name, help, value) in per_server {
            self.family(name, help, |w| {
                for (server, state) in servers {
                    if let Some(value) = value(state) {
                        w.sample(name, &[("server", server)], value);
                    }
                }
            });
        }
    }

    fn system_families(&mut self, servers: &BTreeMap<String, ServerState>) {
        let name = "ppdm_storage_system_info";
        self.family(
            name,
            "Storage system known to PPDM; always 1, descriptive labels.",
            |w| {
                for_each_system(servers, |server, system| {
                    let labels = [
                        ("model", system.model.as_str()),
                        ("os_version", &system.os_version),
                        ("serial_number", &system.serial_number),
                        ("server", server),
                        ("system", &system.name),
                        ("system_id", &system.id),
                        ("system_type", &system.kind),
                    ];
                    w.sample(name, &labels, 1.0);
                });
            },
        );
        let name = "ppdm_storage_system_readiness";
        let help = "Readiness of the storage system: 1 for the current state, 0 for the other known states.";
        self.family(name, help, |w| {
            for_each_system(servers, |server, system| {
                if let Some(current) = &system.readiness {
                    w.states(name, server, system, None, &READINESS_STATES, current);
                }
            });
        });
        let optional: [(&str, &str, SystemValue); 2] = [
            (
                "ppdm_storage_system_capacity_utilization_ratio",
                "Physical capacity utilisation of the storage system as PPDM reports it (0 to 1).",
                |system| system.capacity_utilization_ratio,
            ),
            (
                "ppdm_storage_system_last_discovery_timestamp_seconds",
                "End of PPDM's last discovery of the storage system, in Unix seconds.",
                |system| system.last_discovery_seconds,
            ),
        ];
        for (name, help, value) in optional {
            self.family(name, help, |w| {
                for_each_system(servers, |server, system| {
                    if let Some(value) = value(system) {
                        w.sample(name, &system_labels(server, system), value);
                    }
                });
            });
        }
    }

    fn tier_families(&mut self, servers: &BTreeMap<String, ServerState>) {
        for (name, help, value) in TIER_FAMILIES {
            self.family(name, help, |w| {
                for_each_tier(servers, |server, system, tier| {
                    if let Some(value) = value(tier) {
                        w.sample(name, &tier_labels(server, system, tier), value);
                    }
                });
            });
        }
        let name = "ppdm_storage_system_capacity_status";
        let help = "PPDM's capacity judgement of the tier: 1 for the current state, 0 for the other known states.";
        self.family(name, help, |w| {
            for_each_tier(servers, |server, system, tier| {
                if let Some(current) = &tier.capacity_status {
                    let tier = Some(tier.name.as_str());
                    w.states(name, server, system, tier, &CAPACITY_STATES, current);
                }
            });
        });
    }

    /// Writes a family's header, its samples, and drops the header if it got none.
    fn family(&mut self, name: &str, help: &str, samples: impl FnOnce(&mut Self)) {
        let start = self.out.len();
        let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
        let header_end = self.out.len();
        samples(self);
        if self.out.len() == header_end {
            self.out.truncate(start);
        }
    }

    /// One sample line; `labels` must be in alphabetical order of name.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        self.out.push('{');
        for (index, (label, text)) in labels.iter().enumerate() {
            if index > 0 {
                self.out.push(',');
            }
            self.out.push_str(label);
            self.out.push_str("=\"");
            escape_into(self.out, text);
            self.out.push('"');
        }
        let _ = writeln!(self.out, "}} {value}");
    }

    /// 1 for `current`, 0 for the other `known` states; an unknown current state gets
    /// its own series with 1.
    fn states(
        &mut self,
        name: &str,
        server: &str,
        system: &System,
        tier: Option<&str>,
        known: &[&str],
        current: &str,
    ) {
        let extra = (!known.contains(&current)).then_some(current);
        for state in known.iter().copied().chain(extra) {
            let value = f64::from(u8::from(state == current));
            let mut labels = vec![
                ("server", server),
                ("state", state),
                ("system", system.name.as_str()),
                ("system_id", system.id.as_str()),
            ];
            labels.extend(tier.map(|tier| ("tier", tier)));
            self.sample(name, &labels, value);
        }
    }
}

fn system_labels<'a>(server: &'a str, system: &'a System) -> [(&'static str, &'a str); 3] {
    [
        ("server", server),
        ("system", &system.name),
        ("system_id", &system.id),
    ]
}

fn tier_labels<'a>(
    server: &'a str,
    system: &'a System,
    tier: &'a Tier,
) -> [(&'static str, &'a str); 4] {
    [
        ("server", server),
        ("system", &system.name),
        ("system_id", &system.id),
        ("tier", &tier.name),
    ]
}

fn for_each_system(servers: &BTreeMap<String, ServerState>, mut f: impl FnMut(&str, &System)) {
    for (server, state) in servers {
        for system in state.snapshot.iter().flat_map(|snapshot| &snapshot.systems) {
            f(server, system);
        }
    }
}

fn for_each_tier(servers: &BTreeMap<String, ServerState>, mut f: impl FnMut(&str, &System, &Tier)) {
    for_each_system(servers, |server, system| {
        for tier in &system.tiers {
            f(server, system, tier);
        }
    });
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();

        escape_into(&mut out, "a\\b\"c\nd");

        assert_eq!(out, "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn a_family_without_samples_is_left_out() {
        let mut text = String::new();
        let mut writer = Writer { out: &mut text };

        writer.family("empty", "Nothing.", |_| {});
        writer.family("one", "Something.", |w| w.sample("one", &[("a", "b")], 0.5));

        assert_eq!(
            text,
            "# HELP one Something.\n# TYPE one gauge\none{a=\"b\"} 0.5\n"
        );
    }

    #[test]
    fn unknown_states_get_their_own_series() {
        let system = System {
            id: "i".into(),
            name: "n".into(),
            ..System::default()
        };
        let mut text = String::new();
        let mut writer = Writer { out: &mut text };

        writer.states("r", "s", &system, None, &READINESS_STATES, "WARMING_UP");

        assert_eq!(text.lines().count(), 4);
        assert!(
            text.contains("r{server=\"s\",state=\"WARMING_UP\",system=\"n\",system_id=\"i\"} 1")
        );
        assert!(text.contains("r{server=\"s\",state=\"READY\",system=\"n\",system_id=\"i\"} 0"));
    }
}
