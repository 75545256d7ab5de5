//! The `ppdm-exporter` binary as a user runs it: exit codes, messages, `--demo`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ppdm-exporter");

#[test]
fn invalid_config_exits_78_listing_every_problem_without_the_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[[servers]]\nurl = \"ftp://ppdm\"\nusername = \"svc\"\npassword = \"hunter2-secret\"\n\
         page_size = 0\ninterval = \"10s\"\ntimeout = \"1m\"\n",
    )
    .expect("written");

    let output = Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .output()
        .expect("runs");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("servers[0].url: \"ftp://ppdm\" must use https"),
        "{stderr}"
    );
    assert!(stderr.contains("servers[0].page_size: 0"), "{stderr}");
    assert!(stderr.contains("servers[0].timeout: 1m"), "{stderr}");
    assert!(!stderr.contains("hunter2-secret"));
}

#[test]
fn unknown_key_and_missing_file_are_configuration_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "listen_adress = \"0.0.0.0:1\"\n").expect("written");

    let typo = Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .output()
        .expect("runs");
    let missing = Command::new(BIN)
        .args(["--config", "/nonexistent/ppdm.toml"])
        .output()
        .expect("runs");

    assert_eq!(typo.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("listen_adress"));
    assert_eq!(missing.status.code(), Some(78));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/ppdm.toml does not exist")
    );
}

#[test]
fn demo_prints_the_metrics_url_serves_gauges_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args([
            "--demo",
            "--listen-address",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let url = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("metrics at ").map(str::to_owned))
        .expect("the metrics URL is printed");

    let mut body = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !body.contains("ppdm_up{server=\"demo\"} 1") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        body = curl(&url);
    }
    let killed = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    let status = child.wait().expect("exits");
    let stderr = std::io::read_to_string(child.stderr.take().expect("stderr")).expect("stderr");

    assert!(killed.success());
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    assert!(
        body.contains("ppdm_storage_system_physical_used_bytes{"),
        "{body}"
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"message\":\"listening\"")),
        "{stderr}"
    );
    for line in lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}

fn curl(url: &str) -> String {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "2", url])
        .output();
    output
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn completions_need_no_configuration() {
    let output = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .expect("runs");

    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("ppdm-exporter"));
}
