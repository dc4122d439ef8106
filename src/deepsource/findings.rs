//! RepositoryIssues by their global ids, each with every one of its occurrences: what a lookup
//! after `resolved` events asks. Several go in one request (`node(id:)` under an alias each), so
//! a commit that fixed lines of many findings costs one request, not one per finding; a finding
//! with more than a page of occurrences has the rest paged on its own.
use serde_json::{json, Map, Value};

use super::client::DeepSource;
use super::snapshot::{more_occurrences, open_finding, OpenFinding, SnapshotError, LISTED};

/// What DeepSource said of one finding asked for by id: the finding with all its occurrences,
/// `None` when it shows no such node to the token, or why its answer is incomplete.
pub type Looked = Result<Option<OpenFinding>, SnapshotError>;

/// Findings asked for in one request.
pub const MAX_FINDINGS_PER_REQUEST: usize = 20;

/// The query for `n` findings: `f0: node(id: $i0) { ...Listed }` and so on.
fn query(n: usize) -> String {
    let variables: Vec<String> = (0..n).map(|i| format!("$i{i}: ID!")).collect();
    let nodes: Vec<String> = (0..n)
        .map(|i| format!("  f{i}: node(id: $i{i}) {{ ...Listed }}"))
        .collect();
    format!(
        "query Findings({}) {{\n{}\n}}\n{LISTED}",
        variables.join(", "),
        nodes.join("\n")
    )
}

/// What DeepSource said of each of `ids` (at most `MAX_FINDINGS_PER_REQUEST`), in their order
/// (no such node is not the same as nothing open). A request that fails fails them all.
#[tracing::instrument(skip_all, fields(findings = ids.len()))]
pub async fn take_findings(client: &DeepSource, ids: &[String]) -> Result<Vec<Looked>, SnapshotError> {
    assert!(ids.len() <= MAX_FINDINGS_PER_REQUEST, "one request's worth");
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let variables: Map<String, Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("i{i}"), json!(id)))
        .collect();
    let data = client.query(&query(ids.len()), Value::Object(variables)).await?;
    let mut found = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let node = &data[format!("f{i}").as_str()];
        if node.is_null() {
            found.push(Ok(None));
            continue;
        }
        let one = match open_finding(node) {
            Ok((finding, _)) if finding.id != *id => Err(SnapshotError::Incomplete(format!(
                "asked for {id}, DeepSource answered {}",
                finding.id
            ))),
            Ok((mut finding, Some(cursor))) => more_occurrences(client, &mut finding, cursor)
                .await
                .map(|_| Some(finding)),
            Ok((finding, None)) => Ok(Some(finding)),
            Err(e) => Err(e),
        };
        found.push(one);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_finding_is_asked_for_under_an_alias_of_its_own() {
        let q = query(3);
        assert!(
            q.starts_with("query Findings($i0: ID!, $i1: ID!, $i2: ID!) {"),
            "{q}"
        );
        for i in 0..3 {
            assert!(
                q.contains(&format!("f{i}: node(id: $i{i}) {{ ...Listed }}")),
                "{q}"
            );
        }
        assert!(!q.contains("f3:"));
        assert!(q.contains("fragment Listed on RepositoryIssue"));
    }
}
