//! The locations part of an issue body: one Markdown line per occurrence, linked to the file
//! and lines on the repository's default branch when those are known.
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::findings::event::Occurrence;
use crate::findings::store::Finding;
use crate::issue::limits::{cut, MAX_FACT_CHARS, MAX_OCCURRENCE_TITLE_CHARS};
use crate::issue::neutralise::{code_span, neutralise};

/// One line per occurrence, grouped by file (in path and line order); when there are several
/// files, each file's first line carries the file's name above it, so a cut keeps whole lines
/// and "…and N more" still counts occurrences.
pub(super) fn grouped_locations(finding: &Finding) -> Vec<String> {
    let mut sorted: Vec<&Occurrence> = finding.locations.iter().collect();
    sorted.sort_by(|a, b| (a.path.as_deref(), a.begin_line).cmp(&(b.path.as_deref(), b.begin_line)));
    let files = sorted
        .iter()
        .map(|o| o.path.as_deref())
        .collect::<std::collections::HashSet<_>>()
        .len();
    let mut previous = None;
    sorted
        .into_iter()
        .map(|o| {
            let line = location_line(finding, o);
            let path = o.path.as_deref();
            if files < 2 || previous == Some(path) {
                return line;
            }
            previous = Some(path);
            let name = code_span(path.filter(|p| !p.is_empty()).unwrap_or("unknown file"));
            format!("\n**`{}`**\n\n{line}", cut(&name, MAX_FACT_CHARS))
        })
        .collect()
}

fn location_line(finding: &Finding, o: &Occurrence) -> String {
    let path = o.path.as_deref().filter(|p| !p.is_empty());
    // Lines DeepSource left out are left out of the link too: it then points at the file.
    let lines = match (o.begin_line, o.end_line) {
        (Some(begin), Some(end)) => format!("#L{begin}-L{end}"),
        (Some(line), None) | (None, Some(line)) => format!("#L{line}"),
        (None, None) => String::new(),
    };
    let place = format!("{}{lines}", path.unwrap_or("unknown file"));
    let title = o
        .title
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| format!(": {}", cut(&neutralise(t), MAX_OCCURRENCE_TITLE_CHARS)))
        .unwrap_or_default();
    let base = finding.vcs_url.trim_end_matches('/');
    let linkable = base.starts_with("https://") || base.starts_with("http://");
    match path {
        Some(path) if linkable && !finding.default_branch.is_empty() => format!(
            "- [{}]({}/blob/{}/{}{}){}\n",
            neutralise(&place).replace(['[', ']'], ""),
            base,
            url_path(&finding.default_branch),
            url_path(path),
            lines,
            title
        ),
        _ => format!("- {}{}\n", neutralise(&place), title),
    }
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
