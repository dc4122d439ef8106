//! What every synced issue shows besides the finding itself, and who it is assigned to: the
//! title template, extra labels, and CODEOWNERS routing.
use super::parse::{list, parse_bool, parse_or, ConfigError};

/// DeepSource's severities, most severe first.
pub const SEVERITIES: [&str; 3] = ["CRITICAL", "MAJOR", "MINOR"];

/// Where an (upper-case) severity comes in `SEVERITIES`; any other, or none yet, after them.
pub fn severity_rank(severity: Option<&str>) -> usize {
    severity
        .and_then(|s| SEVERITIES.iter().position(|known| *known == s))
        .unwrap_or(SEVERITIES.len())
}

/// GitHub refuses a label name longer than this (422), which would fail every create.
const MAX_LABEL_CHARS: usize = 50;
pub const DEFAULT_TITLE_TEMPLATE: &str = "{title} ({shortcode})";

#[derive(Clone, Debug)]
pub struct IssueSettings {
    pub title_template: TitleTemplate,
    /// Added to every issue after the service's own labels.
    pub extra_labels: Vec<String>,
    /// Assign a new issue to the users CODEOWNERS names for its finding's paths.
    pub assign_codeowners: bool,
    /// `FINDING_ISSUES`: which findings get an issue of their own.
    pub finding_issues: FindingIssues,
}

impl Default for IssueSettings {
    fn default() -> Self {
        Self {
            title_template: TitleTemplate::parse(DEFAULT_TITLE_TEMPLATE).expect("the default parses"),
            extra_labels: Vec::new(),
            assign_codeowners: false,
            finding_issues: FindingIssues::All,
        }
    }
}

/// `FINDING_ISSUES`: which findings get an issue of their own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FindingIssues {
    /// Every tracked finding (the behaviour before overviews).
    #[default]
    All,
    /// None: the overview lists them, and a ticked box opens one.
    None,
    /// Findings of these upper-case severities, and of a severity not known yet.
    Severities(Vec<String>),
}

impl FindingIssues {
    /// Whether a finding of `severity` gets its own issue without being asked for one.
    pub fn includes(&self, severity: Option<&str>) -> bool {
        match (self, severity) {
            (FindingIssues::All, _) => true,
            (FindingIssues::None, _) => false,
            (FindingIssues::Severities(_), None) => true,
            (FindingIssues::Severities(list), Some(s)) => list.iter().any(|l| l.eq_ignore_ascii_case(s)),
        }
    }

    /// As configured, for the sync fingerprint.
    pub fn describe(&self) -> String {
        match self {
            FindingIssues::All => "all".into(),
            FindingIssues::None => "none".into(),
            FindingIssues::Severities(list) => list.join(","),
        }
    }
}

fn finding_issues(value: Option<String>) -> Result<FindingIssues, ConfigError> {
    let Some(value) = value else {
        return Ok(FindingIssues::All);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "all" => return Ok(FindingIssues::All),
        "none" => return Ok(FindingIssues::None),
        _ => {}
    }
    let mut severities: Vec<String> = Vec::new();
    for s in list(Some(value)) {
        let s = s.to_ascii_uppercase();
        if !SEVERITIES.contains(&s.as_str()) {
            return Err(ConfigError::new(
                "FINDING_ISSUES",
                format!("{s} is not a severity: expected all, none, or a list of CRITICAL, MAJOR, MINOR"),
            ));
        }
        if !severities.contains(&s) {
            severities.push(s);
        }
    }
    Ok(FindingIssues::Severities(severities))
}

/// A title template parsed once at start-up, so rendering never re-reads the string and a
/// mistake stops start-up instead of every create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TitleTemplate {
    source: String,
    parts: Vec<TitlePart>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TitlePart {
    Literal(String),
    Field(TitleField),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TitleField {
    Title,
    Shortcode,
    Category,
    Severity,
    Analyzer,
    Repository,
}

impl TitleField {
    const ALL: [(&'static str, TitleField); 6] = [
        ("title", TitleField::Title),
        ("shortcode", TitleField::Shortcode),
        ("category", TitleField::Category),
        ("severity", TitleField::Severity),
        ("analyzer", TitleField::Analyzer),
        ("repository", TitleField::Repository),
    ];
}

impl TitleTemplate {
    /// `{name}` is a placeholder and `{{` / `}}` a literal brace; anything else in braces, or a
    /// brace left open, is refused with what was wrong.
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(format!(
                        "unbalanced brace: `}}` at character {} closes nothing (write `}}}}` for a literal brace)",
                        source[..at].chars().count() + 1
                    ))
                }
                '{' => {
                    let rest = &source[at + 1..];
                    let Some(end) = rest.find(['}', '{']).filter(|&i| rest[i..].starts_with('}')) else {
                        return Err(format!(
                            "unbalanced brace: `{{` at character {} is not closed (write `{{{{` for a literal brace)",
                            source[..at].chars().count() + 1
                        ));
                    };
                    let name = &rest[..end];
                    let Some((_, field)) = TitleField::ALL.iter().find(|(n, _)| *n == name) else {
                        let known: Vec<String> = TitleField::ALL.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                        return Err(format!(
                            "unknown placeholder {{{name}}} (known: {})",
                            known.join(" ")
                        ));
                    };
                    if !literal.is_empty() {
                        parts.push(TitlePart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(TitlePart::Field(*field));
                    // Skip the name and its closing brace.
                    for _ in 0..name.chars().count() + 1 {
                        chars.next();
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(TitlePart::Literal(literal));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    pub fn parts(&self) -> &[TitlePart] {
        &self.parts
    }

    /// As configured: what the sync fingerprint records.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

pub(super) fn issue_settings(get: &impl Fn(&str) -> Option<String>) -> Result<IssueSettings, ConfigError> {
    let title_template = match get("ISSUE_TITLE_TEMPLATE") {
        None => TitleTemplate::parse(DEFAULT_TITLE_TEMPLATE).expect("the default parses"),
        Some(v) => TitleTemplate::parse(&v).map_err(|e| ConfigError::new("ISSUE_TITLE_TEMPLATE", e))?,
    };
    let mut extra_labels: Vec<String> = Vec::new();
    for label in list(get("ISSUE_LABELS")) {
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(ConfigError::new(
                "ISSUE_LABELS",
                format!("label {label:?} is longer than GitHub's {MAX_LABEL_CHARS} characters"),
            ));
        }
        // GitHub's label names ignore case: `Team-A` and `team-a` are one label.
        if !extra_labels.iter().any(|l| l.eq_ignore_ascii_case(&label)) {
            extra_labels.push(label);
        }
    }
    Ok(IssueSettings {
        title_template,
        extra_labels,
        assign_codeowners: parse_or("ASSIGN_CODEOWNERS", get("ASSIGN_CODEOWNERS"), false, parse_bool)?,
        finding_issues: finding_issues(get("FINDING_ISSUES"))?,
    })
}
