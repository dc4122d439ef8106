//! An issue's locations end exact. An `introduced` event adds the occurrences of its commit to
//! those known (each listed once); a `resolved` event cannot say which lines were fixed, so with a
//! DeepSource token the finding's occurrences are looked up (one request, coalesced) and without
//! one the body says how many of the listed lines were fixed since; a comparison replaces the set
//! with DeepSource's. Events and comparisons interleaved in any order, with a sync running while a
//! comparison applies, end with GitHub showing what DeepSource lists.
use std::collections::BTreeSet;
use std::time::Duration;

use deepsource_sync::deepsource::{take_snapshot, DeepSource};
use deepsource_sync::findings::snapshots::{apply_snapshot, snapshot_begins};
use deepsource_sync::reconcile::Reconciler;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::fake_deepsource::{occurrence_id, FakeDeepSource, Fault, Finding, TOKEN};
use crate::helpers::{
    issue_event_with, sample_repository, spawn_app, spawn_app_with, TestApp, INTRODUCED, RESOLVED,
    SAMPLE_REPO,
};

const FINDING: &str = "RI-places";
const SHORTCODE: &str = "CRT-A0016";
const T: i64 = 1_700_000_000;

type Place = (String, i64);

fn place(file: &str, line: i64) -> Place {
    (file.to_owned(), line)
}

/// An occurrence as DeepSource's events and API both describe it (the same id in each).
fn occurrence(p: &Place) -> Value {
    let o = (p.0.clone(), p.1, p.1);
    json!({ "id": occurrence_id(&o), "path": p.0, "beginLine": p.1, "endLine": p.1,
            "title": format!("at line {}", p.1) })
}

fn introduced(id: &str, at: i64, places: &[Place]) -> Vec<u8> {
    let listed: Vec<Value> = places.iter().map(occurrence).collect();
    issue_event_with(INTRODUCED, id, FINDING, places.len() as i64, at, |o| {
        o["occurrences"] = listed.into();
    })
}

fn resolved(id: &str, at: i64, count: i64) -> Vec<u8> {
    issue_event_with(RESOLVED, id, FINDING, count, at, |_| {})
}

/// DeepSource lists the finding with exactly these occurrences now.
fn deepsource_lists(fake: &FakeDeepSource, places: &[Place]) {
    let mut finding = Finding::new(FINDING, SHORTCODE, "MAJOR", "unused.go", 0);
    finding.title = "Simplify slice expression to sliced value itself".into();
    finding.occurrences = places.iter().map(|(f, l)| (f.clone(), *l, *l)).collect();
    fake.set_open(
        SAMPLE_REPO,
        if places.is_empty() { vec![] } else { vec![finding] },
    );
}

async fn app_with_deepsource(fake: &FakeDeepSource) -> TestApp {
    let url = fake.url.clone();
    spawn_app_with(move |s| {
        s.deepsource.token = Some(SecretString::from(TOKEN.to_owned()));
        s.deepsource.api_url = url;
        s.deepsource.reconcile_interval = None;
        s.deepsource.reconcile_delay = Duration::from_secs(3600);
    })
    .await
}

/// The reconciler's pass: the due lookups (and no comparison: none is due in these tests).
async fn look_up(app: &TestApp) {
    let mut reconciler = Reconciler::new(app.pool.clone(), &app.settings)
        .unwrap()
        .expect("a token is set");
    reconciler.run_once().await.unwrap();
}

/// What the finding's issue lists: its count and the places of its locations.
fn shown(app: &TestApp) -> (i64, BTreeSet<Place>) {
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1, "one issue");
    let body = &issues[0].body;
    let count = body
        .split("| Open occurrences | ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in {body}"));
    let places = body
        .lines()
        .filter_map(|line| line.strip_prefix("- ["))
        .map(|line| {
            let (path, lines) = line.split_once("#L").unwrap();
            let begin = lines.split('-').next().unwrap().parse().unwrap();
            (path.to_owned(), begin)
        })
        .collect();
    (count, places)
}

fn set(places: &[Place]) -> BTreeSet<Place> {
    places.iter().cloned().collect()
}

const FIXED_SINCE: &str =
    "of the locations below have been fixed since; DeepSource's events do not say which";

#[tokio::test]
async fn introduced_events_add_their_occurrences_each_listed_once() {
    let app = spawn_app().await;
    let four: Vec<Place> = (1..=4).map(|l| place("a.go", l)).collect();
    app.deliver(&introduced("1", T, &four)).await;
    app.run_worker().await.unwrap();
    assert_eq!(shown(&app), (4, set(&four)));

    app.deliver(&introduced("2", T + 10, &[place("b.go", 7)])).await;
    app.run_worker().await.unwrap();
    let five = [four.clone(), vec![place("b.go", 7)]].concat();
    assert_eq!(shown(&app), (5, set(&five)), "four, then one more: five listed");

    // A redelivery changes nothing; an event older than what is known still adds its lines.
    app.deliver(&introduced("2", T + 10, &[place("b.go", 7)])).await;
    app.deliver(&introduced("0", T - 10, &[place("c.go", 1)])).await;
    app.run_worker().await.unwrap();
    let six = [five.clone(), vec![place("c.go", 1)]].concat();
    assert_eq!(shown(&app), (6, set(&six)));

    // The same occurrence named again (by id, and by place without an id) is listed once.
    let by_place = issue_event_with(INTRODUCED, "3", FINDING, 1, T + 20, |o| {
        o["occurrences"] = json!([{ "path": "a.go", "beginLine": 2, "endLine": 2 }]);
    });
    app.deliver(&by_place).await;
    app.deliver(&introduced("4", T + 30, &[place("a.go", 3)])).await;
    app.run_worker().await.unwrap();
    let body = &app.github.issues(SAMPLE_REPO)[0].body;
    assert_eq!(body.matches("- [a.go#L2-L2]").count(), 1, "{body}");
    assert_eq!(body.matches("- [a.go#L3-L3]").count(), 1, "{body}");
    assert_eq!(shown(&app).1, set(&six));
    assert!(!body.contains(FIXED_SINCE), "{body}");
}

#[tokio::test]
async fn without_a_token_the_body_says_how_many_listed_lines_were_fixed_since() {
    let app = spawn_app().await;
    let five: Vec<Place> = (1..=5).map(|l| place("a.go", l)).collect();
    app.deliver(&introduced("1", T, &five)).await;
    app.deliver(&resolved("2", T + 10, 2)).await;
    app.run_worker().await.unwrap();
    let body = &app.github.issues(SAMPLE_REPO)[0].body;
    assert_eq!(
        shown(&app),
        (3, set(&five)),
        "the lines stay: nobody said which went"
    );
    assert!(body.contains(&format!("2 {FIXED_SINCE}")), "{body}");
    assert!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM finding_lookups")
            .fetch_one(&app.pool)
            .await
            .unwrap()
            == 0,
        "nothing to look anything up with"
    );
}

#[tokio::test]
async fn with_a_token_a_resolve_removes_the_fixed_line_after_one_lookup_in_one_write() {
    let fake = FakeDeepSource::start();
    let app = app_with_deepsource(&fake).await;
    let five: Vec<Place> = (1..=5).map(|l| place("a.go", l)).collect();
    deepsource_lists(&fake, &five);
    app.deliver(&introduced("1", T, &five)).await;
    app.run_worker().await.unwrap();
    // Compared once, so the severity (and its label) is known before the writes are counted.
    compare(&app, &fake).await;
    app.run_worker().await.unwrap();
    let writes = app.github.writes();

    // Line 3 is fixed; two events of the commit's neighbours arrive together with it.
    let four: Vec<Place> = five.iter().filter(|p| p.1 != 3).cloned().collect();
    deepsource_lists(&fake, &four);
    app.deliver(&resolved("2", T + 10, 1)).await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), writes, "the sync waits for the lookup");
    let requests = fake.requests();
    look_up(&app).await;
    assert_eq!(fake.requests(), requests + 1, "one request");
    app.run_worker().await.unwrap();
    assert_eq!(shown(&app), (4, set(&four)));
    assert!(!app.github.issues(SAMPLE_REPO)[0].body.contains(FIXED_SINCE));
    assert_eq!(
        app.github.writes(),
        writes + 1,
        "the count and the lines in one write"
    );

    // Several resolves before the lookup runs: one lookup for all of them.
    let two: Vec<Place> = four[..2].to_vec();
    deepsource_lists(&fake, &two);
    app.deliver(&resolved("3", T + 20, 1)).await;
    app.run_worker().await.unwrap();
    app.deliver(&resolved("4", T + 30, 1)).await;
    app.run_worker().await.unwrap();
    let requests = fake.requests();
    look_up(&app).await;
    look_up(&app).await;
    assert_eq!(fake.requests(), requests + 1, "coalesced");
    app.run_worker().await.unwrap();
    assert_eq!(shown(&app), (2, set(&two)));
}

#[tokio::test]
async fn findings_resolved_together_are_looked_up_in_one_request_each_page_of_a_long_one_after() {
    let fake = FakeDeepSource::start();
    let app = app_with_deepsource(&fake).await;
    // Three findings: two small, one with 150 occurrences (two pages).
    let mut listed = Vec::new();
    for (i, (id, count)) in [("RI-x", 3usize), ("RI-y", 3), ("RI-z", 150)].iter().enumerate() {
        let at = T + i as i64;
        let file = format!("{id}.go");
        let places: Vec<Value> = (1..=*count as i64)
            .map(|l| occurrence(&place(&file, l)))
            .collect();
        app.deliver(&issue_event_with(
            INTRODUCED,
            &format!("{i}"),
            id,
            *count as i64,
            at,
            |o| {
                o["occurrences"] = places.into();
                o["issue"]["shortcode"] = format!("GO-{i}").into();
            },
        ))
        .await;
        let mut finding = Finding::new(id, &format!("GO-{i}"), "MAJOR", &file, *count);
        finding.occurrences.remove(0); // line 1 of each is fixed
        listed.push(finding);
    }
    app.run_worker().await.unwrap();
    fake.set_open(SAMPLE_REPO, listed);
    for (i, id) in ["RI-x", "RI-y", "RI-z"].iter().enumerate() {
        app.deliver(&issue_event_with(
            RESOLVED,
            &format!("r{i}"),
            id,
            1,
            T + 100,
            |_| {},
        ))
        .await;
    }
    app.run_worker().await.unwrap();
    let requests = fake.requests();
    look_up(&app).await;
    assert_eq!(
        fake.requests(),
        requests + 2,
        "one request for the three, one more for the long one's second page"
    );
    app.run_worker().await.unwrap();
    for (id, count) in [("RI-x", 2), ("RI-y", 2), ("RI-z", 149)] {
        let issue = app
            .github
            .issues(SAMPLE_REPO)
            .into_iter()
            .find(|i| i.body.contains(&format!("deepsource-sync:{id} ")))
            .unwrap_or_else(|| panic!("an issue for {id}"));
        assert!(
            issue.body.contains(&format!("| Open occurrences | {count} |")),
            "{}",
            issue.body
        );
        assert!(
            !issue.body.contains(&format!("{id}.go#L1-L1")),
            "line 1 fixed: {}",
            issue.body
        );
        assert!(!issue.body.contains(FIXED_SINCE));
    }
}

#[tokio::test]
async fn a_failed_lookup_changes_nothing_lets_the_count_through_and_is_retried() {
    let fake = FakeDeepSource::start();
    let app = app_with_deepsource(&fake).await;
    let three: Vec<Place> = (1..=3).map(|l| place("a.go", l)).collect();
    app.deliver(&introduced("1", T, &three)).await;
    app.run_worker().await.unwrap();

    deepsource_lists(&fake, &three[1..]);
    app.deliver(&resolved("2", T + 10, 1)).await;
    app.run_worker().await.unwrap();
    fake.fail_request(1, Fault::Status(502));
    look_up(&app).await;
    app.run_worker().await.unwrap();
    let body = &app.github.issues(SAMPLE_REPO)[0].body;
    assert_eq!(
        shown(&app),
        (2, set(&three)),
        "the count, with the lines as they were"
    );
    assert!(body.contains(&format!("1 {FIXED_SINCE}")), "{body}");
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM finding_lookups WHERE finding_id = $1")
            .bind(FINDING)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert!(error.unwrap().contains("502"));

    // Not retried before its backoff; then it is, and the fixed line goes.
    let requests = fake.requests();
    look_up(&app).await;
    assert_eq!(fake.requests(), requests, "waits out its backoff");
    sqlx::query("UPDATE finding_lookups SET due_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    look_up(&app).await;
    app.run_worker().await.unwrap();
    assert_eq!(shown(&app), (2, set(&three[1..])));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM finding_lookups")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

async fn compare(app: &TestApp, fake: &FakeDeepSource) {
    let client = DeepSource::new(&fake.url, SecretString::from(TOKEN.to_owned())).unwrap();
    let began = snapshot_begins(&app.pool).await.unwrap();
    let snapshot = take_snapshot(&client, &sample_repository()).await.unwrap();
    apply_snapshot(&app.pool, &snapshot, began).await.unwrap();
}

/// Events before a comparison, during its listing (held at DeepSource) and after it, a change
/// only the comparison can tell (a full run sends no events), and a sync held inside its GitHub
/// write while the comparison applies, mixed differently in each round: every round
/// ends with the issue showing exactly what DeepSource lists.
#[tokio::test]
async fn events_and_a_comparison_interleaved_end_exact_every_time() {
    let fake = FakeDeepSource::start();
    for round in 0..20u64 {
        // Six choices, spread over the rounds (13 is odd: 20 distinct mixes of 64, among them
        // a held sync with only the comparison's own news, round 15).
        let mix = (round * 13) % 64;
        let choose = |bit: u64| mix & (1 << bit) != 0;
        let app = app_with_deepsource(&fake).await;
        let client = DeepSource::new(&fake.url, SecretString::from(TOKEN.to_owned())).unwrap();
        let mut at = T;
        let next = |n: &mut i64| {
            *n += 10;
            (*n - T).to_string()
        };

        let mut truth: Vec<Place> = (1..=3).map(|l| place("a.go", l)).collect();
        deepsource_lists(&fake, &truth);
        app.deliver(&introduced(&next(&mut at), at, &truth)).await;
        app.run_worker().await.unwrap();

        // Before: a new occurrence whose sync is held at GitHub while the comparison applies.
        let held_sync = choose(0).then(|| place("b.go", 1));
        let mut worker = None;
        let mut github_hold = None;
        if let Some(b) = &held_sync {
            truth.push(b.clone());
            deepsource_lists(&fake, &truth);
            app.deliver(&introduced(&next(&mut at), at, std::slice::from_ref(b)))
                .await;
            let hold = app.github.hold_next("PATCH");
            let w = app.worker();
            worker = Some(tokio::spawn(async move { w.run_until_idle().await }));
            hold.arrived().await;
            github_hold = Some(hold);
        }

        // During the listing: a new occurrence and/or a fix.
        let began = snapshot_begins(&app.pool).await.unwrap();
        let listing = fake.hold_next();
        let taking = {
            let client = client.clone();
            tokio::spawn(async move { take_snapshot(&client, &sample_repository()).await })
        };
        listing.arrived().await;
        if choose(1) {
            // A full run (a `.deepsource.toml` change): DeepSource sends no event for it.
            truth.push(place("e.go", 9));
            deepsource_lists(&fake, &truth);
        }
        if choose(2) {
            let c = place("c.go", 1);
            truth.push(c.clone());
            deepsource_lists(&fake, &truth);
            app.deliver(&introduced(&next(&mut at), at, &[c])).await;
        }
        if choose(3) {
            truth.retain(|p| *p != place("a.go", 2));
            deepsource_lists(&fake, &truth);
            app.deliver(&resolved(&next(&mut at), at, 1)).await;
        }
        listing.release();
        let snapshot = taking.await.unwrap().unwrap();
        let applied = apply_snapshot(&app.pool, &snapshot, began).await.unwrap();
        if let (Some(hold), Some(worker)) = (github_hold, worker) {
            hold.release();
            worker.await.unwrap().unwrap();
        }

        // After: a fix and/or a new occurrence, from events alone.
        if choose(4) {
            truth.retain(|p| *p != place("a.go", 1));
            deepsource_lists(&fake, &truth);
            app.deliver(&resolved(&next(&mut at), at, 1)).await;
        }
        if choose(5) {
            let d = place("d.go", 4);
            truth.push(d.clone());
            deepsource_lists(&fake, &truth);
            app.deliver(&introduced(&next(&mut at), at, &[d])).await;
        }

        // What the service does by itself from here: syncs, lookups, and, where the comparison
        // left findings to their events (events during its listing), another comparison.
        app.run_worker().await.unwrap();
        look_up(&app).await;
        app.run_worker().await.unwrap();
        if applied.deferred > 0 {
            let began = snapshot_begins(&app.pool).await.unwrap();
            let snapshot = take_snapshot(&client, &sample_repository()).await.unwrap();
            apply_snapshot(&app.pool, &snapshot, began).await.unwrap();
            app.run_worker().await.unwrap();
        }
        assert_eq!(
            shown(&app),
            (truth.len() as i64, set(&truth)),
            "round {round} (choices {mix:06b}): deferred {}",
            applied.deferred
        );
    }
}
