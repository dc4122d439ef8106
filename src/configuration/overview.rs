//! The overview issue per repository (`OVERVIEW_*`) and which findings get an issue of their own
//! (`FINDING_ISSUES`).
use std::time::Duration;

use super::issues::{FindingIssues, TitleField, TitlePart, TitleTemplate};
use super::parse::{duration_or, parse_bool, parse_or, ConfigError};

pub const DEFAULT_OVERVIEW_TITLE: &str = "DeepSource findings: {repository}";

#[derive(Clone, Debug)]
pub struct OverviewSettings {
    /// `OVERVIEW_ISSUE`: each tracked DeepSource repository gets one overview issue.
    pub enabled: bool,
    /// `OVERVIEW_TITLE`: only `{repository}` may be used.
    pub title: TitleTemplate,
    /// `OVERVIEW_READ_INTERVAL`: without GitHub's webhooks, how often the overview is read for
    /// ticked boxes and a person's close (a conditional read: an unchanged issue costs nothing).
    pub read_interval: Duration,
    /// `OVERVIEW_DELAY`: a change is written this long after the last change before it, so a
    /// burst across many findings is one write.
    pub delay: Duration,
    /// `OVERVIEW_SUB_ISSUES`: findings' own issues are attached as sub-issues of the overview.
    pub sub_issues: bool,
}

impl Default for OverviewSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            title: TitleTemplate::parse(DEFAULT_OVERVIEW_TITLE).expect("the default parses"),
            read_interval: Duration::from_secs(300),
            delay: Duration::from_secs(30),
            sub_issues: false,
        }
    }
}

impl OverviewSettings {
    /// The overview's title for `repository` (`login/name`).
    pub fn title_for(&self, repository: &str) -> String {
        self.title
            .parts()
            .iter()
            .map(|part| match part {
                TitlePart::Literal(text) => text.as_str(),
                TitlePart::Field(_) => repository,
            })
            .collect()
    }
}

/// The overview's settings; `issues` (`FINDING_ISSUES`, read with the other issue settings)
/// needs the overview unless it is `all`.
pub(super) fn overview_settings(
    get: &impl Fn(&str) -> Option<String>,
    issues: &FindingIssues,
) -> Result<OverviewSettings, ConfigError> {
    let title = match get("OVERVIEW_TITLE") {
        None => TitleTemplate::parse(DEFAULT_OVERVIEW_TITLE).expect("the default parses"),
        Some(v) => {
            let template = TitleTemplate::parse(&v).map_err(|e| ConfigError::new("OVERVIEW_TITLE", e))?;
            if template
                .parts()
                .iter()
                .any(|p| matches!(p, TitlePart::Field(f) if *f != TitleField::Repository))
            {
                return Err(ConfigError::new(
                    "OVERVIEW_TITLE",
                    "only {repository} can be used in an overview's title",
                ));
            }
            template
        }
    };
    let settings = OverviewSettings {
        enabled: parse_or("OVERVIEW_ISSUE", get("OVERVIEW_ISSUE"), false, parse_bool)?,
        title,
        read_interval: duration_or(
            "OVERVIEW_READ_INTERVAL",
            get("OVERVIEW_READ_INTERVAL"),
            Duration::from_secs(300),
        )?,
        delay: match get("OVERVIEW_DELAY") {
            // `0` writes each change at once (tests, small repositories).
            Some(v) if v.trim() == "0" => Duration::ZERO,
            v => duration_or("OVERVIEW_DELAY", v, Duration::from_secs(30))?,
        },
        sub_issues: parse_or(
            "OVERVIEW_SUB_ISSUES",
            get("OVERVIEW_SUB_ISSUES"),
            false,
            parse_bool,
        )?,
    };
    if !settings.enabled && *issues != FindingIssues::All {
        return Err(ConfigError::new(
            "FINDING_ISSUES",
            "findings without an issue of their own are listed only in the overview: set OVERVIEW_ISSUE=true too",
        ));
    }
    if !settings.enabled && settings.sub_issues {
        return Err(ConfigError::new(
            "OVERVIEW_SUB_ISSUES",
            "sub-issues are attached to the overview: set OVERVIEW_ISSUE=true too",
        ));
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use crate::configuration::tests::settings;

    use super::*;

    #[test]
    fn the_overview_is_off_and_every_finding_gets_an_issue_by_default() {
        let s = settings(&[]).unwrap();
        assert!(!s.overview.enabled && !s.overview.sub_issues);
        assert_eq!(s.issues.finding_issues, FindingIssues::All);
        assert_eq!(s.overview.delay, Duration::from_secs(30));
        assert_eq!(s.overview.read_interval, Duration::from_secs(300));
        assert_eq!(s.overview.title_for("acme/api"), "DeepSource findings: acme/api");
    }

    #[test]
    fn finding_issues_reads_all_none_or_severities() {
        let on = ("OVERVIEW_ISSUE", "true");
        let of = |v: &str| settings(&[on, ("FINDING_ISSUES", v)]).map(|s| s.issues.finding_issues);
        assert_eq!(of("NONE").unwrap(), FindingIssues::None);
        let some = of("critical, MAJOR,critical").unwrap();
        assert_eq!(
            some,
            FindingIssues::Severities(vec!["CRITICAL".into(), "MAJOR".into()])
        );
        assert!(some.includes(Some("MAJOR")) && some.includes(None));
        assert!(!some.includes(Some("MINOR")));
        assert!(!FindingIssues::None.includes(None));
        assert_eq!(of("BLOCKER").unwrap_err().var, "FINDING_ISSUES");
        let alone = settings(&[("FINDING_ISSUES", "none")]).unwrap_err();
        assert!(alone.reason.contains("OVERVIEW_ISSUE"), "{alone}");
    }

    #[test]
    fn the_overview_title_may_name_only_the_repository() {
        let on = ("OVERVIEW_ISSUE", "true");
        let s = settings(&[on, ("OVERVIEW_TITLE", "Findings in {repository} {{all}}")]).unwrap();
        assert_eq!(s.overview.title_for("a/b"), "Findings in a/b {all}");
        for bad in ["{title} here", "{repository", "{nope}"] {
            assert_eq!(
                settings(&[on, ("OVERVIEW_TITLE", bad)]).unwrap_err().var,
                "OVERVIEW_TITLE"
            );
        }
        let zero = settings(&[on, ("OVERVIEW_DELAY", "0")]).unwrap();
        assert_eq!(zero.overview.delay, Duration::ZERO);
        assert_eq!(
            settings(&[("OVERVIEW_SUB_ISSUES", "true")]).unwrap_err().var,
            "OVERVIEW_SUB_ISSUES"
        );
    }
}
