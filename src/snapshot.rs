//! What the exporter knows about one server's storage systems after a poll.
//!
//! [`SnapshotBuilder`] turns PPDM's raw items into plain, validated values in base
//! units. This conversion is the metric contract: a value PPDM did not send, or sent
//! in a form that cannot be a measurement (negative, not finite), yields no value here
//! and so no series, never a 0.

use std::collections::{BTreeMap, HashSet};

use serde_json::value::RawValue;

use crate::ppdm::model::{Capacity, DataDomain, StorageSystem};

/// Most tiers kept per system; PPDM sends three, anything past this is noise.
pub const MAX_TIERS: usize = 16;

/// The storage systems of one server, as of one completed poll. Immutable once built.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Systems in the order PPDM sent them, each id once.
    pub systems: Vec<System>,
    /// Items left out of `systems`, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
}

/// One storage system.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct System {
    /// PPDM's id of the system.
    pub id: String,
    /// Display name; empty when absent.
    pub name: String,
    /// PPDM's `type`, such as `DATA_DOMAIN_SYSTEM`; empty when absent.
    pub kind: String,
    /// Hardware model; empty when absent.
    pub model: String,
    /// DDOS version, else the operating system's version; empty when absent.
    pub os_version: String,
    /// Serial number; empty when absent.
    pub serial_number: String,
    /// `READY`, `NOT_READY`, `MIGRATING` or a value PPDM added later.
    pub readiness: Option<String>,
    /// Physical utilisation, 0 to 1.
    pub capacity_utilization_ratio: Option<f64>,
    /// End of the last discovery, Unix seconds.
    pub last_discovery_seconds: Option<f64>,
    /// Data Domain tiers, one per distinct tier name.
    pub tiers: Vec<Tier>,
    /// Whether the tiers come from the deprecated totals (an older PPDM) because
    /// `capacities` was absent.
    pub from_deprecated_totals: bool,
}

/// One Data Domain tier. Bytes are decimal bytes as PPDM reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tier {
    /// Tier name in lower case: `active`, `cloud`, `combined`, …
    pub name: String,
    /// Physical capacity in bytes.
    pub physical_capacity_bytes: Option<f64>,
    /// Physical use in bytes.
    pub physical_used_bytes: Option<f64>,
    /// Logical capacity in bytes.
    pub logical_capacity_bytes: Option<f64>,
    /// Logical use in bytes.
    pub logical_used_bytes: Option<f64>,
    /// Licensed capacity in bytes.
    pub licensed_capacity_bytes: Option<f64>,
    /// Logical used / physical used.
    pub compression_ratio: Option<f64>,
    /// `GOOD`, `FAIR`, `POOR` or a value PPDM added later.
    pub capacity_status: Option<String>,
}

/// Why an item of a page was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The item is not a storage system object (wrong types, not an object).
    Malformed,
    /// The item has no usable `id`.
    MissingId,
    /// An earlier item of the same poll had the same `id`.
    DuplicateId,
}

impl SkipReason {
    /// Every reason, for initialising counters at zero.
    pub const ALL: [SkipReason; 3] = [Self::Malformed, Self::MissingId, Self::DuplicateId];

    /// The value of the `reason` label.
    pub fn as_label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::MissingId => "missing_id",
            Self::DuplicateId => "duplicate_id",
        }
    }
}

/// Collects the items of every page of one poll into a [`Snapshot`].
#[derive(Debug, Default)]
pub struct SnapshotBuilder {
    snapshot: Snapshot,
    seen: HashSet<String>,
}

impl SnapshotBuilder {
    /// Decodes one raw item and keeps it, or counts why it was skipped.
    pub fn add_raw(&mut self, raw: &RawValue) {
        match serde_json::from_str::<StorageSystem>(raw.get()) {
            Ok(system) => self.add(system),
            Err(error) => {
                tracing::debug!(%error, "skipping malformed storage system");
                self.skip(SkipReason::Malformed);
            }
        }
    }

    /// Keeps one decoded system, or counts why it was skipped.
    pub fn add(&mut self, system: StorageSystem) {
        let Some(id) = system.id.clone().filter(|id| !id.is_empty()) else {
            return self.skip(SkipReason::MissingId);
        };
        if !self.seen.insert(id.clone()) {
            tracing::debug!(system_id = %id, "skipping duplicate storage system");
            return self.skip(SkipReason::DuplicateId);
        }
        self.snapshot.systems.push(System::from_api(id, system));
    }

    /// Number of systems kept so far.
    pub fn len(&self) -> usize {
        self.snapshot.systems.len()
    }

    /// Whether no system was kept so far.
    pub fn is_empty(&self) -> bool {
        self.snapshot.systems.is_empty()
    }

    /// Ends the poll.
    pub fn finish(self) -> Snapshot {
        self.snapshot
    }

    fn skip(&mut self, reason: SkipReason) {
        *self.snapshot.skipped.entry(reason).or_default() += 1;
    }
}

impl System {
    fn from_api(id: String, api: StorageSystem) -> System {
        let data_domain = api.details.and_then(|details| details.data_domain);
        let dd = data_domain.as_ref();
        let from_deprecated_totals = dd.is_some_and(|dd| dd.capacities.is_none());
        let os_version = dd
            .and_then(|dd| dd.version.clone())
            .or_else(|| api.operating_system.and_then(|os| os.version));
        System {
            id,
            name: api.name.unwrap_or_default(),
            kind: api.kind.unwrap_or_default(),
            model: dd.and_then(|dd| dd.model.clone()).unwrap_or_default(),
            os_version: os_version.unwrap_or_default(),
            serial_number: dd
                .and_then(|dd| dd.serial_number.clone())
                .unwrap_or_default(),
            readiness: api.readiness,
            capacity_utilization_ratio: measurement(api.capacity_utilization).map(|p| p / 100.0),
            last_discovery_seconds: discovery_seconds(
                api.last_discovery_at.as_deref(),
                api.last_discovered.as_deref(),
            ),
            tiers: data_domain.map(tiers).unwrap_or_default(),
            from_deprecated_totals,
        }
    }
}

/// The tiers of a Data Domain: `capacities` when sent, else the deprecated totals,
/// which describe the active tier.
fn tiers(dd: DataDomain) -> Vec<Tier> {
    match dd.capacities {
        Some(capacities) => {
            let mut tiers: Vec<Tier> = Vec::new();
            for tier in capacities.into_iter().filter_map(Tier::from_api) {
                if tiers.len() == MAX_TIERS {
                    tracing::debug!("ignoring tiers past the first {MAX_TIERS}");
                    break;
                }
                if tiers.iter().all(|kept| kept.name != tier.name) {
                    tiers.push(tier);
                }
            }
            tiers
        }
        None => deprecated_active_tier(&dd).into_iter().collect(),
    }
}

fn deprecated_active_tier(dd: &DataDomain) -> Option<Tier> {
    let tier = Tier {
        name: "active".to_owned(),
        physical_capacity_bytes: measurement(dd.total_size),
        physical_used_bytes: measurement(dd.total_used),
        compression_ratio: measurement(dd.compression_factor),
        ..Tier::default()
    };
    let any = tier.physical_capacity_bytes.is_some()
        || tier.physical_used_bytes.is_some()
        || tier.compression_ratio.is_some();
    any.then_some(tier)
}

impl Tier {
    fn from_api(api: Capacity) -> Option<Tier> {
        let name = api.tier.filter(|t| !t.is_empty())?.to_ascii_lowercase();
        Some(Tier {
            name,
            physical_capacity_bytes: measurement(api.total_physical_size),
            physical_used_bytes: measurement(api.total_physical_used),
            logical_capacity_bytes: measurement(api.total_logical_size),
            logical_used_bytes: measurement(api.total_logical_used),
            licensed_capacity_bytes: measurement(api.total_licensed_size),
            compression_ratio: measurement(api.compression_factor),
            capacity_status: api.capacity_status,
        })
    }
}

/// Keeps a value only if it can be a size or ratio: finite and not negative.
fn measurement(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v >= 0.0)
}

fn discovery_seconds(at: Option<&str>, discovered: Option<&str>) -> Option<f64> {
    at.and_then(unix_seconds)
        .or_else(|| discovered.and_then(unix_seconds))
}

/// Unix seconds of an RFC 3339 time (`2024-12-17T16:49:21.123Z`, any offset); a time
/// without offset is taken as UTC.
fn unix_seconds(text: &str) -> Option<f64> {
    use time::format_description::well_known::Rfc3339;

    if let Ok(time) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(time.unix_timestamp() as f64 + f64::from(time.nanosecond()) / 1e9);
    }
    let time = humantime::parse_rfc3339_weak(text).ok()?;
    let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppdm::model::StorageSystemsPage;

    fn build(json: &str) -> Snapshot {
        let page: StorageSystemsPage = serde_json::from_str(json).expect("page");
        let mut builder = SnapshotBuilder::default();
        for raw in page.content.unwrap_or_default() {
            builder.add_raw(&raw);
        }
        builder.finish()
    }

    fn system<'a>(snapshot: &'a Snapshot, name: &str) -> &'a System {
        snapshot
            .systems
            .iter()
            .find(|s| s.name == name)
            .expect(name)
    }

    #[test]
    fn lab_capture_dd_ve_has_every_value_as_sent() {
        let snapshot = build(include_str!(
            "../tests/fixtures/storage-systems-lab-capture.json"
        ));
        let dd = system(&snapshot, "ddve-01.lab.example");
        let active = &dd.tiers[0];

        assert_eq!(dd.model, "DD VE");
        assert_eq!(dd.os_version, "8.0.0.20-1107705");
        assert_eq!(dd.serial_number, "DDVE0000000001");
        assert_eq!(dd.readiness.as_deref(), Some("READY"));
        assert_eq!(dd.capacity_utilization_ratio, None);
        assert_eq!(dd.tiers.len(), 2);
        assert_eq!(active.name, "active");
        assert_eq!(active.physical_capacity_bytes, Some(112_377_987_072.0));
        assert_eq!(active.physical_used_bytes, Some(30_618_943_488.0));
        assert_eq!(active.logical_capacity_bytes, Some(2_792_067_979_265.0));
        assert_eq!(active.logical_used_bytes, Some(760_737_702_278.0));
        assert_eq!(active.licensed_capacity_bytes, Some(1_000_000_000_000.0));
        assert_eq!(active.compression_ratio, Some(24.845_328));
        assert_eq!(active.capacity_status.as_deref(), Some("GOOD"));
        assert_eq!(dd.tiers[1].name, "combined");
    }

    #[test]
    fn systems_without_data_domain_details_have_no_tiers() {
        let snapshot = build(include_str!(
            "../tests/fixtures/storage-systems-lab-capture.json"
        ));

        assert!(system(&snapshot, "powerscale-01").tiers.is_empty());
        assert!(system(&snapshot, "GENERIC ARRAY").tiers.is_empty());
        assert_eq!(
            system(&snapshot, "GENERIC ARRAY").kind,
            "GENERIC_NAS_APPLIANCE"
        );
    }

    #[test]
    fn varied_fixture_keeps_tiers_by_type_and_discovery_time() {
        let snapshot = build(include_str!(
            "../tests/fixtures/storage-systems-varied.json"
        ));
        let dd9400 = system(&snapshot, "dd9400-01.lab.example");
        let names: Vec<&str> = dd9400.tiers.iter().map(|t| t.name.as_str()).collect();

        assert_eq!(snapshot.systems.len(), 5);
        assert_eq!(names, ["cloud", "combined", "active"]);
        assert_eq!(dd9400.capacity_utilization_ratio, Some(0.6));
        assert_eq!(dd9400.last_discovery_seconds, Some(1_748_844_009.877));
        assert_eq!(dd9400.tiers[0].capacity_status.as_deref(), Some("FAIR"));
    }

    #[test]
    fn deprecated_totals_alone_yield_the_active_tier() {
        let json = r#"{"content":[{"id":"a","details":{"dataDomain":{
            "totalSize": 1000.0, "totalUsed": 250.0, "compressionFactor": 3.5}}}]}"#;
        let snapshot = build(json);
        let tiers = &snapshot.systems[0].tiers;

        assert_eq!(tiers.len(), 1);
        assert_eq!(tiers[0].name, "active");
        assert_eq!(tiers[0].physical_capacity_bytes, Some(1000.0));
        assert_eq!(tiers[0].physical_used_bytes, Some(250.0));
        assert_eq!(tiers[0].compression_ratio, Some(3.5));
        assert_eq!(tiers[0].logical_used_bytes, None);
        assert!(snapshot.systems[0].from_deprecated_totals);
    }

    #[test]
    fn malformed_missing_and_duplicate_items_are_skipped_and_counted() {
        let json = r#"{"content":[
            {"id":"a","name":"first"},
            {"id":"b","capacityUtilization":"lots"},
            {"name":"no id"},
            {"id":"a","name":"again"},
            42,
            {"id":"c","type":"SOMETHING_NEW","readiness":"WARMING_UP"}]}"#;
        let snapshot = build(json);

        let ids: Vec<&str> = snapshot.systems.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(snapshot.skipped[&SkipReason::Malformed], 2);
        assert_eq!(snapshot.skipped[&SkipReason::MissingId], 1);
        assert_eq!(snapshot.skipped[&SkipReason::DuplicateId], 1);
        assert_eq!(snapshot.systems[1].readiness.as_deref(), Some("WARMING_UP"));
    }

    #[test]
    fn negative_values_and_nulls_yield_no_value() {
        let json = r#"{"content":[{"id":"a","capacityUtilization":null,"details":{"dataDomain":{
            "capacities":[{"type":"ACTIVE","totalPhysicalSize":-1.0,"totalPhysicalUsed":null}]}}}]}"#;
        let snapshot = build(json);
        let tier = &snapshot.systems[0].tiers[0];

        assert_eq!(snapshot.systems[0].capacity_utilization_ratio, None);
        assert_eq!(tier.physical_capacity_bytes, None);
        assert_eq!(tier.physical_used_bytes, None);
    }

    #[test]
    fn huge_capacities_arrays_are_capped() {
        let tiers: Vec<String> = (0..1000)
            .map(|i| format!(r#"{{"type":"T{i}","totalPhysicalSize":1.0}}"#))
            .collect();
        let json = format!(
            r#"{{"content":[{{"id":"a","details":{{"dataDomain":{{"capacities":[{}]}}}}}}]}}"#,
            tiers.join(",")
        );
        let snapshot = build(&json);

        assert_eq!(snapshot.systems[0].tiers.len(), MAX_TIERS);
    }

    #[test]
    fn discovery_times_honour_their_utc_offset() {
        let utc = unix_seconds("2025-06-02T06:00:09.877Z");
        let east = unix_seconds("2025-06-02T08:00:09.877+02:00");
        let west = unix_seconds("2025-06-02T01:00:09-05:00");
        let bare = unix_seconds("2025-06-02T06:00:09");

        assert_eq!(utc, Some(1_748_844_009.877));
        assert_eq!(east, utc);
        assert_eq!(west, Some(1_748_844_009.0));
        assert_eq!(bare, Some(1_748_844_009.0));
        assert_eq!(unix_seconds("yesterday"), None);
    }
}
