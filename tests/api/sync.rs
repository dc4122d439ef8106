//! The sync worker against the fake GitHub: each transition, end to end from a signed delivery.
use crate::helpers::{
    issue_event, issue_event_with, spawn_app, spawn_app_with, INTRODUCED, RESOLVED, SAMPLE_REPO,
};

const FINDING: &str = "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==";

#[tokio::test]
async fn an_introduced_finding_opens_one_issue_with_title_labels_body_and_marker() {
    let app = spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 2, 1_700_000_000))
        .await;
    let pass = app.run_worker().await.unwrap();
    assert_eq!((pass.findings, pass.jobs), (1, 1));

    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1);
    let issue = &issues[0];
    assert_eq!(
        issue.title,
        "Simplify slice expression to sliced value itself (CRT-A0016)"
    );
    assert_eq!(
        issue.labels,
        ["deepsource", "deepsource/anti_pattern", "analyzer/go"]
    );
    assert_eq!(issue.state, "open");
    assert!(issue.body.contains("If a value is of type slice already"));
    assert!(issue.body.contains("| Open occurrences | 2 |"));
    assert!(issue
        .body
        .contains("(https://github.com/deepsourcelabs/demo-go/blob/master/code.go#L160-L160)"));
    assert!(issue
        .body
        .contains(&format!("<!-- deepsource-sync:{FINDING} -->")));
    assert_eq!(app.job_of("1").await.0, "done");
    assert_eq!(app.github.writes(), 1, "one create, nothing else");

    // Nothing changed: a second pass writes nothing.
    assert_eq!(app.run_worker().await.unwrap().jobs, 0);
    assert_eq!(app.github.writes(), 1);
}

#[tokio::test]
async fn resolving_every_occurrence_closes_as_completed_and_a_regression_reopens() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    app.sync_event(RESOLVED, "2", FINDING, 1, 1_700_000_100).await;

    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert_eq!(issue.state, "closed");
    assert_eq!(issue.state_reason.as_deref(), Some("completed"));
    assert_eq!(issue.comments.len(), 1);
    assert!(issue.comments[0].contains("resolved"));
    assert!(issue.body.contains("| Open occurrences | 0 |"));

    app.sync_event(INTRODUCED, "3", FINDING, 1, 1_700_000_200).await;
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1, "reopened, not duplicated");
    assert_eq!(issues[0].state, "open");
    assert_eq!(issues[0].comments.len(), 2);
    assert!(issues[0].comments[1].contains("Reopened"));
    // create; close + comment; reopen + comment
    assert_eq!(app.github.writes(), 5);
}

#[tokio::test]
async fn reopen_policy_new_opens_a_fresh_issue_that_links_the_old_one() {
    let app =
        spawn_app_with(|s| s.sync.reopen_policy = deepsource_sync::configuration::ReopenPolicy::New).await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    app.sync_event(RESOLVED, "2", FINDING, 1, 1_700_000_100).await;
    app.sync_event(INTRODUCED, "3", FINDING, 1, 1_700_000_200).await;

    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 2);
    assert_eq!(
        (issues[0].state.as_str(), issues[1].state.as_str()),
        ("closed", "open")
    );
    assert!(issues[1].body.contains("Previously tracked in #1."));
}

#[tokio::test]
async fn partial_resolves_count_down_until_closed() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 5, 1_700_000_000).await;
    app.sync_event(RESOLVED, "2", FINDING, 2, 1_700_000_100).await;
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert_eq!(issue.state, "open");
    assert!(issue.body.contains("| Open occurrences | 3 |"), "{}", issue.body);

    app.deliver(&issue_event(RESOLVED, "3", FINDING, 1, 1_700_000_200))
        .await;
    app.sync_event(RESOLVED, "4", FINDING, 2, 1_700_000_300).await;
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert_eq!(issue.state, "closed");
    assert_eq!(app.open_occurrences(FINDING).await, 0);
}

#[tokio::test]
async fn a_resolve_that_overtakes_its_introduce_ends_right() {
    let app = spawn_app().await;
    app.sync_event(RESOLVED, "2", FINDING, 1, 1_700_000_100).await;
    assert_eq!(
        app.open_occurrences(FINDING).await,
        -1,
        "kept signed, not clamped"
    );
    assert!(app.github.issues(SAMPLE_REPO).is_empty());

    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    assert_eq!(app.open_occurrences(FINDING).await, 0);
    assert!(
        app.github.issues(SAMPLE_REPO).is_empty(),
        "nothing open, nothing created"
    );
    assert_eq!(app.job_of("1").await.0, "done");
}

#[tokio::test]
async fn an_event_is_applied_once_however_often_its_job_runs() {
    let app = spawn_app().await;
    let event = issue_event(INTRODUCED, "1", FINDING, 2, 1_700_000_000);
    app.deliver(&event).await;
    assert_eq!(app.deliver(&event).await, "duplicate");
    app.run_worker().await.unwrap();
    // As if the job had been retried after it was applied.
    sqlx::query("UPDATE sync_jobs SET status = 'pending'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.run_worker().await.unwrap();
    assert_eq!(app.open_occurrences(FINDING).await, 2);
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    assert_eq!(app.github.writes(), 1);
}

#[tokio::test]
async fn several_queued_events_of_one_finding_drive_github_once() {
    let app = spawn_app().await;
    for (i, kind) in [INTRODUCED, INTRODUCED, RESOLVED, INTRODUCED].iter().enumerate() {
        app.deliver(&issue_event(
            kind,
            &i.to_string(),
            FINDING,
            1,
            1_700_000_000 + i as i64,
        ))
        .await;
    }
    let pass = app.run_worker().await.unwrap();
    assert_eq!((pass.findings, pass.jobs), (1, 4));
    assert_eq!(app.github.writes(), 1);
    assert!(app.github.issues(SAMPLE_REPO)[0]
        .body
        .contains("| Open occurrences | 2 |"));
}

#[tokio::test]
async fn findings_outside_github_are_skipped_with_the_reason() {
    let app = spawn_app().await;
    let event = issue_event_with(INTRODUCED, "1", FINDING, 1, 1_700_000_000, |o| {
        o["repository"]["vcsProvider"] = "GITLAB".into();
        o["repository"]["vcsUrl"] = "https://gitlab.com/acme/app".into();
    });
    app.deliver(&event).await;
    app.run_worker().await.unwrap();
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "skipped");
    assert!(error.unwrap().contains("GITLAB"));
    assert!(app.github.all_issues().is_empty());
}

#[tokio::test]
async fn filters_skip_other_categories_and_analyzers() {
    let app = spawn_app_with(|s| s.sync.categories = vec!["SECURITY".into()]).await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "skipped");
    assert!(error.unwrap().contains("SYNC_CATEGORIES"));
    assert!(app.github.all_issues().is_empty());
}

#[tokio::test]
async fn github_repo_sends_every_finding_to_one_tracker() {
    let app = spawn_app_with(|s| {
        s.github.repo_override = Some(deepsource_sync::domain::RepoSlug::parse("acme/findings").unwrap())
    })
    .await;
    let gitlab = issue_event_with(INTRODUCED, "2", "other-finding", 1, 1_700_000_000, |o| {
        o["repository"]["vcsProvider"] = "GITLAB".into();
    });
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000))
        .await;
    app.deliver(&gitlab).await;
    app.run_worker().await.unwrap();
    assert!(app.github.issues(SAMPLE_REPO).is_empty());
    assert_eq!(app.github.issues("acme/findings").len(), 2);
}

#[tokio::test]
async fn text_from_deepsource_cannot_mention_reference_or_inject_html() {
    let app = spawn_app().await;
    let event = issue_event_with(INTRODUCED, "1", FINDING, 1, 1_700_000_000, |o| {
        o["issue"]["title"] = "Ask @octocat to fix #12".into();
        o["issue"]["shortDescription"] = "fixes #12 cc @org/team <img src=x onerror=alert(1)>".into();
        o["occurrences"][0]["title"] = "<script>alert(1)</script> @admin".into();
    });
    app.deliver(&event).await;
    app.run_worker().await.unwrap();
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    for text in [&issue.title, &issue.body] {
        let plain = text.replace('\u{200B}', "");
        assert!(plain.contains("@octocat") || plain.contains("@org") || plain.contains("@admin"));
        assert!(!text.contains("@octocat") && !text.contains("@org") && !text.contains("@admin"));
        assert!(!text.contains("#12"));
    }
    assert!(!issue.body.contains("<img") && !issue.body.contains("<script"));
}

#[tokio::test]
async fn without_credentials_the_worker_records_what_it_would_do() {
    let app = spawn_app_with(|s| s.github.auth = deepsource_sync::configuration::GitHubAuth::DryRun).await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    assert!(app.github.calls().is_empty());
    let actions: Vec<(String, bool)> = sqlx::query_as("SELECT action, dry_run FROM sync_actions")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(actions, [("create".to_owned(), true)]);
    assert_eq!(app.job_of("1").await.0, "done");
}

#[tokio::test]
async fn an_event_without_a_usable_object_fails_its_job_with_the_reason() {
    let app = spawn_app().await;
    app.deliver(br#"{"id":"9","type":"repository_issue.introduced","data":{"object":null}}"#)
        .await;
    app.deliver(br#"{"id":"10","type":"repository_issue.introduced","data":{"object":{"id":"x"}}}"#)
        .await;
    app.run_worker().await.unwrap();
    let (status, error, _) = app.job_of("9").await;
    assert_eq!(status, "dead");
    assert!(error.unwrap().contains("data.object.id"));
    // Only the id and the count are required: an introduce naming neither count nor
    // occurrences adds none; without a repository it is not synced, and says why.
    let (status, error, _) = app.job_of("10").await;
    assert_eq!(status, "skipped");
    assert!(error.unwrap().contains("vcsProvider"));
    assert_eq!(app.open_occurrences("x").await, 0);
    assert!(app.github.all_issues().is_empty());
}

#[tokio::test]
async fn the_worker_stops_when_told_and_leaves_nothing_claimed() {
    let app = spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000))
        .await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let liveness = deepsource_sync::sync::WorkerLiveness::default();
    let mut idle = liveness.idle();
    let worker = tokio::spawn(
        app.worker()
            .run(stopped, deepsource_sync::wake::Wakeups::none(), liveness),
    );
    // Going idle is the signal that the worker has been through the job.
    idle.wait_for(|n| *n >= 1).await.unwrap();
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), worker)
        .await
        .expect("stops promptly")
        .unwrap();
    assert_eq!(app.job_of("1").await.0, "done");
    let leases: i64 = sqlx::query_scalar("SELECT count(*) FROM finding_leases")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(leases, 0);
}

#[tokio::test]
async fn a_large_backlog_of_one_finding_is_worked_through_in_bounded_claims() {
    let app = spawn_app().await;
    // Written straight to the tables: 450 queued introduced events of one finding.
    for i in 0..450 {
        let body = issue_event(INTRODUCED, &format!("b{i}"), FINDING, 1, 1_700_000_000 + i);
        sqlx::query(
            "INSERT INTO webhook_events (id, event_type, event_time, received_at, body, body_sha256)
             VALUES ($1, 'repository_issue.introduced', now(), now(), $2, sha256($2))",
        )
        .bind(format!("b{i}"))
        .bind(&body)
        .execute(&app.pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO sync_jobs (event_id, finding_id) VALUES ($1, $2)")
            .bind(format!("b{i}"))
            .bind(FINDING)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    let pass = app.run_worker().await.unwrap();
    assert_eq!((pass.findings, pass.jobs), (3, 450), "claims of at most 200");
    assert_eq!(app.open_occurrences(FINDING).await, 450);
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
}

#[tokio::test]
async fn a_backlog_of_large_events_is_claimed_a_few_megabytes_at_a_time() {
    let app = spawn_app().await;
    let description = "x".repeat(1_000_000);
    for i in 0..20 {
        let body = issue_event_with(INTRODUCED, &format!("b{i}"), FINDING, 1, 1_700_000_000 + i, |o| {
            o["issue"]["shortDescription"] = description.clone().into();
        });
        sqlx::query(
            "WITH e AS (INSERT INTO webhook_events (id, event_type, event_time, received_at, body, body_sha256)
                        VALUES ($1, 'repository_issue.introduced', now(), now(), $2, sha256($2)) RETURNING id)
             INSERT INTO sync_jobs (event_id, finding_id) SELECT id, $3 FROM e",
        )
        .bind(format!("b{i}"))
        .bind(&body)
        .bind(FINDING)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let pass = app.run_worker().await.unwrap();
    // 8 MiB a claim: nine bodies of ~1 MB (the ninth begins under the cap), nine, then two.
    assert_eq!((pass.findings, pass.jobs), (3, 20));
    assert_eq!(app.open_occurrences(FINDING).await, 20);
}

#[tokio::test]
async fn github_enterprise_repositories_go_to_the_configured_api() {
    let app = spawn_app().await; // GITHUB_API_URL is the fake
    let event = issue_event_with(INTRODUCED, "1", FINDING, 1, 1_700_000_000, |o| {
        o["repository"]["vcsProvider"] = "GITHUB_ENTERPRISE".into();
        o["repository"]["vcsUrl"] = "https://ghe.example.com/acme/app".into();
    });
    app.deliver(&event).await;
    app.run_worker().await.unwrap();
    assert_eq!(app.job_of("1").await.0, "done");
    assert_eq!(app.github.issues("acme/app").len(), 1);
}

#[tokio::test]
async fn github_enterprise_repositories_wait_for_github_api_url() {
    let app = spawn_app_with(|s| s.github.api_url_configured = false).await;
    let event = issue_event_with(INTRODUCED, "1", FINDING, 1, 1_700_000_000, |o| {
        o["repository"]["vcsProvider"] = "GITHUB_ENTERPRISE".into();
        o["repository"]["vcsUrl"] = "https://ghe.example.com/acme/app".into();
    });
    app.deliver(&event).await;
    app.run_worker().await.unwrap();
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "skipped");
    assert!(error.unwrap().contains("GITHUB_API_URL"));
    assert!(app.github.all_issues().is_empty());
}

#[tokio::test]
async fn every_github_action_is_recorded() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    app.sync_event(INTRODUCED, "2", FINDING, 1, 1_700_000_010).await;
    app.sync_event(RESOLVED, "3", FINDING, 2, 1_700_000_020).await;
    app.sync_event(INTRODUCED, "4", FINDING, 1, 1_700_000_030).await;
    let actions = app.actions_of(FINDING).await;
    let expected: Vec<(String, Option<i64>)> = ["create", "update", "close", "comment", "reopen", "comment"]
        .iter()
        .map(|a| (a.to_string(), Some(1)))
        .collect();
    assert_eq!(actions, expected);
    let dry: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_actions WHERE dry_run")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(dry, 0);
}

#[tokio::test]
async fn a_new_finding_costs_one_create_and_no_search() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    // Searching first would be wasted on a finding that never had an issue, and GitHub allows
    // 30 searches a minute: a backlog of new findings would be held to that.
    let calls: Vec<String> = app
        .github
        .calls()
        .iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with(&format!("POST /repos/{SAMPLE_REPO}/issues")),
        "{calls:?}"
    );
}
