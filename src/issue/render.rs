//! What a finding's GitHub issue says. Text that comes from DeepSource is neutralised
//! (`neutralise.rs`), then every field is fitted to GitHub's limits (`limits.rs`).

use crate::configuration::{IssueSettings, TitleField};
use crate::findings::store::Finding;
use crate::github::content::IssueContent;
use crate::issue::fix_lines::fix_lines;
use crate::issue::labels::with_extra;
use crate::issue::limits::{self, cut, BodyParts, MAX_FACT_CHARS};
use crate::issue::locations::grouped_locations;
use crate::issue::markers::current_marker;
use crate::issue::neutralise::{code_span, neutralise, neutralise_plain};

/// What the finding's issue says, with the configured title and extra labels.
pub fn render(finding: &Finding, issues: &IssueSettings) -> IssueContent {
    let or_unknown = |text: &str, unknown: &str| {
        if text.is_empty() {
            unknown.to_owned()
        } else {
            text.to_owned()
        }
    };
    let title = limits::title(&issues.title_template, |field| {
        let text = match field {
            TitleField::Title => or_unknown(&finding.issue_title, "DeepSource finding"),
            TitleField::Shortcode => or_unknown(&finding.issue_shortcode, "unknown issue"),
            TitleField::Category => or_unknown(&finding.category, "unknown"),
            TitleField::Severity => or_unknown(finding.severity.as_deref().unwrap_or_default(), "unknown"),
            TitleField::Analyzer => match finding.analyzer_name.as_str() {
                "" => or_unknown(&finding.analyzer_shortcode, "unknown"),
                name => name.to_owned(),
            },
            TitleField::Repository => or_unknown(&finding.repository_name, "unknown"),
        };
        neutralise_plain(&text)
    });
    let mut labels = vec!["deepsource".to_owned()];
    if !finding.category.is_empty() {
        labels.push(format!(
            "deepsource/{}",
            label_part(&finding.category.to_ascii_lowercase())
        ));
    }
    if let Some(severity) = finding.severity.as_deref().filter(|s| !s.is_empty()) {
        labels.push(format!(
            "deepsource/severity:{}",
            label_part(&severity.to_ascii_lowercase())
        ));
    }
    if !finding.analyzer_shortcode.is_empty() {
        labels.push(format!("analyzer/{}", label_part(&finding.analyzer_shortcode)));
    }
    // ISSUE_LABELS were checked against GitHub's limit at start-up.
    let labels = with_extra(
        labels.into_iter().map(limits::label).collect(),
        &issues.extra_labels,
    );

    // Each value in the table is bounded, so the table always fits beside the marker.
    let fact = |text: &str| cut(&neutralise(text), MAX_FACT_CHARS).into_owned();
    let code = |text: &str| cut(&code_span(text), MAX_FACT_CHARS).into_owned();
    let analyzer = match (
        finding.analyzer_name.as_str(),
        finding.analyzer_shortcode.as_str(),
    ) {
        ("", "") => "unknown analyzer".to_owned(),
        ("", shortcode) => format!("unknown analyzer (`{}`)", code(shortcode)),
        (name, "") => fact(name),
        (name, shortcode) => format!("{} (`{}`)", fact(name), code(shortcode)),
    };
    // Only URLs this service built from its settings; DeepSource's text never becomes a link.
    let in_deepsource = finding
        .dashboard_url
        .as_deref()
        .map(|url| format!("| In DeepSource | [all occurrences]({url}) |\n"))
        .unwrap_or_default();
    let mut facts = format!(
        "| | |\n|---|---|\n| Category | {} |\n| Analyzer | {} |\n| Repository | {} |\n| Open occurrences | {} |\n{in_deepsource}\n",
        fact(&or_unknown(&finding.category, "unknown")),
        analyzer,
        fact(&or_unknown(&finding.repository_name, "unknown")),
        finding.open_occurrences.max(0),
    );
    if let Some(note) = &finding.state_note {
        facts.push_str(&format!("**{note}**\n\n"));
    }
    facts.push_str(&fixed_since(finding));
    if let Some(number) = finding.previous_issues.last() {
        facts.push_str(&format!("Previously tracked in #{number}.\n\n"));
    }
    // Only while open: a closed issue has nothing left to fix, and a fix from before it closed
    // is not shown again should it reopen (`fixes_cleared_at`).
    if finding.open_occurrences > 0 {
        facts.push_str(&fix_lines(finding));
    }
    let footer = format!(
        "<sub>Kept in sync with DeepSource by deepsource-sync; edits to this description are overwritten.</sub>\n{}\n",
        current_marker(finding)
    );
    let locations = if finding.open_occurrences > 0 {
        grouped_locations(finding)
    } else {
        Vec::new()
    };
    let body = limits::body(&BodyParts {
        description: &neutralise(&finding.issue_description),
        facts: &facts,
        locations: &locations,
        more_link: finding.dashboard_url.as_deref(),
        footer: &footer,
    });
    IssueContent { title, labels, body }
}

/// Events say how many occurrences a commit resolved, not which: until DeepSource is asked
/// (`findings/lookups.rs`, with a token) or compared, more locations may be known than are open.
fn fixed_since(finding: &Finding) -> String {
    let known = finding.locations.len() as i64;
    let open = finding.open_occurrences;
    if open <= 0 || known <= open {
        return String::new();
    }
    format!(
        "{} of the locations below have been fixed since; DeepSource's events do not say which.\n\n",
        known - open
    )
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::configuration::TitleTemplate;
    use crate::findings::event::Occurrence;
    use crate::issue::markers::marker;

    pub(crate) fn finding() -> Finding {
        Finding::sample()
    }

    #[test]
    fn more_locations_known_than_open_says_how_many_were_fixed_since() {
        let mut f = finding();
        let at = |line: i64| Occurrence {
            path: Some("a.go".into()),
            begin_line: Some(line),
            end_line: Some(line),
            ..Occurrence::default()
        };
        f.locations = vec![at(1), at(2), at(3), at(4)];
        let sentence = "of the locations below have been fixed since; DeepSource's events do not say which.";
        f.open_occurrences = 1;
        let body = render(&f, &IssueSettings::default()).body;
        assert!(body.contains(&format!("3 {sentence}")), "{body}");
        assert!(
            body.find(sentence) < body.find("a.go#L1-L1"),
            "above the locations: {body}"
        );
        for exact_or_fewer in [4, 5] {
            f.open_occurrences = exact_or_fewer;
            let body = render(&f, &IssueSettings::default()).body;
            assert!(!body.contains(sentence), "{exact_or_fewer} open: {body}");
        }
        f.open_occurrences = 0;
        assert!(
            !render(&f, &IssueSettings::default()).body.contains(sentence),
            "closed: nothing listed"
        );
    }

    #[test]
    fn locations_are_grouped_by_file_in_line_order() {
        let mut f = finding();
        let at = |path: &str, line: i64| Occurrence {
            path: Some(path.into()),
            begin_line: Some(line),
            end_line: Some(line),
            ..Occurrence::default()
        };
        f.open_occurrences = 4;
        f.locations = vec![at("b.go", 9), at("a.go", 7), at("b.go", 2), at("a.go", 1)];
        let body = render(&f, &IssueSettings::default()).body;
        let order: Vec<usize> = [
            "**`a.go`**",
            "a.go#L1-L1",
            "a.go#L7-L7",
            "**`b.go`**",
            "b.go#L2-L2",
            "b.go#L9-L9",
        ]
        .iter()
        .map(|needle| body.find(needle).unwrap_or_else(|| panic!("{needle} in {body}")))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{body}");
        assert_eq!(body.matches("**`a.go`**").count(), 1);
        // One file: no heading.
        f.locations = vec![at("a.go", 7), at("a.go", 1)];
        let body = render(&f, &IssueSettings::default()).body;
        assert!(
            !body.contains("**`a.go`**") && body.find("#L1-L1") < body.find("#L7-L7"),
            "{body}"
        );
    }

    #[test]
    fn title_labels_body_and_marker() {
        let content = render(&finding(), &IssueSettings::default());
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
    fn the_title_follows_the_template_and_issue_labels_follow_ours() {
        let mut issues = IssueSettings {
            title_template: TitleTemplate::parse(
                "[{severity}] {analyzer}/{category}: {title} ({shortcode}) in {repository}",
            )
            .unwrap(),
            extra_labels: vec!["triage".into(), "Analyzer/Go".into()],
            ..IssueSettings::default()
        };
        let mut f = finding();
        f.severity = Some("MAJOR".into());
        f.issue_title = "Ping @octocat".into();
        let content = render(&f, &issues);
        assert_eq!(
            content.title,
            "[MAJOR] Go/ANTI_PATTERN: Ping @\u{200B}octocat (CRT-A0016) in demo-go"
        );
        assert_eq!(
            content.labels,
            [
                "deepsource",
                "deepsource/anti_pattern",
                "deepsource/severity:major",
                "analyzer/go",
                "triage"
            ],
            "after ours, and none twice (GitHub ignores case)"
        );
        // What DeepSource has not said yet reads as unknown; a long name gives way, the shortcode stays.
        issues.title_template = TitleTemplate::parse("{title} [{severity}] ({shortcode})").unwrap();
        f.severity = None;
        f.issue_title = "n".repeat(400);
        let title = render(&f, &issues).title;
        assert_eq!(title.chars().count(), limits::MAX_TITLE_CHARS);
        assert!(title.ends_with("n… [unknown] (CRT-A0016)"), "{title}");
    }

    #[test]
    fn mentions_references_and_html_are_neutralised() {
        let mut f = finding();
        f.issue_title = "Ping @octocat about #12".into();
        f.issue_description = "fixes #12, cc @admin <img src=x onerror=alert(1)> & <!-- x -->".into();
        f.locations[0].title = Some("@team see <script>".into());
        let content = render(&f, &IssueSettings::default());
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
                path: Some(format!("src/some/rather/long/path/number_{i}.go")),
                begin_line: Some(i),
                end_line: Some(i),
                title: Some("x".repeat(40)),
                ..Occurrence::default()
            })
            .collect();
        let content = render(&f, &IssueSettings::default());
        assert!(content.body.chars().count() < 65_536);
        assert!(content.body.contains("more\n"));
        assert!(content.body.contains("deepsource-sync:"));
    }

    #[test]
    fn odd_paths_are_encoded_in_links() {
        let mut f = finding();
        f.locations[0].path = Some("dir with space/a(b).go".into());
        let content = render(&f, &IssueSettings::default());
        assert!(content
            .body
            .contains("/blob/master/dir%20with%20space/a%28b%29.go#L160-L161"));
    }

    #[test]
    fn each_generation_has_a_marker_no_other_contains() {
        let first = marker("RI", 0);
        assert_eq!(
            first, "<!-- deepsource-sync:RI -->",
            "issues made before generations keep theirs"
        );
        let second = marker("RI", 1);
        assert!(!second.contains(&first) && !first.contains(&second));
        assert!(!marker("RI", 12).contains(&marker("RI", 1)));
        let mut f = finding();
        f.previous_issues = vec![4, 9];
        let body = render(&f, &IssueSettings::default()).body;
        assert!(body.contains(&marker(&f.id, 2)) && !body.contains(&marker(&f.id, 0)));
        assert!(body.contains("Previously tracked in #9."));
    }

    #[test]
    fn missing_fields_degrade_to_plain_text() {
        let mut f = finding();
        f.analyzer_name.clear();
        f.default_branch.clear();
        f.locations[0].begin_line = None;
        let body = render(&f, &IssueSettings::default()).body;
        assert!(body.contains("unknown analyzer (`go`)"), "{body}");
        assert!(
            body.contains("- code.go#L161: "),
            "no link without a branch: {body}"
        );
        let mut f = finding();
        f.category.clear();
        f.analyzer_shortcode.clear();
        assert_eq!(render(&f, &IssueSettings::default()).labels, ["deepsource"]);
    }

    #[test]
    fn the_hash_follows_the_content() {
        let a = render(&finding(), &IssueSettings::default());
        let mut f = finding();
        f.open_occurrences = 3;
        assert_ne!(a.hash(), render(&f, &IssueSettings::default()).hash());
        assert_eq!(a.hash(), render(&finding(), &IssueSettings::default()).hash());
    }

    #[test]
    fn a_closed_findings_issue_names_no_fix() {
        let mut f = finding();
        f.fixes = vec![crate::autofix::ProposedFix {
            number: 12,
            title: "t".into(),
            status: crate::autofix::FixStatus::Merged,
        }];
        assert!(render(&f, &IssueSettings::default())
            .body
            .contains("**Fix merged:**"));
        f.open_occurrences = 0;
        assert!(!render(&f, &IssueSettings::default()).body.contains("Fix"));
    }
}
