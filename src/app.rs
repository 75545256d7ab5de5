//! The running exporter: one poller per configured server and the HTTP server.
//!
//! [`run`] serves on an already bound listener, so the port is open before the first
//! login, and returns once `shutdown` is cancelled and every server is logged out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ServerConfig};
use crate::poller::{PollSettings, Poller};
use crate::ppdm::{Client, Session};
use crate::store::Store;

/// Longest wait for the pollers to log out at shutdown.
pub const LOGOUT_GRACE: Duration = Duration::from_secs(5);

/// The pollers of the configured servers, by `server` label.
pub struct Pollers {
    store: Arc<Store>,
    limiter: Arc<Semaphore>,
    running: BTreeMap<String, Running>,
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Pollers {
    /// Creates an empty set that polls at most `max_concurrent` servers at once.
    pub fn new(store: Arc<Store>, max_concurrent: usize) -> Pollers {
        Pollers {
            store,
            limiter: Arc::new(Semaphore::new(max_concurrent)),
            running: BTreeMap::new(),
        }
    }

    /// Starts polling a server.
    ///
    /// # Errors
    ///
    /// Fails when the server's HTTP client cannot be built (CA file, URL).
    pub fn start(&mut self, server: &ServerConfig) -> anyhow::Result<()> {
        let label = server.label().context("server has no name and no host")?;
        let password = server
            .password_source()
            .context("server has no password source")?;
        if server.insecure_skip_verify {
            tracing::warn!(server = %label,
                "insecure_skip_verify is set: PPDM's certificate is not checked");
        }
        let client = Client::new(server).with_context(|| format!("server {label}"))?;
        let auth = self.store.metrics().auth_requests.clone();
        let session = Session::new(
            client,
            label.clone(),
            server.username.clone(),
            password,
            auth,
        );
        self.store.add_server(&label, server.stale_after());
        let settings = PollSettings {
            server: label.clone(),
            interval: server.interval,
            timeout: server.timeout,
            page_size: server.page_size,
        };
        let poller = Poller::new(
            settings,
            Arc::new(session),
            self.store.clone(),
            self.limiter.clone(),
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(poller.run(stop.clone()));
        self.running.insert(label, Running { stop, task });
        Ok(())
    }

    /// Stops every poller; each logs out within [`LOGOUT_GRACE`].
    pub async fn stop_all(&mut self) {
        let running = std::mem::take(&mut self.running);
        for poller in running.values() {
            poller.stop.cancel();
        }
        for (name, poller) in running {
            let mut task = poller.task;
            if tokio::time::timeout(LOGOUT_GRACE, &mut task).await.is_err() {
                tracing::warn!(server = %name, "logout did not finish in time");
                task.abort();
            }
        }
    }
}

/// Runs the exporter until `shutdown` is cancelled.
///
/// # Errors
///
/// Fails when a server cannot be set up or the HTTP server stops with an error.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = Store::new();
    let router = crate::http::router(store.clone(), &config.telemetry_path);
    let server =
        axum::serve(listener, router).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let http = tokio::spawn(server.into_future());

    let mut pollers = Pollers::new(store, config.max_concurrent_polls);
    for server in &config.servers {
        pollers.start(server)?;
    }
    shutdown.cancelled().await;
    tracing::info!("shutting down");
    pollers.stop_all().await;
    http.await
        .context("HTTP server task failed")?
        .context("HTTP server failed")?;
    Ok(())
}
