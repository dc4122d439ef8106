//! Autofix: the issue of a finding names the pull request DeepSource's Autofix opened for it.
use serde_json::{json, Value};

use crate::helpers::{fixture, issue_event, issue_event_with, spawn_app, INTRODUCED, RESOLVED, SAMPLE_REPO};

const FINDING: &str = "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==";
/// The sample finding's issue and repository (`repository_issue_introduced.json`).
const SHORTCODE: &str = "CRT-A0016";
const REPOSITORY_ID: &str = "ZAb3b3NpdG9yeTp9b3Z2eHY=";
const PROPOSED: &str =
    "**Fix proposed:** DeepSource Autofix opened deepsourcelabs/demo-go#12 — *Simplify slice expressions*";

/// An `autofix_run.updated` of a run that succeeded, from the published sample, for the sample
/// finding's repository.
fn autofix_event(event_id: &str, created_at: i64, status: &str, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(&fixture("autofix_run_updated.json")).unwrap();
    event["id"] = event_id.into();
    event["createdAt"] = created_at.into();
    let run = &mut event["data"]["object"];
    run["autofixPullRequest"] = json!({
        "number": 12,
        "url": "https://github.com/deepsourcelabs/demo-go/pull/12",
        "title": "Simplify slice expressions",
        "status": status,
    });
    run["affectedIssues"][0]["shortcode"] = SHORTCODE.into();
    run["repository"]["id"] = REPOSITORY_ID.into();
    run["repository"]["name"] = "demo-go".into();
    run["repository"]["vcsUrl"] = "https://github.com/deepsourcelabs/demo-go".into();
    change(run);
    serde_json::to_vec(&event).unwrap()
}

fn body_of(app: &crate::helpers::TestApp, marker: &str) -> String {
    let issues = app.github.issues(SAMPLE_REPO);
    let theirs: Vec<_> = issues.iter().filter(|i| i.body.contains(marker)).collect();
    assert_eq!(theirs.len(), 1, "one issue for {marker}");
    theirs[0].body.clone()
}

#[tokio::test]
async fn a_proposed_fix_is_linked_from_the_issue_with_one_write_and_a_redelivery_costs_none() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 2, 1_700_000_000).await;
    assert_eq!(app.github.writes(), 1);
    let body = body_of(&app, FINDING);
    assert!(!body.contains("Fix proposed"));
    // The sample's issue says DeepSource can fix it.
    assert!(body.contains("DeepSource can fix this automatically"), "{body}");

    let event = autofix_event("9001", 1_700_000_100, "OPEN", |_| {});
    assert_eq!(app.deliver(&event).await, "stored");
    app.run_worker().await.unwrap();
    assert!(
        body_of(&app, FINDING).contains(PROPOSED),
        "{}",
        body_of(&app, FINDING)
    );
    assert_eq!(app.github.writes(), 2, "one update");
    assert_eq!(app.job_of("9001").await.0, "done");

    assert_eq!(app.deliver(&event).await, "duplicate");
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), 2, "a redelivery writes nothing");

    // An older word on the same pull request, arriving late, changes nothing either.
    app.deliver(&autofix_event("9000", 1_700_000_050, "CLOSED", |_| {}))
        .await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), 2);
    let (status, reason, _) = app.job_of("9000").await;
    assert_eq!(status, "done");
    assert!(reason.unwrap().contains("newer event"));
    assert!(body_of(&app, FINDING).contains(PROPOSED));
}

#[tokio::test]
async fn only_the_findings_the_run_fixes_in_its_repository_change() {
    let app = spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "1", "RI-fixed", 1, 1_700_000_000))
        .await;
    app.deliver(&issue_event_with(
        INTRODUCED,
        "2",
        "RI-other-issue",
        1,
        1_700_000_000,
        |o| {
            o["issue"]["shortcode"] = "GO-W1000".into();
        },
    ))
    .await;
    app.deliver(&issue_event_with(
        INTRODUCED,
        "3",
        "RI-other-repository",
        1,
        1_700_000_000,
        |o| {
            o["repository"]["id"] = "UmVwbzpvdGhlcg==".into();
            o["repository"]["name"] = "other-go".into();
            o["repository"]["vcsUrl"] = "https://github.com/deepsourcelabs/other-go".into();
        },
    ))
    .await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), 3);
    let before = app.github.issues("deepsourcelabs/other-go");
    assert_eq!(before.len(), 1);

    app.deliver(&autofix_event("9001", 1_700_000_100, "OPEN", |_| {}))
        .await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), 4, "one issue updated");
    assert!(body_of(&app, "RI-fixed").contains(PROPOSED));
    assert!(!body_of(&app, "RI-other-issue").contains("Fix proposed"));
    assert_eq!(
        app.github.issues("deepsourcelabs/other-go")[0].body,
        before[0].body
    );
}

#[tokio::test]
async fn a_fix_reported_before_its_finding_is_in_the_first_issue_at_no_extra_write() {
    let app = spawn_app().await;
    app.deliver(&autofix_event("9001", 1_700_000_100, "OPEN", |_| {}))
        .await;
    app.run_worker().await.unwrap();
    let (status, reason, _) = app.job_of("9001").await;
    assert_eq!(status, "done");
    assert!(reason.unwrap().contains("kept for when one appears"));

    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    assert!(body_of(&app, FINDING).contains(PROPOSED));
    assert_eq!(app.github.writes(), 1, "one create, nothing else");
}

#[tokio::test]
async fn a_fix_and_a_count_change_of_one_finding_cost_one_write_together() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    app.deliver(&issue_event(INTRODUCED, "2", FINDING, 2, 1_700_000_050))
        .await;
    app.deliver(&autofix_event("9001", 1_700_000_100, "OPEN", |_| {}))
        .await;
    app.run_worker().await.unwrap();
    let body = body_of(&app, FINDING);
    assert!(
        body.contains(PROPOSED) && body.contains("| Open occurrences | 3 |"),
        "{body}"
    );
    assert_eq!(app.github.writes(), 2, "the create, then one update for both");
}

#[tokio::test]
async fn a_merged_fix_updates_its_line_which_goes_when_the_issue_closes_and_stays_gone_on_a_reopen() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    app.deliver(&autofix_event("9001", 1_700_000_100, "OPEN", |_| {}))
        .await;
    app.run_worker().await.unwrap();
    app.deliver(&autofix_event("9002", 1_700_000_200, "MERGED", |_| {}))
        .await;
    app.run_worker().await.unwrap();
    let body = body_of(&app, FINDING);
    assert!(!body.contains("Fix proposed"), "{body}");
    assert!(
        body.contains("**Fix merged:** DeepSource Autofix's deepsourcelabs/demo-go#12"),
        "{body}"
    );

    app.sync_event(RESOLVED, "2", FINDING, 1, 1_700_000_300).await;
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert_eq!(issue.state, "closed");
    assert!(!issue.body.contains("Fix "), "{}", issue.body);

    app.sync_event(INTRODUCED, "3", FINDING, 1, 1_700_000_400).await;
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert_eq!(issue.state, "open", "a regression reopens");
    assert!(!issue.body.contains("Fix "), "no stale fix: {}", issue.body);
}

#[tokio::test]
async fn odd_autofix_events_are_done_with_the_reason_and_hold_up_nothing() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    let odd: [(&str, Vec<u8>, &str); 5] = [
        (
            "9001",
            autofix_event("9001", 1_700_000_100, "OPEN", |r| {
                r.as_object_mut().unwrap().remove("affectedIssues");
            }),
            "no affectedIssues",
        ),
        (
            "9002",
            autofix_event("9002", 1_700_000_100, "OPEN", |r| {
                r["autofixPullRequest"] = Value::Null
            }),
            "no autofixPullRequest",
        ),
        (
            "9003",
            autofix_event("9003", 1_700_000_100, "REVIEWING", |_| {}),
            "not one this service knows",
        ),
        (
            "9004",
            autofix_event("9004", 1_700_000_100, "OPEN", |r| r["status"] = "FAILED".into()),
            "not SUCCESS",
        ),
        (
            "9005",
            autofix_event("9005", 1_700_000_100, "OPEN", |r| r["repository"] = json!({})),
            "no repository",
        ),
    ];
    for (_, body, _) in &odd {
        assert_eq!(app.deliver(body).await, "stored");
    }
    // An issue event queued beside them goes on.
    app.deliver(&issue_event(INTRODUCED, "2", FINDING, 1, 1_700_000_050))
        .await;
    // A started run (on a pull request) concerns no issue: stored, no job.
    app.deliver(&fixture("autofix_run_started.json")).await;
    app.run_worker().await.unwrap();
    for (id, _, why) in &odd {
        let (status, reason, _) = app.job_of(id).await;
        assert_eq!(status, "done", "{id}");
        assert!(
            reason.as_deref().unwrap_or_default().contains(why),
            "{id}: {reason:?}"
        );
    }
    assert_eq!(app.job_of("2").await.0, "done");
    let body = body_of(&app, FINDING);
    assert!(
        body.contains("| Open occurrences | 2 |") && !body.contains("Fix "),
        "{body}"
    );
    assert_eq!(app.github.writes(), 2);
    let started_jobs: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sync_jobs j JOIN webhook_events e ON e.id = j.event_id
         WHERE e.event_type = 'autofix_run.started'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(started_jobs, 0);
}

#[tokio::test]
async fn a_huge_title_and_nul_bytes_are_stored_and_shown_cut_and_clean() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    let title = format!("Fix\u{0}ed @team #3 <b>{}", "x".repeat(100_000));
    app.deliver(&autofix_event("9001", 1_700_000_100, "OPEN", |r| {
        r["autofixPullRequest"]["title"] = title.into();
    }))
    .await;
    app.run_worker().await.unwrap();
    assert_eq!(app.job_of("9001").await.0, "done");
    let body = body_of(&app, FINDING);
    let line = body
        .lines()
        .find(|l| l.starts_with("**Fix proposed:**"))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(line.contains("deepsourcelabs/demo-go#12 — *Fixed"), "{line}");
    assert!(
        !line.contains("@team") && !line.contains(" #3") && !line.contains("<b>"),
        "{line}"
    );
    assert!(
        line.chars().count() < 400,
        "cut: {} characters",
        line.chars().count()
    );
}
