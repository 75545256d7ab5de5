//! The running simulator: its listener, TLS identity and lifecycle.
//!
//! The certificate and the state are made once in [`Simulator::start`]; the
//! listener can be closed with [`Simulator::stop`] (new connections are refused and
//! open ones dropped) and reopened on the same port with [`Simulator::resume`], so
//! tests can simulate a PPDM that goes away and comes back.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

use super::control::{Control, control_routes};
use super::data::DataStore;
use super::routes::api_routes;
use super::state::{Shared, lock};
use super::tls::Pki;
use super::tokens::TokenStore;
use super::{Counters, SimConfig};

/// How long [`Simulator::stop`] waits for dropped connections to wind down.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// A simulated PPDM serving HTTPS in the background of the current tokio runtime.
///
/// Dropping it stops listening; [`Simulator::shutdown`] also waits for that.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: String,
    tls: RustlsConfig,
    app: Router,
    running: Mutex<Option<Running>>,
}

struct Running {
    handle: Handle,
    task: JoinHandle<io::Result<()>>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Loads the systems, generates the CA and server certificate, writes the CA to
    /// `config.ca_file` if set, and starts listening.
    ///
    /// # Errors
    ///
    /// Fails when the systems are not a list or envelope, the address cannot be
    /// bound, the certificates cannot be made or the CA file cannot be written.
    pub async fn start(config: SimConfig) -> anyhow::Result<Simulator> {
        let data = DataStore::new(&config.systems).context("loading the systems")?;
        let tokens = TokenStore::new(config.access_token_lifetime, config.refresh_token_lifetime);
        let shared = Arc::new(Shared::new(config.username, config.password, tokens, data));
        let pki = Pki::generate().context("generating the simulator's certificates")?;
        let listener = bind(config.listen)?;
        let addr = listener.local_addr().context("reading the bound address")?;

        if let Some(path) = &config.ca_file {
            tokio::fs::write(path, &pki.ca_pem)
                .await
                .with_context(|| format!("writing the CA to {}", path.display()))?;
        }
        let app = app(Arc::clone(&shared));
        let simulator = Simulator {
            shared,
            addr,
            ca_pem: pki.ca_pem,
            tls: pki.server,
            app,
            running: Mutex::new(None),
        };
        simulator.serve(listener);
        tracing::info!(%addr, "simulated ppdm listening");
        Ok(simulator)
    }

    /// The address it listens on, with the real port when started on port 0.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://IP:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// PEM of the CA that signed the server certificate; trust it to connect.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// A handle to inject faults and change data while it runs.
    pub fn control(&self) -> Control {
        Control::new(Arc::clone(&self.shared))
    }

    /// Stops listening: new connections are refused and open ones dropped. Tokens,
    /// data, faults and counters are kept. Does nothing when already stopped.
    pub async fn stop(&self) {
        let Some(running) = lock(&self.running).take() else {
            return;
        };
        running.handle.shutdown();
        if let Ok(Err(error)) = running.task.await {
            tracing::warn!(%error, "simulator server ended with an error");
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while running.handle.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tracing::info!(addr = %self.addr, "simulated ppdm stopped listening");
    }

    /// Listens again on the same address and port, with the same certificate and
    /// state. Does nothing when already listening.
    ///
    /// # Errors
    ///
    /// Fails when the port has been taken in the meantime.
    pub async fn resume(&self) -> anyhow::Result<()> {
        if lock(&self.running).is_some() {
            return Ok(());
        }
        let listener = bind(self.addr)?;
        self.serve(listener);
        tracing::info!(addr = %self.addr, "simulated ppdm listening again");
        Ok(())
    }

    /// Stops listening and drops the simulator.
    pub async fn shutdown(self) {
        self.stop().await;
    }

    fn serve(&self, listener: TcpListener) {
        let handle = Handle::new();
        let server =
            axum_server::from_tcp_rustls(listener, self.tls.clone()).handle(handle.clone());
        let task = tokio::spawn(server.serve(self.app.clone().into_make_service()));
        *lock(&self.running) = Some(Running { handle, task });
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(running) = lock(&self.running).take() {
            running.handle.shutdown();
        }
    }
}

/// Binds without waiting, so the real port is known before serving starts.
fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    listener
        .set_nonblocking(true)
        .context("making the listener non-blocking")?;
    Ok(listener)
}

/// The PPDM routes and the `/sim` routes over the shared state, logging each
/// request at debug.
fn app(shared: Arc<Shared>) -> Router {
    api_routes()
        .merge(control_routes())
        .layer(middleware::from_fn(log_request))
        .with_state(shared)
}

/// Logs method, path (never the query or headers) and status.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::debug!(%method, path, status = response.status().as_u16(), "sim request");
    response
}
