//! What people do at the fake GitHub, behind the service's back: close as not planned or
//! completed, reopen, add labels and assignees, delete, transfer. And the `issues` webhook GitHub
//! would send about it, for a test to sign and deliver.
use serde_json::{json, Value};

use super::{FakeGitHub, Issue, State};

/// The person the tests act as.
pub const PERSON: &str = "octocat";

impl FakeGitHub {
    fn with_issue<T>(&self, repo: &str, number: i64, change: impl FnOnce(&mut Issue, i64) -> T) -> T {
        let mut state = self.state.lock().unwrap();
        state.clock += 1;
        let now = state.clock;
        let issue = state
            .repos
            .get_mut(repo)
            .and_then(|issues| issues.iter_mut().find(|i| i.number == number))
            .unwrap_or_else(|| panic!("{repo}#{number} exists at the fake"));
        issue.version = now;
        change(issue, now)
    }

    pub fn issue(&self, repo: &str, number: i64) -> Option<Issue> {
        self.issues(repo).into_iter().find(|i| i.number == number)
    }

    /// A person closes the issue, giving `reason` (`completed`, `not_planned`, `duplicate`).
    pub fn close_as_person(&self, repo: &str, number: i64, reason: &str) {
        self.with_issue(repo, number, |issue, _| {
            issue.state = "closed".into();
            issue.state_reason = Some(reason.into());
            issue.closed_by = Some(PERSON.into());
        });
    }

    pub fn reopen_as_person(&self, repo: &str, number: i64) {
        self.with_issue(repo, number, |issue, _| {
            issue.state = "open".into();
            issue.state_reason = Some("reopened".into());
        });
    }

    /// A person ticks the box on the line that carries `marker` (an overview's finding).
    pub fn tick_as_person(&self, repo: &str, number: i64, marker: &str) {
        self.with_issue(repo, number, |issue, _| {
            let body: Vec<String> = issue
                .body
                .lines()
                .map(|line| match line.contains(marker) {
                    true => line.replacen("- [ ]", "- [x]", 1),
                    false => line.to_owned(),
                })
                .collect();
            assert!(
                body.iter().any(|l| l.contains(marker)),
                "{marker} is in the issue"
            );
            issue.body = body.join("\n") + "\n";
        });
    }

    pub fn label_as_person(&self, repo: &str, number: i64, label: &str) {
        self.with_issue(repo, number, |issue, _| issue.labels.push(label.into()));
    }

    pub fn assign_as_person(&self, repo: &str, number: i64, login: &str) {
        self.with_issue(repo, number, |issue, _| issue.assignees.push(login.into()));
    }

    pub fn delete_as_person(&self, repo: &str, number: i64) {
        self.with_issue(repo, number, |issue, _| issue.deleted = true);
    }

    /// The URL GitHub names an issue by in a 301's `Location` (by repository id, as after a
    /// transfer).
    pub fn issue_location(&self, repo: &str, number: i64) -> String {
        let mut state = self.state.lock().unwrap();
        let id = repository_id(&mut state, repo);
        format!("{}/repositories/{id}/issues/{number}", state.base_url)
    }

    /// Moves the issue to `to`, where it gets the next number; the old one answers 301.
    pub fn transfer_as_person(&self, repo: &str, number: i64, to: &str) -> i64 {
        let moved = self.with_issue(repo, number, |issue, _| issue.clone());
        let mut state = self.state.lock().unwrap();
        state.clock += 1;
        let now = state.clock;
        let target = state.repos.entry(to.to_owned()).or_default();
        let new_number = target.len() as i64 + 1;
        target.push(Issue {
            number: new_number,
            version: now,
            ..moved
        });
        let old = state
            .repos
            .get_mut(repo)
            .and_then(|issues| issues.iter_mut().find(|i| i.number == number))
            .expect("the issue being moved");
        old.moved_to = Some((to.to_owned(), new_number));
        new_number
    }

    /// The `issues` webhook GitHub sends for `action` on the issue as it is now.
    pub fn issues_event(&self, repo: &str, number: i64, action: &str) -> Value {
        let state = self.state.lock().unwrap();
        let issue = state.repos[repo]
            .iter()
            .find(|i| i.number == number)
            .expect("the issue the event is about");
        let mut event = json!({
            "action": action,
            "issue": super::routes::issue_json(&state.base_url, repo, issue),
            "repository": { "full_name": repo, "name": repo.split('/').nth(1) },
            "sender": { "login": PERSON, "type": "User" },
        });
        if let Some((to, new_number)) = &issue.moved_to {
            let new_issue = state.repos[to].iter().find(|i| i.number == *new_number).unwrap();
            event["changes"] = json!({
                "new_issue": super::routes::issue_json(&state.base_url, to, new_issue),
                "new_repository": { "full_name": to },
            });
        }
        event
    }
}

/// `updated_at` from an issue's logical clock: later changes, later times.
pub(super) fn timestamp(version: i64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
    (base + chrono::Duration::seconds(version))
        .to_utc()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The numeric id GitHub's `/repositories/{id}` paths name a repository by.
pub(super) fn repository_id(state: &mut State, repo: &str) -> usize {
    match state.repo_ids.iter().position(|r| r == repo) {
        Some(i) => i + 1,
        None => {
            state.repo_ids.push(repo.to_owned());
            state.repo_ids.len()
        }
    }
}
