//! Capacity arithmetic on a Data Domain system's JSON, so changed numbers stay consistent.
//!
//! The relations are those seen in real answers (see `API.md`): per tier
//! `percentUsed = totalPhysicalUsed / totalPhysicalSize × 100` and
//! `compressionFactor = totalLogicalUsed / totalPhysicalUsed`; the COMBINED tier is
//! ACTIVE + CLOUD for every size; the deprecated top-level `totalSize`, `totalUsed`,
//! `percentUsed` and `compressionFactor` equal the ACTIVE tier. Fields are only
//! rewritten where the system already has them, so a fixture keeps its shape.

use serde_json::{Value, json};

/// Tiers that hold data of their own; COMBINED is derived from them.
pub(crate) const STORED_TIERS: [&str; 2] = ["ACTIVE", "CLOUD"];

/// Byte fields that COMBINED sums over the stored tiers.
const SUMMED: [&str; 5] = [
    "totalPhysicalSize",
    "totalPhysicalUsed",
    "totalLogicalSize",
    "totalLogicalUsed",
    "totalLicensedSize",
];

/// PPDM's judgement of a tier; its thresholds are undocumented, these match FAIR at 86 %.
pub(crate) fn capacity_status(percent_used: f64) -> &'static str {
    if percent_used < 80.0 {
        "GOOD"
    } else if percent_used < 90.0 {
        "FAIR"
    } else {
        "POOR"
    }
}

/// Sets a stored tier's physical used bytes to exactly `ratio` of its size (not
/// rounded to whole bytes), scales its logical used bytes by the tier's compression
/// factor, then makes the system consistent.
///
/// # Errors
///
/// Names the problem when the tier is COMBINED, missing, or the ratio is outside 0–1.
pub(crate) fn set_used_ratio(system: &mut Value, tier: &str, ratio: f64) -> Result<(), String> {
    if !STORED_TIERS.contains(&tier) {
        return Err(format!("tier {tier:?} is not one of ACTIVE, CLOUD"));
    }
    if !(0.0..=1.0).contains(&ratio) {
        return Err(format!("ratio {ratio} is not between 0 and 1"));
    }
    let entry = tier_mut(system, tier).ok_or_else(|| format!("system has no {tier} tier"))?;

    let factor = match num(entry, "compressionFactor") {
        f if f > 0.0 => f,
        _ => 1.0,
    };
    let used = num(entry, "totalPhysicalSize") * ratio;
    entry["totalPhysicalUsed"] = json!(used);
    entry["totalLogicalUsed"] = json!(used * factor);
    make_consistent(system);
    Ok(())
}

/// Recomputes every derived capacity field of a Data Domain system from its bytes.
///
/// Systems without `details.dataDomain.capacities` are left alone.
pub(crate) fn make_consistent(system: &mut Value) {
    let Some(tiers) = capacities_mut(system) else {
        return;
    };
    for tier in tiers.iter_mut() {
        recompute_tier(tier);
    }
    let stored: Vec<Value> = tiers
        .iter()
        .filter(|t| STORED_TIERS.contains(&t["type"].as_str().unwrap_or("")))
        .cloned()
        .collect();
    if let Some(combined) = tiers.iter_mut().find(|t| t["type"] == "COMBINED") {
        for field in SUMMED {
            combined[field] = json!(stored.iter().map(|t| num(t, field)).sum::<f64>());
        }
        recompute_tier(combined);
    }

    let active = tier_mut(system, "ACTIVE").map(|t| t.clone());
    if let Some(active) = active {
        mirror_active(system, &active);
    }
}

/// Derives percentages, ratios and status of one tier from its byte fields.
fn recompute_tier(tier: &mut Value) {
    let size = num(tier, "totalPhysicalSize");
    let used = num(tier, "totalPhysicalUsed");
    let logical = num(tier, "totalLogicalUsed");
    let licensed = num(tier, "totalLicensedSize");

    let percent = ratio(used, size) * 100.0;
    tier["percentUsed"] = json!(percent);
    tier["compressionFactor"] = json!(ratio(logical, used));
    tier["reductionPercentage"] = json!(if logical > 0.0 {
        (1.0 - used / logical) * 100.0
    } else {
        0.0
    });
    tier["licensedUtilization"] = json!(ratio(used, licensed) * 100.0);
    tier["capacityStatus"] = json!(capacity_status(percent));
}

/// Copies the ACTIVE tier into the deprecated fields and `capacityUtilization`.
fn mirror_active(system: &mut Value, active: &Value) {
    if system.get("capacityUtilization").is_some() {
        system["capacityUtilization"] = active["percentUsed"].clone();
    }
    let Some(dd) = system.pointer_mut("/details/dataDomain") else {
        return;
    };
    let pairs = [
        ("totalSize", "totalPhysicalSize"),
        ("totalUsed", "totalPhysicalUsed"),
        ("percentUsed", "percentUsed"),
        ("compressionFactor", "compressionFactor"),
    ];
    for (old, new) in pairs {
        if dd.get(old).is_some() {
            dd[old] = active[new].clone();
        }
    }
}

fn capacities_mut(system: &mut Value) -> Option<&mut Vec<Value>> {
    system
        .pointer_mut("/details/dataDomain/capacities")?
        .as_array_mut()
}

fn tier_mut<'a>(system: &'a mut Value, tier: &str) -> Option<&'a mut Value> {
    capacities_mut(system)?
        .iter_mut()
        .find(|t| t["type"] == tier)
}

/// A field as `f64`, zero when absent or not a number.
pub(crate) fn num(value: &Value, field: &str) -> f64 {
    value[field].as_f64().unwrap_or(0.0)
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system() -> Value {
        let tier = |kind: &str, size: f64, used: f64| {
            json!({"type": kind, "totalPhysicalSize": size, "totalPhysicalUsed": used,
                   "totalLogicalSize": size * 10.0, "totalLogicalUsed": used * 10.0,
                   "totalLicensedSize": 0.0, "compressionFactor": 10.0})
        };
        json!({
            "capacityUtilization": 0.0,
            "details": {"dataDomain": {
                "totalSize": 0.0, "totalUsed": 0.0, "percentUsed": 0.0,
                "capacities": [tier("COMBINED", 0.0, 0.0), tier("ACTIVE", 1000.0, 100.0),
                               tier("CLOUD", 3000.0, 0.0)]
            }}
        })
    }

    #[test]
    fn status_thresholds_are_80_and_90_percent() {
        assert_eq!(capacity_status(79.9), "GOOD");
        assert_eq!(capacity_status(86.0), "FAIR");
        assert_eq!(capacity_status(90.0), "POOR");
    }

    #[test]
    fn used_ratio_updates_tier_combined_and_deprecated_fields() {
        let mut system = system();

        set_used_ratio(&mut system, "ACTIVE", 0.95).expect("ratio");

        let dd = &system["details"]["dataDomain"];
        let active = &dd["capacities"][1];
        let combined = &dd["capacities"][0];
        assert_eq!(active["totalPhysicalUsed"], json!(950.0));
        assert_eq!(active["totalLogicalUsed"], json!(9500.0));
        assert_eq!(active["percentUsed"], json!(95.0));
        assert_eq!(active["capacityStatus"], json!("POOR"));
        assert_eq!(combined["totalPhysicalSize"], json!(4000.0));
        assert_eq!(combined["totalPhysicalUsed"], json!(950.0));
        assert_eq!(combined["percentUsed"], json!(23.75));
        assert_eq!(combined["capacityStatus"], json!("GOOD"));
        assert_eq!(dd["totalUsed"], json!(950.0));
        assert_eq!(dd["percentUsed"], json!(95.0));
        assert_eq!(system["capacityUtilization"], json!(95.0));
    }

    #[test]
    fn used_ratio_refuses_combined_and_out_of_range_ratios() {
        let mut system = system();

        assert!(set_used_ratio(&mut system, "COMBINED", 0.5).is_err());
        assert!(set_used_ratio(&mut system, "ACTIVE", 1.5).is_err());
        assert!(set_used_ratio(&mut json!({}), "ACTIVE", 0.5).is_err());
    }
}
