//! The storage systems the simulator serves, and how they are cut into pages.
//!
//! Data is kept as [`serde_json::Value`], never as the exporter's types: the
//! simulator must not agree with the exporter by construction. A fixture is served
//! exactly as loaded; a generated fleet drifts a little after each poll.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::fleet::{self, Drift};
use super::query::Selection;

/// Where the simulator's storage systems come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Systems {
    /// A fixture: a bare JSON list of StorageSystem objects, or a page envelope
    /// `{"content": [...], "page": {...}}` whose `page` is ignored and recomputed.
    Json(Value),
    /// `count` plausible generated systems, deterministic for `seed`: mostly
    /// `DATA_DOMAIN_SYSTEM` with ACTIVE and COMBINED tiers, every fourth with a
    /// CLOUD tier, a PowerScale and a PowerStore in every ten, the `GENERIC ARRAY`
    /// last, and every 23rd `NOT_READY`. After every poll (a request for page 1)
    /// used bytes drift by at most 0.15 % of the tier size, keeping the capacity
    /// fields consistent: `percentUsed`, COMBINED = ACTIVE + CLOUD,
    /// `compressionFactor`, `capacityStatus` (GOOD < 80 % ≤ FAIR < 90 % ≤ POOR).
    Fleet {
        /// Number of systems.
        count: usize,
        /// Seed of the generator and of the drift.
        seed: u64,
    },
}

impl Systems {
    /// Reads a fixture file: a JSON list of systems or a page envelope.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read, is not JSON, or has neither shape.
    pub fn from_file(path: &Path) -> anyhow::Result<Systems> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading fixture {}", path.display()))?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("parsing fixture {}", path.display()))?;
        systems_list(&value).with_context(|| format!("fixture {}", path.display()))?;
        Ok(Systems::Json(value))
    }
}

/// Extracts the list of systems from a bare list or a page envelope.
fn systems_list(value: &Value) -> anyhow::Result<Vec<Value>> {
    let list = match value {
        Value::Array(list) => list,
        Value::Object(envelope) => match envelope.get("content") {
            Some(Value::Array(list)) => list,
            _ => bail!("object without a \"content\" list"),
        },
        _ => bail!("neither a list of systems nor a page envelope"),
    };
    Ok(list.clone())
}

/// The current systems and, for a fleet, the drift that moves them.
pub(crate) struct DataStore {
    systems: Vec<Value>,
    drift: Option<Drift>,
}

impl DataStore {
    /// Loads the systems.
    ///
    /// # Errors
    ///
    /// Fails when a [`Systems::Json`] value has neither accepted shape.
    pub fn new(source: &Systems) -> anyhow::Result<DataStore> {
        Ok(match source {
            Systems::Json(value) => DataStore {
                systems: systems_list(value)?,
                drift: None,
            },
            Systems::Fleet { count, seed } => DataStore {
                systems: fleet::generate(*count, *seed),
                drift: Some(Drift::new(*seed)),
            },
        })
    }

    /// The current list of systems.
    pub fn all(&self) -> &[Value] {
        &self.systems
    }

    /// Answers one page (1-based) of the selected systems in PPDM's envelope.
    ///
    /// `page.size` is the number of systems returned, as the lab capture shows.
    pub fn page(&self, number: usize, size: usize, selection: &Selection) -> Value {
        let chosen = selection.apply(&self.systems);
        let total = chosen.len();
        let start = (number - 1).saturating_mul(size).min(total);
        let end = start.saturating_add(size).min(total);
        let content = &chosen[start..end];
        json!({
            "content": content,
            "page": {
                "number": number,
                "size": content.len(),
                "totalElements": total,
                "totalPages": total.div_ceil(size),
            },
        })
    }

    /// Lets a fleet drift by one step; a fixture never changes by itself.
    pub fn after_poll(&mut self) {
        if let Some(drift) = &mut self.drift {
            drift.step(&mut self.systems);
        }
    }

    /// Runs `f` on the system with this id; false when there is none.
    pub fn update(&mut self, id: &str, f: impl FnOnce(&mut Value)) -> bool {
        match self.systems.iter_mut().find(|s| s["id"] == id) {
            Some(system) => {
                f(system);
                true
            }
            None => false,
        }
    }

    /// Runs `f` on the system at this position of the list; false when out of range.
    pub fn update_at(&mut self, index: usize, f: impl FnOnce(&mut Value)) -> bool {
        match self.systems.get_mut(index) {
            Some(system) => {
                f(system);
                true
            }
            None => false,
        }
    }
}

/// Applies an RFC 7396 JSON merge patch: objects merge, `null` removes, anything
/// else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(fields) = target else {
        return;
    };
    for (key, change) in changes {
        if change.is_null() {
            fields.remove(key);
        } else {
            merge_patch(fields.entry(key.clone()).or_insert(Value::Null), change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(count: usize) -> DataStore {
        let list: Vec<Value> = (0..count).map(|i| json!({"id": i.to_string()})).collect();
        DataStore::new(&Systems::Json(json!(list))).expect("store")
    }

    #[test]
    fn pages_cover_the_list_and_the_last_one_is_short() {
        let store = store(5);

        let last = store.page(3, 2, &Selection::default());

        assert_eq!(last["content"], json!([{"id": "4"}]));
        assert_eq!(
            last["page"],
            json!({"number": 3, "size": 1, "totalElements": 5, "totalPages": 3})
        );
        assert_eq!(
            store.page(4, 2, &Selection::default())["content"],
            json!([])
        );
    }

    #[test]
    fn envelope_and_bare_list_are_accepted_and_other_shapes_refused() {
        let envelope = json!({"content": [{"id": "a"}], "page": {"totalPages": 9}});

        let store = DataStore::new(&Systems::Json(envelope)).expect("envelope");

        assert_eq!(store.all(), [json!({"id": "a"})]);
        assert!(DataStore::new(&Systems::Json(json!({"x": 1}))).is_err());
        assert!(DataStore::new(&Systems::Json(json!("x"))).is_err());
    }

    #[test]
    fn merge_patch_sets_nested_fields_and_removes_nulls() {
        let mut system = json!({"readiness": "READY", "details": {"a": 1, "b": 2}});

        merge_patch(
            &mut system,
            &json!({"readiness": "NOT_READY", "details": {"a": null, "c": 3}}),
        );

        assert_eq!(
            system,
            json!({"readiness": "NOT_READY", "details": {"b": 2, "c": 3}})
        );
    }
}
