//! The `filter` and `orderby` query parameters of `GET /api/v2/storage-systems`.
//!
//! PPDM's filter language is large; the simulator understands only its simplest
//! form, enough for the exporter's needs: clauses `field eq "value"` joined by
//! `and`, where `field` may be a dotted path such as `details.dataDomain.model`.
//! `orderby` takes one field, optionally followed by `ASC` or `DESC`. Anything
//! else is refused with 400, never silently ignored.

use std::cmp::Ordering;

use serde_json::Value;

/// Which systems a request wants, and in which order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Selection {
    equals: Vec<(String, String)>,
    order: Option<(String, bool)>,
}

impl Selection {
    /// Adds the clauses of a `filter` value; `None` when it is not of the supported
    /// form, leaving the selection unusable.
    pub fn add_filter(&mut self, filter: &str) -> Option<()> {
        for clause in filter.split(" and ") {
            let (field, value) = clause.trim().split_once(" eq ")?;
            let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
            self.equals
                .push((pointer(field.trim())?, value.to_string()));
        }
        Some(())
    }

    /// Sets the order from an `orderby` value; `None` when it is not of the
    /// supported form.
    pub fn set_order(&mut self, order: &str) -> Option<()> {
        let mut words = order.split_whitespace();
        let field = pointer(words.next()?)?;
        let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(_) => return None,
        };
        if words.next().is_some() {
            return None;
        }
        self.order = Some((field, descending));
        Some(())
    }

    /// The matching systems, in the requested order (stable, so ties keep the
    /// order of the list).
    pub fn apply<'a>(&self, systems: &'a [Value]) -> Vec<&'a Value> {
        let mut chosen: Vec<&Value> = systems.iter().filter(|s| self.matches(s)).collect();
        if let Some((field, descending)) = &self.order {
            chosen.sort_by(|a, b| {
                let order = compare(a.pointer(field), b.pointer(field));
                if *descending { order.reverse() } else { order }
            });
        }
        chosen
    }

    fn matches(&self, system: &Value) -> bool {
        self.equals.iter().all(|(field, value)| {
            system.pointer(field).is_some_and(|found| match found {
                Value::String(text) => text == value,
                other => serde_json::from_str::<Value>(value).is_ok_and(|v| v == *other),
            })
        })
    }
}

/// Turns `a.b.c` into the JSON pointer `/a/b/c`; `None` for an empty segment or
/// characters a field name cannot have.
fn pointer(field: &str) -> Option<String> {
    let valid = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric());
    field
        .split('.')
        .all(valid)
        .then(|| format!("/{}", field.replace('.', "/")))
}

/// Orders absent values first, then numbers, then text.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (a, b) => rank(a).cmp(&rank(b)),
    }
}

fn rank(value: Option<&Value>) -> u8 {
    match value {
        None | Some(Value::Null) => 0,
        Some(Value::Number(_)) => 1,
        Some(Value::String(_)) => 2,
        Some(_) => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn systems() -> Vec<Value> {
        vec![
            json!({"id": "1", "name": "b", "type": "DATA_DOMAIN_SYSTEM"}),
            json!({"id": "2", "name": "c", "type": "POWER_SCALE_APPLIANCE"}),
            json!({"id": "3", "name": "a", "type": "DATA_DOMAIN_SYSTEM"}),
        ]
    }

    fn ids(chosen: &[&Value]) -> Vec<String> {
        chosen
            .iter()
            .map(|s| s["id"].as_str().unwrap_or("").to_string())
            .collect()
    }

    fn filtered(filter: &str) -> Option<Selection> {
        let mut selection = Selection::default();
        selection.add_filter(filter)?;
        Some(selection)
    }

    fn ordered(order: &str) -> Option<Selection> {
        let mut selection = Selection::default();
        selection.set_order(order)?;
        Some(selection)
    }

    #[test]
    fn filter_keeps_systems_equal_on_every_clause() {
        let systems = systems();

        let selection = filtered(r#"type eq "DATA_DOMAIN_SYSTEM" and name eq "a""#);

        assert_eq!(ids(&selection.expect("filter").apply(&systems)), ["3"]);
    }

    #[test]
    fn orderby_sorts_ascending_or_descending() {
        let systems = systems();

        let ascending = ordered("name").expect("orderby");
        let descending = ordered("name DESC").expect("orderby");

        assert_eq!(ids(&ascending.apply(&systems)), ["3", "1", "2"]);
        assert_eq!(ids(&descending.apply(&systems)), ["2", "1", "3"]);
    }

    #[test]
    fn unsupported_forms_are_refused() {
        assert_eq!(filtered("type ne \"X\""), None);
        assert_eq!(filtered("type eq X"), None);
        assert_eq!(filtered("ty/pe eq \"X\""), None);
        assert_eq!(ordered("name sideways"), None);
        assert_eq!(ordered(""), None);
    }
}
