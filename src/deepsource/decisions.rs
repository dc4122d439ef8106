//! Reading what a team decided in DeepSource, which its webhooks never say: a repository's
//! ignore rules and the categories it no longer reports, and the issues its team suppressed
//! everywhere. Read whole or not at all, like a snapshot: a page that fails means nothing is
//! known, never that nothing was decided.
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::ignored::{Decisions, IgnoreRule, Suppressed};

use super::client::DeepSource;
use super::snapshot::{page, SnapshotError, MAX_PAGES};
use crate::domain::RepositoryRef;

const RULES_QUERY: &str =
    "query Decisions($name: String!, $login: String!, $provider: VCSProvider!, $after: String) {
  repository(name: $name, login: $login, vcsProvider: $provider) {
    issueCategorySettings { category isReported }
    ignoreRules(first: 100, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id level type filePath globPattern createdAt issue { shortcode } } }
    }
  }
}";

const SUPPRESSED_QUERY: &str = "query Suppressed($login: String!, $provider: VCSProvider!, $after: String) {
  account(login: $login, vcsProvider: $provider) {
    suppressedIssues(first: 100, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id createdAt issue { shortcode } } }
    }
  }
}";

/// Every node of a paged connection, whole: `connection` finds it in each answer.
async fn every_node(
    client: &DeepSource,
    query: &str,
    variables: Value,
    what: &str,
    mut connection: impl FnMut(&Value) -> Result<Value, SnapshotError>,
) -> Result<(Vec<Value>, usize), SnapshotError> {
    let mut nodes = Vec::new();
    let mut after: Option<String> = None;
    let mut total = None;
    for n in 1..=MAX_PAGES {
        let mut vars = variables.clone();
        vars["after"] = json!(after);
        let data = client.query(query, vars).await?;
        let found = connection(&data)?;
        let page = page(&found, &format!("{what} page {n}"))?;
        total = page.total.or(total);
        nodes.extend(page.edges.iter().map(|e| e["node"].clone()));
        match page.next {
            Some(cursor) if after.as_deref() == Some(cursor.as_str()) => {
                return Err(SnapshotError::Incomplete(format!(
                    "{what} page {n} points back at itself"
                )))
            }
            Some(cursor) => after = Some(cursor),
            None => {
                if let Some(total) = total.filter(|t| *t != nodes.len()) {
                    return Err(SnapshotError::Incomplete(format!(
                        "DeepSource counts {total} {what} but its pages listed {}",
                        nodes.len()
                    )));
                }
                return Ok((nodes, n));
            }
        }
    }
    Err(SnapshotError::Incomplete(format!(
        "more than {MAX_PAGES} pages of {what}"
    )))
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Reads `repository`'s ignore rules and category settings, and its team's suppressions.
#[tracing::instrument(skip_all, fields(repository = %repository))]
pub async fn take_decisions(
    client: &DeepSource,
    repository: &RepositoryRef,
) -> Result<Decisions, SnapshotError> {
    let mut categories_off = Vec::new();
    let vars = json!({ "name": repository.name, "login": repository.login, "provider": repository.provider });
    let (rules, rule_requests) = every_node(client, RULES_QUERY, vars, "ignore rules", |data| {
        let repo = &data["repository"];
        if repo.is_null() {
            return Err(SnapshotError::NotVisible(repository.clone()));
        }
        let settings = repo["issueCategorySettings"]
            .as_array()
            .ok_or_else(|| SnapshotError::Incomplete("no issueCategorySettings in the answer".into()))?;
        categories_off = settings
            .iter()
            .filter(|s| s["isReported"].as_bool() == Some(false))
            .filter_map(|s| text(&s["category"]).map(|c| c.to_ascii_uppercase()))
            .collect();
        Ok(repo["ignoreRules"].clone())
    })
    .await?;
    let vars = json!({ "login": repository.login, "provider": repository.provider });
    let (suppressed, suppressed_requests) = every_node(
        client,
        SUPPRESSED_QUERY,
        vars,
        "suppressed issues",
        |data| match &data["account"] {
            Value::Null => Err(SnapshotError::NotVisible(repository.clone())),
            account => Ok(account["suppressedIssues"].clone()),
        },
    )
    .await?;
    let shortcode = |node: &Value| {
        text(&node["issue"]["shortcode"])
            .ok_or_else(|| SnapshotError::Incomplete("a decision without its issue's shortcode".into()))
    };
    Ok(Decisions {
        rules: rules
            .iter()
            .map(|node| {
                Ok(IgnoreRule {
                    shortcode: shortcode(node)?,
                    level: text(&node["level"]).unwrap_or_default(),
                    kind: text(&node["type"]).unwrap_or_default(),
                    file_path: text(&node["filePath"]),
                    glob: text(&node["globPattern"]),
                    created_at: time(&node["createdAt"]),
                })
            })
            .collect::<Result<_, SnapshotError>>()?,
        categories_off,
        suppressed: suppressed
            .iter()
            .map(|node| {
                Ok(Suppressed {
                    shortcode: shortcode(node)?,
                    created_at: time(&node["createdAt"]),
                })
            })
            .collect::<Result<_, SnapshotError>>()?,
        requests: rule_requests + suppressed_requests,
    })
}
