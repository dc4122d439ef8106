//! GitHub's limits on an issue, applied to exactly what is sent: after neutralising and
//! escaping, which lengthen text (`<` becomes `&lt;`, a mention gains a zero-width space).
//! GitHub counts characters, not bytes, and refuses a whole create or update (422) when any
//! field is over, which would leave the finding off GitHub for good; so every field is fitted
//! here instead, cut with "…" where a reader should see that something is missing.
use std::borrow::Cow;

use crate::configuration::{TitleField, TitlePart, TitleTemplate};

pub const MAX_TITLE_CHARS: usize = 256;
pub const MAX_BODY_CHARS: usize = 65_536;
pub const MAX_LABEL_CHARS: usize = 50;
/// One value in the body's table (repository, category, analyzer) from DeepSource: more is not
/// a name but a broken event, and it must not crowd out the description and the locations.
pub const MAX_FACT_CHARS: usize = 200;
/// An occurrence's own title in the locations list.
pub const MAX_OCCURRENCE_TITLE_CHARS: usize = 500;
/// When the description and the locations do not both fit, the description gives way first, but
/// keeps at least this much: it says what the finding is.
const DESCRIPTION_FLOOR: usize = 2_000;
/// Room kept for the line that says how many locations were left out.
const MORE_LINE_CHARS: usize = 40;

const LOCATIONS_HEADING: &str = "### Locations\n\n";

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// `text` in at most `max` characters, ending in "…" when it had to be cut. A cut never splits
/// an HTML entity the escaping made (`&lt;` into a stray `&l`): in neutralised text every `&`
/// begins one.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    if chars(text) <= max {
        return Cow::Borrowed(text);
    }
    let Some(keep) = max.checked_sub(1) else {
        return Cow::Borrowed("");
    };
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut kept = &text[..end];
    if let Some(amp) = kept.rfind('&') {
        if !kept[amp..].contains(';') && kept.len() - amp < "&amp;".len() {
            kept = &kept[..amp];
        }
    }
    Cow::Owned(format!("{kept}…"))
}

/// The title template filled in, in GitHub's title limit. The rest of the template (the
/// shortcode above all) says which check this is, so the `{title}` part is cut rather than it,
/// unless the rest alone would take most of the title; then the whole is cut.
pub fn title(template: &TitleTemplate, value: impl Fn(TitleField) -> String) -> String {
    let name = value(TitleField::Title);
    let fill = |name: &str| {
        let mut out = String::new();
        for part in template.parts() {
            match part {
                TitlePart::Literal(text) => out.push_str(text),
                TitlePart::Field(TitleField::Title) => out.push_str(name),
                TitlePart::Field(field) => out.push_str(&value(*field)),
            }
        }
        out
    };
    let whole = fill(&name);
    let whole_chars = chars(&whole);
    if whole_chars <= MAX_TITLE_CHARS {
        return whole;
    }
    let names = template
        .parts()
        .iter()
        .filter(|p| **p == TitlePart::Field(TitleField::Title))
        .count();
    let rest_chars = whole_chars - names * chars(&name);
    if names > 0 && rest_chars <= MAX_TITLE_CHARS / 2 {
        fill(&cut(&name, (MAX_TITLE_CHARS - rest_chars) / names))
    } else {
        cut(&whole, MAX_TITLE_CHARS).into_owned()
    }
}

/// A label name in GitHub's limit. Cut without "…": label names are kept to ASCII, and a cut
/// one still groups the findings of its analyzer.
pub fn label(name: String) -> String {
    match name.char_indices().nth(MAX_LABEL_CHARS) {
        Some((end, _)) => name[..end].to_owned(),
        None => name,
    }
}

/// What goes into an issue body, each part already neutralised and rendered.
pub struct BodyParts<'a> {
    pub description: &'a str,
    /// The table and notes between the description and the locations; bounded by the caps
    /// above, so it always fits.
    pub facts: &'a str,
    /// One Markdown list item per occurrence, each ending in a newline.
    pub locations: &'a [String],
    /// Where every location can be seen when not all fit (DeepSource's dashboard).
    pub more_link: Option<&'a str>,
    /// Ends in the hidden marker, which must survive whole: it is how an issue whose create
    /// answer was lost is found again.
    pub footer: &'a str,
}

/// The body in GitHub's limit: the description is shortened first (down to a floor), then the
/// list of locations, which then ends with how many were left out; the facts and the footer
/// with its marker are never cut.
pub fn body(parts: &BodyParts<'_>) -> String {
    let listing = !parts.locations.is_empty();
    let fixed =
        chars(parts.facts) + chars(parts.footer) + if listing { chars(LOCATIONS_HEADING) + 1 } else { 0 };
    let mut room = MAX_BODY_CHARS.saturating_sub(fixed);
    let listed: usize = parts.locations.iter().map(|l| chars(l)).sum();
    // "\n\n" follows a description.
    let wanted = match parts.description {
        "" => 0,
        d => chars(d) + 2,
    };
    let for_description = if wanted + listed <= room {
        wanted
    } else {
        room.saturating_sub(listed).max(wanted.min(DESCRIPTION_FLOOR))
    };

    let mut out = String::new();
    if for_description > 2 {
        let description = cut(parts.description, for_description - 2);
        room = room.saturating_sub(chars(&description) + 2);
        out.push_str(&description);
        out.push_str("\n\n");
    }
    out.push_str(parts.facts);
    if listing {
        out.push_str(LOCATIONS_HEADING);
        out.push_str(&locations(parts.locations, listed, room, parts.more_link));
        out.push('\n');
    }
    out.push_str(parts.footer);
    out
}

/// As many whole lines as fit in `room` characters; when not all do, room is kept for the line
/// that says how many were left out.
fn locations(lines: &[String], listed: usize, room: usize, more_link: Option<&str>) -> String {
    if listed <= room {
        return lines.concat();
    }
    let link = more_link
        .map(|url| format!(" ([all of them in DeepSource]({url}))"))
        .unwrap_or_default();
    let room = room.saturating_sub(MORE_LINE_CHARS + chars(&link));
    let mut out = String::new();
    let mut used = 0;
    for (i, line) in lines.iter().enumerate() {
        let len = chars(line);
        if used + len > room {
            out.push_str(&format!("- …and {} more{link}\n", lines.len() - i));
            break;
        }
        used += len;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_count_characters_and_say_so() {
        assert_eq!(cut("short", 5), "short");
        assert_eq!(cut("ééééé", 5), "ééééé", "characters, not bytes");
        assert_eq!(cut("éééééé", 5), "éééé…");
        assert_eq!(cut("abc", 0), "");
        assert_eq!(cut("&lt;&lt;&lt;", 7), "&lt;…", "no entity split");
        assert_eq!(cut("a &amp; b", 5), "a …");
        assert_eq!(cut("a &amp; b", 8), "a &amp;…");
    }

    fn filled(template: &str, name: &str, shortcode: &str) -> String {
        let template = TitleTemplate::parse(template).unwrap();
        title(&template, |field| match field {
            TitleField::Title => name.to_owned(),
            TitleField::Shortcode => shortcode.to_owned(),
            _ => "MAJOR".to_owned(),
        })
    }

    #[test]
    fn titles_keep_their_shortcode_and_fit() {
        let default = crate::configuration::DEFAULT_TITLE_TEMPLATE;
        let t = filled(default, &"x".repeat(300), "CRT-A0016");
        assert_eq!(t.chars().count(), MAX_TITLE_CHARS);
        assert!(t.ends_with("x… (CRT-A0016)"));
        let t = filled(default, "name", &"s".repeat(400));
        assert_eq!(t.chars().count(), MAX_TITLE_CHARS);
        assert!(t.starts_with("name (sss") && t.ends_with('…'));
        assert_eq!(filled(default, "Short", "X1"), "Short (X1)");
    }

    #[test]
    fn any_template_cuts_its_title_part_first() {
        let t = filled("[{severity}] {title} — {shortcode}", &"é".repeat(300), "GO-R1005");
        assert_eq!(t.chars().count(), MAX_TITLE_CHARS);
        assert!(t.starts_with("[MAJOR] éé") && t.ends_with("é… — GO-R1005"), "{t}");
        // Every {title} gives way alike.
        let t = filled("{title} / {title} ({shortcode})", &"n".repeat(200), "X1");
        assert_eq!(t.chars().count(), MAX_TITLE_CHARS, "{t}");
        assert!(t.ends_with("n… (X1)") && t.contains("n… / n"), "{t}");
        // Without {title} there is nothing to cut first: the whole is cut.
        let t = filled("{shortcode} {severity}", "n", &"s".repeat(300));
        assert_eq!(t.chars().count(), MAX_TITLE_CHARS);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn labels_fit() {
        assert_eq!(label("analyzer/go".into()), "analyzer/go");
        assert_eq!(label(format!("analyzer/{}", "a".repeat(60))).chars().count(), 50);
    }

    fn lines(n: usize, width: usize) -> Vec<String> {
        (0..n).map(|i| format!("- {i} {}\n", "x".repeat(width))).collect()
    }

    #[test]
    fn the_description_gives_way_before_the_locations() {
        let description = "d".repeat(70_000);
        let locations = lines(100, 50);
        let footer = "<sub>kept</sub>\n<!-- deepsource-sync:X -->\n";
        let body = body(&BodyParts {
            description: &description,
            facts: "| facts |\n\n",
            locations: &locations,
            more_link: None,
            footer,
        });
        assert!(body.chars().count() <= MAX_BODY_CHARS);
        assert!(body.contains("d…\n\n| facts |"));
        assert!(
            locations.iter().all(|l| body.contains(l.as_str())),
            "every location kept"
        );
        assert!(body.ends_with(footer));
    }

    #[test]
    fn then_the_locations_and_the_marker_survives_whatever_the_sizes() {
        for (description, n, width) in [
            (0, 5_000, 60),
            (70_000, 5_000, 60),
            (3_000, 1, 70_000),
            (10, 2_000, 31),
        ] {
            let description = "d".repeat(description);
            let locations = lines(n, width);
            let footer = "<!-- deepsource-sync:X -->\n";
            let link = "https://app.deepsource.com/gh/a/b/issue/X-1/occurrences";
            let body = body(&BodyParts {
                description: &description,
                facts: "| facts |\n\n",
                locations: &locations,
                more_link: Some(link),
                footer,
            });
            assert!(body.chars().count() <= MAX_BODY_CHARS, "{n} × {width}");
            assert!(body.ends_with(footer));
            let all_kept = locations.iter().all(|l| body.contains(l.as_str()));
            let more = format!(" more ([all of them in DeepSource]({link}))\n");
            assert!(all_kept || body.contains(&more), "{n} × {width}");
            if !description.is_empty() {
                assert!(body.starts_with('d'), "a description keeps its floor");
            }
        }
    }

    #[test]
    fn what_fits_is_left_alone() {
        let locations = lines(3, 10);
        let body = body(&BodyParts {
            description: "desc",
            facts: "facts\n\n",
            locations: &locations,
            more_link: None,
            footer: "end\n",
        });
        assert_eq!(
            body,
            format!(
                "desc\n\nfacts\n\n{LOCATIONS_HEADING}{}\nend\n",
                locations.concat()
            )
        );
    }
}
