//! What a team decided in DeepSource, read from its API whole or not at all: a repository's
//! ignore rules and categories switched off, and its team's suppressions, every page of each.
use deepsource_sync::deepsource::{take_decisions, DeepSource, NotFixed, RepositoryRef, SnapshotError};
use secrecy::SecretString;

use crate::fake_deepsource::{FakeDeepSource, Fault, Finding, Rule, TOKEN};

fn client(fake: &FakeDeepSource) -> DeepSource {
    DeepSource::new(&fake.url, SecretString::from(TOKEN.to_owned())).unwrap()
}

fn repository() -> RepositoryRef {
    RepositoryRef::parse("acme/api", "GITHUB").unwrap()
}

/// `acme/api` with 250 ignore rules (one for the whole repository, the rest by glob), SECURITY
/// switched off, and 120 issues its team suppressed.
fn decided() -> FakeDeepSource {
    let fake = FakeDeepSource::start();
    fake.set_open(
        "acme/api",
        vec![Finding::new("RI-1", "PY-W0001", "MINOR", "a.py", 1)],
    );
    let mut rules: Vec<Rule> = (0..249)
        .map(|i| Rule {
            shortcode: format!("PY-W{:04}", 100 + i),
            level: "REPOSITORY".into(),
            kind: "PATTERN".into(),
            glob: Some("tests/**".into()),
            created_at: "2026-11-02T10:00:00Z".into(),
            ..Rule::default()
        })
        .collect();
    rules.push(Rule {
        shortcode: "PY-W0001".into(),
        level: "REPOSITORY".into(),
        kind: "FOREVER".into(),
        created_at: "2026-11-03T10:00:00Z".into(),
        ..Rule::default()
    });
    fake.set_rules("acme/api", rules, &["SECURITY"]);
    let suppressed: Vec<String> = (0..120).map(|i| format!("JS-{i:04}")).collect();
    fake.set_suppressed("acme", &suppressed.iter().map(String::as_str).collect::<Vec<_>>());
    fake
}

#[tokio::test]
async fn every_page_of_rules_and_suppressions_is_read() {
    let fake = decided();
    let decisions = take_decisions(&client(&fake), &repository()).await.unwrap();
    assert_eq!(decisions.rules.len(), 250);
    assert_eq!(decisions.suppressed.len(), 120);
    assert_eq!(decisions.categories_off, ["SECURITY"]);
    assert_eq!(decisions.requests, 5, "three pages of rules, two of suppressions");
    assert_eq!(fake.requests(), 5);
    let why = decisions.why_not_fixed("PY-W0001", "STYLE", &["a.py"]).unwrap();
    assert_eq!(
        why.sentence(),
        "Ignored in DeepSource for this repository since 2026-11-03."
    );
    assert!(matches!(
        decisions.why_not_fixed("JS-0119", "BUG_RISK", &["a.js"]),
        Some(NotFixed::Suppressed { .. })
    ));
    assert!(matches!(
        decisions.why_not_fixed("PY-W0200", "STYLE", &["tests/test_a.py"]),
        Some(NotFixed::Covered { .. })
    ));
    assert_eq!(decisions.why_not_fixed("PY-W0200", "STYLE", &["src/a.py"]), None);
}

#[tokio::test]
async fn a_page_that_fails_or_does_not_add_up_is_no_answer_at_all() {
    let fake = decided();
    fake.fail_request(2, Fault::Status(502));
    assert!(matches!(
        take_decisions(&client(&fake), &repository()).await,
        Err(SnapshotError::Api(_))
    ));
    let fake = decided();
    fake.fail_request(4, Fault::MissingItem);
    let error = take_decisions(&client(&fake), &repository()).await.unwrap_err();
    assert!(matches!(error, SnapshotError::Incomplete(_)), "{error}");
    let fake = decided();
    fake.fail_request(1, Fault::NoCursor);
    assert!(matches!(
        take_decisions(&client(&fake), &repository()).await,
        Err(SnapshotError::Incomplete(_))
    ));
    let unknown = RepositoryRef::parse("acme/nothing", "GITHUB").unwrap();
    assert!(matches!(
        take_decisions(&client(&decided()), &unknown).await,
        Err(SnapshotError::NotVisible(_))
    ));
}
