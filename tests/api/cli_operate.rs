//! The operator commands as the binary runs them, against a service's database: `status`,
//! `jobs`, `retry`, `replay`, `resync` do what the admin API does.
use crate::cli::{binary, text};
use crate::helpers::{issue_event, spawn_app, Fault, TestApp, INTRODUCED, SAMPLE_REPO};

/// Runs the binary against the app's database; returns (success, stdout, stderr).
fn run(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let url = app.settings.database.url().to_owned();
    let output = binary(&[("DATABASE_URL", &url)]).args(args).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn each_operator_command_has_help() {
    for command in ["status", "jobs", "retry", "replay", "resync"] {
        let output = binary(&[]).args([command, "--help"]).output().unwrap();
        assert!(output.status.success(), "{command}: {}", text(&output));
        assert!(text(&output).contains("Usage"), "{command}");
    }
    let retry = binary(&[]).arg("retry").output().unwrap();
    assert!(!retry.status.success(), "retry wants --job or --dead");
}

#[tokio::test]
async fn status_and_jobs_show_the_queue_and_the_findings() {
    let app = spawn_app().await;
    app.github.fail_next("POST", Fault::Status(404));
    app.sync_event(INTRODUCED, "1", "RI-a", 1, 1_700_000_000).await;
    app.sync_event(INTRODUCED, "2", "RI-b", 2, 1_700_000_000).await;
    app.deliver(&issue_event(INTRODUCED, "3", "RI-c", 1, 1_700_000_000))
        .await;

    let (ok, out, err) = run(&app, &["status"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("3 events"), "{out}");
    assert!(
        out.contains("pending 1, running 0, done 1, skipped 0, dead 1"),
        "{out}"
    );
    assert!(out.contains("open 1, closed 0, dismissed 0, failed 1"), "{out}");
    assert!(out.contains("writes left this hour"), "{out}");
    assert!(!out.contains("INFO"), "log lines go to stderr: {out}");
    assert!(!out.contains("schema"), "the schema is current: {out}");

    let (ok, json, _) = run(&app, &["status", "--json"]);
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["queue"]["findings_waiting"], 1);
    assert_eq!(json["schema"]["current"], true);

    let (ok, out, _) = run(&app, &["jobs", "--status", "dead"]);
    assert!(ok);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].contains("RI-a") && rows[0].contains("404"), "{out}");
    let (ok, _, err) = run(&app, &["jobs", "--status", "deadish"]);
    assert!(!ok && err.contains("deadish"), "{err}");
}

#[tokio::test]
async fn retry_replay_and_resync_queue_work_the_worker_then_does() {
    let app = spawn_app().await;
    for (event, finding) in [("1", "RI-a"), ("2", "RI-b")] {
        app.github.fail_next("POST", Fault::Status(404));
        app.sync_event(INTRODUCED, event, finding, 1, 1_700_000_000).await;
    }
    let (ok, out, err) = run(&app, &["retry", "--dead", "--finding", "RI-a"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("1 dead jobs are pending again"), "{out}");
    assert_eq!(app.job_of("2").await.0, "dead");
    let (ok, out, _) = run(&app, &["retry", "--dead"]);
    assert!(ok && out.contains("1 dead jobs"), "{out}");
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 2);

    let (ok, out, err) = run(&app, &["replay", "--since", "1h"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("2 deliveries"), "{out}");
    assert_eq!(app.job_of("1").await.0, "pending");
    app.run_worker().await.unwrap();
    assert_eq!(
        app.open_occurrences("RI-a").await,
        1,
        "replayed, not counted twice"
    );
    let (ok, _, err) = run(&app, &["replay", "--since", "whenever"]);
    assert!(!ok && err.contains("since"), "{err}");

    let (ok, out, err) = run(&app, &["resync", "--finding", "RI-b"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("queued ahead of other work"), "{out}");
    let (ok, _, err) = run(&app, &["resync", "--finding", "RI-none"]);
    assert!(!ok && err.contains("no finding RI-none"), "{err}");
}

#[tokio::test]
async fn status_on_a_database_a_migration_behind_says_so_and_changes_nothing() {
    let app = spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "1", "RI-a", 1, 1_700_000_000))
        .await;
    // As an older binary left it: the newest migration not applied.
    sqlx::query(
        "DELETE FROM refinery_schema_history WHERE version = (SELECT max(version) FROM refinery_schema_history)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let history = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM refinery_schema_history")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let before = history().await;
    let embedded = deepsource_sync::db::migration_count();

    let (ok, out, err) = run(&app, &["status"]);
    assert!(ok, "{out}{err}");
    let behind = format!(
        "schema     behind this binary: {} of its {embedded} migrations applied",
        embedded - 1
    );
    assert!(out.contains(&behind), "{out}");
    assert!(out.contains("1 events"), "the rest is reported as ever: {out}");
    assert!(
        !err.contains("migration"),
        "nothing applied, nothing logged: {err}"
    );
    let (ok, json, err) = run(&app, &["status", "--json"]);
    assert!(ok, "{json}{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["schema"]["current"], false);
    assert_eq!(json["schema"]["migrations_applied"], embedded - 1);
    let (ok, out, err) = run(&app, &["jobs"]);
    assert!(ok && out.contains("RI-a"), "{out}{err}");
    assert!(!err.contains("migration"), "{err}");
    assert_eq!(history().await, before, "no migration was applied");
}
