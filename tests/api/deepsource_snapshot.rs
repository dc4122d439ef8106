//! Snapshots from DeepSource's GraphQL API: complete, or an error that changes nothing.
use std::time::Duration;

use deepsource_sync::deepsource::{
    take_snapshot, Budget, DeepSource, DeepSourceError, RepositoryRef, SnapshotError, MAX_INLINE_WAIT,
};
use secrecy::SecretString;

use crate::fake_deepsource::{FakeDeepSource, Fault, Finding, TOKEN};

fn client(fake: &FakeDeepSource, token: &str) -> DeepSource {
    DeepSource::new(&fake.url, SecretString::from(token.to_owned())).unwrap()
}

fn repo(login_name: &str) -> RepositoryRef {
    let (login, name) = login_name.split_once('/').unwrap();
    RepositoryRef {
        provider: "GITHUB".into(),
        login: login.into(),
        name: name.into(),
    }
}

/// 250 findings (three pages of issues), the first with 230 occurrences (three pages of them).
fn busy_repository(fake: &FakeDeepSource) {
    let mut findings: Vec<Finding> = (0..250)
        .map(|i| {
            Finding::new(
                &format!("RI{i}"),
                &format!("PYL-W{i:04}"),
                "MAJOR",
                &format!("src/f{i}.py"),
                1 + i % 3,
            )
        })
        .collect();
    findings[0] = Finding::new("RI0", "PYL-W0000", "CRITICAL", "src/big.py", 230);
    fake.set_open("acme/api", findings);
}

#[tokio::test]
async fn every_page_of_issues_and_of_occurrences_is_read() {
    let fake = FakeDeepSource::start();
    busy_repository(&fake);
    let snapshot = take_snapshot(&client(&fake, TOKEN), &repo("acme/api"))
        .await
        .unwrap();
    assert_eq!(snapshot.findings.len(), 250);
    let big = &snapshot.findings[0];
    assert_eq!(
        (big.id.as_str(), big.severity.as_deref()),
        ("RI0", Some("CRITICAL"))
    );
    assert_eq!(big.occurrences.len(), 230);
    let lines: Vec<i64> = big.occurrences.iter().map(|o| o.begin_line.unwrap()).collect();
    assert_eq!(
        lines,
        (1..=230).collect::<Vec<_>>(),
        "each occurrence once, in order"
    );
    let last = &snapshot.findings[249];
    assert_eq!(
        (last.occurrences.len(), last.shortcode.as_str()),
        (1, "PYL-W0249"),
        "249 % 3 + 1 occurrences"
    );
    assert_eq!(last.analyzer_shortcode, "python");
    // The least possible: three pages of issues, two more pages of the big one's occurrences.
    assert_eq!((snapshot.requests, fake.requests()), (5, 5));
}

#[tokio::test]
async fn a_failed_page_fails_the_whole_snapshot_and_a_retry_completes_it() {
    let fake = FakeDeepSource::start();
    busy_repository(&fake);
    let ds = client(&fake, TOKEN);
    for (n, fault) in [
        (4, Fault::Status(502)),   // the second page of issues
        (2, Fault::GraphQlErrors), // a 200 that says a field failed
        (3, Fault::Status(500)),   // the last page of the big one's occurrences
    ] {
        fake.fail_request(n, fault.clone());
        let err = take_snapshot(&ds, &repo("acme/api")).await.unwrap_err();
        assert!(
            matches!(err, SnapshotError::Api(DeepSourceError::Failed(_))),
            "{fault:?}: {err}"
        );
    }
    // A page that does not come in time.
    let impatient = DeepSource::with_timeout(
        &fake.url,
        SecretString::from(TOKEN.to_owned()),
        Duration::from_millis(300),
    )
    .unwrap();
    fake.fail_request(4, Fault::Slow(Duration::from_secs(2)));
    let err = take_snapshot(&impatient, &repo("acme/api")).await.unwrap_err();
    assert!(
        matches!(err, SnapshotError::Api(DeepSourceError::Failed(_))),
        "{err}"
    );
    // Pages that do not add up: an item missing, a cursor missing.
    for (n, fault) in [
        (1, Fault::MissingItem),
        (3, Fault::MissingItem),
        (2, Fault::NoCursor),
    ] {
        fake.fail_request(n, fault.clone());
        let err = take_snapshot(&ds, &repo("acme/api")).await.unwrap_err();
        assert!(matches!(err, SnapshotError::Incomplete(_)), "{fault:?}: {err}");
    }
    let snapshot = take_snapshot(&ds, &repo("acme/api")).await.unwrap();
    assert_eq!(snapshot.findings.len(), 250);
}

#[tokio::test]
async fn rate_limits_and_a_rejected_token_are_told_apart() {
    let fake = FakeDeepSource::start();
    busy_repository(&fake);
    let ds = client(&fake, TOKEN);
    fake.fail_request(1, Fault::TooManyRequests { retry_after: Some(7) });
    assert_eq!(
        take_snapshot(&ds, &repo("acme/api")).await.unwrap_err(),
        SnapshotError::Api(DeepSourceError::RateLimited {
            wait: Duration::from_secs(7)
        })
    );
    fake.fail_request(1, Fault::TooManyRequests { retry_after: None });
    assert_eq!(
        take_snapshot(&ds, &repo("acme/api")).await.unwrap_err(),
        SnapshotError::Api(DeepSourceError::RateLimited {
            wait: Duration::from_secs(60)
        })
    );
    let rejected = take_snapshot(&client(&fake, "wrong-token"), &repo("acme/api")).await;
    assert!(
        matches!(
            rejected,
            Err(SnapshotError::Api(DeepSourceError::Unauthorized(_)))
        ),
        "{rejected:?}"
    );
}

#[tokio::test]
async fn a_repository_the_token_cannot_see_is_not_an_empty_one() {
    let fake = FakeDeepSource::start();
    fake.set_open("acme/quiet", Vec::new());
    let ds = client(&fake, TOKEN);
    let quiet = take_snapshot(&ds, &repo("acme/quiet")).await.unwrap();
    assert!(quiet.findings.is_empty());
    let hidden = take_snapshot(&ds, &repo("acme/hidden")).await.unwrap_err();
    assert_eq!(hidden, SnapshotError::NotVisible(repo("acme/hidden")));
    assert!(hidden.to_string().contains("GITHUB:acme/hidden"), "{hidden}");
}

/// Two replicas, one token, one budget in Postgres: 600 an hour holds ten requests at once
/// (a minute's worth), then one every six seconds.
#[tokio::test]
async fn replicas_on_one_token_share_one_request_budget_and_a_429_holds_them_all() {
    let app = crate::helpers::spawn_app().await;
    let fake = FakeDeepSource::start();
    fake.set_open("acme/quiet", Vec::new());
    let replica = || client(&fake, TOKEN).with_budget(Budget::new(app.pool.clone(), TOKEN, 600));
    let (a, b) = (replica(), replica());
    let quiet = repo("acme/quiet");
    let attempts = (0..8).flat_map(|_| [take_snapshot(&a, &quiet), take_snapshot(&b, &quiet)]);
    let results = futures_util::future::join_all(attempts).await;
    let made = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!((made, fake.requests()), (10, 10), "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        match refused {
            SnapshotError::Api(DeepSourceError::Budget { wait }) => {
                assert!(
                    *wait > MAX_INLINE_WAIT && *wait <= Duration::from_secs(6),
                    "{wait:?}"
                )
            }
            other => panic!("{other}"),
        }
    }

    // Another token has a budget of its own; a 429 it is given holds every replica using it.
    let other = |fake: &FakeDeepSource| {
        client(fake, TOKEN).with_budget(Budget::new(app.pool.clone(), "another-token", 600))
    };
    fake.fail_request(
        1,
        Fault::TooManyRequests {
            retry_after: Some(30),
        },
    );
    let told = take_snapshot(&other(&fake), &repo("acme/quiet"))
        .await
        .unwrap_err();
    assert_eq!(
        told,
        SnapshotError::Api(DeepSourceError::RateLimited {
            wait: Duration::from_secs(30)
        })
    );
    let before = fake.requests();
    let held = take_snapshot(&other(&fake), &repo("acme/quiet"))
        .await
        .unwrap_err();
    match held {
        SnapshotError::Api(DeepSourceError::Budget { wait }) => {
            assert!(
                wait > Duration::from_secs(25) && wait <= Duration::from_secs(31),
                "{wait:?}"
            )
        }
        other => panic!("{other}"),
    }
    assert_eq!(fake.requests(), before, "nothing went out while blocked");
}
