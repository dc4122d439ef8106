//! Snapshots applied: DeepSource's counts and locations become the findings', a finding never
//! seen is created (the backfill), one no longer listed goes to zero, and no interleaving with
//! events counts an occurrence twice.
use deepsource_sync::deepsource::{take_snapshot, DeepSource};
use deepsource_sync::findings::snapshots::{apply_snapshot, snapshot_begins, SnapshotApplied};
use secrecy::SecretString;

use crate::fake_deepsource::{FakeDeepSource, Finding, TOKEN};
use crate::helpers::{issue_event, sample_repository, spawn_app, TestApp, INTRODUCED, RESOLVED, SAMPLE_REPO};

/// Takes a snapshot of the sample repository from `fake` and applies it, as a reconciliation does.
async fn reconcile(app: &TestApp, fake: &FakeDeepSource) -> SnapshotApplied {
    let client = DeepSource::new(&fake.url, SecretString::from(TOKEN.to_owned())).unwrap();
    let began = snapshot_begins(&app.pool).await.unwrap();
    let snapshot = take_snapshot(&client, &sample_repository()).await.unwrap();
    apply_snapshot(&app.pool, &snapshot, began).await.unwrap()
}

fn body_of(app: &TestApp, shortcode: &str) -> (String, String) {
    let issue = app
        .github
        .issues(SAMPLE_REPO)
        .into_iter()
        .find(|i| i.title.contains(shortcode))
        .unwrap_or_else(|| panic!("no issue for {shortcode}"));
    (issue.state, issue.body)
}

#[tokio::test]
async fn a_repository_with_open_findings_and_no_events_is_backfilled_with_exact_counts() {
    let app = spawn_app().await;
    let fake = FakeDeepSource::start();
    fake.set_open(
        SAMPLE_REPO,
        vec![
            Finding::new("RI-a", "GO-W1001", "MAJOR", "cmd/a.go", 1),
            Finding::new("RI-b", "GO-S1002", "CRITICAL", "cmd/b.go", 2),
            Finding::new("RI-c", "GO-C1003", "MINOR", "pkg/many.go", 120),
        ],
    );
    let applied = reconcile(&app, &fake).await;
    assert_eq!(
        applied,
        SnapshotApplied {
            listed: 3,
            created: 3,
            changed: 3,
            gone: 0,
            deferred: 0
        }
    );
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 3);
    let (state, body) = body_of(&app, "GO-C1003");
    assert_eq!(state, "open");
    assert!(body.contains("| Open occurrences | 120 |"), "{body}");
    assert!(
        body.contains("pkg/many.go#L120-L120"),
        "every page of occurrences: {body}"
    );
    assert_eq!(app.open_occurrences("RI-b").await, 2);

    // The same listing again changes nothing and writes nothing.
    let writes = app.github.writes();
    let again = reconcile(&app, &fake).await;
    assert_eq!((again.created, again.changed, again.gone), (0, 0, 0));
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), writes);
}

#[tokio::test]
async fn after_a_full_run_changed_deepsource_with_no_events_github_follows_the_snapshot() {
    let app = spawn_app().await;
    // Events made three findings: counts 2, 1 and 3.
    for (event, finding, count) in [("e1", "RI-up", 2), ("e2", "RI-gone", 1), ("e3", "RI-down", 3)] {
        app.deliver(&issue_event(INTRODUCED, event, finding, count, 1_700_000_000))
            .await;
    }
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 3);

    // A full run: one count up, one down (its fixed lines gone), one finding gone, one new.
    let fake = FakeDeepSource::start();
    fake.set_open(
        SAMPLE_REPO,
        vec![
            Finding::new("RI-up", "GO-W1001", "MAJOR", "cmd/up.go", 5),
            Finding::new("RI-down", "GO-W1002", "MINOR", "cmd/down.go", 1),
            Finding::new("RI-new", "GO-W1003", "MAJOR", "cmd/new.go", 4),
        ],
    );
    let applied = reconcile(&app, &fake).await;
    assert_eq!(
        (applied.created, applied.changed, applied.gone),
        (1, 3, 1),
        "{applied:?}"
    );
    app.run_worker().await.unwrap();
    assert_eq!(app.open_occurrences("RI-up").await, 5);
    assert_eq!(app.open_occurrences("RI-down").await, 1);
    assert_eq!(app.open_occurrences("RI-gone").await, 0);
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(
        issues.iter().filter(|i| i.state == "open").count(),
        3,
        "{issues:#?}"
    );
    assert_eq!(issues.len(), 4);
    // The resolved lines are gone from the body: only DeepSource's one location is left.
    let down = issues.iter().find(|i| i.body.contains("cmd/down.go")).unwrap();
    assert!(down.body.contains("| Open occurrences | 1 |"), "{}", down.body);
    assert_eq!(down.body.matches("- [cmd/down.go#L").count(), 1, "{}", down.body);
}

#[tokio::test]
async fn events_received_before_a_snapshot_are_absorbed_and_later_ones_defer_to_the_next() {
    let app = spawn_app().await;
    let fake = FakeDeepSource::start();
    // Received before the snapshot began, applied after it: DeepSource's 3 already holds it.
    app.deliver(&issue_event(INTRODUCED, "before", "RI-x", 3, 1_700_000_000))
        .await;
    fake.set_open(
        SAMPLE_REPO,
        vec![Finding::new("RI-x", "GO-W1001", "MAJOR", "cmd/x.go", 3)],
    );
    let applied = reconcile(&app, &fake).await;
    assert_eq!((applied.created, applied.deferred), (1, 0));
    app.run_worker().await.unwrap();
    assert_eq!(
        app.open_occurrences("RI-x").await,
        3,
        "not 6: the event was absorbed"
    );
    // Redelivered, in any order: still nothing counted twice.
    app.deliver(&issue_event(INTRODUCED, "before", "RI-x", 3, 1_700_000_000))
        .await;
    app.run_worker().await.unwrap();
    assert_eq!(app.open_occurrences("RI-x").await, 3);

    // An event that arrives while a snapshot is being taken counts; the snapshot may not hold
    // it, so it leaves the finding to its events and asks for another.
    let client = DeepSource::new(&fake.url, SecretString::from(TOKEN.to_owned())).unwrap();
    let began = snapshot_begins(&app.pool).await.unwrap();
    app.deliver(&issue_event(RESOLVED, "during", "RI-x", 1, 1_700_000_100))
        .await;
    let snapshot = take_snapshot(&client, &sample_repository()).await.unwrap();
    let applied = apply_snapshot(&app.pool, &snapshot, began).await.unwrap();
    assert_eq!(applied.deferred, 1, "{applied:?}");
    app.run_worker().await.unwrap();
    assert_eq!(
        app.open_occurrences("RI-x").await,
        2,
        "the event's arithmetic, this round"
    );
    // Once quiet, the next snapshot settles it on DeepSource's count.
    fake.set_open(
        SAMPLE_REPO,
        vec![Finding::new("RI-x", "GO-W1001", "MAJOR", "cmd/x.go", 2)],
    );
    let settled = reconcile(&app, &fake).await;
    // The resolve is older than this snapshot, so it does not defer it any more.
    assert_eq!(settled.deferred, 0, "{settled:?}");
    app.run_worker().await.unwrap();
    assert_eq!(app.open_occurrences("RI-x").await, 2);
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
}

fn finding(id: &str, shortcode: &str, severity: &str, category: &str) -> Finding {
    let mut f = Finding::new(id, shortcode, severity, &format!("src/{id}.go"), 1);
    f.category = category.into();
    f
}

#[tokio::test]
async fn a_backfill_closes_first_then_creates_by_severity_and_category_and_labels_severity() {
    let app = spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "e1", "RI-old", 1, 1_700_000_000))
        .await;
    app.run_worker().await.unwrap();
    let fake = FakeDeepSource::start();
    fake.set_open(
        SAMPLE_REPO,
        vec![
            finding("RI-1", "GO-R0001", "MINOR", "STYLE"),
            finding("RI-2", "GO-R0002", "CRITICAL", "BUG_RISK"),
            finding("RI-3", "GO-R0003", "MAJOR", "SECURITY"),
            finding("RI-4", "GO-R0004", "CRITICAL", "SECURITY"),
            finding("RI-5", "GO-R0005", "MAJOR", "PERFORMANCE"),
        ],
    );
    reconcile(&app, &fake).await;
    app.run_worker().await.unwrap();
    let writes: Vec<String> = app
        .github
        .calls()
        .into_iter()
        .filter(|c| {
            c.method == "POST" && c.path.trim_end_matches('?').ends_with("/issues") || c.method == "PATCH"
        })
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    assert!(
        writes.len() > 1 && writes[1].starts_with("PATCH"),
        "the close goes first: {writes:?} {:?}",
        app.github.calls()
    );
    let mut issues = app.github.issues(SAMPLE_REPO);
    issues.sort_by_key(|i| i.number);
    let created: Vec<&str> = issues[1..]
        .iter()
        .map(|i| i.title.split_whitespace().last().unwrap_or_default())
        .collect();
    assert_eq!(created.len(), 5, "{issues:#?}");
    let order: Vec<&str> = issues[1..].iter().map(|i| &i.title[..]).collect();
    for (position, shortcode) in ["GO-R0004", "GO-R0002", "GO-R0003", "GO-R0005", "GO-R0001"]
        .iter()
        .enumerate()
    {
        assert!(order[position].contains(shortcode), "{position}: {order:?}");
    }
    assert!(
        issues[1]
            .labels
            .contains(&"deepsource/severity:critical".to_owned()),
        "{:?}",
        issues[1].labels
    );
}

#[tokio::test]
async fn sync_severities_keeps_findings_of_other_severities_off_github() {
    let app = crate::helpers::spawn_app_with(|s| s.sync.severities = vec!["CRITICAL".into()]).await;
    // Known only from an event: its severity is unknown, so it passes the filter.
    app.deliver(&issue_event(INTRODUCED, "e1", "RI-event", 1, 1_700_000_000))
        .await;
    let fake = FakeDeepSource::start();
    fake.set_open(
        SAMPLE_REPO,
        vec![
            finding("RI-c", "GO-R0001", "CRITICAL", "BUG_RISK"),
            finding("RI-m", "GO-R0002", "MAJOR", "BUG_RISK"),
        ],
    );
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    reconcile(&app, &fake).await;
    app.run_worker().await.unwrap();
    let titles: Vec<String> = app
        .github
        .issues(SAMPLE_REPO)
        .into_iter()
        .map(|i| i.title)
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.iter().any(|t| t.contains("GO-R0001")) && !titles.iter().any(|t| t.contains("GO-R0002")));
}

#[tokio::test]
async fn a_backfill_of_250_findings_is_paced_within_githubs_limits_most_severe_first() {
    // GitHub's limits scaled down: the fake refuses (and counts) more than 25 writes in any
    // 100 ms or two within 4 ms; the pacer is told the same interval.
    let app = crate::helpers::spawn_app_with(|s| {
        s.github.writes_per_minute = 250 * 60 * 10 / 100;
        s.github.min_write_interval = std::time::Duration::from_millis(4);
    })
    .await;
    app.github.set_limits(crate::fake_github::Limits {
        per_minute: 25,
        window: std::time::Duration::from_millis(100),
        min_interval: std::time::Duration::from_millis(4),
        tolerance: std::time::Duration::from_millis(2),
        interval_tolerance: std::time::Duration::ZERO,
    });
    let fake = FakeDeepSource::start();
    let severities = ["MINOR", "MAJOR", "CRITICAL"];
    let open: Vec<Finding> = (0..250)
        .map(|i| {
            Finding::new(
                &format!("RI{i}"),
                &format!("GO-B{i:04}"),
                severities[i % 3],
                &format!("f{i}.go"),
                1 + i % 4,
            )
        })
        .collect();
    fake.set_open(SAMPLE_REPO, open);
    reconcile(&app, &fake).await;
    app.run_worker().await.unwrap();
    let mut issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 250);
    assert_eq!(app.github.violations(), 0, "within GitHub's limits");
    issues.sort_by_key(|i| i.number);
    let severity_of = |i: &crate::fake_github::Issue| {
        let n: usize = i.title.split("GO-B").nth(1).unwrap()[..4].parse().unwrap();
        (2 - n % 3, n) // CRITICAL (n % 3 == 2) first
    };
    let ranks: Vec<usize> = issues.iter().map(|i| severity_of(i).0).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "created most severe first: {ranks:?}"
    );
    for issue in &issues {
        let n = severity_of(issue).1;
        let count = 1 + n % 4;
        assert!(
            issue.body.contains(&format!("| Open occurrences | {count} |")),
            "{}",
            issue.body
        );
        assert_eq!(
            issue.body.matches(&format!("f{n}.go#L")).count(),
            count,
            "{}",
            issue.body
        );
    }
}

#[tokio::test]
async fn whether_deepsource_can_fix_a_finding_follows_the_newest_snapshot() {
    let app = spawn_app().await;
    let fake = FakeDeepSource::start();
    let mut fixable = finding("RI-1", "GO-R0001", "MAJOR", "STYLE");
    fixable.autofix_available = Some(true);
    fake.set_open(SAMPLE_REPO, vec![fixable.clone()]);
    reconcile(&app, &fake).await;
    app.run_worker().await.unwrap();
    assert!(body_of(&app, "GO-R0001")
        .1
        .contains("DeepSource can fix this automatically"));

    fixable.autofix_available = Some(false);
    fake.set_open(SAMPLE_REPO, vec![fixable]);
    reconcile(&app, &fake).await;
    app.run_worker().await.unwrap();
    assert!(!body_of(&app, "GO-R0001").1.contains("can fix"));
    assert_eq!(app.github.writes(), 2, "the create and one update");
}
