//! GitHub's limits are part of the contract: a title over 256 characters, a body over 65,536 or
//! a label name over 50 is refused with 422. The fake refuses them as GitHub does, so each of
//! these would end the finding's jobs `dead` if the issue were not fitted to the limits.
use crate::fake_github::Issue;
use crate::helpers::{issue_event_with, spawn_app, Fault, TestApp, INTRODUCED, SAMPLE_REPO};

const FINDING: &str = "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==";
const T: i64 = 1_700_000_000;

/// Delivers one introduced event changed by `change`, runs the worker, and returns the one issue
/// it made, after checking the job ended `done`.
async fn synced_issue(app: &TestApp, change: impl FnOnce(&mut serde_json::Value)) -> Issue {
    app.deliver(&issue_event_with(INTRODUCED, "1", FINDING, 3, T, change))
        .await;
    app.run_worker().await.unwrap();
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "done", "{error:?}");
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1);
    let issue = issues[0].clone();
    assert!(
        issue.title.chars().count() <= 256,
        "{}",
        issue.title.chars().count()
    );
    assert!(
        issue.body.chars().count() <= 65_536,
        "{}",
        issue.body.chars().count()
    );
    assert!(
        issue.labels.iter().all(|l| l.chars().count() <= 50),
        "{:?}",
        issue.labels
    );
    assert!(
        issue
            .body
            .ends_with(&format!("<!-- deepsource-sync:{FINDING} -->\n")),
        "the marker survives intact"
    );
    assert!(issue.body.contains("| Open occurrences | 3 |"));
    issue
}

#[tokio::test]
async fn a_250_character_title_is_cut_with_an_ellipsis_and_keeps_its_shortcode() {
    let app = spawn_app().await;
    let title = "t".repeat(250);
    let issue = synced_issue(&app, |o| o["issue"]["title"] = title.clone().into()).await;
    assert_eq!(issue.title.chars().count(), 256);
    assert!(issue.title.ends_with("… (CRT-A0016)"), "{}", issue.title);
    assert!(issue.title.starts_with(&"t".repeat(200)));
}

#[tokio::test]
async fn a_title_that_neutralisation_lengthens_past_the_limit_is_cut() {
    let app = spawn_app().await;
    // 240 characters from DeepSource; each mention gains a zero-width space: 360 after.
    let title = "@ab".repeat(80);
    let issue = synced_issue(&app, |o| o["issue"]["title"] = title.clone().into()).await;
    assert!(!issue.title.contains("@ab"), "still no mention: {}", issue.title);
    assert!(issue.title.ends_with("… (CRT-A0016)"), "{}", issue.title);
}

#[tokio::test]
async fn a_description_that_escaping_lengthens_past_the_body_limit_is_shortened_first() {
    let app = spawn_app().await;
    // 16,500 characters from DeepSource, 66,000 once each `<` is escaped as `&lt;`.
    let description = "<".repeat(16_500);
    let issue = synced_issue(&app, |o| {
        o["issue"]["shortDescription"] = description.clone().into()
    })
    .await;
    assert!(
        issue.body.starts_with("&lt;&lt;"),
        "the description stays, shortened"
    );
    assert!(issue.body.contains("…"), "says it was cut");
    let description = issue.body.split("| |").next().unwrap();
    assert!(!description.contains('<'), "escaped, and cut between entities");
    assert!(
        description.trim_end().ends_with("&lt;…"),
        "{}",
        &description[description.len() - 20..]
    );
    assert!(
        issue
            .body
            .contains("(https://github.com/deepsourcelabs/demo-go/blob/master/code.go#L160-L160)"),
        "the locations are kept whole before the description is"
    );
}

#[tokio::test]
async fn a_long_analyzer_shortcode_makes_a_label_github_accepts() {
    let app = spawn_app().await;
    let shortcode = "a".repeat(60);
    let issue = synced_issue(&app, |o| {
        o["issue"]["analyzer"]["shortcode"] = shortcode.clone().into()
    })
    .await;
    let label = issue
        .labels
        .iter()
        .find(|l| l.starts_with("analyzer/"))
        .expect("an analyzer label");
    assert_eq!(label.chars().count(), 50, "{label}");
    assert!(issue.body.contains(&shortcode), "the body still names it in full");
}

#[tokio::test]
async fn a_validation_failure_keeps_githubs_errors_in_the_jobs_last_error() {
    let app = spawn_app().await;
    app.github.fail_next(
        "POST",
        Fault::Invalid {
            resource: "Issue",
            field: "assignees",
            code: "invalid",
        },
    );
    app.deliver(&issue_event_with(INTRODUCED, "1", FINDING, 1, T, |_| {}))
        .await;
    app.run_worker().await.unwrap();
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "dead");
    let error = error.unwrap();
    assert!(
        error.contains("422") && error.contains("Validation Failed"),
        "{error}"
    );
    for part in ["Issue", "assignees", "invalid"] {
        assert!(error.contains(part), "{part} in {error}");
    }
}

#[tokio::test]
async fn an_update_is_fitted_as_a_create_is() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    let long = issue_event_with(INTRODUCED, "2", FINDING, 1, T + 1, |o| {
        o["issue"]["title"] = "@x".repeat(200).into();
        o["issue"]["shortDescription"] = "<".repeat(16_500).into();
    });
    app.deliver(&long).await;
    app.run_worker().await.unwrap();
    let (status, error, _) = app.job_of("2").await;
    assert_eq!(status, "done", "{error:?}");
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert!(issue.body.starts_with("&lt;") && issue.body.contains("| Open occurrences | 2 |"));
    assert!(issue.title.chars().count() <= 256 && issue.title.ends_with("… (CRT-A0016)"));
}
