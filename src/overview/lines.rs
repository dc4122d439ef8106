//! What an overview lists, read from the repository's findings: the open ones the `SYNC_*`
//! filters track (with at least `SYNC_MIN_OCCURRENCES`), each with its own issue or its box, and
//! those people dismissed; the repository's name, where its issues go, and its last comparison.
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::configuration::SyncSettings;
use crate::deepsource::RepositoryRef;
use crate::issue::overview::{Overview, OverviewLine};

/// One finding as stored, owned (the render borrows from it).
#[derive(Clone, Debug)]
pub struct Row {
    pub id: String,
    pub title: String,
    pub shortcode: String,
    pub severity: Option<String>,
    pub occurrences: i64,
    /// Its own issue, as the line links it.
    pub issue: Option<String>,
    pub requested: bool,
    pub url: String,
    pub dismissed: Option<(String, String)>,
}

/// A repository's overview, as stored.
#[derive(Clone, Debug)]
pub struct Listing {
    pub key: String,
    /// `login/name`.
    pub name: String,
    pub vcs_provider: String,
    pub vcs_url: String,
    pub repository_url: String,
    pub compared_at: Option<DateTime<Utc>>,
    pub rows: Vec<Row>,
}

impl Listing {
    pub fn lines(&self) -> Vec<OverviewLine<'_>> {
        self.rows
            .iter()
            .map(|r| OverviewLine {
                finding_id: &r.id,
                title: &r.title,
                shortcode: &r.shortcode,
                severity: r.severity.as_deref(),
                occurrences: r.occurrences,
                issue: r.issue.clone(),
                requested: r.requested,
                deepsource_url: &r.url,
                dismissed: r
                    .dismissed
                    .as_ref()
                    .map(|(who, how)| (who.as_str(), how.as_str())),
            })
            .collect()
    }

    pub fn overview<'a>(&'a self, lines: &'a [OverviewLine<'a>]) -> Overview<'a> {
        Overview {
            key: &self.key,
            repository: &self.name,
            repository_url: &self.repository_url,
            compared_at: self.compared_at,
            lines,
        }
    }

    /// Whether any finding is open and not dismissed.
    pub fn anything_open(&self) -> bool {
        self.rows.iter().any(|r| r.dismissed.is_none())
    }
}

/// The repository's findings as its overview lists them; `None` when it has none stored.
pub async fn load(
    pool: &PgPool,
    key: &str,
    sync: &SyncSettings,
    overview_repo: Option<&str>,
) -> Result<Option<Listing>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT id, issue_title, issue_shortcode, severity, open_occurrences, github_repo,
                  github_issue_number, dismissed_reason, dismissed_by, issue_requested_at IS NOT NULL AS "requested!",
                  category, analyzer_shortcode, vcs_provider, vcs_url
           FROM findings
           WHERE repository_key = $1
           ORDER BY id"#,
        key
    )
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.iter().find(|r| !r.vcs_url.is_empty()).or(rows.first()) else {
        return Ok(None);
    };
    let (provider, path) = key.split_once(':').unwrap_or(("", key));
    let (login, name) = path.split_once('/').unwrap_or(("", path));
    // The key is lower case; an event's vcsUrl keeps the repository's own case.
    let named = RepositoryRef::from_vcs(&first.vcs_provider, &first.vcs_url).unwrap_or(RepositoryRef {
        provider: provider.to_ascii_uppercase(),
        login: login.to_owned(),
        name: name.to_owned(),
    });
    let app = &sync.deepsource_app_url;
    let compared_at = sqlx::query_scalar!(
        r#"SELECT at AS "at!" FROM repository_snapshots WHERE repository_key = $1"#,
        key
    )
    .fetch_optional(pool)
    .await?;
    let mut listing = Listing {
        key: key.to_owned(),
        name: format!("{}/{}", named.login, named.name),
        vcs_provider: first.vcs_provider.clone(),
        vcs_url: first.vcs_url.clone(),
        repository_url: named.repository_url(app).unwrap_or_else(|| app.clone()),
        compared_at,
        rows: Vec::new(),
    };
    for r in rows {
        let severity = r.severity.map(|s| s.to_ascii_uppercase());
        if r.open_occurrences < sync.min_occurrences.max(1)
            || sync
                .filtered_out(&r.category, &r.analyzer_shortcode, severity.as_deref())
                .is_some()
        {
            continue;
        }
        let issue = r.github_issue_number.map(|n| match r.github_repo.as_deref() {
            Some(repo) if overview_repo.is_some_and(|o| !o.eq_ignore_ascii_case(repo)) => {
                format!("{repo}#{n}")
            }
            _ => format!("#{n}"),
        });
        let how = |reason: &str| match reason {
            "not_planned" => "not planned".to_owned(),
            other => other.to_owned(),
        };
        listing.rows.push(Row {
            url: named
                .dashboard_url(app, &r.issue_shortcode)
                .unwrap_or_else(|| listing.repository_url.clone()),
            id: r.id,
            title: r.issue_title,
            shortcode: r.issue_shortcode,
            severity,
            occurrences: r.open_occurrences,
            issue,
            requested: r.requested,
            dismissed: r
                .dismissed_reason
                .map(|reason| (r.dismissed_by.unwrap_or_else(|| "someone".into()), how(&reason))),
        });
    }
    Ok(Some(listing))
}
