//! What people do to an overview: a ticked box opens that finding's own issue (learnt by GitHub's
//! webhook or by reading the overview), a tick made while the service writes is not lost, and a
//! person's close turns the overview off until a person reopens it. Each runs both ways the
//! service learns.
use deepsource_sync::configuration::FindingIssues;
use deepsource_sync::issue::overview::tick_marker;

use crate::helpers::{TestApp, INTRODUCED, SAMPLE_REPO};
use crate::overview::{overview, own_issues, with_overview};
use crate::people::{app_that, post_github, Learns};

const BOTH: [Learns; 2] = [Learns::FromWebhooks, Learns::ByReading];

async fn app(learns: Learns) -> TestApp {
    app_that(learns, |s| with_overview(s, FindingIssues::None)).await
}

/// Two findings listed with boxes in the overview; its number.
async fn listed(app: &TestApp) -> i64 {
    app.sync_event(INTRODUCED, "ev-1", "RI-a", 2, 1_700_000_000).await;
    app.sync_event(INTRODUCED, "ev-2", "RI-b", 1, 1_700_000_010).await;
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    let overview = overview(app);
    assert_eq!(overview.body.matches("- [ ] ").count(), 2, "{}", overview.body);
    overview.number
}

/// GitHub's `issues` webhook for what a person just did to `number`, under a new delivery id
/// (or `delivery`); with `Learns::ByReading` nothing is sent.
async fn tell(app: &TestApp, learns: Learns, number: i64, action: &str, delivery: Option<&str>) {
    if learns == Learns::ByReading {
        return;
    }
    let event = serde_json::to_vec(&app.github.issues_event(SAMPLE_REPO, number, action)).unwrap();
    let id = delivery.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let response = post_github(app, "issues", &id, &event).await;
    assert_eq!(response.status(), 200);
}

/// Why the overview is off and who turned it off (`None`s: it is on).
async fn off_by(app: &TestApp) -> (Option<String>, Option<String>) {
    sqlx::query_as("SELECT off_reason, off_by FROM overviews")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The service's next look (without webhooks, the read interval passes) and what it leads to,
/// then the overview's delay passes and it is written.
async fn next_look(app: &TestApp) {
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
    app.make_overviews_due().await;
    app.run_worker().await.unwrap();
}

#[tokio::test]
async fn a_ticked_box_opens_exactly_one_issue_for_its_finding() {
    for learns in BOTH {
        let app = app(learns).await;
        let number = listed(&app).await;
        app.github
            .tick_as_person(SAMPLE_REPO, number, &tick_marker("RI-a"));
        tell(&app, learns, number, "edited", Some("tick-delivery")).await;
        next_look(&app).await;
        let own = own_issues(&app, SAMPLE_REPO);
        assert_eq!(own.len(), 1, "{learns:?}: {own:?}");
        let body = overview(&app).body;
        assert!(
            body.contains(&format!("- #{} ", own[0].number)),
            "{learns:?}: {body}"
        );
        assert_eq!(
            body.matches("- [ ] ").count(),
            1,
            "{learns:?}: RI-b keeps its box"
        );

        // Told again (a redelivery, or the same ticks seen again): nothing more is opened.
        if learns == Learns::FromWebhooks {
            tell(&app, learns, number, "edited", Some("tick-delivery")).await;
            tell(&app, learns, number, "edited", None).await;
        }
        next_look(&app).await;
        assert_eq!(own_issues(&app, SAMPLE_REPO).len(), 1, "{learns:?}");
    }
}

#[tokio::test]
async fn a_box_ticked_while_the_service_writes_the_overview_is_not_lost() {
    for learns in BOTH {
        let app = app(learns).await;
        let number = listed(&app).await;
        app.sync_event(INTRODUCED, "ev-3", "RI-b", 1, 1_700_000_020).await;
        // The overview is due: its write is held at GitHub (with webhooks) or the read before it
        // is (without), while a person ticks a box.
        let held = app.github.hold_next(match learns {
            Learns::FromWebhooks => "PATCH",
            Learns::ByReading => "GET",
        });
        app.make_overviews_due().await;
        let worker = {
            let worker = app.worker();
            tokio::spawn(async move { worker.run_until_idle().await.unwrap() })
        };
        held.arrived().await;
        app.github
            .tick_as_person(SAMPLE_REPO, number, &tick_marker("RI-a"));
        tell(&app, learns, number, "edited", None).await;
        held.release();
        worker.await.unwrap();
        next_look(&app).await;
        let own = own_issues(&app, SAMPLE_REPO);
        assert_eq!(own.len(), 1, "{learns:?}: the tick opened RI-a's issue");
        assert!(
            own[0].body.contains("RI-a") || own[0].title.contains("demo"),
            "{learns:?}"
        );
        let body = overview(&app).body;
        assert!(
            body.contains(&format!("- #{} ", own[0].number)),
            "{learns:?}: {body}"
        );
        assert!(
            body.contains("**2 findings, 4 occurrences**"),
            "{learns:?}: {body}"
        );
    }
}

#[tokio::test]
async fn an_overview_a_person_closes_is_never_written_again_until_they_reopen_it() {
    for learns in BOTH {
        let app = app(learns).await;
        let number = listed(&app).await;
        app.github.close_as_person(SAMPLE_REPO, number, "not_planned");
        tell(&app, learns, number, "closed", None).await;
        next_look(&app).await;
        let writes = app.overview_writes(SAMPLE_REPO, number);
        app.sync_event(INTRODUCED, "ev-3", "RI-c", 5, 1_700_000_020).await;
        next_look(&app).await;
        let closed = overview(&app);
        assert_eq!(closed.state, "closed", "{learns:?}");
        assert_eq!(
            app.overview_writes(SAMPLE_REPO, number),
            writes,
            "{learns:?}: not written, not reopened"
        );
        let off = off_by(&app).await;
        assert_eq!(off.0.as_deref(), Some("not_planned"), "{learns:?}");

        app.github.reopen_as_person(SAMPLE_REPO, number);
        tell(&app, learns, number, "reopened", None).await;
        next_look(&app).await;
        let resumed = overview(&app);
        assert_eq!(resumed.state, "open", "{learns:?}");
        assert!(
            resumed.body.contains("**3 findings, 8 occurrences**"),
            "{learns:?}: brought up to date: {}",
            resumed.body
        );
        assert_eq!(
            crate::overview::overviews(&app, SAMPLE_REPO).len(),
            1,
            "{learns:?}"
        );
    }
}

#[tokio::test]
async fn labels_people_add_to_the_overview_are_kept() {
    let app = app(Learns::ByReading).await;
    let number = listed(&app).await;
    app.github.label_as_person(SAMPLE_REPO, number, "team/platform");
    app.sync_event(INTRODUCED, "ev-3", "RI-c", 5, 1_700_000_020).await;
    next_look(&app).await;
    let overview = overview(&app);
    assert!(
        overview.labels.contains(&"team/platform".to_owned()),
        "{:?}",
        overview.labels
    );
    assert!(overview.body.contains("**3 findings"), "{}", overview.body);
}

#[tokio::test]
async fn operators_see_each_overview_who_turned_it_off_and_its_writes() {
    let app = app_that(Learns::FromWebhooks, |s| {
        with_overview(s, FindingIssues::None);
        s.operations.admin_token = Some(secrecy::SecretString::from(crate::admin::ADMIN_TOKEN));
    })
    .await;
    let number = listed(&app).await;
    app.github.close_as_person(SAMPLE_REPO, number, "not_planned");
    tell(&app, Learns::FromWebhooks, number, "closed", None).await;

    let (status, body) = app.admin_get("/api/overviews").await;
    assert_eq!(status, 200, "{body}");
    let row = &body["overviews"][0];
    assert_eq!(row["repository"], "deepsourcelabs/demo-go", "{body}");
    assert_eq!(row["issue_number"], number);
    assert!(row["issue_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/{SAMPLE_REPO}/issues/{number}")));
    assert_eq!(
        (row["off_reason"].as_str(), row["off_by"].as_str()),
        (Some("not_planned"), Some("octocat"))
    );
    assert!(
        row["written_at"].is_string() && row["visible_at"].is_string(),
        "{row}"
    );
    let (_, status) = app.admin_get("/api/status").await;
    assert_eq!(status["overviews"][0]["off_by"], "octocat");

    let (_, cookie) = crate::status_page::sign_in(&app).await;
    let page = app
        .client
        .get(format!("{}/", app.address))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("off: not_planned by octocat"), "{page}");

    let url = app.settings.database.url().to_owned();
    let cli = crate::cli::binary(&[("DATABASE_URL", &url)])
        .arg("status")
        .output()
        .unwrap();
    let printed = crate::cli::text(&cli);
    assert!(
        printed.contains(&format!(
            "overview   deepsourcelabs/demo-go: {SAMPLE_REPO}#{number}, off: not_planned by octocat"
        )),
        "{printed}"
    );

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("deepsource_sync_overview_writes_total{action=\"create\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_overview_a_person_deletes_is_not_made_again() {
    for learns in BOTH {
        let app = app(learns).await;
        let number = listed(&app).await;
        app.github.delete_as_person(SAMPLE_REPO, number);
        tell(&app, learns, number, "deleted", None).await;
        next_look(&app).await;
        app.sync_event(INTRODUCED, "ev-3", "RI-c", 5, 1_700_000_020).await;
        next_look(&app).await;
        let all = crate::overview::overviews(&app, SAMPLE_REPO);
        assert_eq!(all.len(), 1, "{learns:?}: not made again");
        assert!(all[0].deleted, "{learns:?}");
        let off = off_by(&app).await.0;
        assert_eq!(off.as_deref(), Some("deleted"), "{learns:?}");
        assert!(
            own_issues(&app, SAMPLE_REPO).is_empty(),
            "{learns:?}: FINDING_ISSUES=none still"
        );
    }
}

#[tokio::test]
async fn the_services_own_close_leaves_the_overview_on_and_a_persons_later_close_turns_it_off() {
    for learns in BOTH {
        let app = app(learns).await;
        let number = listed(&app).await;
        app.sync_event(crate::helpers::RESOLVED, "ev-3", "RI-a", 2, 1_700_000_020)
            .await;
        app.sync_event(crate::helpers::RESOLVED, "ev-4", "RI-b", 1, 1_700_000_030)
            .await;
        next_look(&app).await;
        assert_eq!(overview(&app).state, "closed", "{learns:?}: nothing open");
        // GitHub tells of that close too: it is the service's, not a person's.
        tell(&app, learns, number, "closed", Some("own-close")).await;
        if learns == Learns::FromWebhooks {
            let outcome: String =
                sqlx::query_scalar("SELECT outcome FROM github_events WHERE id = 'own-close'")
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
            assert_eq!(outcome, "overview closed by the service: nothing is open");
        }
        next_look(&app).await;
        let off = off_by(&app).await.0;
        assert_eq!(off, None, "{learns:?}");

        // A person reopens it (left open), then closes it: that close is theirs.
        app.github.reopen_as_person(SAMPLE_REPO, number);
        tell(&app, learns, number, "reopened", None).await;
        next_look(&app).await;
        assert_eq!(
            overview(&app).state,
            "open",
            "{learns:?}: left open as the person wants"
        );
        app.github.close_as_person(SAMPLE_REPO, number, "completed");
        tell(&app, learns, number, "closed", None).await;
        next_look(&app).await;
        let off = off_by(&app).await;
        assert_eq!(
            (off.0.as_deref(), off.1.as_deref()),
            (Some("completed"), Some("octocat")),
            "{learns:?}"
        );
    }
}
