//! Routing to owners (ASSIGN_CODEOWNERS) and what every issue shows (ISSUE_LABELS,
//! ISSUE_TITLE_TEMPLATE), end to end from a signed delivery to the fake GitHub.
use deepsource_sync::configuration::TitleTemplate;

use crate::helpers::{
    issue_event, issue_event_with, spawn_app_with, Fault, TestApp, INTRODUCED, SAMPLE_REPO,
};

const CONTENTS: &str = "/repos/deepsourcelabs/demo-go/contents";

async fn routed_app() -> TestApp {
    spawn_app_with(|s| s.issues.assign_codeowners = true).await
}

/// A new finding with one open occurrence at each of `paths`, synced.
async fn introduce(app: &TestApp, finding: &str, paths: &[&str]) {
    let occurrences: Vec<serde_json::Value> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| serde_json::json!({ "path": path, "beginLine": i + 1, "endLine": i + 1, "title": "x" }))
        .collect();
    let event = issue_event_with(
        INTRODUCED,
        finding,
        finding,
        paths.len() as i64,
        1_700_000_000,
        |o| {
            o["occurrences"] = occurrences.into();
        },
    );
    app.deliver(&event).await;
    app.run_worker().await.unwrap();
}

/// The assignees of the issue the fake holds for `finding` (by its marker).
fn assignees_of(app: &TestApp, finding: &str) -> Vec<String> {
    let marker = format!("<!-- deepsource-sync:{finding} -->");
    let issues = app.github.issues(SAMPLE_REPO);
    let issue = issues
        .iter()
        .find(|i| i.body.contains(&marker))
        .expect("the issue exists");
    issue.assignees.clone()
}

fn creates(app: &TestApp) -> usize {
    let path = format!("/repos/{SAMPLE_REPO}/issues?");
    app.github
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == path)
        .count()
}

#[tokio::test]
async fn the_last_matching_line_names_the_users_and_the_second_create_reads_it_with_its_etag() {
    let app = routed_app().await;
    app.github.put_file(
        SAMPLE_REPO,
        ".github/CODEOWNERS",
        "* @all\n/src/ @src-team-lead @acme/core\n/src/legacy/ @old legacy@example.com\n",
    );
    // .github/CODEOWNERS is where GitHub looks first: this one never counts.
    app.github.put_file(SAMPLE_REPO, "CODEOWNERS", "* @root-file\n");

    introduce(&app, "F1", &["src/legacy/a.go", "src/legacy/deep/b.go"]).await;
    assert_eq!(
        assignees_of(&app, "F1"),
        ["old"],
        "the last match wins; the email is skipped"
    );
    introduce(&app, "F2", &["src/main.go", "README.md", "src/util.go"]).await;
    assert_eq!(
        assignees_of(&app, "F2"),
        ["all", "src-team-lead"],
        "each user once, paths in order; the team is skipped"
    );

    let calls = app.github.contents_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], (format!("{CONTENTS}/.github/CODEOWNERS"), None));
    assert_eq!(calls[1].0, format!("{CONTENTS}/.github/CODEOWNERS"));
    let etag = calls[1].1.as_deref().expect("the second read is conditional");
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(creates(&app), 2);
}

#[tokio::test]
async fn the_first_location_found_counts_and_an_earlier_one_is_seen_once_the_recheck_is_due() {
    let app = routed_app().await;
    app.github
        .put_file(SAMPLE_REPO, "docs/CODEOWNERS", "* @docs-file\n");
    app.github.put_file(SAMPLE_REPO, "CODEOWNERS", "* @root-file\n");
    introduce(&app, "F1", &["a.go"]).await;
    assert_eq!(assignees_of(&app, "F1"), ["root-file"]);
    let paths: Vec<String> = app.github.contents_calls().into_iter().map(|c| c.0).collect();
    assert_eq!(
        paths,
        [
            format!("{CONTENTS}/.github/CODEOWNERS"),
            format!("{CONTENTS}/CODEOWNERS")
        ]
    );

    // Added where GitHub looks first: the next create, soon after, still reads only CODEOWNERS…
    app.github
        .put_file(SAMPLE_REPO, ".github/CODEOWNERS", "* @new-file\n");
    introduce(&app, "F2", &["a.go"]).await;
    assert_eq!(assignees_of(&app, "F2"), ["root-file"]);
    assert_eq!(app.github.contents_calls().len(), 3);
    // …and once the earlier locations are due to be looked at again, the new file counts.
    sqlx::query("UPDATE codeowners_files SET checked_at = now() - interval '11 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    introduce(&app, "F3", &["a.go"]).await;
    assert_eq!(assignees_of(&app, "F3"), ["new-file"]);
    assert_eq!(app.github.contents_calls().len(), 4);
}

#[tokio::test]
async fn no_codeowners_creates_without_assignees_and_is_not_read_again_on_the_next_create() {
    let app = routed_app().await;
    introduce(&app, "F1", &["a.go"]).await;
    assert!(assignees_of(&app, "F1").is_empty());
    assert_eq!(app.github.contents_calls().len(), 3, "every location asked once");
    introduce(&app, "F2", &["b.go"]).await;
    assert!(assignees_of(&app, "F2").is_empty());
    assert_eq!(app.github.contents_calls().len(), 3, "not asked again so soon");
    assert_eq!(creates(&app), 2);
}

#[tokio::test]
async fn without_assign_codeowners_nothing_is_read_and_nobody_assigned() {
    let app = spawn_app_with(|_| {}).await;
    app.github.put_file(SAMPLE_REPO, "CODEOWNERS", "* @all\n");
    introduce(&app, "F1", &["a.go"]).await;
    assert!(assignees_of(&app, "F1").is_empty());
    assert!(app.github.contents_calls().is_empty());
}

#[tokio::test]
async fn at_most_ten_users_are_assigned() {
    let app = routed_app().await;
    let users: Vec<String> = (1..=12).map(|i| format!("@user{i}")).collect();
    app.github
        .put_file(SAMPLE_REPO, "CODEOWNERS", &format!("* {}\n", users.join(" ")));
    introduce(&app, "F1", &["a.go"]).await;
    let expected: Vec<String> = (1..=10).map(|i| format!("user{i}")).collect();
    assert_eq!(assignees_of(&app, "F1"), expected);
}

#[tokio::test]
async fn a_refused_assignee_is_left_out_and_remembered_and_the_issue_is_created_with_the_others() {
    let app = routed_app().await;
    app.github
        .put_file(SAMPLE_REPO, "CODEOWNERS", "* @amy @ghost @bob\n");
    app.github.refuse_assignee(SAMPLE_REPO, "ghost");
    introduce(&app, "F1", &["a.go"]).await;
    assert_eq!(assignees_of(&app, "F1"), ["amy", "bob"]);
    assert_eq!(creates(&app), 2, "the refused create, then one without ghost");
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    assert!(!app.create_intent("F1").await, "the create's outcome is known");
    assert_eq!(app.job_of("F1").await.0, "done");
    assert_eq!(app.actions_of("F1").await, [("create".to_owned(), Some(1))]);

    // The next create in the repository does not spend a write on the refusal again.
    introduce(&app, "F2", &["b.go"]).await;
    assert_eq!(assignees_of(&app, "F2"), ["amy", "bob"]);
    assert_eq!(creates(&app), 3);
}

#[tokio::test]
async fn a_refusal_that_names_no_one_creates_without_any_assignee() {
    let app = routed_app().await;
    app.github.put_file(SAMPLE_REPO, "CODEOWNERS", "* @amy @bob\n");
    app.github.fail_next(
        "POST",
        Fault::Invalid {
            resource: "Issue",
            field: "assignees",
            code: "invalid",
        },
    );
    introduce(&app, "F1", &["a.go"]).await;
    assert!(assignees_of(&app, "F1").is_empty());
    assert_eq!(creates(&app), 2);
    assert_eq!(app.job_of("F1").await.0, "done");
}

#[tokio::test]
async fn the_create_after_a_refusal_is_recorded_as_begun_so_a_lost_answer_is_found_not_repeated() {
    let app = routed_app().await;
    app.github.put_file(SAMPLE_REPO, "CODEOWNERS", "* @amy\n");
    let refused = Fault::Invalid {
        resource: "Issue",
        field: "assignees",
        code: "invalid",
    };
    app.github.fail_next("POST", refused);
    app.github.fail_next("POST", Fault::LoseResponse);
    introduce(&app, "F1", &["a.go"]).await;
    assert_eq!(
        app.github.issues(SAMPLE_REPO).len(),
        1,
        "made, but its answer was lost"
    );
    assert!(app.create_intent("F1").await);
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(
        app.github.issues(SAMPLE_REPO).len(),
        1,
        "found by its marker, not made again"
    );
    assert_eq!(app.linked_issue("F1").await, Some(1));
    assert_eq!(creates(&app), 2);
}

#[tokio::test]
async fn a_codeowners_read_that_fails_does_not_stop_the_create() {
    let app = routed_app().await;
    app.github.put_file(SAMPLE_REPO, ".github/CODEOWNERS", "* @amy\n");
    app.github.fail_next("GET", Fault::Status(500));
    introduce(&app, "F1", &["a.go"]).await;
    assert!(assignees_of(&app, "F1").is_empty());
    assert_eq!(app.job_of("F1").await.0, "done");
    // Nothing was learnt from the failure: the next create reads it afresh.
    introduce(&app, "F2", &["a.go"]).await;
    assert_eq!(assignees_of(&app, "F2"), ["amy"]);
}

#[tokio::test]
async fn issue_labels_and_the_title_template_reach_github() {
    let app = spawn_app_with(|s| {
        s.issues.extra_labels = vec!["triage".into(), "DeepSource".into()];
        s.issues.title_template = TitleTemplate::parse("[{category}] {title} · {shortcode}").unwrap();
    })
    .await;
    app.deliver(&issue_event(INTRODUCED, "1", "F1", 1, 1_700_000_000))
        .await;
    app.run_worker().await.unwrap();
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert_eq!(
        issue.title,
        "[ANTI_PATTERN] Simplify slice expression to sliced value itself · CRT-A0016"
    );
    assert_eq!(
        issue.labels,
        ["deepsource", "deepsource/anti_pattern", "analyzer/go", "triage"],
        "after the service's own; `DeepSource` is `deepsource` to GitHub"
    );
}
