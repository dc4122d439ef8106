//! `deepsource-sync backfill` as an operator runs it.
use crate::cli::{binary, text};
use crate::fake_deepsource::{FakeDeepSource, Fault, Finding, TOKEN};
use crate::helpers::fresh_database;

#[tokio::test]
async fn backfill_imports_what_is_open_and_says_what_github_will_get_and_when() {
    let fake = FakeDeepSource::start();
    let open: Vec<Finding> = (0..150)
        .map(|i| {
            Finding::new(
                &format!("RI{i}"),
                &format!("GO-W{i:04}"),
                "MAJOR",
                "cmd/main.go",
                2,
            )
        })
        .collect();
    fake.set_open("acme/api", open);
    let db = fresh_database();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("DEEPSOURCE_API_URL", fake.url.as_str()),
        ("DEEPSOURCE_API_TOKEN", TOKEN),
    ];
    let run = |args: &'static [&'static str]| {
        let env = env.map(|(k, v)| (k, v.to_owned()));
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            binary(&env).args(args).output().unwrap()
        })
    };
    let output = run(&["backfill", "--repository", "acme/api"]).await.unwrap();
    let printed = text(&output);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("GITHUB:acme/api: 150 open findings at DeepSource (150 new here"),
        "{printed}"
    );
    assert!(
        printed.contains("GitHub issues to create 150, update 0, close 0"),
        "{printed}"
    );
    // 150 creates at 500 an hour: 18 minutes.
    assert!(
        printed.contains("150 GitHub writes queued") && printed.contains("18m"),
        "{printed}"
    );
    assert!(
        printed.contains("150 of 150 issues listed"),
        "plain progress lines off a terminal: {printed}"
    );

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let (findings, jobs): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM findings WHERE open_occurrences = 2),
                (SELECT count(*) FROM sync_jobs WHERE status = 'pending')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((findings, jobs), (150, 150));

    // A failed comparison says so, exits non-zero, and changes nothing.
    fake.set_open("acme/api", Vec::new());
    fake.fail_request(1, Fault::Status(502));
    let all = run(&["backfill", "--all"]).await.unwrap();
    assert!(!all.status.success());
    assert!(
        text(&all).contains("not compared, nothing changed"),
        "{}",
        text(&all)
    );
    let still: i64 = sqlx::query_scalar("SELECT count(*) FROM findings WHERE open_occurrences = 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(still, 150);

    // Without a token it is refused, naming the variable.
    let env: Vec<(&str, &str)> = vec![("DATABASE_URL", db.url.as_str())];
    let refused = tokio::task::spawn_blocking({
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            binary(&env).args(["backfill", "--all"]).output().unwrap()
        }
    })
    .await
    .unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("DEEPSOURCE_API_TOKEN"),
        "{}",
        text(&refused)
    );
}
