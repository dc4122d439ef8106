//! The body of a repository's overview issue: the open findings grouped by severity (CRITICAL,
//! MAJOR, MINOR, then those whose severity is not known yet), most occurrences first, each a line
//! that links the finding's own issue (`#N`, which GitHub shows with its state) or offers a
//! checkbox a person ticks to have one opened; then the findings people dismissed, collapsed.
//! GitHub refuses a body over 65,536 characters, so whole lines are left out from the least
//! severe end (never half a line, never a checkbox without its marker) and a last line says how
//! many findings and occurrences are not shown. Pure: the caller gathers the lines.
use chrono::{DateTime, Utc};

use super::limits::{cut, MAX_BODY_CHARS};
use super::neutralise::{code_span, neutralise};
use crate::configuration::{severity_rank, SEVERITIES};

/// A finding's title in its line: enough to recognise it, never enough to crowd out the others.
pub const MAX_LINE_TITLE_CHARS: usize = 200;
/// Kept free for the line that says what is not shown.
const NOT_SHOWN_RESERVE: usize = 300;
const FOOTER: &str = "\n---\n_Kept by deepsource-sync: the text of this issue is rewritten on each change (edits to it are not kept); ticked boxes are kept, and each opens that finding's own issue._\n";

/// One finding as the overview lists it.
#[derive(Clone, Debug)]
pub struct OverviewLine<'a> {
    pub finding_id: &'a str,
    pub title: &'a str,
    pub shortcode: &'a str,
    /// Upper-case; `None` while DeepSource has not said.
    pub severity: Option<&'a str>,
    pub occurrences: i64,
    /// The finding's own issue, when it has one: `#12`, or `owner/name#12` in another repository.
    pub issue: Option<String>,
    /// A person ticked its box: its issue is being opened.
    pub requested: bool,
    /// The finding in DeepSource's dashboard.
    pub deepsource_url: &'a str,
    /// Who dismissed its issue on GitHub, and how (`not planned`, `duplicate`).
    pub dismissed: Option<(&'a str, &'a str)>,
}

/// What the overview of one repository shows.
#[derive(Clone, Debug)]
pub struct Overview<'a> {
    /// `provider:login/name`, lower case: what the hidden marker names, whatever case events use.
    pub key: &'a str,
    /// `login/name`.
    pub repository: &'a str,
    /// The repository in DeepSource's dashboard, linked by the line that says what is not shown.
    pub repository_url: &'a str,
    /// When the repository was last compared with DeepSource.
    pub compared_at: Option<DateTime<Utc>>,
    pub lines: &'a [OverviewLine<'a>],
}

/// The hidden marker of a repository's overview (by its key), so an interrupted create is
/// found, not repeated.
pub fn overview_marker(key: &str) -> String {
    format!(
        "<!-- deepsource-sync:overview:{} -->",
        key.replace(['<', '>'], "_")
    )
}

/// The hidden marker on a finding's checkbox: a tick on that line asks for the finding's issue.
pub fn tick_marker(finding_id: &str) -> String {
    format!(
        "<!-- deepsource-sync:open:{} -->",
        finding_id.replace(['<', '>'], "_")
    )
}

/// The findings whose box is ticked in `body` (as GitHub shows it after a person's edit).
pub fn ticked(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("- [")?;
            if !rest.starts_with(['x', 'X']) {
                return None;
            }
            let start = rest.find("<!-- deepsource-sync:open:")? + "<!-- deepsource-sync:open:".len();
            let end = rest[start..].find(" -->")?;
            Some(rest[start..start + end].to_owned())
        })
        .collect()
}

fn group_name(severity: Option<&str>) -> &str {
    match severity {
        Some(s) if SEVERITIES.contains(&s) => s,
        _ => "not known yet",
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn line(l: &OverviewLine<'_>) -> String {
    let title = neutralise(&cut(l.title, MAX_LINE_TITLE_CHARS));
    let what = format!(
        "{title} (`{}`) — {} · [DeepSource]({})",
        code_span(l.shortcode),
        plural(l.occurrences, "occurrence", "occurrences"),
        l.deepsource_url
    );
    match &l.issue {
        Some(issue) => format!("- {issue} {what}\n"),
        // Ticked stays ticked until the issue is there: the line then links it.
        None if l.requested => format!("- [x] {what} {}\n", tick_marker(l.finding_id)),
        None => format!("- [ ] {what} {}\n", tick_marker(l.finding_id)),
    }
}

fn dismissed_line(l: &OverviewLine<'_>, who: &str, how: &str) -> String {
    let title = neutralise(&cut(l.title, MAX_LINE_TITLE_CHARS));
    let issue = l.issue.as_ref().map_or(String::new(), |i| format!("{i} "));
    // A login without `@`: naming the person must not notify them.
    format!(
        "- {issue}{title} (`{}`) — closed as {} by `{}`\n",
        code_span(l.shortcode),
        neutralise(how),
        code_span(who)
    )
}

/// The overview's body, within GitHub's limit.
pub fn render(o: &Overview<'_>) -> String {
    let mut open: Vec<&OverviewLine<'_>> = o.lines.iter().filter(|l| l.dismissed.is_none()).collect();
    open.sort_by(|a, b| {
        severity_rank(a.severity)
            .cmp(&severity_rank(b.severity))
            .then(b.occurrences.cmp(&a.occurrences))
            .then(a.finding_id.cmp(b.finding_id))
    });
    let dismissed: Vec<&OverviewLine<'_>> = o.lines.iter().filter(|l| l.dismissed.is_some()).collect();

    let mut out = format!("{}\n", overview_marker(o.key));
    out.push_str(&header(o, &open));
    let mut budget = MAX_BODY_CHARS - chars(&out) - chars(FOOTER) - NOT_SHOWN_RESERVE;
    let (mut shown, mut group) = (0, None);
    for l in &open {
        let mut piece = String::new();
        if group != Some(severity_rank(l.severity)) {
            let members = open
                .iter()
                .filter(|m| severity_rank(m.severity) == severity_rank(l.severity));
            let (n, occurrences) = members.fold((0, 0), |(n, o), m| (n + 1, o + m.occurrences));
            piece.push_str(&format!(
                "\n### {} — {}, {}\n\n",
                group_name(l.severity),
                plural(n, "finding", "findings"),
                plural(occurrences, "occurrence", "occurrences")
            ));
        }
        piece.push_str(&line(l));
        let cost = chars(&piece);
        if cost > budget {
            break;
        }
        budget -= cost;
        out.push_str(&piece);
        group = Some(severity_rank(l.severity));
        shown += 1;
    }
    let left_out = &open[shown..];
    let mut dismissed_shown = 0;
    if left_out.is_empty() && !dismissed.is_empty() {
        let head = format!(
            "\n<details><summary>{} dismissed by people</summary>\n\n",
            plural(dismissed.len() as i64, "finding", "findings")
        );
        let tail = "\n</details>\n";
        if chars(&head) + chars(tail) <= budget {
            budget -= chars(&head) + chars(tail);
            out.push_str(&head);
            for l in &dismissed {
                let (who, how) = l.dismissed.unwrap_or_default();
                let piece = dismissed_line(l, who, how);
                if chars(&piece) > budget {
                    break;
                }
                budget -= chars(&piece);
                out.push_str(&piece);
                dismissed_shown += 1;
            }
            out.push_str(tail);
        }
    }
    let dismissed_left = dismissed.len() - dismissed_shown;
    if !left_out.is_empty() || dismissed_left > 0 {
        let occurrences: i64 = left_out.iter().map(|l| l.occurrences).sum();
        let mut note = format!(
            "\n_Not shown, for GitHub's length limit: {} with {}",
            plural(left_out.len() as i64, "open finding", "open findings"),
            plural(occurrences, "occurrence", "occurrences")
        );
        if dismissed_left > 0 {
            note.push_str(&format!(", and {dismissed_left} dismissed"));
        }
        note.push_str(&format!(
            ". [All of them in DeepSource]({})._\n",
            o.repository_url
        ));
        out.push_str(&note);
    }
    out.push_str(FOOTER);
    out
}

fn header(o: &Overview<'_>, open: &[&OverviewLine<'_>]) -> String {
    let total: i64 = open.iter().map(|l| l.occurrences).sum();
    let mut by_severity = Vec::new();
    for r in 0..=SEVERITIES.len() {
        let members: Vec<_> = open.iter().filter(|l| severity_rank(l.severity) == r).collect();
        if let Some(first) = members.first() {
            let occurrences: i64 = members.iter().map(|l| l.occurrences).sum();
            by_severity.push(format!(
                "{} {} ({})",
                group_name(first.severity),
                members.len(),
                plural(occurrences, "occurrence", "occurrences")
            ));
        }
    }
    let compared = o.compared_at.map_or("not yet".to_owned(), |t| {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    });
    if open.is_empty() {
        return format!(
            "Nothing is open in `{}`. Last compared with DeepSource: {compared}.\n",
            code_span(o.repository)
        );
    }
    format!(
        "**{}, {}** open in `{}`: {}. Last compared with DeepSource: {compared}.\n",
        plural(open.len() as i64, "finding", "findings"),
        plural(total, "occurrence", "occurrences"),
        code_span(o.repository),
        by_severity.join(" · ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding<'a>(id: &'a str, severity: Option<&'a str>, occurrences: i64) -> OverviewLine<'a> {
        OverviewLine {
            finding_id: id,
            title: "Unused parameter",
            shortcode: "GO-W1029",
            severity,
            occurrences,
            issue: None,
            requested: false,
            deepsource_url: "https://app.deepsource.com/gh/acme/api/issue/GO-W1029/occurrences",
            dismissed: None,
        }
    }

    fn overview<'a>(lines: &'a [OverviewLine<'a>]) -> Overview<'a> {
        Overview {
            key: "github:acme/api",
            repository: "acme/api",
            repository_url: "https://app.deepsource.com/gh/acme/api",
            compared_at: None,
            lines,
        }
    }

    #[test]
    fn findings_are_grouped_by_severity_most_occurrences_first_and_dismissed_last() {
        let mut linked = finding("b", Some("MAJOR"), 9);
        linked.issue = Some("#12".into());
        let mut gone = finding("z", Some("CRITICAL"), 1);
        gone.dismissed = Some(("octocat", "not planned"));
        let lines = [
            finding("a", Some("MINOR"), 50),
            linked,
            finding("c", None, 3),
            finding("d", Some("CRITICAL"), 2),
            finding("e", Some("MAJOR"), 20),
            gone,
        ];
        let body = render(&overview(&lines));
        let at = |needle: &str| body.find(needle).unwrap_or_else(|| panic!("{needle} in {body}"));
        assert!(at("### CRITICAL") < at("### MAJOR") && at("### MAJOR") < at("### MINOR"));
        assert!(at("### MINOR") < at("### not known yet"));
        assert!(at(&tick_marker("e")) < at("- #12 "), "20 occurrences before 9");
        assert!(body.contains("**5 findings, 84 occurrences** open"), "{body}");
        assert!(
            body.contains("CRITICAL 1 (2 occurrences) · MAJOR 2 (29 occurrences)"),
            "{body}"
        );
        assert!(at("<details>") > at("### not known yet"));
        assert!(body.contains("closed as not planned by `octocat`"), "{body}");
        assert!(!body.contains("@octocat"));
        assert!(
            !body.contains(&tick_marker("b")),
            "a finding with an issue has no box"
        );
        assert!(!body.contains("Not shown"));
    }

    #[test]
    fn deepsource_text_is_neutralised_and_a_long_title_cut_in_its_line() {
        let long = format!("<script>@team fixes #12 {}", "x".repeat(300));
        let mut l = finding("a", Some("MAJOR"), 1);
        l.title = &long;
        let lines = [l];
        let body = render(&overview(&lines));
        assert!(!body.contains("<script>") && body.contains("&lt;script&gt;"));
        assert!(!body.contains("@team") && !body.contains(" #12 "));
        let shown = body
            .lines()
            .find(|line| line.contains(&tick_marker("a")))
            .unwrap();
        assert!(shown.contains('…'));
        assert!(shown.chars().count() < MAX_LINE_TITLE_CHARS + 300, "{shown}");
    }

    #[test]
    fn five_thousand_findings_fit_in_whole_lines_and_say_exactly_what_is_left_out() {
        let ids: Vec<String> = (0..5000).map(|i| format!("finding-{i:05}")).collect();
        let lines: Vec<OverviewLine<'_>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| finding(id, Some(SEVERITIES[i % 3]), 1 + (i % 7) as i64))
            .collect();
        let body = render(&overview(&lines));
        assert!(body.chars().count() <= MAX_BODY_CHARS, "{}", body.chars().count());
        let boxes: Vec<&str> = body.lines().filter(|l| l.starts_with("- [ ] ")).collect();
        assert!(!boxes.is_empty() && boxes.len() < 5000);
        for b in &boxes {
            assert!(b.ends_with(" -->"), "a whole line: {b}");
        }
        // Left out from the least severe end: every CRITICAL is there before any MINOR goes.
        let listed: std::collections::HashSet<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| body.contains(&tick_marker(id)))
            .collect();
        let (shown, left): (Vec<&OverviewLine<'_>>, Vec<&OverviewLine<'_>>) =
            lines.iter().partition(|l| listed.contains(l.finding_id));
        let order = |l: &OverviewLine<'_>| (severity_rank(l.severity), -l.occurrences);
        let last_shown = shown.iter().map(|l| order(l)).max().unwrap();
        assert!(
            left.iter().all(|l| order(l) >= last_shown),
            "only the least severe end (then the fewest occurrences) is left out"
        );
        let occurrences: i64 = left.iter().map(|l| l.occurrences).sum();
        let expected = format!(
            "Not shown, for GitHub's length limit: {} open findings with {occurrences} occurrences.",
            left.len()
        );
        assert!(body.contains(&expected), "{expected}");
        assert!(body.contains("[All of them in DeepSource](https://app.deepsource.com/gh/acme/api)"));
    }

    #[test]
    fn a_ticked_box_names_its_finding_and_an_unticked_one_does_not() {
        let lines = [
            finding("RI-1", Some("MAJOR"), 2),
            finding("RI-2", Some("MINOR"), 1),
        ];
        let body = render(&overview(&lines));
        assert!(ticked(&body).is_empty());
        let edited = body.replacen(
            "- [ ] Unused parameter (`GO-W1029`) — 2",
            "- [x] Unused parameter (`GO-W1029`) — 2",
            1,
        );
        assert_eq!(ticked(&edited), ["RI-1"]);
        assert_eq!(ticked(&edited.replace("- [x]", "- [X]")), ["RI-1"]);
        // A box the service shows ticked (the issue is on its way) reads back as ticked.
        let mut asked = finding("RI-2", Some("MINOR"), 1);
        asked.requested = true;
        let lines = [finding("RI-1", Some("MAJOR"), 2), asked];
        assert_eq!(ticked(&render(&overview(&lines))), ["RI-2"]);
    }

    #[test]
    fn nothing_open_says_so() {
        let body = render(&overview(&[]));
        assert!(body.contains("Nothing is open in `acme/api`"), "{body}");
        assert!(body.starts_with(&overview_marker("github:acme/api")));
    }
}
