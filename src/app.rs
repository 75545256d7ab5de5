//! The running exporter: one poller per configured server, the HTTP server, and
//! configuration reloads.
//!
//! [`run`] serves on an already bound listener, so the port is open before the first
//! login, and returns once `shutdown` is cancelled and every server is logged out.
//! A reload (SIGHUP, or `POST /-/reload` when enabled) re-reads the configuration;
//! an invalid one is refused and the running one stays.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::config::{Config, ConfigError, ServerConfig};
use crate::http::HttpOptions;
use crate::poller::{PollSettings, Poller};
use crate::ppdm::{HttpClients, Session};
use crate::store::Store;

/// Longest wait for the pollers to log out at shutdown.
pub const LOGOUT_GRACE: Duration = Duration::from_secs(5);

/// Reads the configuration again, for reloads.
pub type ConfigLoader = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// A reload request; the answer says whether the new configuration was applied.
pub type ReloadRequest = oneshot::Sender<Result<String, String>>;

/// The pollers of the configured servers, by `server` label.
pub struct Pollers {
    store: Arc<Store>,
    clients: HttpClients,
    limiter: Arc<Semaphore>,
    running: BTreeMap<String, Running>,
}

struct Running {
    config: ServerConfig,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Pollers {
    /// Creates an empty set that polls at most `max_concurrent` servers at once.
    pub fn new(store: Arc<Store>, max_concurrent: usize) -> Pollers {
        Pollers {
            store,
            clients: HttpClients::default(),
            limiter: Arc::new(Semaphore::new(max_concurrent)),
            running: BTreeMap::new(),
        }
    }

    /// Makes the running pollers match `servers`: stops the removed, restarts the
    /// changed, starts the new, and leaves unchanged servers (session, data) alone.
    /// Returns a one-line summary.
    ///
    /// # Errors
    ///
    /// Fails when a server's HTTP client cannot be built (CA file, URL); servers
    /// handled before it keep their new state.
    pub async fn apply(&mut self, servers: &[ServerConfig]) -> anyhow::Result<String> {
        let wanted: BTreeMap<String, &ServerConfig> = servers
            .iter()
            .filter_map(|server| server.label().map(|label| (label, server)))
            .collect();
        let removed: Vec<String> = self
            .running
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect();
        let changed: Vec<String> = self
            .running
            .iter()
            .filter(|(name, running)| {
                wanted
                    .get(*name)
                    .is_some_and(|new| !running.config.same_settings(new))
            })
            .map(|(name, _)| name.clone())
            .collect();
        let unchanged = self.running.len() - removed.len() - changed.len();
        self.stop_many(&[removed.as_slice(), changed.as_slice()].concat())
            .await;
        for name in &removed {
            self.store.remove_server(name);
        }
        let mut started = 0;
        for (name, server) in &wanted {
            if !self.running.contains_key(name) {
                self.start(server)?;
                started += 1;
            }
        }
        let (changed, removed) = (changed.len(), removed.len());
        let added = started - changed;
        Ok(format!(
            "{added} added, {changed} changed, {removed} removed, {unchanged} unchanged"
        ))
    }

    /// Starts polling a server; its earlier data in the store, if any, is kept.
    ///
    /// # Errors
    ///
    /// Fails when the server's HTTP client cannot be built (CA file, URL).
    pub fn start(&mut self, server: &ServerConfig) -> anyhow::Result<()> {
        let label = server.label().context("server has no name and no host")?;
        if server.insecure_skip_verify {
            tracing::warn!(server = %label,
                "insecure_skip_verify is set: PPDM's certificate is not checked");
        }
        let auth = self.store.metrics().auth_requests.clone();
        let session = Session::for_server(server, &label, &self.clients, auth)?;
        self.store.add_server(&label, server.stale_after());
        let settings = PollSettings {
            server: label.clone(),
            interval: server.interval,
            timeout: server.timeout,
            page_size: server.page_size,
        };
        let (store, limiter) = (self.store.clone(), self.limiter.clone());
        let session = Arc::new(session);
        let interval = settings.interval;
        let poller = move || {
            Poller::new(
                settings.clone(),
                session.clone(),
                store.clone(),
                limiter.clone(),
            )
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(supervise(label.clone(), poller, interval, stop.clone()));
        let config = server.clone();
        self.running.insert(label, Running { config, stop, task });
        Ok(())
    }

    /// Stops every poller; together they get [`LOGOUT_GRACE`] to log out.
    pub async fn stop_all(&mut self) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        self.stop_many(&names).await;
    }

    /// Cancels the named pollers at once, then waits for their logouts until one
    /// shared deadline; those still running then are aborted.
    async fn stop_many(&mut self, names: &[String]) {
        let stopping: Vec<(String, Running)> = names
            .iter()
            .filter_map(|name| {
                self.running
                    .remove(name)
                    .map(|poller| (name.clone(), poller))
            })
            .collect();
        for (_, poller) in &stopping {
            poller.stop.cancel();
        }
        let deadline = tokio::time::Instant::now() + LOGOUT_GRACE;
        for (name, poller) in stopping {
            let mut task = poller.task;
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!(server = %name, "logout did not finish in time");
                task.abort();
            }
        }
    }
}

/// Runs a server's poller, and runs it again one interval after it panicked (a bug
/// must not silently end the polling of a server).
async fn supervise(
    server: String,
    poller: impl Fn() -> Poller,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        let task = AbortOnDropHandle::new(tokio::spawn(poller().run(stop.clone())));
        match task.await {
            Err(error) if error.is_panic() => {
                tracing::error!(%server, "the poller panicked; starting it again after one interval");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
            }
            _ => return,
        }
    }
}

/// Runs the exporter until `shutdown` is cancelled.
///
/// With a `loader`, SIGHUP (and `POST /-/reload` when the configuration enables it)
/// reloads the configuration.
///
/// # Errors
///
/// Fails when a server cannot be set up or the HTTP server stops with an error.
pub async fn run(
    config: Config,
    loader: Option<ConfigLoader>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = Store::new();
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let options = HttpOptions {
        telemetry_path: config.telemetry_path.clone(),
        reload: (loader.is_some() && config.enable_reload_endpoint).then(|| reload_tx.clone()),
    };
    let router = crate::web::protect(crate::http::router(store.clone(), &options), &config.web);
    let mut http = tokio::spawn(serve(
        listener,
        router,
        config.web.clone(),
        shutdown.clone(),
    ));
    if loader.is_some() {
        spawn_sighup_listener(reload_tx, shutdown.clone());
    }

    tokio::spawn(expire_stale_data(store.clone(), shutdown.clone()));
    let mut pollers = Pollers::new(store, config.max_concurrent_polls);
    pollers.apply(&config.servers).await?;
    let started_with = config.clone();
    let early_end = loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break None,
            served = &mut http => break Some(served),
            Some(answer) = reload_rx.recv() => {
                let outcome = match &loader {
                    Some(load) => reload(load, &started_with, &mut pollers).await,
                    None => Err("reload is not available".to_owned()),
                };
                let _ = answer.send(outcome);
            }
        }
    };
    tracing::info!("shutting down");
    pollers.stop_all().await;
    let served = match early_end {
        Some(served) => served,
        None => http.await,
    };
    served.context("HTTP server task failed")??;
    if !shutdown.is_cancelled() {
        anyhow::bail!("the HTTP server stopped unexpectedly");
    }
    Ok(())
}

async fn serve(
    listener: TcpListener,
    router: axum::Router,
    web: crate::web::WebConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    crate::web::serve(listener, router, &web, shutdown).await
}

/// Applies a freshly loaded configuration, or keeps the running one if it is invalid.
/// Settings that need a restart are compared with those the process started with.
async fn reload(
    load: &ConfigLoader,
    started_with: &Config,
    pollers: &mut Pollers,
) -> Result<String, String> {
    let config = match load() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(error = %error.problems.join("; "), "reload refused, keeping the running configuration");
            return Err(error.to_string());
        }
    };
    warn_about_restart_only_settings(started_with, &config);
    match pollers.apply(&config.servers).await {
        Ok(summary) => {
            tracing::info!(%summary, "configuration reloaded");
            Ok(summary)
        }
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "reload failed part way");
            Err(format!("{error:#}"))
        }
    }
}

fn warn_about_restart_only_settings(old: &Config, new: &Config) {
    let changed = [
        ("listen_address", old.listen_address != new.listen_address),
        ("telemetry_path", old.telemetry_path != new.telemetry_path),
        ("log_level", old.log_level != new.log_level),
        ("log_format", old.log_format != new.log_format),
        (
            "max_concurrent_polls",
            old.max_concurrent_polls != new.max_concurrent_polls,
        ),
        (
            "enable_reload_endpoint",
            old.enable_reload_endpoint != new.enable_reload_endpoint,
        ),
    ];
    for (key, differs) in changed {
        if differs {
            tracing::warn!(
                key,
                "this setting changed but takes effect only after a restart"
            );
        }
    }
}

/// Checks for stale data every few seconds, until shutdown.
async fn expire_stale_data(store: Arc<Store>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => store.expire_stale(),
        }
    }
}

/// Turns each SIGHUP into a reload request.
fn spawn_sighup_listener(reloads: mpsc::Sender<ReloadRequest>, shutdown: CancellationToken) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload by signal is off");
            return;
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                Some(()) = hangups.recv() => {
                    tracing::info!("SIGHUP received, reloading the configuration");
                    let (answer, _) = oneshot::channel();
                    if reloads.send(answer).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    #[cfg(not(unix))]
    drop((reloads, shutdown));
}
