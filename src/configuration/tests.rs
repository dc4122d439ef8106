//! The settings read from the environment, as a whole and group by group.
use super::*;
use std::collections::HashMap;

pub(crate) fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_lookup(|k| vars.get(k).cloned())
}

#[test]
fn defaults_apply_when_only_a_secret_is_set() {
    let s = settings(&[("DEEPSOURCE_WEBHOOK_SECRETS", "0123456789abcdef")]).unwrap();
    assert_eq!(s.database.url(), DEFAULT_DATABASE_URL);
    assert_eq!(s.bind_addr.to_string(), "0.0.0.0:8080");
    assert_eq!(s.webhook.max_body_bytes, 1_048_576);
    assert_eq!(s.webhook.ingest_timeout, Duration::from_millis(5000));
    assert_eq!(s.webhook.body_read_timeout, Duration::from_secs(10));
    assert_eq!(s.webhook.max_inflight_body_bytes, 64 * 1_048_576);
    assert!(!s.trusted_proxies.trusts("127.0.0.1".parse().unwrap()));
    assert_eq!(s.log_filter, "info");
    assert_eq!(s.database.acquire_timeout, Duration::from_millis(2000));
    assert_eq!(s.log_format, LogFormat::Pretty);
    assert!(!s.webhook.allow_unsigned);
    assert_eq!(s.webhook.secrets.len(), 1);
}

#[test]
fn several_secrets_are_split_on_commas() {
    let s = settings(&[(
        "DEEPSOURCE_WEBHOOK_SECRETS",
        "0123456789abcdef, fedcba9876543210fedcba",
    )])
    .unwrap();
    assert_eq!(s.webhook.secrets.len(), 2);
}

#[test]
fn no_secret_and_no_opt_out_refuses_to_serve() {
    let err = settings(&[]).unwrap().webhook.check_signing().unwrap_err();
    assert_eq!(err.var, "DEEPSOURCE_WEBHOOK_SECRETS");
    let opted_out = settings(&[("ALLOW_UNSIGNED_WEBHOOKS", "true")]).unwrap();
    assert!(opted_out.webhook.check_signing().is_ok());
}

#[test]
fn a_short_secret_is_refused() {
    let err = settings(&[("DEEPSOURCE_WEBHOOK_SECRETS", "short")]).unwrap_err();
    assert_eq!(err.var, "DEEPSOURCE_WEBHOOK_SECRETS");
}

#[test]
fn wrong_values_name_their_variable() {
    let secret = ("DEEPSOURCE_WEBHOOK_SECRETS", "0123456789abcdef");
    for (var, value) in [
        ("MAX_BODY_BYTES", "lots"),
        ("MAX_BODY_BYTES", "0"),
        ("BIND_ADDR", "localhost"),
        ("LOG_FORMAT", "xml"),
        ("ALLOW_UNSIGNED_WEBHOOKS", "maybe"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_MAX_CONNECTIONS", "1"),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "0"),
        ("INGEST_TIMEOUT_MS", "5s"),
        ("GITHUB_API_URL", "api.github.com"),
        ("GITHUB_REPO", "just-a-name"),
        ("GITHUB_APP_ID", "not-a-number"),
        ("GITHUB_WRITES_PER_MINUTE", "0"),
        ("GITHUB_MIN_WRITE_INTERVAL_MS", "soon"),
        ("REOPEN_POLICY", "sometimes"),
        ("SYNC_LEASE_SECS", "1"),
        ("SYNC_POLL_INTERVAL", "often"),
        ("SYNC_POLL_INTERVAL", "0s"),
        ("DATABASE_LISTEN_URL", "pgbouncer:6432"),
        ("DATABASE_LISTEN_URL", "postgres://u:pw@db:99999/x"),
        ("DATABASE_URL", "postgres://u:pw@db:99999/x"),
        ("GITHUB_API_URL", "http://exa mple"),
        ("GITHUB_API_URL", "https://"),
        ("RUST_LOG", "wran"),
        ("BODY_READ_TIMEOUT", "soon"),
        ("BODY_READ_TIMEOUT", "0s"),
        ("MAX_INFLIGHT_BODY_BYTES", "1000"),
        ("TRUSTED_PROXIES", "the-proxy"),
        ("DEEPSOURCE_API_URL", "api.deepsource.io/graphql/"),
        ("DEEPSOURCE_REQUESTS_PER_HOUR", "6000"),
        ("DEEPSOURCE_APP_URL", "app.deepsource.com"),
    ] {
        let err = settings(&[secret, (var, value)]).unwrap_err();
        assert_eq!(err.var, var, "{value}");
        assert!(err.to_string().starts_with(&format!("invalid {var}: ")));
    }
}

#[test]
fn durations_take_units_or_seconds() {
    let secret = ("DEEPSOURCE_WEBHOOK_SECRETS", "0123456789abcdef");
    for (value, expected) in [
        ("500ms", 500),
        ("2m", 120_000),
        ("15", 15_000),
        ("1s 500ms", 1500),
    ] {
        let s = settings(&[secret, ("BODY_READ_TIMEOUT", value)]).unwrap();
        assert_eq!(
            s.webhook.body_read_timeout,
            Duration::from_millis(expected),
            "{value}"
        );
    }
}

#[test]
fn a_bad_database_url_is_named_without_its_password() {
    let err = settings(&[("DATABASE_URL", "postgres://u:hunter2@db:99999/x")]).unwrap_err();
    assert_eq!(err.var, "DATABASE_URL");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn debug_output_hides_secrets() {
    let s = settings(&[
        ("DEEPSOURCE_WEBHOOK_SECRETS", "0123456789abcdef-topsecret"),
        ("DATABASE_URL", "postgres://u:hunter2@db/x"),
        ("GITHUB_TOKEN", "ghp_supersecret"),
        ("DEEPSOURCE_API_TOKEN", "dsp_supersecret"),
        ("METRICS_TOKEN", "scrape-supersecret"),
        ("ADMIN_TOKEN", "admin-supersecret"),
    ])
    .unwrap();
    let printed = format!("{s:?}");
    assert!(!printed.contains("topsecret"));
    assert!(!printed.contains("hunter2"));
    assert!(!printed.contains("supersecret"));
}

// Read by `deepsource.rs`.
#[test]
fn deepsource_settings_are_read() {
    let s = settings(&[]).unwrap().deepsource;
    assert!(s.token.is_none() && s.repositories.is_empty());
    assert_eq!(s.api_url, "https://api.deepsource.io/graphql/");
    assert_eq!(s.requests_per_hour, 4000);
    assert_eq!(s.reconcile_interval, Some(Duration::from_secs(6 * 3600)));
    assert_eq!(s.reconcile_delay, Duration::from_secs(120));
    let s = settings(&[
        ("DEEPSOURCE_REPOSITORIES", "acme/api, gitlab:acme/web"),
        ("RECONCILE_INTERVAL", "0"),
        ("RECONCILE_DELAY", "30s"),
    ])
    .unwrap()
    .deepsource;
    assert_eq!(s.repositories.len(), 2);
    assert_eq!(
        (
            s.repositories[1].provider.as_str(),
            s.repositories[1].name.as_str()
        ),
        ("GITLAB", "web")
    );
    assert_eq!(s.reconcile_interval, None);
    assert_eq!(s.reconcile_delay, Duration::from_secs(30));
    for (var, bad) in [
        ("DEEPSOURCE_REPOSITORIES", "just-a-name"),
        ("RECONCILE_INTERVAL", "often"),
        ("RECONCILE_DELAY", "-1"),
    ] {
        assert_eq!(settings(&[(var, bad)]).unwrap_err().var, var);
    }
}

// Read by `github.rs`.
#[test]
fn github_defaults_to_a_dry_run_against_github_com() {
    let s = settings(&[]).unwrap();
    assert!(matches!(s.github.auth, GitHubAuth::DryRun));
    assert_eq!(s.github.api_url, "https://api.github.com");
    assert!(!s.github.api_url_configured);
    assert_eq!(s.github.min_write_interval.as_millis(), 1000);
    assert_eq!((s.github.writes_per_minute, s.github.writes_per_hour), (80, 500));
    assert_eq!(s.sync.reopen_policy, ReopenPolicy::Reopen);
    assert!(s.sync.categories.is_empty() && s.sync.analyzers.is_empty());
}

#[test]
fn issues_are_linked_on_the_host_people_browse() {
    let com = settings(&[]).unwrap().github;
    assert_eq!(
        com.issue_url("acme/app", 12),
        "https://github.com/acme/app/issues/12"
    );
    let ghes = settings(&[("GITHUB_API_URL", "https://ghe.example.com/api/v3")])
        .unwrap()
        .github;
    assert_eq!(
        ghes.issue_url("acme/app", 3),
        "https://ghe.example.com/acme/app/issues/3"
    );
}

#[test]
fn github_settings_are_read() {
    let s = settings(&[
        ("GITHUB_TOKEN", "ghp_x"),
        ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
        ("GITHUB_REPO", "acme/findings"),
        ("SYNC_CATEGORIES", "security, bug_risk"),
        ("SYNC_ANALYZERS", "go,python"),
        ("REOPEN_POLICY", "new"),
    ])
    .unwrap();
    assert!(matches!(s.github.auth, GitHubAuth::Token(_)));
    assert_eq!(s.github.api_url, "https://ghe.example.com/api/v3");
    assert_eq!(s.github.repo_override.unwrap().to_string(), "acme/findings");
    assert_eq!(s.sync.categories, ["SECURITY", "BUG_RISK"]);
    assert_eq!(s.sync.analyzers, ["go", "python"]);
    assert_eq!(s.sync.reopen_policy, ReopenPolicy::New);
}

#[test]
fn an_app_needs_its_private_key() {
    let err = settings(&[("GITHUB_APP_ID", "12")]).unwrap_err();
    assert_eq!(err.var, "GITHUB_APP_PRIVATE_KEY");
    let pem = std::fs::read_to_string(format!(
        "{}/tests/fixtures/github_app_test_key.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace('\n', "\\n");
    let s = settings(&[("GITHUB_APP_ID", "12"), ("GITHUB_APP_PRIVATE_KEY", &pem)]).unwrap();
    assert!(matches!(s.github.auth, GitHubAuth::App { app_id: 12, .. }));
    assert!(settings(&[("GITHUB_APP_ID", "12"), ("GITHUB_TOKEN", "t")]).is_err());
}

#[test]
fn a_private_key_that_does_not_parse_names_its_variable() {
    let garbled = "-----BEGIN RSA PRIVATE KEY-----\\nabc\\n-----END RSA PRIVATE KEY-----";
    let err = settings(&[("GITHUB_APP_ID", "12"), ("GITHUB_APP_PRIVATE_KEY", garbled)]).unwrap_err();
    assert_eq!(err.var, "GITHUB_APP_PRIVATE_KEY");
    let path = std::env::temp_dir().join(format!("dss-bad-key-{}.pem", std::process::id()));
    std::fs::write(&path, garbled.replace("\\n", "\n")).unwrap();
    let err = settings(&[
        ("GITHUB_APP_ID", "12"),
        ("GITHUB_APP_PRIVATE_KEY_PATH", path.to_str().unwrap()),
    ])
    .unwrap_err();
    std::fs::remove_file(&path).ok();
    assert_eq!(err.var, "GITHUB_APP_PRIVATE_KEY_PATH");
}

#[test]
fn the_settings_of_issues_people_own_are_checked_naming_their_variable() {
    let s = settings(&[]).unwrap();
    assert!(!s.github.learns_from_webhooks());
    assert_eq!((s.sync.min_occurrences, s.sync.state_comments), (1, true));
    let s = settings(&[
        ("GITHUB_WEBHOOK_SECRET", "0123456789abcdef"),
        ("SYNC_MIN_OCCURRENCES", "3"),
        ("STATE_COMMENTS", "false"),
    ])
    .unwrap();
    assert!(s.github.learns_from_webhooks());
    assert_eq!((s.sync.min_occurrences, s.sync.state_comments), (3, false));
    for (var, value) in [
        ("GITHUB_WEBHOOK_SECRET", "short"),
        ("SYNC_MIN_OCCURRENCES", "0"),
        ("SYNC_MIN_OCCURRENCES", "many"),
        ("STATE_COMMENTS", "sometimes"),
    ] {
        let e = settings(&[(var, value)]).unwrap_err();
        assert_eq!(e.var, var, "{value}");
    }
}

// Read by `issues.rs`.
#[test]
fn defaults_keep_todays_issues() {
    let s = settings(&[]).unwrap().issues;
    assert_eq!(s.title_template.as_str(), "{title} ({shortcode})");
    assert_eq!(
        s.title_template.parts(),
        [
            TitlePart::Field(TitleField::Title),
            TitlePart::Literal(" (".into()),
            TitlePart::Field(TitleField::Shortcode),
            TitlePart::Literal(")".into()),
        ]
    );
    assert!(s.extra_labels.is_empty() && !s.assign_codeowners);
}

#[test]
fn issue_settings_are_read() {
    let s = settings(&[
        ("ISSUE_TITLE_TEMPLATE", "[{severity}] {{{analyzer}}} {title}"),
        ("ISSUE_LABELS", " triage, ,team-a,Team-A, triage "),
        ("ASSIGN_CODEOWNERS", "true"),
    ])
    .unwrap()
    .issues;
    assert_eq!(
        s.title_template.parts(),
        [
            TitlePart::Literal("[".into()),
            TitlePart::Field(TitleField::Severity),
            TitlePart::Literal("] {".into()),
            TitlePart::Field(TitleField::Analyzer),
            TitlePart::Literal("} ".into()),
            TitlePart::Field(TitleField::Title),
        ]
    );
    assert_eq!(
        s.extra_labels,
        ["triage", "team-a"],
        "trimmed, empty and repeated dropped"
    );
    assert!(s.assign_codeowners);
    let s = settings(&[("ISSUE_TITLE_TEMPLATE", "DeepSource: {category}")]).unwrap();
    assert_eq!(
        s.issues.title_template.parts().len(),
        2,
        "no {{title}} is allowed"
    );
}

#[test]
fn a_wrong_template_names_its_variable_and_what_is_wrong() {
    for (template, says) in [
        ("{title} ({shortcod})", "unknown placeholder {shortcod}"),
        ("{Title}", "unknown placeholder {Title}"),
        ("{}", "unknown placeholder {}"),
        ("{title", "`{` at character 1 is not closed"),
        ("{title {shortcode}", "`{` at character 1 is not closed"),
        ("title}", "`}` at character 6 closes nothing"),
        ("é {shortcode} }", "`}` at character 15 closes nothing"),
    ] {
        let err = settings(&[("ISSUE_TITLE_TEMPLATE", template)]).unwrap_err();
        assert_eq!(err.var, "ISSUE_TITLE_TEMPLATE", "{template}");
        let text = err.to_string();
        assert!(
            text.starts_with("invalid ISSUE_TITLE_TEMPLATE: ") && text.contains(says),
            "{template}: {text}"
        );
    }
}

#[test]
fn wrong_labels_and_flags_name_their_variable() {
    let long = "l".repeat(51);
    let err = settings(&[("ISSUE_LABELS", &format!("ok,{long}"))]).unwrap_err();
    assert_eq!(err.var, "ISSUE_LABELS");
    assert!(
        err.to_string().contains(&long) && err.to_string().contains("50"),
        "{err}"
    );
    assert!(
        settings(&[("ISSUE_LABELS", &"é".repeat(50))]).is_ok(),
        "characters, not bytes"
    );
    assert_eq!(
        settings(&[("ASSIGN_CODEOWNERS", "sure")]).unwrap_err().var,
        "ASSIGN_CODEOWNERS"
    );
}

// Read by `operations.rs`.
#[test]
fn retention_defaults_to_thirty_days_and_zero_keeps_everything() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.operations.retention.unwrap().as_secs(), 30 * 86_400);
    assert!(s.operations.admin_token.is_none());
    assert!(settings(&[("RETENTION_DAYS", "0")])
        .unwrap()
        .operations
        .retention
        .is_none());
    let error = settings(&[("RETENTION_DAYS", "a month")]).unwrap_err();
    assert_eq!(error.var, "RETENTION_DAYS");
}
