//! `OVERVIEW_SUB_ISSUES`: findings' own issues hung under their overview, within GitHub's 100 per
//! parent (the least severe left off), and a GitHub without the API turning it off for that
//! target and failing nothing.
use deepsource_sync::configuration::FindingIssues;

use crate::fake_deepsource::{FakeDeepSource, Finding};
use crate::helpers::{sample_repository, spawn_app_with, TestApp, SAMPLE_REPO};
use crate::overview::{compare, overview, own_issues, with_overview};

async fn app() -> TestApp {
    spawn_app_with(|s| {
        with_overview(s, FindingIssues::All);
        s.overview.sub_issues = true;
    })
    .await
}

/// `n` findings: the first `n - 1` MAJOR, the last MINOR with one occurrence.
fn findings(n: usize) -> Vec<Finding> {
    (0..n)
        .map(|i| {
            let severity = if i + 1 == n { "MINOR" } else { "MAJOR" };
            let count = if i + 1 == n { 1 } else { 2 };
            Finding::new(
                &format!("RI-{i:03}"),
                &format!("PY-W{i:04}"),
                severity,
                &format!("m{i}.py"),
                count,
            )
        })
        .collect()
}

/// Compared, every issue created, and the overview brought up to date.
async fn synced(app: &TestApp, n: usize) -> i64 {
    let fake = FakeDeepSource::start();
    fake.set_open(SAMPLE_REPO, findings(n));
    compare(app, &fake, &sample_repository()).await;
    app.run_worker().await.unwrap();
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    overview(app).number
}

#[tokio::test]
async fn each_findings_issue_hangs_under_the_overview() {
    let app = app().await;
    let number = synced(&app, 3).await;
    let mut attached = app.github.sub_issues(SAMPLE_REPO, number);
    attached.sort_unstable();
    let mut own: Vec<i64> = own_issues(&app, SAMPLE_REPO)
        .iter()
        .map(|i| i.number * 1000)
        .collect();
    own.sort_unstable();
    assert_eq!(attached, own);
    // Nothing changed: nothing is attached again.
    let writes = app.github.writes();
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), writes);
}

#[tokio::test]
async fn at_githubs_hundred_the_least_severe_stays_unattached() {
    let app = app().await;
    let number = synced(&app, 101).await;
    let attached = app.github.sub_issues(SAMPLE_REPO, number);
    assert_eq!(attached.len(), 100);
    let minor = own_issues(&app, SAMPLE_REPO)
        .into_iter()
        .find(|i| i.title.contains("PY-W0100"))
        .unwrap();
    assert!(
        !attached.contains(&(minor.number * 1000)),
        "the MINOR one is left off"
    );
    let refused: i64 =
        sqlx::query_scalar("SELECT count(*) FROM overview_sub_issues WHERE refused IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        refused, 0,
        "the cap is kept by the service, not learnt from GitHub's refusals"
    );
}

#[tokio::test]
async fn a_github_without_sub_issues_turns_them_off_for_that_target_and_fails_nothing() {
    let app = app().await;
    app.github.disable_sub_issues();
    let number = synced(&app, 3).await;
    assert_eq!(own_issues(&app, SAMPLE_REPO).len(), 3);
    assert!(overview(&app).body.contains("- #"), "the overview links them");
    let asked = || {
        app.github
            .calls()
            .iter()
            .filter(|c| c.path.contains("/sub_issue"))
            .count()
    };
    assert_eq!(asked(), 1, "asked once");
    let off: Option<String> = sqlx::query_scalar("SELECT sub_issues_off FROM overviews")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(off.unwrap().contains("404"));
    app.sync_event(crate::helpers::INTRODUCED, "ev-1", "RI-000", 1, 1_800_000_000)
        .await;
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(asked(), 1, "never again");
    let _ = number;
}
