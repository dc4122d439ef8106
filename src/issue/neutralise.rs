//! Text from DeepSource made safe to show on GitHub: it must not ping people, link or close
//! other issues, or inject HTML. Each of these lengthens the text, which is why the limits
//! (`limits.rs`) are applied after it.

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
pub fn neutralise_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        push_plain(&mut out, c, chars.peek().copied());
    }
    out
}

/// A zero-width space keeps the text readable and stops GitHub from linking it: after `@`
/// (mentions), after `#` before a digit (`#12`, `owner/repo#12`), after `GH-` before a digit, and
/// before the number in an issue or pull request URL (`…/issues/12`), each of which would
/// otherwise reference, and show up in, another issue.
fn push_plain(out: &mut String, c: char, next: Option<char>) {
    out.push(c);
    let digit_next = next.is_some_and(|n| n.is_ascii_digit());
    let links = match c {
        '@' => next.is_some_and(|n| n.is_ascii_alphanumeric()),
        '#' => digit_next,
        '-' => digit_next && ends_with_word(out, "gh-"),
        '/' => {
            digit_next
                && ["/issues/", "/pull/", "/pulls/", "/discussions/"]
                    .iter()
                    .any(|tail| ends_with_ignore_case(out, tail))
        }
        _ => false,
    };
    if links {
        out.push('\u{200B}');
    }
}

fn ends_with_ignore_case(text: &str, tail: &str) -> bool {
    text.len() >= tail.len()
        && text.is_char_boundary(text.len() - tail.len())
        && text[text.len() - tail.len()..].eq_ignore_ascii_case(tail)
}

/// `tail` ends `text` and does not continue a longer word (`GH-1` links, `BUGH-1` does not).
fn ends_with_word(text: &str, tail: &str) -> bool {
    ends_with_ignore_case(text, tail)
        && !text[..text.len() - tail.len()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric())
}

/// Text shown inside a code span: its backticks become quotes, so it cannot end the span.
pub fn code_span(text: &str) -> String {
    neutralise(&text.replace('`', "'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_in_other_spellings_are_neutralised() {
        for text in [
            "see GH-123",
            "owner/repo#12",
            "https://github.com/owner/repo/issues/12",
            "https://github.com/owner/repo/pull/7",
            "https://ghe.example.com/o/r/ISSUES/3",
        ] {
            let out = neutralise(text);
            assert_ne!(out, text, "{text}");
            assert_eq!(out.replace('\u{200B}', ""), text, "readable as before");
        }
        for text in ["BUGH-12", "a-1", "/issues/x", "path/to/12"] {
            assert_eq!(neutralise(text), text, "{text}");
        }
    }
}
