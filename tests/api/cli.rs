//! The binary as an operator runs it: subcommands, start-up errors, migrate, SIGTERM.
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::fresh_database;

/// The binary with only the given environment, run away from any developer's `.env`.
pub(crate) fn binary(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deepsource-sync"));
    command
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("RUST_LOG", "info");
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn help_lists_the_subcommands() {
    let output = binary(&[]).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = text(&output);
    for subcommand in ["serve", "worker", "migrate"] {
        assert!(help.contains(subcommand), "{help}");
    }
    let serve = text(&binary(&[]).args(["serve", "--help"]).output().unwrap());
    assert!(serve.contains("--no-worker"), "{serve}");
}

#[test]
fn a_wrong_setting_stops_start_up_with_one_line_naming_it() {
    let output = binary(&[("BIND_ADDR", "nowhere")]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("invalid BIND_ADDR"), "{stderr}");
}

#[test]
fn serving_without_a_secret_is_refused_unless_allowed() {
    let db = fresh_database();
    let url = db.url.clone();
    let output = binary(&[("DATABASE_URL", &url), ("BIND_ADDR", "127.0.0.1:0")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains("DEEPSOURCE_WEBHOOK_SECRETS"),
        "{}",
        text(&output)
    );
}

#[test]
fn migrate_creates_the_database_and_exits() {
    let db = fresh_database();
    let (url, db_name) = (db.url.clone(), db.name.clone());
    let output = binary(&[("DATABASE_URL", &url)]).arg("migrate").output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let check = Command::new("psql")
        .args([&url, "-Atc", "SELECT count(*) FROM refinery_schema_history"])
        .output()
        .unwrap();
    let applied: usize = String::from_utf8_lossy(&check.stdout).trim().parse().unwrap();
    assert_eq!(applied, deepsource_sync::db::migration_count(), "{db_name}");
}

/// Starts the binary, waits for `ready` in its log, sends SIGTERM, and expects a clean exit
/// whose log ends the worker properly. Returns the line that said `ready`.
fn stops_cleanly_on_sigterm(args: &[&str], env: &[(&str, &str)], ready: &str) -> String {
    let mut child = binary(env)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let ready_line = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains(ready))
        .unwrap_or_else(|| panic!("never logged {ready}"));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(lines
        .map_while(Result::ok)
        .any(|l| l.contains("sync worker stopped")));
    ready_line
}

#[test]
fn the_worker_stops_cleanly_on_sigterm() {
    let db = fresh_database();
    let url = db.url.clone();
    stops_cleanly_on_sigterm(&["worker"], &[("DATABASE_URL", &url)], "sync worker started");
}

/// An operator can tell from the first lines whether GitHub will be written to.
#[test]
fn the_worker_says_at_start_up_whether_it_runs_dry() {
    let db = fresh_database();
    let url = db.url.clone();
    let dry_run_of = |token: Option<&str>| {
        let mut env = vec![("DATABASE_URL", url.as_str()), ("LOG_FORMAT", "json")];
        env.extend(token.map(|t| ("GITHUB_TOKEN", t)));
        let line = stops_cleanly_on_sigterm(&["worker"], &env, "sync worker started");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        json["fields"]["dry_run"]
            .as_bool()
            .unwrap_or_else(|| panic!("{line}"))
    };
    assert!(dry_run_of(None), "no credentials: dry");
    assert!(!dry_run_of(Some("ghp_not_a_real_token")), "a token: not dry");
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let db = fresh_database();
    let url = db.url.clone();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("DEEPSOURCE_WEBHOOK_SECRETS", "test-secret-0123456789abcdef"),
    ];
    stops_cleanly_on_sigterm(&["serve"], &env, "sync worker started");
}
