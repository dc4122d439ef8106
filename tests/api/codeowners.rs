//! What every issue shows besides its finding (ISSUE_LABELS, ISSUE_TITLE_TEMPLATE), end to end
//! from a signed delivery to the fake GitHub.
use deepsource_sync::configuration::TitleTemplate;

use crate::helpers::{issue_event, spawn_app_with, INTRODUCED, SAMPLE_REPO};

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
