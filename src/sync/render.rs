//! What a finding's GitHub issue says. Text that comes from DeepSource is neutralised: it must
//! not ping people, link or close other issues, or inject HTML.
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use super::event::Occurrence;
use super::store::Finding;

/// GitHub refuses bodies over 65,536 characters; stay well clear of it.
const MAX_BODY_CHARS: usize = 60_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueContent {
    pub title: String,
    pub labels: Vec<String>,
    pub body: String,
}

impl IssueContent {
    /// Changes when anything GitHub shows changes; stored to skip needless updates.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.title.as_bytes());
        for label in &self.labels {
            hasher.update(b"\n");
            hasher.update(label.as_bytes());
        }
        hasher.update(b"\n\n");
        hasher.update(self.body.as_bytes());
        hex::encode(hasher.finalize())
    }
}

pub fn marker(finding_id: &str) -> String {
    // The id is DeepSource's (base64); without `>` nothing in it can end the comment early.
    format!("<!-- deepsource-sync:{} -->", finding_id.replace(['<', '>'], "_"))
}

pub fn render(finding: &Finding, previous_issue: Option<i64>) -> IssueContent {
    let title = format!(
        "{} ({})",
        neutralise_plain(&finding.issue_title),
        neutralise_plain(&finding.issue_shortcode)
    );
    let labels = vec![
        "deepsource".to_owned(),
        format!(
            "deepsource/{}",
            label_part(&finding.category.to_ascii_lowercase())
        ),
        format!("analyzer/{}", label_part(&finding.analyzer_shortcode)),
    ];

    let mut body = String::new();
    if !finding.issue_description.is_empty() {
        body.push_str(&neutralise(&finding.issue_description));
        body.push_str("\n\n");
    }
    body.push_str(&format!(
        "| | |\n|---|---|\n| Category | {} |\n| Analyzer | {} (`{}`) |\n| Repository | {} |\n| Open occurrences | {} |\n\n",
        neutralise(&finding.category),
        neutralise(&finding.analyzer_name),
        code_span(&finding.analyzer_shortcode),
        neutralise(&finding.repository_name),
        finding.open_occurrences.max(0),
    ));
    if let Some(number) = previous_issue {
        body.push_str(&format!("Previously tracked in #{number}.\n\n"));
    }
    let footer = format!(
        "<sub>Kept in sync with DeepSource by deepsource-sync; edits to this description are overwritten.</sub>\n{}\n",
        marker(&finding.id)
    );
    if finding.open_occurrences > 0 && !finding.locations.is_empty() {
        body.push_str("### Locations\n\n");
        let budget = MAX_BODY_CHARS.saturating_sub(body.len() + footer.len() + 100);
        body.push_str(&locations(finding, budget));
        body.push('\n');
    }
    body.push_str(&footer);
    IssueContent { title, labels, body }
}

fn locations(finding: &Finding, budget: usize) -> String {
    let mut out = String::new();
    for (i, occurrence) in finding.locations.iter().enumerate() {
        let line = location_line(finding, occurrence);
        if out.len() + line.len() > budget {
            out.push_str(&format!("- …and {} more\n", finding.locations.len() - i));
            break;
        }
        out.push_str(&line);
    }
    out
}

fn location_line(finding: &Finding, o: &Occurrence) -> String {
    let place = format!("{}#L{}-L{}", o.path, o.begin_line, o.end_line);
    let title = o
        .title
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| format!(": {}", neutralise(t)))
        .unwrap_or_default();
    let base = finding.vcs_url.trim_end_matches('/');
    if base.starts_with("https://") || base.starts_with("http://") {
        format!(
            "- [{}]({}/blob/{}/{}#L{}-L{}){}\n",
            neutralise(&place).replace(['[', ']'], ""),
            base,
            url_path(&finding.default_branch),
            url_path(&o.path),
            o.begin_line,
            o.end_line,
            title
        )
    } else {
        format!("- {}{}\n", neutralise(&place), title)
    }
}

/// For Markdown bodies: HTML is escaped, `@name` cannot mention, `#12` cannot reference.
pub fn neutralise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => push_plain(&mut out, c, chars.peek().copied()),
        }
    }
    out
}

/// For titles, which GitHub shows as plain text: only mentions and references are broken.
fn neutralise_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        push_plain(&mut out, c, chars.peek().copied());
    }
    out
}

/// A zero-width space after `@` or `#` keeps the text readable and stops GitHub from linking it.
fn push_plain(out: &mut String, c: char, next: Option<char>) {
    out.push(c);
    let links = match c {
        '@' => next.is_some_and(|n| n.is_ascii_alphanumeric()),
        '#' => next.is_some_and(|n| n.is_ascii_digit()),
        _ => false,
    };
    if links {
        out.push('\u{200B}');
    }
}

fn code_span(text: &str) -> String {
    neutralise(&text.replace('`', "'"))
}

fn label_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Everything but unreserved characters and `/` is encoded in link paths.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn url_path(path: &str) -> String {
    utf8_percent_encode(path, PATH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn finding() -> Finding {
        Finding {
            id: "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==".into(),
            repository_name: "demo-go".into(),
            vcs_provider: "GITHUB".into(),
            vcs_url: "https://github.com/deepsourcelabs/demo-go".into(),
            default_branch: "master".into(),
            issue_shortcode: "CRT-A0016".into(),
            issue_title: "Simplify slice expression to sliced value itself".into(),
            issue_description: "If a value is of type slice already, it need not be converted.".into(),
            category: "ANTI_PATTERN".into(),
            analyzer_shortcode: "go".into(),
            analyzer_name: "Go".into(),
            open_occurrences: 2,
            locations: vec![Occurrence {
                path: "code.go".into(),
                begin_line: 160,
                end_line: 161,
                title: Some("could simplify allProducts[:] to allProducts".into()),
            }],
            ..Finding::default()
        }
    }

    #[test]
    fn title_labels_body_and_marker() {
        let content = render(&finding(), None);
        assert_eq!(
            content.title,
            "Simplify slice expression to sliced value itself (CRT-A0016)"
        );
        assert_eq!(
            content.labels,
            ["deepsource", "deepsource/anti_pattern", "analyzer/go"]
        );
        assert!(content.body.contains("| Open occurrences | 2 |"));
        assert!(content.body.contains(
            "[code.go#L160-L161](https://github.com/deepsourcelabs/demo-go/blob/master/code.go#L160-L161)"
        ));
        assert!(content
            .body
            .ends_with("<!-- deepsource-sync:PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA== -->\n"));
    }

    #[test]
    fn mentions_references_and_html_are_neutralised() {
        let mut f = finding();
        f.issue_title = "Ping @octocat about #12".into();
        f.issue_description = "fixes #12, cc @admin <img src=x onerror=alert(1)> & <!-- x -->".into();
        f.locations[0].title = Some("@team see <script>".into());
        let content = render(&f, None);
        for text in [&content.title, &content.body] {
            assert!(!text.contains("@octocat") && !text.contains("@admin") && !text.contains("@team"));
            assert!(!text.contains("#12"));
        }
        assert!(!content.body.contains("<img") && !content.body.contains("<script"));
        assert!(content
            .body
            .contains("&lt;img src=x onerror=alert(1)&gt; &amp; &lt;!-- x --&gt;"));
        // Exactly one HTML comment: the marker.
        assert_eq!(content.body.matches("<!--").count(), 1);
    }

    #[test]
    fn long_location_lists_are_cut_under_githubs_limit() {
        let mut f = finding();
        f.locations = (0..5000)
            .map(|i| Occurrence {
                path: format!("src/some/rather/long/path/number_{i}.go"),
                begin_line: i,
                end_line: i,
                title: Some("x".repeat(40)),
            })
            .collect();
        let content = render(&f, None);
        assert!(content.body.chars().count() < 65_536);
        assert!(content.body.contains("more\n"));
        assert!(content.body.contains("deepsource-sync:"));
    }

    #[test]
    fn odd_paths_are_encoded_in_links() {
        let mut f = finding();
        f.locations[0].path = "dir with space/a(b).go".into();
        let content = render(&f, None);
        assert!(content
            .body
            .contains("/blob/master/dir%20with%20space/a%28b%29.go#L160-L161"));
    }

    #[test]
    fn no_id_can_end_the_marker_early() {
        let m = marker("a-->b<!--c");
        assert!(m.starts_with("<!-- deepsource-sync:") && m.ends_with(" -->"));
        assert_eq!(m.matches("-->").count(), 1);
        assert_eq!(m.matches("<!--").count(), 1);
        assert_ne!(marker("a-b"), marker("a_b"), "ids stay distinct");
    }

    #[test]
    fn the_hash_follows_the_content() {
        let a = render(&finding(), None);
        let mut f = finding();
        f.open_occurrences = 3;
        assert_ne!(a.hash(), render(&f, None).hash());
        assert_eq!(a.hash(), render(&finding(), None).hash());
    }
}
