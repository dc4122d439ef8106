//! Issues people own: what a person does to a synced issue at GitHub (close as not planned or
//! completed, reopen, label, delete, transfer) is never undone by the service. Each scenario runs
//! on both ways the service learns: GitHub's `issues` webhooks, and (without
//! GITHUB_WEBHOOK_SECRET) reading the issue before a write.
use deepsource_sync::domain::WebhookSecret;
use serde_json::Value;

use crate::helpers::{issue_event_with, sign, spawn_app_with, TestApp, INTRODUCED, RESOLVED, SAMPLE_REPO};

pub const GITHUB_SECRET: &str = "github-webhook-secret-0123456789";
const FINDING: &str = "RI-people";

/// How the service hears of what people do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learns {
    FromWebhooks,
    ByReading,
}

const BOTH: [Learns; 2] = [Learns::FromWebhooks, Learns::ByReading];

pub async fn app_that(
    learns: Learns,
    customise: impl FnOnce(&mut deepsource_sync::configuration::Settings),
) -> TestApp {
    spawn_app_with(|s| {
        if learns == Learns::FromWebhooks {
            s.github.webhook_secret = Some(WebhookSecret::parse(GITHUB_SECRET).unwrap());
        }
        customise(s);
    })
    .await
}

/// Posts a GitHub delivery signed with the test secret.
pub async fn post_github(app: &TestApp, event_type: &str, delivery: &str, body: &[u8]) -> reqwest::Response {
    app.client
        .post(format!("{}/github/webhooks", app.address))
        .header("X-GitHub-Event", event_type)
        .header("X-GitHub-Delivery", delivery)
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", sign(GITHUB_SECRET, body)),
        )
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// After a person acted on `repo#number`: with webhooks, GitHub tells the service.
async fn github_tells(app: &TestApp, learns: Learns, repo: &str, number: i64, action: &str) {
    if learns == Learns::FromWebhooks {
        let event = app.github.issues_event(repo, number, action);
        let delivery = uuid::Uuid::new_v4().to_string();
        let response = post_github(app, "issues", &delivery, &serde_json::to_vec(&event).unwrap()).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

/// One DeepSource event for the finding (`count` introduced or resolved), then a worker pass.
async fn deepsource(app: &TestApp, id: &str, kind: &str, count: i64) {
    let at = 1_700_000_000 + id.parse::<i64>().unwrap() * 100;
    app.deliver(&issue_event_with(kind, id, FINDING, count, at, |_| {}))
        .await;
    app.run_worker().await.unwrap();
}

async fn dismissal(app: &TestApp) -> (Option<String>, Option<String>, bool) {
    let row: (
        Option<String>,
        Option<String>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = sqlx::query_as("SELECT dismissed_reason, dismissed_by, dismissed_at FROM findings WHERE id = $1")
        .bind(FINDING)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    (row.0, row.1, row.2.is_some())
}

fn the_issue(app: &TestApp) -> crate::fake_github::Issue {
    app.github.issue(SAMPLE_REPO, 1).expect("the synced issue")
}

#[tokio::test]
async fn an_issue_closed_as_not_planned_is_never_reopened_edited_or_commented() {
    for learns in BOTH {
        let app = app_that(learns, |_| {}).await;
        deepsource(&app, "1", INTRODUCED, 2).await;
        app.github.close_as_person(SAMPLE_REPO, 1, "not_planned");
        github_tells(&app, learns, SAMPLE_REPO, 1, "closed").await;
        let closed = the_issue(&app);

        // More occurrences, all resolved, then a regression: GitHub is left as the person left it.
        deepsource(&app, "2", INTRODUCED, 3).await;
        deepsource(&app, "3", RESOLVED, 5).await;
        deepsource(&app, "4", INTRODUCED, 1).await;
        assert_eq!(the_issue(&app), closed, "{learns:?}");
        assert_eq!(app.github.writes(), 1, "{learns:?}: the create, nothing since");
        assert_eq!(
            app.github.issues(SAMPLE_REPO).len(),
            1,
            "{learns:?}: no new issue"
        );
        assert_eq!(
            dismissal(&app).await,
            (Some("not_planned".into()), Some("octocat".into()), true),
            "{learns:?}: the finding shows as dismissed, by whom and when"
        );

        // A person reopens it: sync resumes from the current state (1 open occurrence).
        app.github.reopen_as_person(SAMPLE_REPO, 1);
        github_tells(&app, learns, SAMPLE_REPO, 1, "reopened").await;
        if learns == Learns::ByReading {
            deepsource(&app, "5", INTRODUCED, 1).await; // only a sync reads the issue
        } else {
            app.run_worker().await.unwrap(); // the reopen itself queued one
        }
        let open = app.open_occurrences(FINDING).await;
        assert!(
            the_issue(&app)
                .body
                .contains(&format!("| Open occurrences | {open} |")),
            "{learns:?}: synced again: {}",
            the_issue(&app).body
        );
        assert_eq!(dismissal(&app).await, (None, None, false), "{learns:?}");
    }
}

#[tokio::test]
async fn a_duplicate_close_dismisses_as_well() {
    for learns in BOTH {
        let app = app_that(learns, |_| {}).await;
        deepsource(&app, "1", INTRODUCED, 1).await;
        app.github.close_as_person(SAMPLE_REPO, 1, "duplicate");
        github_tells(&app, learns, SAMPLE_REPO, 1, "closed").await;
        deepsource(&app, "2", INTRODUCED, 1).await;
        assert_eq!(the_issue(&app).state, "closed", "{learns:?}");
        assert_eq!(dismissal(&app).await.0.as_deref(), Some("duplicate"));
        assert_eq!(app.github.writes(), 1);
    }
}

#[tokio::test]
async fn a_completed_close_is_reopened_only_when_the_count_rises_above_what_it_was() {
    for learns in BOTH {
        let app = app_that(learns, |_| {}).await;
        deepsource(&app, "1", INTRODUCED, 3).await;
        app.github.close_as_person(SAMPLE_REPO, 1, "completed");
        github_tells(&app, learns, SAMPLE_REPO, 1, "closed").await;

        deepsource(&app, "2", RESOLVED, 1).await; // 2 open
        deepsource(&app, "3", INTRODUCED, 1).await; // 3 open: not above the 3 of the close
        assert_eq!(the_issue(&app).state, "closed", "{learns:?}");
        assert_eq!(
            app.github.writes(),
            1,
            "{learns:?}: nothing written while it stays closed"
        );

        deepsource(&app, "4", INTRODUCED, 1).await; // 4 open: a regression
        let issue = the_issue(&app);
        assert_eq!(issue.state, "open", "{learns:?}");
        let why = issue.comments.last().expect("a comment says why");
        assert!(why.contains("4 open occurrence(s), more than the 3"), "{why}");
    }
}

#[tokio::test]
async fn a_completed_close_deepsource_then_agrees_with_is_a_normal_close() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    deepsource(&app, "1", INTRODUCED, 2).await;
    app.github.close_as_person(SAMPLE_REPO, 1, "completed");
    github_tells(&app, Learns::FromWebhooks, SAMPLE_REPO, 1, "closed").await;
    deepsource(&app, "2", RESOLVED, 2).await; // 0 open: the person was right
    deepsource(&app, "3", INTRODUCED, 1).await; // any rise now is a regression
    assert_eq!(the_issue(&app).state, "open");
}

#[tokio::test]
async fn labels_and_assignees_people_add_survive_every_update_close_and_reopen() {
    for learns in BOTH {
        let app = app_that(learns, |_| {}).await;
        deepsource(&app, "1", INTRODUCED, 1).await;
        app.github.label_as_person(SAMPLE_REPO, 1, "team/payments");
        github_tells(&app, learns, SAMPLE_REPO, 1, "labeled").await;
        app.github.assign_as_person(SAMPLE_REPO, 1, "hubot");
        github_tells(&app, learns, SAMPLE_REPO, 1, "assigned").await;

        deepsource(&app, "2", INTRODUCED, 1).await; // update
        deepsource(&app, "3", RESOLVED, 2).await; // close
        deepsource(&app, "4", INTRODUCED, 1).await; // reopen
        let issue = the_issue(&app);
        assert_eq!(issue.state, "open");
        assert!(
            issue.labels.contains(&"team/payments".to_owned()),
            "{learns:?}: {:?}",
            issue.labels
        );
        assert!(issue.labels.contains(&"deepsource".to_owned()));
        assert_eq!(issue.assignees, ["hubot"], "{learns:?}");
        let replaced = app
            .github
            .calls()
            .into_iter()
            .filter(|c| {
                c.method == "PATCH" && (c.body.get("labels").is_some() || c.body.get("assignees").is_some())
            })
            .count();
        assert_eq!(
            replaced, 0,
            "{learns:?}: no PATCH replaces the labels or the assignees"
        );

        // The finding's category changes: only the service's own label is swapped.
        app.deliver(&issue_event_with(
            INTRODUCED,
            "5",
            FINDING,
            1,
            1_700_009_000,
            |o| {
                o["issue"]["category"] = "BUG_RISK".into();
            },
        ))
        .await;
        app.run_worker().await.unwrap();
        let labels = the_issue(&app).labels;
        assert!(labels.contains(&"deepsource/bug_risk".to_owned()), "{labels:?}");
        assert!(
            !labels.contains(&"deepsource/anti_pattern".to_owned()),
            "{labels:?}"
        );
        assert!(labels.contains(&"team/payments".to_owned()), "{labels:?}");

        // The swap is remembered: the next update writes the body alone.
        let before = app.github.calls().len();
        deepsource(&app, "6", INTRODUCED, 1).await;
        let label_calls: Vec<String> = app.github.calls()[before..]
            .iter()
            .filter(|c| c.path.contains("/labels"))
            .map(|c| format!("{} {}", c.method, c.path))
            .collect();
        assert_eq!(label_calls, Vec::<String>::new(), "{learns:?}");
    }
}

#[tokio::test]
async fn a_deleted_issue_dismisses_its_finding_and_is_not_created_again() {
    for learns in BOTH {
        let app = app_that(learns, |_| {}).await;
        deepsource(&app, "1", INTRODUCED, 1).await;
        app.github.delete_as_person(SAMPLE_REPO, 1);
        github_tells(&app, learns, SAMPLE_REPO, 1, "deleted").await;
        deepsource(&app, "2", INTRODUCED, 1).await;
        deepsource(&app, "3", RESOLVED, 2).await;
        deepsource(&app, "4", INTRODUCED, 1).await;
        assert_eq!(
            app.github.issues(SAMPLE_REPO).len(),
            1,
            "{learns:?}: not re-created"
        );
        assert_eq!(dismissal(&app).await.0.as_deref(), Some("deleted"), "{learns:?}");
        assert_eq!(app.job_of("4").await.0, "done");
    }
}

#[tokio::test]
async fn a_deletion_no_webhook_reported_is_learnt_from_githubs_410() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    deepsource(&app, "1", INTRODUCED, 1).await;
    app.github.delete_as_person(SAMPLE_REPO, 1); // the delivery never came
    deepsource(&app, "2", INTRODUCED, 1).await;
    assert_eq!(dismissal(&app).await.0.as_deref(), Some("deleted"));
    assert_eq!(app.job_of("2").await.0, "done");
    deepsource(&app, "3", INTRODUCED, 1).await;
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
}

#[tokio::test]
async fn a_transferred_issue_keeps_syncing_at_its_new_place() {
    for learns in BOTH {
        let app = app_that(learns, |_| {}).await;
        deepsource(&app, "1", INTRODUCED, 1).await;
        let number = app.github.transfer_as_person(SAMPLE_REPO, 1, "acme/tracker");
        github_tells(&app, learns, SAMPLE_REPO, 1, "transferred").await;

        deepsource(&app, "2", INTRODUCED, 2).await;
        let moved = app.github.issue("acme/tracker", number).unwrap();
        assert!(
            moved.body.contains("| Open occurrences | 3 |"),
            "{learns:?}: {}",
            moved.body
        );
        let row: (Option<String>, Option<i64>) =
            sqlx::query_as("SELECT github_repo, github_issue_number FROM findings WHERE id = $1")
                .bind(FINDING)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(row, (Some("acme/tracker".into()), Some(number)), "{learns:?}");
        assert_eq!(
            app.github.issues(SAMPLE_REPO).len(),
            1,
            "{learns:?}: no new issue at the old place"
        );

        deepsource(&app, "3", RESOLVED, 3).await;
        assert_eq!(app.github.issue("acme/tracker", number).unwrap().state, "closed");
    }
}

#[tokio::test]
async fn a_transfer_no_webhook_reported_is_learnt_from_githubs_301() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    deepsource(&app, "1", INTRODUCED, 1).await;
    let number = app.github.transfer_as_person(SAMPLE_REPO, 1, "acme/tracker"); // no delivery
    deepsource(&app, "2", INTRODUCED, 1).await;
    let moved = app.github.issue("acme/tracker", number).unwrap();
    assert!(moved.body.contains("| Open occurrences | 2 |"), "{}", moved.body);
    assert_eq!(app.job_of("2").await.0, "done", "followed in the same sync");
    assert_eq!(
        app.github.issues(SAMPLE_REPO).len(),
        1,
        "no new issue at the old place"
    );
}

#[tokio::test]
async fn an_issue_that_keeps_moving_is_followed_once_per_sync_not_chased() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    deepsource(&app, "1", INTRODUCED, 1).await;
    let number = app.github.transfer_as_person(SAMPLE_REPO, 1, "acme/tracker");
    // GitHub keeps answering the write with a 301, even where the issue was just read.
    let there = app.github.issue_location("acme/tracker", number);
    for _ in 0..4 {
        app.github
            .fail_next("PATCH", crate::fake_github::Fault::Redirect(there.clone()));
    }
    let calls = app.github.calls().len();
    app.deliver(&issue_event_with(
        INTRODUCED,
        "2",
        FINDING,
        1,
        1_700_000_200,
        |_| {},
    ))
    .await;
    app.worker().run_once().await.unwrap();
    let made: Vec<String> = app.github.calls()[calls..]
        .iter()
        .map(|c| c.method.clone())
        .collect();
    // The write's 301; one look (the old place's 301 followed to the new); the write there, 301
    // again: the job waits for a retry rather than chasing the issue round and round.
    assert_eq!(made, ["PATCH", "GET", "GET", "PATCH"]);
    assert_eq!(app.job_of("2").await.0, "pending");
}

#[tokio::test]
async fn reading_before_a_write_costs_reads_not_writes_and_webhooks_cost_neither() {
    for learns in BOTH {
        let app = app_that(learns, |_| {}).await;
        deepsource(&app, "1", INTRODUCED, 1).await;
        deepsource(&app, "2", INTRODUCED, 1).await;
        let reads = app
            .github
            .calls()
            .into_iter()
            .filter(|c| c.method == "GET" && c.path.starts_with(&format!("/repos/{SAMPLE_REPO}/issues/1?")))
            .count();
        let expected = if learns == Learns::ByReading { 1 } else { 0 };
        assert_eq!(reads, expected, "{learns:?}: the issue read before the update");
        assert_eq!(app.github.writes(), 2, "{learns:?}: a create and an update");
    }
}

#[tokio::test]
async fn with_state_comments_off_a_close_and_a_reopen_cost_one_write_each() {
    let app = app_that(Learns::FromWebhooks, |s| s.sync.state_comments = false).await;
    deepsource(&app, "1", INTRODUCED, 1).await;
    deepsource(&app, "2", RESOLVED, 1).await;
    let issue = the_issue(&app);
    assert_eq!((issue.state.as_str(), issue.comments.len()), ("closed", 0));
    assert!(issue.body.contains("every occurrence resolved"), "{}", issue.body);
    assert_eq!(app.github.writes(), 2, "a create and one PATCH");
    deepsource(&app, "3", INTRODUCED, 1).await;
    let issue = the_issue(&app);
    assert_eq!((issue.state.as_str(), issue.comments.len()), ("open", 0));
    assert!(!issue.body.contains("every occurrence resolved"));
    assert_eq!(app.github.writes(), 3);
}

#[tokio::test]
async fn findings_below_the_minimum_get_no_issue_and_one_falling_below_is_closed_saying_why() {
    let app = app_that(Learns::FromWebhooks, |s| s.sync.min_occurrences = 3).await;
    deepsource(&app, "1", INTRODUCED, 2).await;
    assert!(app.github.issues(SAMPLE_REPO).is_empty(), "2 < 3: no issue");
    deepsource(&app, "2", INTRODUCED, 1).await;
    assert_eq!(the_issue(&app).state, "open");
    deepsource(&app, "3", RESOLVED, 1).await;
    let issue = the_issue(&app);
    assert_eq!(issue.state, "closed");
    assert!(
        issue.comments.last().unwrap().contains("fewer than the 3"),
        "{:?}",
        issue.comments
    );
}

/// The issue JSON GitHub would send for `action`, with `change` applied.
pub fn issues_event(app: &TestApp, action: &str, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut event = app.github.issues_event(SAMPLE_REPO, 1, action);
    change(&mut event);
    serde_json::to_vec(&event).unwrap()
}

#[tokio::test]
async fn a_comparison_with_deepsource_does_not_undo_a_dismissal_either() {
    use deepsource_sync::deepsource::{take_snapshot, DeepSource, RepositoryRef};
    use deepsource_sync::findings::snapshots::{apply_snapshot, snapshot_begins};

    use crate::fake_deepsource::{FakeDeepSource, Finding};

    for learns in BOTH {
        let app = app_that(learns, |_| {}).await;
        let deepsource = FakeDeepSource::start();
        let client = DeepSource::new(
            &deepsource.url,
            secrecy::SecretString::from(crate::fake_deepsource::TOKEN.to_owned()),
        )
        .unwrap();
        let repository = RepositoryRef::parse(SAMPLE_REPO, "GITHUB").unwrap();
        let compare = |count: usize| {
            deepsource.set_open(
                SAMPLE_REPO,
                vec![Finding::new("RI-a", "GO-W1001", "MAJOR", "cmd/a.go", count)],
            );
            async {
                let began = snapshot_begins(&app.pool).await.unwrap();
                let snapshot = take_snapshot(&client, &repository).await.unwrap();
                apply_snapshot(&app.pool, &snapshot, began).await.unwrap();
                app.run_worker().await.unwrap();
            }
        };
        compare(1).await;
        assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1, "{learns:?}: backfilled");
        app.github.close_as_person(SAMPLE_REPO, 1, "not_planned");
        github_tells(&app, learns, SAMPLE_REPO, 1, "closed").await;
        let closed = the_issue(&app);
        compare(7).await;
        assert_eq!(the_issue(&app), closed, "{learns:?}");
        assert_eq!(app.github.writes(), 1, "{learns:?}");
    }
}
