//! What a team decided in DeepSource (ignore rules for the whole repository, one file, a glob or
//! its test patterns; categories switched off; issues suppressed for the team), and the one
//! judgement made from it: why a finding whose occurrences stopped being listed was not fixed.
//! Pure: `decisions.rs` reads them.
use chrono::{DateTime, Utc};
use ignore::gitignore::GitignoreBuilder;

/// One ignore rule of a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoreRule {
    pub shortcode: String,
    /// `REPOSITORY` (every file) or `FILE` (`file_path` only).
    pub level: String,
    /// `FOREVER`, `PATTERN` (paths matching `glob`) or `TEST_PATTERN` (the repository's tests).
    pub kind: String,
    pub file_path: Option<String>,
    pub glob: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

impl IgnoreRule {
    /// Ignores the issue in every file of the repository.
    pub fn whole_repository(&self) -> bool {
        self.level == "REPOSITORY" && self.kind == "FOREVER"
    }

    /// Whether it ignores an occurrence at `path`; a rule by the repository's test patterns
    /// cannot be judged here (the API does not give the patterns).
    pub fn covers(&self, path: &str) -> bool {
        if self.whole_repository() {
            return true;
        }
        if self.level == "FILE" && self.file_path.as_deref() != Some(path) {
            return false;
        }
        match self.kind.as_str() {
            "FOREVER" => self.level == "FILE",
            "PATTERN" => self.glob.as_deref().is_some_and(|glob| glob_matches(glob, path)),
            _ => false,
        }
    }

    /// How the rule reads in an issue: the file, the glob, or the test patterns.
    pub fn describe(&self) -> String {
        match (self.kind.as_str(), &self.glob, &self.file_path) {
            ("PATTERN", Some(glob), _) => format!("`{glob}`"),
            ("TEST_PATTERN", ..) => "the repository's test patterns".to_owned(),
            (_, _, Some(file)) if self.level == "FILE" => format!("`{file}`"),
            _ => "the whole repository".to_owned(),
        }
    }
}

/// A gitignore-style glob (`tests/**`, `*.pb.go`), as DeepSource's patterns are written.
fn glob_matches(glob: &str, path: &str) -> bool {
    let mut builder = GitignoreBuilder::new("");
    if builder.add_line(None, glob).is_err() {
        return false;
    }
    builder
        .build()
        .is_ok_and(|set| set.matched_path_or_any_parents(path, false).is_ignore())
}

/// An issue the team suppressed in every repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppressed {
    pub shortcode: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// Everything a repository's team decided, read whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decisions {
    pub rules: Vec<IgnoreRule>,
    /// Upper-case categories the repository no longer reports.
    pub categories_off: Vec<String>,
    pub suppressed: Vec<Suppressed>,
    /// Requests it took.
    pub requests: usize,
}

/// Why a finding whose occurrences stopped being listed was not fixed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotFixed {
    IgnoredForRepository {
        since: Option<DateTime<Utc>>,
    },
    Suppressed {
        since: Option<DateTime<Utc>>,
    },
    CategoryOff {
        category: String,
    },
    /// Partial rules cover every location last known, named as `IgnoreRule::describe` says.
    Covered {
        rules: Vec<String>,
    },
}

impl NotFixed {
    /// The sentence the issue is closed with.
    pub fn sentence(&self) -> String {
        let date = |since: &Option<DateTime<Utc>>| {
            since.map_or(String::new(), |t| format!(" since {}", t.format("%Y-%m-%d")))
        };
        match self {
            NotFixed::IgnoredForRepository { since } => {
                format!("Ignored in DeepSource for this repository{}.", date(since))
            }
            NotFixed::Suppressed { since } => {
                format!("Suppressed for the whole team in DeepSource{}.", date(since))
            }
            NotFixed::CategoryOff { category } => {
                format!("DeepSource no longer reports {category} issues in this repository.")
            }
            NotFixed::Covered { rules } => format!(
                "Ignored in DeepSource for {}: every location it was last known at.",
                rules.join(", ")
            ),
        }
    }
}

impl Decisions {
    /// The rules for `shortcode` that ignore only part of the repository.
    pub fn partial_rules(&self, shortcode: &str) -> Vec<&IgnoreRule> {
        self.rules
            .iter()
            .filter(|r| r.shortcode == shortcode && !r.whole_repository())
            .collect()
    }

    /// Why the finding of `shortcode` in `category`, last known at `paths`, is no longer listed,
    /// if something other than a fix says; `None`: it was fixed.
    pub fn why_not_fixed(&self, shortcode: &str, category: &str, paths: &[&str]) -> Option<NotFixed> {
        let forever = self
            .rules
            .iter()
            .filter(|r| r.shortcode == shortcode && r.whole_repository())
            .min_by_key(|r| r.created_at);
        if let Some(rule) = forever {
            return Some(NotFixed::IgnoredForRepository {
                since: rule.created_at,
            });
        }
        if let Some(s) = self.suppressed.iter().find(|s| s.shortcode == shortcode) {
            return Some(NotFixed::Suppressed { since: s.created_at });
        }
        let category = category.to_ascii_uppercase();
        if self.categories_off.contains(&category) {
            return Some(NotFixed::CategoryOff { category });
        }
        let partial = self.partial_rules(shortcode);
        if paths.is_empty() || partial.is_empty() {
            return None;
        }
        let mut used: Vec<String> = Vec::new();
        for path in paths {
            let rule = partial.iter().find(|r| r.covers(path))?;
            let name = rule.describe();
            if !used.contains(&name) {
                used.push(name);
            }
        }
        Some(NotFixed::Covered { rules: used })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(level: &str, kind: &str, file: Option<&str>, glob: Option<&str>) -> IgnoreRule {
        IgnoreRule {
            shortcode: "PY-W0611".into(),
            level: level.into(),
            kind: kind.into(),
            file_path: file.map(str::to_owned),
            glob: glob.map(str::to_owned),
            created_at: DateTime::parse_from_rfc3339("2026-11-02T10:00:00Z")
                .ok()
                .map(|t| t.to_utc()),
        }
    }

    fn decided(rules: Vec<IgnoreRule>) -> Decisions {
        Decisions {
            rules,
            ..Decisions::default()
        }
    }

    #[test]
    fn ignored_for_the_repository_suppressed_or_a_category_off_is_not_fixed() {
        let forever = decided(vec![rule("REPOSITORY", "FOREVER", None, None)]);
        let why = forever.why_not_fixed("PY-W0611", "STYLE", &["a.py"]).unwrap();
        assert_eq!(
            why.sentence(),
            "Ignored in DeepSource for this repository since 2026-11-02."
        );
        assert_eq!(
            forever.why_not_fixed("PY-W0612", "STYLE", &["a.py"]),
            None,
            "another issue"
        );

        let suppressed = Decisions {
            suppressed: vec![Suppressed {
                shortcode: "PY-W0611".into(),
                created_at: None,
            }],
            ..Decisions::default()
        };
        let why = suppressed.why_not_fixed("PY-W0611", "STYLE", &[]).unwrap();
        assert_eq!(why.sentence(), "Suppressed for the whole team in DeepSource.");

        let off = Decisions {
            categories_off: vec!["SECURITY".into()],
            ..Decisions::default()
        };
        let why = off.why_not_fixed("PY-S0001", "security", &[]).unwrap();
        assert_eq!(
            why.sentence(),
            "DeepSource no longer reports SECURITY issues in this repository."
        );
        assert_eq!(
            Decisions::default().why_not_fixed("PY-W0611", "STYLE", &["a.py"]),
            None,
            "fixed"
        );
    }

    #[test]
    fn partial_rules_close_only_when_they_cover_every_location() {
        let rules = decided(vec![
            rule("REPOSITORY", "PATTERN", None, Some("tests/**")),
            rule("FILE", "FOREVER", Some("gen/api_pb2.py"), None),
            rule("REPOSITORY", "TEST_PATTERN", None, None),
        ]);
        let why = rules
            .why_not_fixed("PY-W0611", "STYLE", &["tests/unit/test_a.py", "gen/api_pb2.py"])
            .unwrap();
        assert_eq!(
            why,
            NotFixed::Covered {
                rules: vec!["`tests/**`".into(), "`gen/api_pb2.py`".into()]
            }
        );
        assert_eq!(
            rules.why_not_fixed("PY-W0611", "STYLE", &["tests/test_a.py", "src/app.py"]),
            None,
            "src/app.py is outside every rule: fixed"
        );
        assert_eq!(
            rules.why_not_fixed("PY-W0611", "STYLE", &[]),
            None,
            "no location to judge"
        );
        assert_eq!(rules.partial_rules("PY-W0611").len(), 3);
        assert_eq!(rules.rules[2].describe(), "the repository's test patterns");
        assert!(!rules.rules[1].covers("gen/other_pb2.py"));
    }
}
