//! No password or token reaches a log line, even at trace level.
//!
//! One test in its own binary, because it installs the global log subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, LAB_CAPTURE, PASSWORD, sim_config};
use ppdm_exporter::sim::{Route, SimConfig};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_password_or_token_appears_in_any_log_line_at_trace_level() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let sim = SimConfig {
        access_token_lifetime: Duration::from_secs(1),
        ..sim_config(LAB_CAPTURE)
    };
    let harness = Harness::start(sim, |_| {}).await;
    harness.wait_up().await;
    harness.sim.control().fail_next(Route::Token, 1, 401, true);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    harness.sim.control().revoke_all();
    harness
        .sim
        .control()
        .set_password("a-new-password-nobody-has".to_owned());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    harness.stop().await;

    let logs = String::from_utf8(captured.0.lock().expect("log buffer").clone()).expect("utf-8");
    assert!(
        logs.lines().count() > 20,
        "trace logs were captured:\n{logs}"
    );
    assert!(logs.contains("TRACE"), "trace level was on");
    assert!(
        logs.contains("poll failed"),
        "the refused login was logged:\n{logs}"
    );
    for secret in [
        PASSWORD,
        "a-new-password-nobody-has",
        "eyJ",
        "Bearer ",
        "refresh_token\":",
    ] {
        let line = logs.lines().find(|line| line.contains(secret));
        assert!(line.is_none(), "{secret:?} leaked in: {line:?}");
    }
}
