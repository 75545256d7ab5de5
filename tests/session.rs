//! The PPDM session on its own: one login at a time, secrets kept out of Debug.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{LAB_CAPTURE, PASSWORD, server_config, sim_config};
use ppdm_exporter::config::PasswordSource;
use ppdm_exporter::ppdm::{Client, Session};
use ppdm_exporter::sim::{Route, Simulator};
use prometheus::{IntCounterVec, Opts};

fn auth_counter() -> IntCounterVec {
    IntCounterVec::new(Opts::new("auth", "test"), &["server", "kind", "result"]).expect("counter")
}

async fn session_for(sim: &Simulator, dir: &tempfile::TempDir) -> Session {
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, sim.ca_pem()).expect("CA written");
    let server = server_config(sim, ca_file);
    let client = Client::new(&server).expect("client");
    let password = PasswordSource::Inline(PASSWORD.to_owned().into());
    Session::new(
        client,
        "lab".into(),
        "admin".into(),
        password,
        auth_counter(),
    )
}

const FIRST_PAGE: &str = "/api/v2/storage-systems?page=1&pageSize=100";

/// Sends `count` GETs of the first page at once and asserts that each succeeds.
async fn get_concurrently(session: &Arc<Session>, count: usize) {
    let calls: Vec<_> = (0..count)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move { session.get(FIRST_PAGE).await.map(|body| body.len()) })
        })
        .collect();
    for call in calls {
        assert!(call.await.expect("task").is_ok());
    }
}

#[tokio::test]
async fn concurrent_requests_never_cause_a_second_login() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let session = Arc::new(session_for(&sim, &dir).await);
    sim.control()
        .set_delay(Route::Login, Duration::from_millis(300));

    get_concurrently(&session, 8).await;

    let counters = sim.counters();
    assert_eq!(counters.logins, 1, "{counters:?}");
    assert_eq!(counters.storage_calls, 8, "{counters:?}");
}

#[tokio::test]
async fn concurrent_401s_renew_the_session_once() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let session = Arc::new(session_for(&sim, &dir).await);
    session.get(FIRST_PAGE).await.expect("first call");
    sim.control().revoke_all();

    get_concurrently(&session, 6).await;

    assert_eq!(sim.counters().logins, 2, "{:?}", sim.counters());
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_that_names_the_cause() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let session = session_for(&sim, &dir).await;
    sim.control().set_password("rotated-elsewhere".to_owned());

    let error = session.get(FIRST_PAGE).await.expect_err("refused");

    assert_eq!(
        error.to_string(),
        "PPDM refused the login: wrong user name or password (401)"
    );
    assert_eq!(error.reason().as_label(), "auth");
    assert!(!format!("{session:?}").contains(PASSWORD));
}

#[tokio::test]
async fn logout_ends_the_server_side_session() {
    let sim = Simulator::start(sim_config(LAB_CAPTURE))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let session = session_for(&sim, &dir).await;
    session.get(FIRST_PAGE).await.expect("first call");

    session.logout().await;

    let counters = sim.counters();
    assert_eq!(
        (counters.logouts, counters.live_sessions),
        (1, 0),
        "{counters:?}"
    );
}
