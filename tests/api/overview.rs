//! The overview issue per repository: written before any finding's own issue when a repository
//! is first compared, coalesced to one write per burst, closed when nothing is open, found (not
//! repeated) after an interrupted create, and `FINDING_ISSUES` deciding which findings get an
//! issue of their own.
use std::time::Duration;

use deepsource_sync::configuration::{FindingIssues, Settings};
use deepsource_sync::deepsource::{take_snapshot, DeepSource, RepositoryRef};
use deepsource_sync::findings::snapshots::{apply_snapshot, snapshot_begins};
use secrecy::SecretString;

use crate::fake_deepsource::{FakeDeepSource, Finding, TOKEN};
use crate::fake_github::{Call, Fault, Issue};
use crate::helpers::{
    issue_event, sample_repository, spawn_app_with, TestApp, INTRODUCED, RESOLVED, SAMPLE_REPO,
};

pub const OVERVIEW_LABEL: &str = "deepsource/overview";

pub fn with_overview(s: &mut Settings, finding_issues: FindingIssues) {
    s.overview.enabled = true;
    s.overview.delay = Duration::from_secs(3600);
    s.overview.read_interval = Duration::from_secs(3600);
    s.issues.finding_issues = finding_issues;
}

pub async fn overview_app(finding_issues: FindingIssues) -> TestApp {
    spawn_app_with(|s| with_overview(s, finding_issues)).await
}

/// Compares `repository` with what `fake` lists, as the reconciler does.
pub async fn compare(app: &TestApp, fake: &FakeDeepSource, repository: &RepositoryRef) {
    let client = DeepSource::new(&fake.url, SecretString::from(TOKEN.to_owned())).unwrap();
    let began = snapshot_begins(&app.pool).await.unwrap();
    let snapshot = take_snapshot(&client, repository).await.unwrap();
    apply_snapshot(&app.pool, &snapshot, began).await.unwrap();
}

/// The overview issues in `repo` at the fake.
pub fn overviews(app: &TestApp, repo: &str) -> Vec<Issue> {
    app.github
        .issues(repo)
        .into_iter()
        .filter(|i| i.labels.iter().any(|l| l == OVERVIEW_LABEL))
        .collect()
}

pub fn overview(app: &TestApp) -> Issue {
    let found = overviews(app, SAMPLE_REPO);
    assert_eq!(found.len(), 1, "one overview: {found:?}");
    found.into_iter().next().unwrap()
}

/// Findings' own issues in `repo`.
pub fn own_issues(app: &TestApp, repo: &str) -> Vec<Issue> {
    app.github
        .issues(repo)
        .into_iter()
        .filter(|i| !i.labels.iter().any(|l| l == OVERVIEW_LABEL))
        .collect()
}

impl TestApp {
    /// As if `OVERVIEW_DELAY` and `OVERVIEW_READ_INTERVAL` had passed for every overview.
    pub async fn make_overviews_due(&self) {
        sqlx::query("UPDATE overviews SET due_at = now() WHERE due_at IS NOT NULL")
            .execute(&self.pool)
            .await
            .unwrap();
        sqlx::query("UPDATE overviews SET read_at = NULL")
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// Writes to the overview issue `number` in `repo` so far (create, PATCH, labels).
    pub fn overview_writes(&self, repo: &str, number: i64) -> usize {
        let own = format!("/repos/{repo}/issues/{number}");
        self.github
            .calls()
            .iter()
            .filter(|c| c.method != "GET")
            .filter(|c| {
                let path = c.path.split('?').next().unwrap_or_default();
                path == own
                    || path.starts_with(&format!("{own}/"))
                    || (path == format!("/repos/{repo}/issues") && is_overview_create(c))
            })
            .count()
    }
}

/// A create of an overview issue (it carries the overview's label).
pub fn is_overview_create(call: &Call) -> bool {
    call.method == "POST"
        && call.body["labels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|v| v == OVERVIEW_LABEL))
}

/// The first write the service made to GitHub.
fn first_write(app: &TestApp) -> Call {
    app.github
        .calls()
        .into_iter()
        .find(|c| c.method != "GET")
        .expect("a write")
}

fn findings(n: usize) -> Vec<Finding> {
    let severities = ["CRITICAL", "MAJOR", "MINOR"];
    (0..n)
        .map(|i| {
            let mut f = Finding::new(
                &format!("RI-{i:03}"),
                &format!("PY-W{i:04}"),
                severities[i % 3],
                &format!("src/m{i}.py"),
                1 + i % 4,
            );
            f.title = format!("Finding number {i}");
            f
        })
        .collect()
}

#[tokio::test]
async fn a_repository_first_compared_is_visible_in_one_write_before_any_findings_issue() {
    let app = overview_app(FindingIssues::All).await;
    let fake = FakeDeepSource::start();
    fake.set_open(SAMPLE_REPO, findings(200));
    compare(&app, &fake, &sample_repository()).await;
    app.run_worker().await.unwrap();

    let first = first_write(&app);
    assert!(
        is_overview_create(&first),
        "the first write is the overview's create: {first:?}"
    );
    let overview = overview(&app);
    assert_eq!(overview.number, 1);
    assert!(
        overview.body.contains("**200 findings, 500 occurrences** open"),
        "{}",
        &overview.body[..400]
    );
    assert_eq!(
        own_issues(&app, SAMPLE_REPO).len(),
        200,
        "then every finding's own issue"
    );
    // Once they exist, the overview links each (after its delay, in one write).
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    let overview = self::overview(&app);
    assert!(!overview.body.contains("- [ ]"), "every line links its issue");
    assert!(overview.body.contains("- #2 "), "{}", &overview.body[..600]);
    assert_eq!(app.overview_writes(SAMPLE_REPO, 1), 2);
}

#[tokio::test]
async fn with_finding_issues_none_the_overview_is_the_one_write() {
    let app = overview_app(FindingIssues::None).await;
    let fake = FakeDeepSource::start();
    fake.set_open(SAMPLE_REPO, findings(200));
    compare(&app, &fake, &sample_repository()).await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), 1, "{:?}", app.github.calls());
    let overview = overview(&app);
    assert_eq!(overview.body.matches("- [ ] ").count(), 200);
    // Nothing changed: a later pass writes nothing.
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), 1);
}

#[tokio::test]
async fn critical_and_major_get_their_own_issues_and_minor_ones_a_box() {
    let app = overview_app(FindingIssues::Severities(vec!["CRITICAL".into(), "MAJOR".into()])).await;
    let fake = FakeDeepSource::start();
    fake.set_open(SAMPLE_REPO, findings(9));
    compare(&app, &fake, &sample_repository()).await;
    app.run_worker().await.unwrap();
    let own = own_issues(&app, SAMPLE_REPO);
    assert_eq!(own.len(), 6, "three CRITICAL and three MAJOR");
    assert!(
        own.iter().all(|i| !i.title.contains("PY-W0002")),
        "RI-002 is MINOR"
    );
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    let body = overview(&app).body;
    assert_eq!(body.matches("- [ ] ").count(), 3, "{body}");
    assert!(body.contains("### MINOR — 3 findings"), "{body}");
}

#[tokio::test]
async fn a_burst_of_events_across_findings_is_one_overview_write() {
    let app = overview_app(FindingIssues::None).await;
    for finding in 0..10 {
        app.deliver(&issue_event(
            INTRODUCED,
            &format!("ev-first-{finding}"),
            &format!("RI-{finding}"),
            1,
            1_700_000_000,
        ))
        .await;
    }
    app.run_worker().await.unwrap();
    let number = overview(&app).number;
    assert_eq!(app.overview_writes(SAMPLE_REPO, number), 1, "created once");
    for event in 0..50 {
        let at = 1_700_000_100 + event;
        let finding = format!("RI-{}", event % 10);
        app.deliver(&issue_event(INTRODUCED, &format!("ev-{event}"), &finding, 1, at))
            .await;
    }
    app.run_worker().await.unwrap();
    assert_eq!(
        app.overview_writes(SAMPLE_REPO, number),
        1,
        "nothing written before OVERVIEW_DELAY"
    );
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(
        app.overview_writes(SAMPLE_REPO, number),
        2,
        "the burst is one write"
    );
    assert!(overview(&app).body.contains("**10 findings, 60 occurrences**"));
}

#[tokio::test]
async fn nothing_open_closes_the_overview_and_a_new_finding_reopens_it() {
    let app = overview_app(FindingIssues::None).await;
    app.sync_event(INTRODUCED, "ev-1", "RI-a", 2, 1_700_000_000).await;
    let number = overview(&app).number;
    app.sync_event(RESOLVED, "ev-2", "RI-a", 2, 1_700_000_100).await;
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    let closed = overview(&app);
    assert_eq!(
        (closed.state.as_str(), closed.state_reason.as_deref()),
        ("closed", Some("completed"))
    );
    assert!(closed.body.contains("Nothing is open"), "{}", closed.body);

    app.sync_event(INTRODUCED, "ev-3", "RI-b", 1, 1_700_000_200).await;
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    let reopened = overview(&app);
    assert_eq!((reopened.number, reopened.state.as_str()), (number, "open"));
    assert!(
        reopened.body.contains("**1 finding, 1 occurrence**"),
        "{}",
        reopened.body
    );
    assert_eq!(overviews(&app, SAMPLE_REPO).len(), 1);
}

#[tokio::test]
async fn an_interrupted_overview_create_is_found_not_repeated() {
    let app = overview_app(FindingIssues::None).await;
    app.github.fail_next("POST", Fault::LoseResponse);
    app.sync_event(INTRODUCED, "ev-1", "RI-a", 2, 1_700_000_000).await;
    assert_eq!(
        overviews(&app, SAMPLE_REPO).len(),
        1,
        "GitHub made it; the answer was lost"
    );
    // While the lost call could still land, it is not looked for (nor made again).
    sqlx::query("UPDATE overviews SET due_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    app.run_worker().await.unwrap();
    let searched = || {
        app.github
            .calls()
            .iter()
            .filter(|c| c.path.starts_with("/search"))
            .count()
    };
    assert_eq!(searched(), 0, "not looked for while it may still land");
    assert_eq!(overviews(&app, SAMPLE_REPO).len(), 1);
    // Once the lost call can no longer land, the next pass looks for it by its marker.
    sqlx::query("UPDATE overviews SET create_started_at = now() - interval '2 minutes', due_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    app.run_worker().await.unwrap();
    assert_eq!(overviews(&app, SAMPLE_REPO).len(), 1, "found, not repeated");
    let linked: Option<i64> = sqlx::query_scalar("SELECT github_issue_number FROM overviews")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(linked, Some(overview(&app).number));
}

#[tokio::test]
async fn two_deepsource_repositories_in_one_tracker_get_an_overview_each() {
    let app = spawn_app_with(|s| {
        with_overview(s, FindingIssues::None);
        s.github.repo_override = Some(deepsource_sync::domain::RepoSlug::parse("acme/tracker").unwrap());
    })
    .await;
    let fake = FakeDeepSource::start();
    fake.set_open(SAMPLE_REPO, findings(3));
    fake.set_open(
        "deepsourcelabs/other",
        findings(2)
            .into_iter()
            .map(|mut f| {
                f.id = format!("{}-other", f.id);
                f
            })
            .collect(),
    );
    compare(&app, &fake, &sample_repository()).await;
    let other = RepositoryRef {
        name: "other".into(),
        ..sample_repository()
    };
    compare(&app, &fake, &other).await;
    app.run_worker().await.unwrap();
    let mut found = overviews(&app, "acme/tracker");
    found.sort_by_key(|i| i.title.clone());
    let titles: Vec<&str> = found.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "DeepSource findings: deepsourcelabs/demo-go",
            "DeepSource findings: deepsourcelabs/other"
        ]
    );
    assert!(found[0].body.contains("**3 findings"), "{}", found[0].body);
    assert!(found[1].body.contains("**2 findings"), "{}", found[1].body);
}

#[tokio::test]
async fn a_dry_run_records_the_overview_it_would_write_and_writes_nothing() {
    let app = spawn_app_with(|s| {
        with_overview(s, FindingIssues::All);
        s.github.auth = deepsource_sync::configuration::GitHubAuth::DryRun;
    })
    .await;
    app.sync_event(INTRODUCED, "ev-1", "RI-a", 2, 1_700_000_000).await;
    assert!(app.github.calls().is_empty());
    let recorded: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT github_repo, text_hash FROM overviews")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(recorded.0.as_deref(), Some(SAMPLE_REPO));
    assert!(recorded.1.is_some(), "the overview it would write is recorded");
}

#[tokio::test]
async fn turned_on_for_a_repository_already_synced_its_overview_comes_at_the_workers_start() {
    let app = spawn_app_with(|_| {}).await;
    app.sync_event(INTRODUCED, "ev-1", "RI-a", 2, 1_700_000_000).await;
    let own = own_issues(&app, SAMPLE_REPO);
    assert_eq!(own.len(), 1);
    assert!(overviews(&app, SAMPLE_REPO).is_empty());

    let mut settings = app.settings.clone();
    with_overview(&mut settings, FindingIssues::All);
    let worker = deepsource_sync::sync::Worker::new(app.pool.clone(), &settings).unwrap();
    worker.run_until_idle().await.unwrap();
    let body = overview(&app).body;
    assert!(body.contains(&format!("- #{} ", own[0].number)), "{body}");
    assert_eq!(own_issues(&app, SAMPLE_REPO).len(), 1);
}

#[tokio::test]
async fn a_finding_that_has_its_own_issue_keeps_it_whatever_finding_issues_says() {
    let app = overview_app(FindingIssues::All).await;
    app.sync_event(INTRODUCED, "ev-1", "RI-a", 2, 1_700_000_000).await;
    let number = own_issues(&app, SAMPLE_REPO)[0].number;

    let mut settings = app.settings.clone();
    settings.issues.finding_issues = FindingIssues::None;
    app.deliver(&issue_event(INTRODUCED, "ev-2", "RI-a", 3, 1_700_000_100))
        .await;
    let worker = deepsource_sync::sync::Worker::new(app.pool.clone(), &settings).unwrap();
    worker.run_until_idle().await.unwrap();
    let issue = app.github.issue(SAMPLE_REPO, number).unwrap();
    assert!(issue.body.contains("| Open occurrences | 5 |"), "{}", issue.body);
    assert_eq!(own_issues(&app, SAMPLE_REPO).len(), 1);
}

#[tokio::test]
async fn an_overview_github_refuses_holds_no_finding_back_and_is_tried_again_at_the_next_start() {
    let app = overview_app(FindingIssues::All).await;
    app.github.fail_next("POST", Fault::Status(403));
    app.sync_event(INTRODUCED, "ev-1", "RI-a", 2, 1_700_000_000).await;
    assert!(overviews(&app, SAMPLE_REPO).is_empty());
    let failed: Option<String> = sqlx::query_scalar("SELECT failed_reason FROM overviews")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(failed.unwrap().contains("403"));
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(
        own_issues(&app, SAMPLE_REPO).len(),
        1,
        "the finding's issue does not wait"
    );

    // The permissions fixed, the next start tries the overview again.
    app.run_worker().await.unwrap();
    assert_eq!(overviews(&app, SAMPLE_REPO).len(), 1);
}

#[tokio::test]
async fn the_overviews_first_write_wakes_the_workers_whose_creates_waited_for_it() {
    use deepsource_sync::db::notify::notify_work;
    use deepsource_sync::wake::Wakeups;

    let app = overview_app(FindingIssues::All).await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let wakeups = Wakeups::start(app.settings.database.listen_url().to_owned(), &app.pool, stopped);
    let mut heard = wakeups.heard();
    let bound = Duration::from_secs(15);
    tokio::time::timeout(bound, heard.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    app.deliver(&issue_event(INTRODUCED, "ev-1", "RI-a", 2, 1_700_000_000))
        .await;

    // The finding's create waits for the overview, whose create is held at GitHub meanwhile.
    let held = app.github.hold_next("POST");
    let worker = {
        let worker = app.worker();
        tokio::spawn(async move { worker.run_until_idle().await.unwrap() })
    };
    held.arrived().await;
    // A fence: notifications arrive in commit order, so once this one is heard, every one
    // committed before it has been: listening began, intake's, and the put-off job's.
    let fence = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            notify_work(&mut tx).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    fence(&app).await;
    tokio::time::timeout(bound, heard.wait_for(|n| *n >= 4))
        .await
        .unwrap()
        .unwrap();
    // Nothing else can be on its way: the worker is held at GitHub.
    let before = *heard.borrow_and_update();
    assert_eq!(before, 4);
    let waiting: bool = sqlx::query_scalar(
        "SELECT next_attempt_at > now() FROM sync_jobs WHERE finding_id = 'RI-a' AND status = 'pending'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(waiting, "the create is put off until the overview is written");
    held.release();
    worker.await.unwrap();
    assert_eq!(own_issues(&app, SAMPLE_REPO).len(), 1);

    fence(&app).await;
    tokio::time::timeout(bound, heard.wait_for(|n| *n >= before + 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        *heard.borrow(),
        before + 2,
        "the overview's write woke the workers once (a replica's worker sleeping until the put-off create would wait a minute)"
    );
}

#[tokio::test]
async fn a_comparison_while_the_worker_runs_still_writes_the_overview_before_any_findings_issue() {
    // The worker started before the repository was known: only the waiting of the findings'
    // creates puts the overview first.
    let app = crate::helpers::start_app(
        |s| {
            with_overview(s, FindingIssues::All);
            s.sync.poll_interval = Duration::from_secs(3600);
        },
        true,
    )
    .await;
    let mut idle = app.liveness.idle();
    idle.wait_for(|n| *n >= 1).await.unwrap();
    let fake = FakeDeepSource::start();
    fake.set_open(SAMPLE_REPO, findings(5));
    compare(&app, &fake, &sample_repository()).await;
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            idle.changed().await.unwrap();
            if own_issues(&app, SAMPLE_REPO).len() == 5 {
                break;
            }
        }
    })
    .await
    .expect("every finding's issue is made");
    let first = first_write(&app);
    assert!(is_overview_create(&first), "the overview first: {first:?}");
}

#[tokio::test]
async fn a_sleeping_worker_writes_a_coalesced_change_when_its_delay_is_over() {
    let app = crate::helpers::start_app(
        |s| {
            with_overview(s, FindingIssues::None);
            s.overview.delay = Duration::from_millis(300);
            s.sync.poll_interval = Duration::from_secs(3600);
        },
        true,
    )
    .await;
    let mut idle = app.liveness.idle();
    idle.wait_for(|n| *n >= 1).await.unwrap();
    let until = |want: &'static str| {
        let app = &app;
        let mut idle = idle.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(20), async {
                while !overviews(app, SAMPLE_REPO).iter().any(|o| o.body.contains(want)) {
                    idle.changed().await.unwrap();
                }
            })
            .await
            .unwrap_or_else(|_| panic!("the overview says {want}"))
        }
    };
    app.deliver(&issue_event(INTRODUCED, "ev-1", "RI-a", 2, 1_700_000_000))
        .await;
    until("**1 finding, 2 occurrences**").await;
    app.deliver(&issue_event(INTRODUCED, "ev-2", "RI-b", 3, 1_700_000_100))
        .await;
    // Due 300 ms after the change; the worker's fallback is an hour.
    until("**2 findings, 5 occurrences**").await;
    // A write GitHub fails is retried at its backoff (about 2 s), not at the fallback.
    app.github.fail_next("PATCH", Fault::Status(502));
    app.deliver(&issue_event(INTRODUCED, "ev-3", "RI-c", 1, 1_700_000_200))
        .await;
    until("**3 findings, 6 occurrences**").await;
}
