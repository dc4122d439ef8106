//! A snapshot: everything DeepSource says is open in one repository's default branch, read page
//! by page. It is complete or it is nothing: a page that fails, an answer with `errors`, a
//! connection whose pages do not add up — the whole snapshot fails, so nothing is ever closed
//! because a listing stopped short.
use std::collections::HashSet;
use std::sync::LazyLock;

use serde_json::{json, Value};

use super::client::{DeepSource, DeepSourceError};
use crate::domain::RepositoryRef;

/// DeepSource pages hold at most this many items (its own CLI asks for as many).
const PAGE: usize = 100;
/// A guard against an endpoint whose cursors never end: 10,000 pages of 100 is a million items.
pub(super) const MAX_PAGES: usize = 10_000;

/// What is read of each RepositoryIssue, in a snapshot and in a lookup by id (`findings.rs`):
/// the fragment `Listed`, with the first page of its occurrences.
pub(super) const LISTED: &str = "fragment Listed on RepositoryIssue {
  id
  issue { shortcode title category severity shortDescription autofixAvailable analyzer { shortcode name } }
  occurrences(first: 100) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id path beginLine beginColumn endLine endColumn title } }
  }
}";

static SNAPSHOT_QUERY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "query Snapshot($name: String!, $login: String!, $provider: VCSProvider!, $after: String) {{
  repository(name: $name, login: $login, vcsProvider: $provider) {{
    issues(first: 100, after: $after) {{
      totalCount
      pageInfo {{ hasNextPage endCursor }}
      edges {{ node {{ ...Listed }} }}
    }}
  }}
}}
{LISTED}"
    )
});

const OCCURRENCES_QUERY: &str = "query Occurrences($id: ID!, $after: String) {
  node(id: $id) {
    ... on RepositoryIssue {
      occurrences(first: 100, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { id path beginLine beginColumn endLine endColumn title } }
      }
    }
  }
}";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// DeepSource's id of the occurrence ("" where it sent none).
    pub id: String,
    pub path: String,
    pub begin_line: Option<i64>,
    pub begin_column: Option<i64>,
    pub end_line: Option<i64>,
    pub end_column: Option<i64>,
    pub title: String,
}

/// One RepositoryIssue that is open now, with every one of its occurrences.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenFinding {
    /// The global id the webhooks send as `data.object.id`.
    pub id: String,
    pub shortcode: String,
    pub title: String,
    pub category: String,
    /// `CRITICAL`, `MAJOR` or `MINOR`: only the API says.
    pub severity: Option<String>,
    pub short_description: String,
    pub analyzer_shortcode: String,
    pub analyzer_name: String,
    /// DeepSource can fix it itself; `None` where the API did not say.
    pub autofix_available: Option<bool>,
    pub occurrences: Vec<Location>,
}

/// A complete listing of one repository.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub repository: RepositoryRef,
    pub findings: Vec<OpenFinding>,
    /// Requests it took (the least possible is one per page).
    pub requests: usize,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    /// Unknown to DeepSource, or not visible to the token: not the same as "nothing open".
    #[error("DeepSource shows no repository {0} to this token (unknown, or not visible to it)")]
    NotVisible(RepositoryRef),
    #[error(transparent)]
    Api(#[from] DeepSourceError),
    /// The pages read do not make a whole listing.
    #[error("incomplete listing: {0}")]
    Incomplete(String),
}

/// One page of a Relay connection, checked.
pub(super) struct Page<'a> {
    pub edges: &'a [Value],
    pub next: Option<String>,
    pub total: Option<usize>,
}

pub(super) fn page<'a>(connection: &'a Value, what: &str) -> Result<Page<'a>, SnapshotError> {
    let incomplete = |why: &str| SnapshotError::Incomplete(format!("{what}: {why}"));
    let edges = connection["edges"]
        .as_array()
        .ok_or_else(|| incomplete("no edges in the answer"))?;
    if edges.len() > PAGE {
        return Err(incomplete("a page larger than asked for"));
    }
    let has_next = connection["pageInfo"]["hasNextPage"]
        .as_bool()
        .ok_or_else(|| incomplete("no pageInfo.hasNextPage"))?;
    let next = match (has_next, connection["pageInfo"]["endCursor"].as_str()) {
        (false, _) => None,
        (true, Some(cursor)) if !cursor.is_empty() => Some(cursor.to_owned()),
        (true, _) => return Err(incomplete("more pages, but no cursor to them")),
    };
    let total = connection["totalCount"].as_u64().map(|n| n as usize);
    Ok(Page { edges, next, total })
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn location(edge: &Value) -> Location {
    let node = &edge["node"];
    Location {
        id: text(&node["id"]),
        path: text(&node["path"]),
        begin_line: node["beginLine"].as_i64(),
        begin_column: node["beginColumn"].as_i64(),
        end_line: node["endLine"].as_i64(),
        end_column: node["endColumn"].as_i64(),
        title: text(&node["title"]),
    }
}

/// Reads every page of `repository`'s open issues and of each issue's occurrences.
pub async fn take(client: &DeepSource, repository: &RepositoryRef) -> Result<Snapshot, SnapshotError> {
    take_with_progress(client, repository, |_, _| {}).await
}

/// As `take`, telling `progress` after each page of issues how many are listed so far and how
/// many DeepSource counts in all.
#[tracing::instrument(skip_all, fields(repository = %repository))]
pub async fn take_with_progress(
    client: &DeepSource,
    repository: &RepositoryRef,
    mut progress: impl FnMut(usize, Option<usize>),
) -> Result<Snapshot, SnapshotError> {
    let mut findings = Vec::new();
    let mut seen = HashSet::new();
    let mut requests = 0;
    let mut after: Option<String> = None;
    let mut total = None;
    for n in 1.. {
        if n > MAX_PAGES {
            return Err(SnapshotError::Incomplete(format!(
                "more than {MAX_PAGES} pages of issues"
            )));
        }
        let variables = json!({
            "name": repository.name, "login": repository.login,
            "provider": repository.provider, "after": after,
        });
        requests += 1;
        let data = client.query(&SNAPSHOT_QUERY, variables).await?;
        if data["repository"].is_null() {
            return Err(SnapshotError::NotVisible(repository.clone()));
        }
        let issues = page(&data["repository"]["issues"], &format!("issues page {n}"))?;
        total = issues.total.or(total);
        for edge in issues.edges {
            let (finding, more) = open_finding(&edge["node"])?;
            let mut finding = finding;
            if let Some(cursor) = more {
                requests += more_occurrences(client, &mut finding, cursor).await?;
            }
            if seen.insert(finding.id.clone()) {
                findings.push(finding);
            }
        }
        progress(findings.len(), total);
        match issues.next {
            Some(cursor) if after.as_deref() == Some(cursor.as_str()) => {
                return Err(SnapshotError::Incomplete(format!(
                    "issues page {n} points back at itself"
                )));
            }
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    if let Some(total) = total.filter(|t| *t != findings.len()) {
        return Err(SnapshotError::Incomplete(format!(
            "DeepSource counts {total} issues but its pages listed {}",
            findings.len()
        )));
    }
    Ok(Snapshot {
        repository: repository.clone(),
        findings,
        requests,
    })
}

/// A RepositoryIssue node with its first page of occurrences, and the cursor to the next.
pub(super) fn open_finding(node: &Value) -> Result<(OpenFinding, Option<String>), SnapshotError> {
    let id = text(&node["id"]);
    if id.is_empty() {
        return Err(SnapshotError::Incomplete("a listed issue without an id".into()));
    }
    let issue = &node["issue"];
    let occurrences = page(&node["occurrences"], &format!("occurrences of {id}"))?;
    let finding = OpenFinding {
        shortcode: text(&issue["shortcode"]),
        title: text(&issue["title"]),
        category: text(&issue["category"]),
        severity: issue["severity"].as_str().map(str::to_owned),
        short_description: text(&issue["shortDescription"]),
        analyzer_shortcode: text(&issue["analyzer"]["shortcode"]),
        analyzer_name: text(&issue["analyzer"]["name"]),
        autofix_available: issue["autofixAvailable"].as_bool(),
        occurrences: occurrences.edges.iter().map(location).collect(),
        id,
    };
    check_total(&finding, occurrences.total, occurrences.next.is_some())?;
    Ok((finding, occurrences.next))
}

fn check_total(finding: &OpenFinding, total: Option<usize>, more: bool) -> Result<(), SnapshotError> {
    match total {
        Some(total) if !more && total != finding.occurrences.len() => {
            Err(SnapshotError::Incomplete(format!(
                "DeepSource counts {total} occurrences of {} but its pages listed {}",
                finding.id,
                finding.occurrences.len()
            )))
        }
        _ => Ok(()),
    }
}

/// Pages the rest of one issue's occurrences through `node(id:)`; returns the requests made.
pub(super) async fn more_occurrences(
    client: &DeepSource,
    finding: &mut OpenFinding,
    mut cursor: String,
) -> Result<usize, SnapshotError> {
    let mut requests = 0;
    loop {
        if requests >= MAX_PAGES {
            return Err(SnapshotError::Incomplete(format!(
                "too many pages of occurrences of {}",
                finding.id
            )));
        }
        requests += 1;
        let data = client
            .query(OCCURRENCES_QUERY, json!({ "id": finding.id, "after": cursor }))
            .await?;
        let what = format!("occurrences of {} after {cursor}", finding.id);
        let occurrences = page(&data["node"]["occurrences"], &what)?;
        finding.occurrences.extend(occurrences.edges.iter().map(location));
        check_total(finding, occurrences.total, occurrences.next.is_some())?;
        match occurrences.next {
            Some(next) if next == cursor => {
                return Err(SnapshotError::Incomplete(format!(
                    "{what}: a page points back at itself"
                )));
            }
            Some(next) => cursor = next,
            None => return Ok(requests),
        }
    }
}
