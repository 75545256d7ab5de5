//! The simulated PPDM, driven over HTTPS like the exporter and the shell tests drive it.
//!
//! Every test starts its own simulator on port 0 and talks to it with a reqwest
//! client that trusts only the simulator's generated CA.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use ppdm_exporter::sim::{BodyFault, Counters, Route, SimConfig, Simulator, Systems};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "demo-password";

async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

async fn start_fleet(count: usize) -> Simulator {
    let systems = Systems::Fleet { count, seed: 1 };
    start(SimConfig {
        systems,
        ..SimConfig::default()
    })
    .await
}

fn client(sim: &Simulator) -> Client {
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("CA PEM");
    Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("client")
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(path).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

async fn login_with(client: &Client, sim: &Simulator, password: &str) -> Response {
    let body = json!({"username": "admin", "password": password});
    let url = format!("{}/api/v2/login", sim.base_url());
    client.post(url).json(&body).send().await.expect("login")
}

/// Logs in and returns the answer's JSON.
async fn login(client: &Client, sim: &Simulator) -> Value {
    let answer = login_with(client, sim, PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.expect("login JSON")
}

async fn refresh(client: &Client, sim: &Simulator, tokens: &Value) -> Response {
    let body = json!({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                      "scope": "aaa"});
    let url = format!("{}/api/v2/token", sim.base_url());
    let bearer = tokens["access_token"].as_str().expect("access token");
    let request = client.post(url).bearer_auth(bearer).json(&body);
    request.send().await.expect("refresh")
}

async fn systems(client: &Client, sim: &Simulator, token: &Value, query: &str) -> Response {
    let url = format!("{}/api/v2/storage-systems{query}", sim.base_url());
    let bearer = token.as_str().expect("access token");
    client
        .get(url)
        .bearer_auth(bearer)
        .send()
        .await
        .expect("storage-systems")
}

async fn systems_json(client: &Client, sim: &Simulator, token: &Value, query: &str) -> Value {
    let answer = systems(client, sim, token, query).await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.expect("storage-systems JSON")
}

async fn sim_post(client: &Client, sim: &Simulator, path: &str, body: Value) -> StatusCode {
    let url = format!("{}/sim/{path}", sim.base_url());
    client
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("sim route")
        .status()
}

mod sessions {
    use super::*;

    #[tokio::test]
    async fn login_with_the_right_password_answers_a_bearer_token_pair() {
        let sim = start_fleet(1).await;

        let tokens = login(&client(&sim), &sim).await;

        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 28800);
        assert_eq!(tokens["scope"], "aaa");
        assert!(tokens["jti"].is_string());
        for name in ["access_token", "refresh_token"] {
            let token = tokens[name].as_str().expect("token");
            assert_eq!(token.split('.').count(), 3, "{name} is JWT-shaped");
        }
        let counters = sim.counters();
        assert_eq!((counters.logins, counters.live_sessions), (1, 1));
    }

    #[tokio::test]
    async fn login_with_a_wrong_password_is_refused_with_401_and_an_error_body() {
        let sim = start_fleet(1).await;

        let answer = login_with(&client(&sim), &sim, "wrong").await;

        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        let body: Value = answer.json().await.expect("error JSON");
        assert_eq!(body["code"], 401);
        assert_eq!(body["path"], "/api/v2/login");
        assert_eq!(sim.counters().failed_logins, 1);
        assert_eq!(sim.counters().logins, 0);
    }

    #[tokio::test]
    async fn login_with_a_malformed_body_is_refused_with_400() {
        let sim = start_fleet(1).await;
        let url = format!("{}/api/v2/login", sim.base_url());

        let answer = client(&sim).post(url).body("{not json").send().await;

        assert_eq!(answer.expect("login").status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn refresh_issues_new_tokens_and_retires_the_old_refresh_token() {
        let sim = start_fleet(1).await;
        let client = client(&sim);
        let first = login(&client, &sim).await;

        let answer = refresh(&client, &sim, &first).await;
        assert_eq!(answer.status(), StatusCode::OK);
        let second: Value = answer.json().await.expect("refresh JSON");
        let reused = refresh(&client, &sim, &first).await;

        assert_ne!(second["access_token"], first["access_token"]);
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
        let Counters {
            logins,
            refreshes,
            failed_refreshes,
            live_sessions,
            ..
        } = sim.counters();
        assert_eq!(
            (logins, refreshes, failed_refreshes, live_sessions),
            (1, 1, 1, 1)
        );
    }

    #[tokio::test]
    async fn an_expired_access_token_gets_401_and_a_refresh_brings_access_back() {
        let sim = start(SimConfig {
            access_token_lifetime: Duration::from_millis(300),
            ..SimConfig::default()
        })
        .await;
        let client = client(&sim);
        let tokens = login(&client, &sim).await;

        tokio::time::sleep(Duration::from_millis(400)).await;
        let expired = systems(&client, &sim, &tokens["access_token"], "").await;
        let renewed: Value = refresh(&client, &sim, &tokens)
            .await
            .json()
            .await
            .expect("JSON");
        let again = systems(&client, &sim, &renewed["access_token"], "").await;

        assert_eq!(tokens["expires_in"], 0);
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(sim.counters().unauthorized, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn token_expiry_follows_paused_tokio_time() {
        let sim = start_fleet(1).await;
        let client = client(&sim);
        let tokens = login(&client, &sim).await;

        tokio::time::advance(Duration::from_secs(28_799)).await;
        let still_valid = systems(&client, &sim, &tokens["access_token"], "").await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let expired = systems(&client, &sim, &tokens["access_token"], "").await;

        assert_eq!(still_valid.status(), StatusCode::OK);
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn an_expired_refresh_token_ends_the_session() {
        let sim = start(SimConfig {
            refresh_token_lifetime: Duration::from_millis(300),
            ..SimConfig::default()
        })
        .await;
        let client = client(&sim);
        let tokens = login(&client, &sim).await;

        tokio::time::sleep(Duration::from_millis(400)).await;

        assert_eq!(sim.counters().live_sessions, 0);
        let answer = refresh(&client, &sim, &tokens).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn logout_answers_204_and_its_token_is_then_refused() {
        let sim = start_fleet(1).await;
        let client = client(&sim);
        let tokens = login(&client, &sim).await;
        let token = tokens["access_token"].as_str().expect("token");
        let url = format!("{}/api/v2/logout", sim.base_url());

        let first = client
            .post(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("logout");
        let second = client
            .post(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("logout");

        assert_eq!(first.status(), StatusCode::NO_CONTENT);
        assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
        let counters = sim.counters();
        assert_eq!((counters.logouts, counters.live_sessions), (1, 0));
    }

    #[tokio::test]
    async fn a_request_without_bearer_is_refused_with_401() {
        let sim = start_fleet(1).await;
        let url = format!("{}/api/v2/storage-systems", sim.base_url());

        let answer = client(&sim).get(url).send().await.expect("request");

        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(sim.counters().unauthorized, 1);
        assert_eq!(sim.counters().storage_calls, 1);
    }

    #[tokio::test]
    async fn revoking_all_sessions_refuses_every_token() {
        let sim = start_fleet(1).await;
        let client = client(&sim);
        let tokens = login(&client, &sim).await;

        sim.control().revoke_all();

        let answer = systems(&client, &sim, &tokens["access_token"], "").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            refresh(&client, &sim, &tokens).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(sim.counters().live_sessions, 0);
    }

    #[tokio::test]
    async fn a_rotated_password_refuses_the_old_one() {
        let sim = start_fleet(1).await;
        let client = client(&sim);

        sim.control().set_password("rotated".to_string());

        let old = login_with(&client, &sim, PASSWORD).await;
        let new = login_with(&client, &sim, "rotated").await;
        assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(new.status(), StatusCode::OK);
    }
}

mod storage_systems {
    use super::*;

    #[tokio::test]
    async fn paging_a_fleet_of_250_by_100_gives_3_pages_and_250_distinct_ids() {
        let sim = start_fleet(250).await;
        let client = client(&sim);
        let token = login(&client, &sim).await["access_token"].clone();
        let mut ids = HashSet::new();
        let mut sizes = Vec::new();

        for page in 1..=3 {
            let query = format!("?page={page}&pageSize=100");
            let answer = systems_json(&client, &sim, &token, &query).await;
            assert_eq!(answer["page"]["totalPages"], 3);
            assert_eq!(answer["page"]["totalElements"], 250);
            assert_eq!(answer["page"]["number"], page);
            let content = answer["content"].as_array().expect("content");
            sizes.push(content.len());
            ids.extend(
                content
                    .iter()
                    .map(|s| s["id"].as_str().expect("id").to_string()),
            );
        }

        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(ids.len(), 250);
        assert_eq!(sim.counters().storage_calls, 3);
    }

    #[tokio::test]
    async fn the_lab_capture_fixture_round_trips_exactly() {
        for name in [
            "storage-systems-lab-capture.json",
            "storage-systems-varied.json",
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name);
            let systems = Systems::from_file(&path).expect("fixture loads");
            let sim = start(SimConfig {
                systems,
                ..SimConfig::default()
            })
            .await;
            let client = client(&sim);
            let token = login(&client, &sim).await["access_token"].clone();

            let answer = systems_json(&client, &sim, &token, "").await;

            assert_eq!(answer, fixture(name), "{name}");
        }
    }

    #[tokio::test]
    async fn undocumented_parameters_and_oversized_pages_are_refused_with_400() {
        let sim = start_fleet(3).await;
        let client = client(&sim);
        let token = login(&client, &sim).await["access_token"].clone();

        for query in ["?size=10", "?pageSize=10001", "?page=0", "?page=one"] {
            let answer = systems(&client, &sim, &token, query).await;
            assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{query}");
        }
        let documented = systems(&client, &sim, &token, "?pageSize=10000&orderby=name").await;
        assert_eq!(documented.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_type_filter_pages_over_the_matching_systems_only() {
        let sim = start_fleet(20).await;
        let client = client(&sim);
        let token = login(&client, &sim).await["access_token"].clone();
        let query = "?filter=type%20eq%20%22DATA_DOMAIN_SYSTEM%22&orderby=name%20DESC&pageSize=5";

        let answer = systems_json(&client, &sim, &token, query).await;

        assert_eq!(answer["page"]["totalElements"], 15);
        assert_eq!(answer["page"]["totalPages"], 3);
        let content = answer["content"].as_array().expect("content");
        assert!(content.iter().all(|s| s["type"] == "DATA_DOMAIN_SYSTEM"));
        let names: Vec<&str> = content.iter().filter_map(|s| s["name"].as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(names, sorted);
    }

    #[tokio::test]
    async fn a_generated_fleet_drifts_between_polls() {
        let sim = start_fleet(5).await;
        let client = client(&sim);
        let token = login(&client, &sim).await["access_token"].clone();

        let first = systems_json(&client, &sim, &token, "").await;
        let second = systems_json(&client, &sim, &token, "").await;

        assert_ne!(first["content"], second["content"]);
        let ids = |page: &Value| page["content"].as_array().map(|c| c.len());
        assert_eq!(ids(&first), Some(5));
        assert_eq!(ids(&second), Some(5));
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_fleet() {
        let one = start_fleet(30).await;
        let two = start_fleet(30).await;

        assert_eq!(one.control().systems_json(), two.control().systems_json());
        assert_eq!(
            one.control().systems_json().as_array().map(Vec::len),
            Some(30)
        );
    }
}

mod faults {
    use super::*;

    async fn with_token(count: usize) -> (Simulator, Client, Value) {
        let sim = start_fleet(count).await;
        let client = client(&sim);
        let token = login(&client, &sim).await["access_token"].clone();
        (sim, client, token)
    }

    #[tokio::test]
    async fn injected_failures_answer_the_status_count_times_then_heal() {
        let (sim, client, token) = with_token(2).await;

        sim.control().fail_next(Route::StorageSystems, 2, 503, true);

        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(systems(&client, &sim, &token, "").await.status().as_u16());
        }
        assert_eq!(statuses, [503, 503, 200]);
    }

    #[tokio::test]
    async fn an_injected_failure_without_json_body_has_an_empty_body() {
        let (sim, client, token) = with_token(2).await;

        sim.control()
            .fail_next(Route::StorageSystems, 1, 502, false);

        let answer = systems(&client, &sim, &token, "").await;
        assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(answer.text().await.expect("body"), "");
    }

    #[tokio::test]
    async fn a_login_failure_of_302_carries_a_location_and_counts_as_failed() {
        let sim = start_fleet(1).await;
        let client = Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("CA")])
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");

        sim.control().fail_next(Route::Login, 1, 302, false);

        let answer = login_with(&client, &sim, PASSWORD).await;
        assert_eq!(answer.status(), StatusCode::FOUND);
        assert!(answer.headers().contains_key("location"));
        assert_eq!(sim.counters().failed_logins, 1);
    }

    #[tokio::test]
    async fn a_delay_holds_the_answer_back() {
        let (sim, client, token) = with_token(1).await;

        sim.control()
            .set_delay(Route::StorageSystems, Duration::from_millis(300));

        let started = Instant::now();
        let answer = systems(&client, &sim, &token, "").await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_truncated_body_is_200_but_not_valid_json() {
        let (sim, client, token) = with_token(3).await;

        sim.control().set_body_fault(Some(BodyFault::Truncated));

        let answer = systems(&client, &sim, &token, "").await;
        assert_eq!(answer.status(), StatusCode::OK);
        let text = answer.text().await.expect("body");
        assert!(text.starts_with('{'));
        assert!(serde_json::from_str::<Value>(&text).is_err());
    }

    #[tokio::test]
    async fn a_not_json_body_is_html() {
        let (sim, client, token) = with_token(3).await;

        sim.control().set_body_fault(Some(BodyFault::NotJson));

        let answer = systems(&client, &sim, &token, "").await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()["content-type"], "text/html");
    }

    #[tokio::test]
    async fn a_connection_closed_mid_body_fails_while_reading_the_body() {
        let (sim, client, token) = with_token(50).await;

        sim.control().set_body_fault(Some(BodyFault::CloseMidBody));

        let answer = systems(&client, &sim, &token, "").await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.bytes().await.is_err());
    }

    #[tokio::test]
    async fn total_pages_grows_with_each_answer_and_extra_pages_are_empty() {
        let (sim, client, token) = with_token(3).await;

        sim.control()
            .set_body_fault(Some(BodyFault::TotalPagesGrows));

        let first = systems_json(&client, &sim, &token, "?page=1&pageSize=2").await;
        let second = systems_json(&client, &sim, &token, "?page=2&pageSize=2").await;
        let third = systems_json(&client, &sim, &token, "?page=3&pageSize=2").await;
        assert_eq!(first["page"]["totalPages"], 3);
        assert_eq!(second["page"]["totalPages"], 4);
        assert_eq!(third["page"]["totalPages"], 5);
        assert_eq!(third["content"], json!([]));
    }

    #[tokio::test]
    async fn total_pages_shrinks_with_each_answer() {
        let (sim, client, token) = with_token(6).await;

        sim.control()
            .set_body_fault(Some(BodyFault::TotalPagesShrinks));

        let first = systems_json(&client, &sim, &token, "?page=1&pageSize=2").await;
        let second = systems_json(&client, &sim, &token, "?page=2&pageSize=2").await;
        assert_eq!(first["page"]["totalPages"], 3);
        assert_eq!(second["page"]["totalPages"], 2);
    }

    #[tokio::test]
    async fn switching_the_body_fault_off_restores_normal_answers() {
        let (sim, client, token) = with_token(3).await;

        sim.control().set_body_fault(Some(BodyFault::NotJson));
        sim.control().set_body_fault(None);

        let answer = systems_json(&client, &sim, &token, "").await;
        assert_eq!(answer["page"]["totalElements"], 3);
    }
}

mod control {
    use super::*;

    #[test]
    fn the_control_handle_is_clone_send_and_sync() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}

        shareable::<ppdm_exporter::sim::Control>();
    }

    #[tokio::test]
    async fn update_system_changes_what_the_next_page_shows() {
        let sim = start_fleet(3).await;
        let client = client(&sim);
        let token = login(&client, &sim).await["access_token"].clone();
        let id = sim.control().systems_json()[0]["id"]
            .as_str()
            .expect("id")
            .to_string();

        let found = sim
            .control()
            .update_system(&id, |s| s["readiness"] = json!("MIGRATING"));
        let missing = sim.control().update_system("nope", |_| {});

        let page = systems_json(&client, &sim, &token, "").await;
        assert!(found);
        assert!(!missing);
        assert_eq!(page["content"][0]["readiness"], "MIGRATING");
    }

    #[tokio::test]
    async fn used_ratio_route_makes_the_system_consistently_poor() {
        let sim = start_fleet(5).await;
        let client = client(&sim);
        let token = login(&client, &sim).await["access_token"].clone();
        let body = json!({"tier": "ACTIVE", "ratio": 0.95});

        let status = sim_post(&client, &sim, "fleet/0/used-ratio", body).await;

        assert_eq!(status, StatusCode::NO_CONTENT);
        let page = systems_json(&client, &sim, &token, "").await;
        let system = &page["content"][0];
        let dd = &system["details"]["dataDomain"];
        let active = dd["capacities"]
            .as_array()
            .and_then(|tiers| tiers.iter().find(|t| t["type"] == "ACTIVE"))
            .expect("ACTIVE tier");
        let percent = |value: &Value| value.as_f64().expect("number");
        assert!((percent(&active["percentUsed"]) - 95.0).abs() < 1e-9);
        assert_eq!(active["capacityStatus"], "POOR");
        assert_eq!(system["capacityUtilization"], active["percentUsed"]);
        assert_eq!(dd["percentUsed"], active["percentUsed"]);
    }

    #[tokio::test]
    async fn used_ratio_route_refuses_an_unknown_index_and_a_combined_tier() {
        let sim = start_fleet(2).await;
        let client = client(&sim);

        let unknown = json!({"tier": "ACTIVE", "ratio": 0.5});
        let combined = json!({"tier": "COMBINED", "ratio": 0.5});

        let missing = sim_post(&client, &sim, "fleet/9/used-ratio", unknown).await;
        let derived = sim_post(&client, &sim, "fleet/0/used-ratio", combined).await;
        assert_eq!(missing, StatusCode::NOT_FOUND);
        assert_eq!(derived, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_merge_patch_changes_one_system() {
        let sim = start_fleet(3).await;
        let client = client(&sim);
        let id = sim.control().systems_json()[1]["id"]
            .as_str()
            .expect("id")
            .to_string();

        let patched = sim_post(
            &client,
            &sim,
            &format!("systems/{id}"),
            json!({"readiness": "NOT_READY"}),
        )
        .await;
        let unknown = sim_post(&client, &sim, "systems/nope", json!({"readiness": "x"})).await;

        assert_eq!(patched, StatusCode::NO_CONTENT);
        assert_eq!(unknown, StatusCode::NOT_FOUND);
        assert_eq!(sim.control().systems_json()[1]["readiness"], "NOT_READY");
    }

    #[tokio::test]
    async fn fault_routes_switch_the_same_faults_as_the_handle() {
        let sim = start_fleet(2).await;
        let client = client(&sim);
        let token = login(&client, &sim).await["access_token"].clone();

        let fail = json!({"route": "storage-systems", "count": 1, "status": 500});
        assert_eq!(
            sim_post(&client, &sim, "fail", fail).await,
            StatusCode::NO_CONTENT
        );
        let failed = systems(&client, &sim, &token, "").await;
        let fault = json!({"fault": "not_json"});
        assert_eq!(
            sim_post(&client, &sim, "body-fault", fault).await,
            StatusCode::NO_CONTENT
        );
        let html = systems(&client, &sim, &token, "").await;
        assert_eq!(
            sim_post(&client, &sim, "revoke", json!({})).await,
            StatusCode::NO_CONTENT
        );
        let revoked = systems(&client, &sim, &token, "").await;

        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(html.headers()["content-type"], "text/html");
        assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn counters_route_answers_the_counters_as_json() {
        let sim = start_fleet(1).await;
        let client = client(&sim);
        login(&client, &sim).await;
        login_with(&client, &sim, "wrong").await;

        let url = format!("{}/sim/counters", sim.base_url());
        let counters: Value = client
            .get(url)
            .send()
            .await
            .expect("counters")
            .json()
            .await
            .expect("JSON");

        assert_eq!(
            counters,
            json!({"logins": 1, "failed_logins": 1, "refreshes": 0, "failed_refreshes": 0,
                   "logouts": 0, "live_sessions": 1, "storage_calls": 0, "unauthorized": 0})
        );
    }
}

mod lifecycle {
    use super::*;

    #[tokio::test]
    async fn stop_refuses_connections_and_resume_serves_the_same_port_and_state() {
        let sim = start_fleet(2).await;
        let client = client(&sim);
        let token = login(&client, &sim).await["access_token"].clone();
        let addr = sim.addr();

        sim.stop().await;
        let url = format!("{}/api/v2/storage-systems", sim.base_url());
        let refused = client.get(&url).send().await;
        sim.resume().await.expect("resume");
        let answer = systems(&client, &sim, &token, "").await;

        let error = refused.expect_err("stopped simulator refuses");
        assert!(error.is_connect(), "{error:?}");
        assert_eq!(sim.addr(), addr);
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(sim.counters().logins, 1);
    }

    #[tokio::test]
    async fn the_ca_is_written_to_the_ca_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ca.pem");

        let sim = start(SimConfig {
            ca_file: Some(path.clone()),
            ..SimConfig::default()
        })
        .await;

        assert_eq!(
            std::fs::read_to_string(path).expect("CA file"),
            sim.ca_pem()
        );
        assert!(sim.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(sim.base_url().starts_with("https://127.0.0.1:"));
    }

    #[tokio::test]
    async fn a_fixture_of_the_wrong_shape_is_refused_at_start() {
        let config = SimConfig {
            systems: Systems::Json(json!({"systems": []})),
            ..SimConfig::default()
        };

        let error = Simulator::start(config).await.expect_err("refused");

        assert!(format!("{error:#}").contains("content"), "{error:#}");
    }

    #[tokio::test]
    async fn shutdown_frees_the_port() {
        let sim = start_fleet(1).await;
        let addr = sim.addr();

        sim.shutdown().await;

        std::net::TcpListener::bind(addr).expect("port is free again");
    }
}
