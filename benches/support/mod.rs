//! Inputs shared by the benches: a generated page of Data Domain systems, the
//! snapshot built from it, and a store filled for a given estate.
//!
//! The page mirrors `tests/fixtures/storage-systems-varied.json`: every system is a
//! `DATA_DOMAIN_SYSTEM` with float byte counts, ACTIVE and COMBINED tiers, a CLOUD
//! tier on every fourth, and the many fields the exporter ignores but must still
//! skip while decoding. Numbers come from a small fixed-seed generator, so every run
//! decodes the same text.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ppdm_exporter::ppdm::model::StorageSystemsPage;
use ppdm_exporter::snapshot::{Snapshot, SnapshotBuilder};
use ppdm_exporter::store::Store;
use serde_json::{Value, json};

/// Data Domain models with the physical size of their ACTIVE tier, in bytes.
const MODELS: [(&str, f64); 4] = [
    ("DD VE", 96e12),
    ("DD6900", 288e12),
    ("DD9400", 768e12),
    ("DD9900", 1.25e15),
];

const VERSIONS: [&str; 3] = ["7.13.1.0-1100001", "8.0.0.20-1107705", "8.1.0.10-1112233"];

const STATUSES: [&str; 3] = ["GOOD", "GOOD", "FAIR"];

/// A splitmix64 generator: deterministic, tiny, and good enough for test data.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in [low, high).
    fn between(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        low + unit * (high - low)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// The JSON text of one page holding `count` Data Domain systems.
pub fn storage_systems_page(count: usize) -> String {
    let mut numbers = Numbers(0x5eed_0000 + count as u64);
    let content: Vec<Value> = (0..count).map(|i| system(i, &mut numbers)).collect();
    let page = json!({
        "page": {"size": count, "number": 1, "totalPages": 1, "totalElements": count},
        "content": content,
    });
    serde_json::to_string(&page).expect("a JSON value always serialises")
}

/// Decodes a page and builds its snapshot, as one poll of a single page does.
pub fn snapshot_of(text: &str) -> Snapshot {
    let page: StorageSystemsPage = serde_json::from_str(text).expect("generated page decodes");
    let mut builder = SnapshotBuilder::default();
    for raw in page.content.as_deref().unwrap_or_default() {
        builder.add_raw(raw);
    }
    builder.finish()
}

/// A store with `servers` servers, each after one successful poll of `snapshot`.
pub fn filled_store(servers: usize, snapshot: &Snapshot) -> Arc<Store> {
    let store = Store::new();
    for server in 0..servers {
        store.add_server(&server_name(server), Duration::from_secs(900));
    }
    for server in 0..servers {
        store.record_success(
            &server_name(server),
            snapshot.clone(),
            Duration::from_millis(250),
        );
    }
    store
}

/// The `server` label of server number `index`.
pub fn server_name(index: usize) -> String {
    format!("ppdm-{index:02}")
}

fn system(index: usize, numbers: &mut Numbers) -> Value {
    let (model, active_size) = numbers.pick(&MODELS);
    let ready = index % 23 != 22;
    let used_share = numbers.between(0.2, 0.92);
    let active = tier(numbers, "ACTIVE", active_size, used_share);
    let mut capacities = vec![active.clone()];
    let cloud = (index % 4 == 0).then(|| {
        let size = active_size * numbers.between(0.25, 0.6);
        let share = numbers.between(0.1, 0.85);
        tier(numbers, "CLOUD", size, share)
    });
    capacities.extend(cloud.iter().cloned());
    capacities.push(combined(&active, cloud.as_ref()));
    json!({
        "id": format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{index:012x}",
            numbers.next() as u32, numbers.next() as u16,
            numbers.next() & 0xfff, numbers.next() & 0xfff),
        "name": format!("dd-{index:05}.estate.example"),
        "description": "",
        "type": "DATA_DOMAIN_SYSTEM",
        "local": false,
        "locationId": null,
        "ddLocationId": null,
        "capacityUtilization": (used_share * 1000.0).round() / 10.0,
        "lastDiscoveryStatus": if ready { "DETECTED" } else { "NOT_DETECTED" },
        "lastDiscovered": "2025-06-02T06:00:01.512Z",
        "lastDiscoveryAt": format!("2025-06-02T06:{:02}:{:02}.{:03}Z",
            index % 60, (index / 60) % 60, index % 1000),
        "readiness": if ready { "READY" } else { "NOT_READY" },
        "replicationEncryptionMode": "ENABLED",
        "retentionLockModes": ["GOVERNANCE", "COMPLIANCE"],
        "parentId": null,
        "createdAt": "2024-11-05T10:00:00.000Z",
        "updatedAt": "2025-06-02T06:00:31.442Z",
        "details": {
            "xio": null,
            "nasAppliance": null,
            "powerMax": null,
            "dataDomain": data_domain(index, numbers, model, &active, capacities),
        },
    })
}

fn data_domain(
    index: usize,
    numbers: &mut Numbers,
    model: &str,
    active: &Value,
    capacities: Vec<Value>,
) -> Value {
    json!({
        "version": numbers.pick(&VERSIONS),
        "model": model,
        "serialNumber": format!("APM{index:08}"),
        "totalUsed": active["totalPhysicalUsed"],
        "compressionFactor": active["compressionFactor"],
        "replicationEncryptionEnabled": true,
        "ddboostLicensed": true,
        "encryptionLicensed": true,
        "retentionLockComplianceLicensed": true,
        "retentionLockComplianceEnabled": false,
        "cloudTierLicensed": index % 4 == 0,
        "replicationLicensed": true,
        "retentionLockGovernanceLicensed": true,
        "cloudEnabled": index % 4 == 0,
        "vdiskEnabled": false,
        "preferredNetworkSupported": true,
        "streamQuotasSupported": true,
        "capacityQuotasSupported": true,
        "retentionLockSupported": true,
        "capacities": capacities,
        "preferredInterfaces": [{
            "networkName": "ethV0",
            "networkAddress": format!("192.0.2.{}", index % 250 + 1),
            "purposes": ["MANAGEMENT", "DATA"],
            "scope": "PRIVATE",
        }],
    })
}

fn tier(numbers: &mut Numbers, kind: &str, size: f64, used_share: f64) -> Value {
    let size = size.round();
    let used = (size * used_share).round();
    let factor = (numbers.between(4.0, 30.0) * 1e6).round() / 1e6;
    let logical_used = (used * factor).round();
    let licensed = (size * 1.05 / 1e12).round() * 1e12;
    json!({
        "type": kind,
        "totalPhysicalSize": size,
        "totalPhysicalUsed": used,
        "totalLogicalSize": (size * factor).round(),
        "totalLogicalUsed": logical_used,
        "compressionFactor": factor,
        "percentUsed": used_share * 100.0,
        "reductionPercentage": 100.0 - 100.0 / factor,
        "capacityStatus": STATUSES[(used_share * 2.9) as usize % 3],
        "totalLicensedSize": licensed,
        "licensedUtilization": used / licensed * 100.0,
    })
}

/// The COMBINED tier: the sums of ACTIVE and CLOUD, as PPDM reports them.
fn combined(active: &Value, cloud: Option<&Value>) -> Value {
    let sum = |key: &str| {
        active[key].as_f64().unwrap_or(0.0) + cloud.and_then(|c| c[key].as_f64()).unwrap_or(0.0)
    };
    let (size, used, logical_used) = (
        sum("totalPhysicalSize"),
        sum("totalPhysicalUsed"),
        sum("totalLogicalUsed"),
    );
    json!({
        "type": "COMBINED",
        "totalPhysicalSize": size,
        "totalPhysicalUsed": used,
        "totalLogicalSize": sum("totalLogicalSize"),
        "totalLogicalUsed": logical_used,
        "compressionFactor": logical_used / used,
        "percentUsed": used / size * 100.0,
        "reductionPercentage": 100.0 - used / logical_used * 100.0,
        "capacityStatus": active["capacityStatus"],
        "totalLicensedSize": active["totalLicensedSize"],
        "licensedUtilization": used / active["totalLicensedSize"].as_f64().unwrap_or(1.0) * 100.0,
    })
}
