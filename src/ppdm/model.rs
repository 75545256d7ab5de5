//! Serde types mirroring PPDM's JSON answers.
//!
//! Every field is optional and unknown fields are ignored, because real answers carry
//! explicit `null`s, absent keys and keys the published schema does not list. These
//! types say what PPDM sent; [`crate::snapshot`] decides what is exported.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;

/// A page of `GET /api/v2/storage-systems`.
///
/// Items stay raw so that one malformed item can be skipped without losing the page.
#[derive(Debug, Deserialize)]
pub struct StorageSystemsPage {
    /// The storage systems of this page, each decoded on its own.
    #[serde(default)]
    pub content: Option<Vec<Box<RawValue>>>,
    /// Paging information.
    #[serde(default)]
    pub page: Option<PageInfo>,
}

/// The `page` object of a paged answer. Counts are read leniently: `3`, `3.0` and
/// `"3"` all mean 3, and anything else (negative, fractional, not a number) counts as
/// absent rather than failing the poll.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// Number of this page, 1-based.
    #[serde(default, deserialize_with = "lenient_count")]
    pub number: Option<u64>,
    /// Number of pages in the whole answer.
    #[serde(default, deserialize_with = "lenient_count")]
    pub total_pages: Option<u64>,
    /// Number of items in the whole answer.
    #[serde(default, deserialize_with = "lenient_count")]
    pub total_elements: Option<u64>,
}

fn lenient_count<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let count = match &value {
        serde_json::Value::Number(number) => number.as_u64().or_else(|| {
            let float = number.as_f64()?;
            let whole = float >= 0.0 && float.fract() == 0.0 && float <= u32::MAX.into();
            whole.then_some(float as u64)
        }),
        serde_json::Value::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    Ok(count)
}

/// One storage system.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageSystem {
    /// UUID of the system.
    pub id: Option<String>,
    /// Display name; an FQDN for Data Domain systems.
    pub name: Option<String>,
    /// Kind of system, an open set such as `DATA_DOMAIN_SYSTEM`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `READY`, `NOT_READY`, `MIGRATING`, or a newer value.
    pub readiness: Option<String>,
    /// Physical utilisation in percent.
    pub capacity_utilization: Option<f64>,
    /// End of the last discovery, ISO-8601.
    pub last_discovery_at: Option<String>,
    /// Start of the last discovery, ISO-8601 (older releases only have this one).
    pub last_discovered: Option<String>,
    /// Operating system of non-Data Domain systems.
    pub operating_system: Option<OperatingSystem>,
    /// One sub-object per kind of system.
    pub details: Option<Details>,
}

/// `operatingSystem` of a storage system.
#[derive(Debug, Default, Deserialize)]
pub struct OperatingSystem {
    /// Version text.
    pub version: Option<String>,
}

/// `details` of a storage system; only Data Domain details are read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    /// Present for Data Domain systems.
    pub data_domain: Option<DataDomain>,
}

/// `details.dataDomain`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataDomain {
    /// Model, such as `DD9400` or `DD VE`.
    pub model: Option<String>,
    /// Serial number.
    pub serial_number: Option<String>,
    /// DDOS version.
    pub version: Option<String>,
    /// One entry per tier; the current source of capacity.
    pub capacities: Option<Vec<Capacity>>,
    /// Deprecated physical size of the active tier, in bytes.
    pub total_size: Option<f64>,
    /// Deprecated physical use of the active tier, in bytes.
    pub total_used: Option<f64>,
    /// Deprecated compression factor of the active tier.
    pub compression_factor: Option<f64>,
}

/// One tier in `details.dataDomain.capacities`. Bytes arrive as JSON floats.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    /// Tier: `ACTIVE`, `CLOUD`, `COMBINED`, or a newer value.
    #[serde(rename = "type")]
    pub tier: Option<String>,
    /// Physical size in bytes.
    pub total_physical_size: Option<f64>,
    /// Physical use in bytes.
    pub total_physical_used: Option<f64>,
    /// Logical size in bytes, before deduplication and compression.
    pub total_logical_size: Option<f64>,
    /// Logical use in bytes.
    pub total_logical_used: Option<f64>,
    /// Licensed size in bytes; 0 when the tier has no licence.
    pub total_licensed_size: Option<f64>,
    /// Logical used / physical used.
    pub compression_factor: Option<f64>,
    /// `GOOD`, `FAIR`, `POOR`, or a newer value.
    pub capacity_status: Option<String>,
}

/// The answer of `POST /api/v2/login` and `POST /api/v2/token`.
#[derive(Deserialize)]
pub struct TokenResponse {
    /// Bearer token for data calls.
    pub access_token: SecretString,
    /// Token for `/api/v2/token`; may be absent on refresh.
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token in seconds.
    pub expires_in: Option<u64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE: &str = include_str!("../../tests/fixtures/storage-systems-lab-capture.json");

    #[test]
    fn lab_capture_decodes_with_every_item() {
        let page: StorageSystemsPage = serde_json::from_str(CAPTURE).expect("page");
        let items = page.content.expect("content");
        let systems: Vec<StorageSystem> = items
            .iter()
            .map(|raw| serde_json::from_str(raw.get()).expect("system"))
            .collect();

        assert_eq!(systems.len(), 4);
        assert_eq!(page.page.expect("page").total_pages, Some(1));
        let dd = systems[2]
            .details
            .as_ref()
            .and_then(|d| d.data_domain.as_ref());
        let tiers = dd.and_then(|dd| dd.capacities.as_ref()).expect("tiers");
        assert_eq!(tiers[0].total_physical_used, Some(30_618_943_488.0));
    }

    #[test]
    fn token_response_debug_hides_tokens() {
        let text = include_str!("../../tests/fixtures/login-response.json");
        let answer: TokenResponse = serde_json::from_str(text).expect("login");

        assert_eq!(answer.expires_in, Some(28_800));
        assert!(!format!("{answer:?}").contains("eyJ"));
    }

    #[test]
    fn page_counts_are_read_leniently() {
        let pages = |json: &str| {
            let page: StorageSystemsPage = serde_json::from_str(json).expect("decodes");
            page.page.and_then(|info| info.total_pages)
        };

        assert_eq!(pages(r#"{"page":{"totalPages":3}}"#), Some(3));
        assert_eq!(pages(r#"{"page":{"totalPages":3.0}}"#), Some(3));
        assert_eq!(pages(r#"{"page":{"totalPages":"3"}}"#), Some(3));
        assert_eq!(pages(r#"{"page":{"totalPages":-1,"number":"x"}}"#), None);
        assert_eq!(pages(r#"{"page":{"totalPages":null}}"#), None);
    }
}
