//! Running the router over plain HTTP or HTTPS until shutdown.
//!
//! Accepted sockets get `TCP_NODELAY`: a body goes out as a large shared chunk and a
//! small tail, and without it the tail waits for the client's delayed ACK (about
//! 40 ms per scrape on one connection, measured in docs/benchmarks.md).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::serve::ListenerExt as _;
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::config::WebConfig;
use super::tls;

/// Longest wait for open HTTPS connections to finish once shutdown starts.
pub const TLS_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` is cancelled: plain HTTP without
/// `tls_server_config`, else HTTPS with the configured certificate, minimum version
/// and client certificate policy.
///
/// The certificate files are read here, once; see the module's known limits.
///
/// # Errors
///
/// Fails when the TLS configuration cannot be built (unreadable or mismatched files,
/// unsupported values) or the server stops with an error.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    web: &WebConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(tls) = &web.tls_server_config else {
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        return axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("HTTP server failed");
    };
    let config = tls::server_config(tls).context("TLS configuration")?;
    let listener = listener
        .into_std()
        .context("handing the listener to the HTTPS server")?;
    tracing::debug!(client_auth_type = %tls.client_auth_type, min_version = %tls.min_version,
        "serving HTTPS");

    let handle = Handle::new();
    let stopper = tokio::spawn(stop_on(shutdown, handle.clone()));
    let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(config)))
        .acceptor(NoDelayAcceptor::new());
    let served = axum_server::from_tcp(listener)
        .acceptor(acceptor)
        .handle(handle)
        .serve(router.into_make_service())
        .await;
    stopper.abort();
    served.context("HTTPS server failed")
}

async fn stop_on(shutdown: CancellationToken, handle: Handle) {
    shutdown.cancelled().await;
    handle.graceful_shutdown(Some(TLS_SHUTDOWN_GRACE));
}
