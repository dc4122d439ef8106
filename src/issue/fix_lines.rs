//! The lines of an issue's body about DeepSource's Autofix: the pull requests that fix the
//! finding (`autofix/`), and whether DeepSource could make one.
use crate::autofix::FixStatus;
use crate::domain::RepositoryRef;
use crate::findings::store::Finding;
use crate::issue::limits::{cut, MAX_FACT_CHARS};
use crate::issue::neutralise::neutralise;

/// The Autofix pull requests that fix the finding, one line each. The pull request is named as
/// `login/name#12`, which GitHub renders as a link: built from the repository the service parsed
/// and the number, never from DeepSource's URL; the title is neutralised like all its text.
pub fn fix_lines(finding: &Finding) -> String {
    let repository = RepositoryRef::from_vcs(&finding.vcs_provider, &finding.vcs_url)
        .filter(|r| is_plain_name(&r.login) && is_plain_name(&r.name));
    let mut lines = String::new();
    for fix in &finding.fixes {
        let pr = match &repository {
            Some(r) => format!("{}/{}#{}", r.login, r.name, fix.number),
            None => format!("pull request {}", fix.number),
        };
        let title = match fix.title.trim() {
            "" => String::new(),
            t => format!(" — *{}*", cut(&neutralise(t), MAX_FACT_CHARS).replace('*', "\\*")),
        };
        let line = match fix.status {
            FixStatus::Open => format!("**Fix proposed:** DeepSource Autofix opened {pr}{title}"),
            FixStatus::Merged => format!(
                "**Fix merged:** DeepSource Autofix's {pr}{title} was merged; DeepSource resolves the occurrences it fixed on its next analysis"
            ),
            FixStatus::Closed => {
                format!("**Fix declined:** DeepSource Autofix's {pr}{title} was closed without merging")
            }
        };
        lines.push_str(&line);
        lines.push_str("\n\n");
    }
    if finding.autofix_available == Some(true) {
        lines.push_str("DeepSource can fix this automatically (Autofix, from its dashboard).\n\n");
    }
    lines
}

/// A GitHub login or repository name: nothing that Markdown would read as more than a name.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        Finding::sample()
    }
    use crate::autofix::ProposedFix;

    fn fix(number: i64, title: &str, status: FixStatus) -> ProposedFix {
        ProposedFix {
            number,
            title: title.into(),
            status,
        }
    }

    #[test]
    fn each_fix_says_what_became_of_its_pull_request() {
        let mut f = finding();
        f.fixes = vec![
            fix(14, "Second try", FixStatus::Open),
            fix(13, "", FixStatus::Merged),
            fix(12, "First try", FixStatus::Closed),
        ];
        let lines = fix_lines(&f);
        let lines: Vec<&str> = lines.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(
            lines,
            [
                "**Fix proposed:** DeepSource Autofix opened deepsourcelabs/demo-go#14 — *Second try*",
                "**Fix merged:** DeepSource Autofix's deepsourcelabs/demo-go#13 was merged; DeepSource resolves the occurrences it fixed on its next analysis",
                "**Fix declined:** DeepSource Autofix's deepsourcelabs/demo-go#12 — *First try* was closed without merging",
            ]
        );
    }

    #[test]
    fn a_title_cannot_mention_reference_or_end_the_emphasis() {
        let mut f = finding();
        f.fixes = vec![fix(
            12,
            "Ping @admins about #3 *now* <img src=x>",
            FixStatus::Open,
        )];
        let lines = fix_lines(&f);
        assert!(
            !lines.contains("@admins") && !lines.contains(" #3") && !lines.contains("<img"),
            "{lines}"
        );
        assert!(lines.contains("\\*now\\*"), "{lines}");
    }

    #[test]
    fn a_repository_name_markdown_would_read_as_more_is_not_used_in_the_reference() {
        let mut f = finding();
        f.vcs_url = "https://github.com/deepsourcelabs/demo](https://evil.example)".into();
        f.fixes = vec![fix(12, "t", FixStatus::Open)];
        let lines = fix_lines(&f);
        assert!(lines.contains("opened pull request 12 — *t*"), "{lines}");
        assert!(!lines.contains("evil"), "{lines}");
    }

    #[test]
    fn autofix_available_is_said_only_when_deepsource_said_so() {
        let mut f = finding();
        assert_eq!(fix_lines(&f), "");
        f.autofix_available = Some(false);
        assert_eq!(fix_lines(&f), "");
        f.autofix_available = Some(true);
        assert!(fix_lines(&f).contains("DeepSource can fix this automatically"));
    }
}
