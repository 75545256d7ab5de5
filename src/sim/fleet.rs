//! A generated fleet of plausible storage systems, and the slow drift of their usage.
//!
//! Most systems are `DATA_DOMAIN_SYSTEM`s with ACTIVE and COMBINED tiers, every
//! fourth of them with a CLOUD tier too; every tenth slot from the fourth on is a
//! PowerScale and from the eighth on a PowerStore, and the last of three or more is
//! the built-in `GENERIC ARRAY`. Every 23rd system is `NOT_READY` after a failed
//! discovery. The same `count` and `seed` always give the same JSON (for one version
//! of the `rand` crate); ids are unique because they embed the index.
//!
//! Numbers follow the shapes of real answers: byte counts are JSON floats, and the
//! capacity relations of [`super::capacity`] hold.

use std::time::{Duration, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::capacity::{STORED_TIERS, make_consistent, num};

/// Seconds since the epoch of 2025-06-02T06:00:00Z, the fleet's last discovery.
const DISCOVERY_EPOCH: u64 = 1_748_844_000;

/// Data Domain models with their largest ACTIVE tier in bytes.
const MODELS: [(&str, f64); 4] = [
    ("DD VE", 96e12),
    ("DD6900", 288e12),
    ("DD9400", 768e12),
    ("DD9900", 1.25e15),
];

const VERSIONS: [&str; 3] = ["7.13.1.0-1100001", "8.0.0.20-1107705", "8.1.0.10-1112233"];

/// Generates `count` systems, deterministic for `seed`.
pub(crate) fn generate(count: usize, seed: u64) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count).map(|i| system(i, count, &mut rng)).collect()
}

fn system(index: usize, count: usize, rng: &mut StdRng) -> Value {
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.random::<u32>(),
        rng.random::<u16>(),
        rng.random::<u16>() & 0xfff,
        rng.random::<u16>() & 0xfff,
        index
    );
    if count >= 3 && index == count - 1 {
        return other(id, "GENERIC_NAS_APPLIANCE", "GENERIC ARRAY", Value::Null);
    }
    match index % 10 {
        3 => other(
            id,
            "POWER_SCALE_APPLIANCE",
            &host("powerscale", index),
            json!({}),
        ),
        7 => other(
            id,
            "POWER_STORE_APPLIANCE",
            &host("powerstore", index),
            Value::Null,
        ),
        _ => data_domain(id, index, rng),
    }
}

fn host(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index:03}.sim.example")
}

/// A system without Data Domain details; `nas` is its `details.nasAppliance`.
fn other(id: String, kind: &str, name: &str, nas: Value) -> Value {
    json!({
        "id": id,
        "name": name,
        "type": kind,
        "readiness": "READY",
        "lastDiscoveryStatus": "DETECTED",
        "details": {"xio": null, "dataDomain": null, "nasAppliance": nas, "powerMax": null},
        "_links": {"self": {"href": self_href(&id)}},
    })
}

fn data_domain(id: String, index: usize, rng: &mut StdRng) -> Value {
    let (model, largest) = MODELS[rng.random_range(0..MODELS.len())];
    let size = round_block(largest * rng.random_range(0.3..1.0));
    let active = tier(
        "ACTIVE",
        size,
        rng.random_range(0.15..0.92),
        rng,
        model == "DD VE",
    );
    let mut tiers = vec![active];
    if index % 4 == 1 {
        let cloud_size = round_block(size * rng.random_range(0.4..1.0));
        tiers.push(tier(
            "CLOUD",
            cloud_size,
            rng.random_range(0.05..0.9),
            rng,
            true,
        ));
    }
    tiers.push(json!({"type": "COMBINED"}));

    let ready = index % 23 != 22;
    let discovered = discovery_time(index, rng);
    let prefix = if model == "DD VE" { "ddve" } else { "dd" };
    let mut system = json!({
        "id": id,
        "name": host(prefix, index),
        "description": "",
        "type": "DATA_DOMAIN_SYSTEM",
        "local": false,
        "capacityUtilization": 0.0,
        "lastDiscoveryStatus": "DETECTED",
        "lastDiscoveryAt": discovered,
        "lastDiscoveryResult": {"status": if ready { "OK" } else { "FAILED" }, "summaries": []},
        "readiness": if ready { "READY" } else { "NOT_READY" },
        "details": {
            "xio": null,
            "dataDomain": dd_details(model, index, rng, tiers),
            "nasAppliance": null,
            "powerMax": null,
        },
        "_links": {"self": {"href": self_href(&id)}},
    });
    make_consistent(&mut system);
    system
}

fn dd_details(model: &str, index: usize, rng: &mut StdRng, tiers: Vec<Value>) -> Value {
    let cloud = tiers.len() == 3;
    json!({
        "version": VERSIONS[rng.random_range(0..VERSIONS.len())],
        "model": model,
        "serialNumber": format!("SIMSN{index:08}"),
        "totalSize": 0.0,
        "totalUsed": 0.0,
        "percentUsed": 0.0,
        "compressionFactor": 0.0,
        "cloudEnabled": cloud,
        "cloudTierLicensed": cloud,
        "ddboostLicensed": true,
        "encryptionLicensed": true,
        "replicationLicensed": true,
        "capacities": tiers,
    })
}

/// One stored tier; `licensed` gives it a licence rounded up to whole terabytes.
fn tier(kind: &str, size: f64, used_ratio: f64, rng: &mut StdRng, licensed: bool) -> Value {
    let factor = rng.random_range(2.0..30.0_f64);
    let used = round_block(size * used_ratio);
    let licence = if licensed {
        (size / 1e12).ceil() * 1e12
    } else {
        0.0
    };
    json!({
        "type": kind,
        "totalPhysicalSize": size,
        "totalPhysicalUsed": used,
        "totalLogicalSize": (size * factor).round(),
        "totalLogicalUsed": (used * factor).round(),
        "totalLicensedSize": licence,
    })
}

fn discovery_time(index: usize, rng: &mut StdRng) -> String {
    let offset = Duration::from_millis(index as u64 * 37_000 + rng.random_range(0..1000));
    let at = UNIX_EPOCH + Duration::from_secs(DISCOVERY_EPOCH) + offset;
    humantime::format_rfc3339_millis(at).to_string()
}

fn self_href(id: &str) -> String {
    format!("https://ppdm-sim.example:8443/api/v2/storage-systems/{id}")
}

/// Rounds bytes to whole 4 KiB blocks.
fn round_block(bytes: f64) -> f64 {
    (bytes / 4096.0).round() * 4096.0
}

/// Moves used bytes a little at each step, deterministically for a seed.
pub(crate) struct Drift {
    rng: StdRng,
}

impl Drift {
    pub fn new(seed: u64) -> Drift {
        Drift {
            rng: StdRng::seed_from_u64(seed.wrapping_add(0x5eed)),
        }
    }

    /// Grows (rarely shrinks) every stored tier's used bytes by at most 0.15 % of its
    /// size, kept between 5 % and 98 %, with logical bytes following at the tier's
    /// compression factor.
    pub fn step(&mut self, systems: &mut [Value]) {
        for system in systems.iter_mut() {
            let Some(tiers) = system
                .pointer_mut("/details/dataDomain/capacities")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for tier in tiers.iter_mut() {
                if STORED_TIERS.contains(&tier["type"].as_str().unwrap_or("")) {
                    self.nudge(tier);
                }
            }
            make_consistent(system);
        }
    }

    fn nudge(&mut self, tier: &mut Value) {
        let size = num(tier, "totalPhysicalSize");
        let used = num(tier, "totalPhysicalUsed");
        if size <= 0.0 || used <= 0.0 {
            return;
        }
        let factor = num(tier, "totalLogicalUsed") / used;
        let change = size * self.rng.random_range(-0.0005..0.0015);
        let used = round_block((used + change).clamp(size * 0.05, size * 0.98));
        tier["totalPhysicalUsed"] = json!(used);
        tier["totalLogicalUsed"] = json!((used * factor).round());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn same_seed_gives_same_fleet_and_other_seed_differs() {
        assert_eq!(generate(20, 7), generate(20, 7));
        assert_ne!(generate(20, 7), generate(20, 8));
    }

    #[test]
    fn fleet_is_mostly_data_domain_with_unique_ids() {
        let fleet = generate(250, 1);
        let ids: HashSet<&str> = fleet.iter().filter_map(|s| s["id"].as_str()).collect();
        let dd = fleet.iter().filter(|s| s["type"] == "DATA_DOMAIN_SYSTEM");

        assert_eq!(ids.len(), 250);
        assert_eq!(dd.count(), 199);
        assert_eq!(fleet[249]["name"], "GENERIC ARRAY");
    }

    #[test]
    fn generated_tiers_are_consistent() {
        for system in generate(40, 3) {
            let Some(tiers) = system["details"]["dataDomain"]["capacities"].as_array() else {
                continue;
            };
            let sum = |field: &str| -> f64 {
                let stored = tiers.iter().filter(|t| t["type"] != "COMBINED");
                stored.map(|t| num(t, field)).sum()
            };
            let combined = tiers
                .iter()
                .find(|t| t["type"] == "COMBINED")
                .expect("combined");
            assert_eq!(num(combined, "totalPhysicalUsed"), sum("totalPhysicalUsed"));
            for t in tiers {
                let expected = num(t, "totalPhysicalUsed") / num(t, "totalPhysicalSize") * 100.0;
                assert!((num(t, "percentUsed") - expected).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn drift_changes_used_bytes_but_keeps_them_in_bounds() {
        let mut fleet = generate(10, 1);
        let before = fleet.clone();
        let mut drift = Drift::new(1);

        for _ in 0..100 {
            drift.step(&mut fleet);
        }

        assert_ne!(fleet, before);
        for tier in fleet
            .iter()
            .filter_map(|s| s["details"]["dataDomain"]["capacities"].as_array())
            .flatten()
        {
            assert!(num(tier, "percentUsed") <= 98.0);
        }
    }
}
