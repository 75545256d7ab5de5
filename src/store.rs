//! The latest state of every server, and the rendered body built from it.
//!
//! Pollers record each completed poll here. Every record re-renders the body once,
//! under the store's lock; scrapes only load the current [`Rendered`] through an
//! atomic pointer and never wait on a poller or on PPDM.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use prometheus::Registry;
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::ppdm::PpdmError;
use crate::render::{Rendered, encode};
use crate::snapshot::Snapshot;

/// What is known of one server.
#[derive(Debug, Clone)]
pub struct ServerState {
    /// The data of the last good poll, until it goes stale.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Whether a poll attempt has completed, successfully or not.
    pub attempted: bool,
    /// Whether the last poll succeeded.
    pub up: bool,
    /// Duration of the last poll.
    pub last_duration_seconds: Option<f64>,
    /// Time of the last successful poll, Unix seconds.
    pub last_success_unix: Option<f64>,
    /// The last failure, as one line without secrets, for the status page.
    pub last_error: Option<String>,
    last_good_at: Option<Instant>,
    stale_after: Duration,
}

impl ServerState {
    fn new(stale_after: Duration) -> ServerState {
        ServerState {
            snapshot: None,
            attempted: false,
            up: false,
            last_duration_seconds: None,
            last_success_unix: None,
            last_error: None,
            last_good_at: None,
            stale_after,
        }
    }
}

/// Shared state between pollers and the HTTP server.
pub struct Store {
    metrics: Metrics,
    servers: Mutex<BTreeMap<String, ServerState>>,
    rendered: ArcSwap<Rendered>,
    process: Registry,
    process_cache: Mutex<Option<(std::time::Instant, Bytes)>>,
}

/// How long an encoding of the process metrics is reused.
const PROCESS_CACHE: Duration = Duration::from_secs(1);

impl Store {
    /// Creates an empty store with a first render.
    pub fn new() -> Arc<Store> {
        let metrics = Metrics::new();
        let rendered = Rendered::new(encode(metrics.registry()));
        let process = Registry::new();
        #[cfg(target_os = "linux")]
        process
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registered once");
        Arc::new(Store {
            metrics,
            servers: Mutex::new(BTreeMap::new()),
            rendered: ArcSwap::from_pointee(rendered),
            process,
            process_cache: Mutex::new(None),
        })
    }

    /// The metric families, for the counters that sessions and pollers increment.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Adds a server with no data yet; it is not ready until its first attempt. A
    /// server that is already known (restarted by a reload) keeps its data.
    pub fn add_server(&self, server: &str, stale_after: Duration) {
        let mut servers = self.lock();
        self.metrics.add_server(server);
        servers
            .entry(server.to_owned())
            .or_insert_with(|| ServerState::new(stale_after))
            .stale_after = stale_after;
        self.render(&servers);
    }

    /// Removes a server and every series of it.
    pub fn remove_server(&self, server: &str) {
        let mut servers = self.lock();
        servers.remove(server);
        self.metrics.remove_server(server);
        self.render(&servers);
    }

    /// Records a successful poll: its snapshot replaces the previous one whole.
    pub fn record_success(&self, server: &str, snapshot: Snapshot, duration: Duration) {
        let mut servers = self.lock();
        for (reason, count) in &snapshot.skipped {
            self.metrics
                .skipped
                .with_label_values(&[server, reason.as_label()])
                .inc_by(*count);
        }
        if let Some(state) = servers.get_mut(server) {
            state.snapshot = Some(Arc::new(snapshot));
            state.attempted = true;
            state.up = true;
            state.last_duration_seconds = Some(duration.as_secs_f64());
            state.last_success_unix = Some(unix_now());
            state.last_error = None;
            state.last_good_at = Some(Instant::now());
        }
        self.render(&servers);
    }

    /// Records a failed poll; the last good data stays until it is older than
    /// `stale_after`.
    pub fn record_failure(&self, server: &str, error: &PpdmError, duration: Duration) {
        let mut servers = self.lock();
        self.metrics
            .poll_failures
            .with_label_values(&[server, error.reason().as_label()])
            .inc();
        if let Some(state) = servers.get_mut(server) {
            state.attempted = true;
            state.up = false;
            state.last_duration_seconds = Some(duration.as_secs_f64());
            state.last_error = Some(error.chain());
        }
        drop_stale(&mut servers);
        self.render(&servers);
    }

    /// Drops the data of servers whose last good poll is older than their
    /// `stale_after`, re-rendering if anything was dropped. Called on a timer, so
    /// data goes stale on time even while a poller waits out a long backoff.
    pub fn expire_stale(&self) {
        let mut servers = self.lock();
        if drop_stale(&mut servers) {
            self.render(&servers);
        }
    }

    /// Re-renders after counters changed outside a poll (a token refresh).
    pub fn touch(&self) {
        let servers = self.lock();
        self.render(&servers);
    }

    /// The current render of the slowly changing families.
    pub fn rendered(&self) -> Arc<Rendered> {
        self.rendered.load_full()
    }

    /// The process metrics, encoded at most once a second (reading `/proc` at every
    /// scrape would be most of a scrape's cost).
    pub fn process_text(&self) -> Bytes {
        let mut cached = self
            .process_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*cached {
            Some((at, text)) if at.elapsed() < PROCESS_CACHE => text.clone(),
            _ => {
                let text = Bytes::from(encode(&self.process));
                *cached = Some((std::time::Instant::now(), text.clone()));
                text
            }
        }
    }

    /// A copy of every server's state, by name.
    pub fn states(&self) -> BTreeMap<String, ServerState> {
        self.lock().clone()
    }

    /// Whether every server has completed at least one poll attempt.
    pub fn ready(&self) -> bool {
        self.lock().values().all(|state| state.attempted)
    }

    fn render(&self, servers: &BTreeMap<String, ServerState>) {
        let mut text = String::with_capacity(self.rendered.load().text().len() + 4096);
        crate::exposition::write_gauges(&mut text, servers);
        let mut body = text.into_bytes();
        body.extend_from_slice(&encode(self.metrics.registry()));
        self.rendered.store(Arc::new(Rendered::new(body)));
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ServerState>> {
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Drops stale snapshots; true when one was dropped.
fn drop_stale(servers: &mut BTreeMap<String, ServerState>) -> bool {
    let mut dropped = false;
    for state in servers.values_mut() {
        let stale = state
            .last_good_at
            .is_none_or(|at| at.elapsed() > state.stale_after);
        if stale && state.snapshot.is_some() {
            state.snapshot = None;
            dropped = true;
        }
    }
    dropped
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::System;

    fn one_system() -> Snapshot {
        Snapshot {
            systems: vec![System {
                id: "dd-1".into(),
                name: "dd-1".into(),
                ..System::default()
            }],
            ..Snapshot::default()
        }
    }

    fn text(store: &Store) -> String {
        String::from_utf8_lossy(store.rendered().text()).into_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn data_older_than_stale_after_is_dropped_on_the_timer_while_self_metrics_stay() {
        let store = Store::new();
        store.add_server("lab", Duration::from_secs(60));
        store.record_success("lab", one_system(), Duration::from_millis(5));

        tokio::time::advance(Duration::from_secs(59)).await;
        store.expire_stale();
        let fresh = text(&store);
        tokio::time::advance(Duration::from_secs(2)).await;
        store.expire_stale();
        let stale = text(&store);

        assert!(fresh.contains(r#"system_id="dd-1""#));
        assert!(!stale.contains(r#"system_id="dd-1""#));
        assert!(stale.contains(r#"ppdm_storage_systems{server="lab"} 0"#));
        assert!(stale.contains(r#"ppdm_last_poll_success_timestamp_seconds{server="lab"}"#));
    }

    #[tokio::test]
    async fn a_re_added_server_keeps_its_data() {
        let store = Store::new();
        store.add_server("lab", Duration::from_secs(60));
        store.record_success("lab", one_system(), Duration::from_millis(5));

        store.add_server("lab", Duration::from_secs(120));

        assert!(text(&store).contains(r#"ppdm_storage_systems{server="lab"} 1"#));
    }
}
