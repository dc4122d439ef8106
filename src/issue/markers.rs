//! The hidden markers the service leaves in what it writes to GitHub, so that a create or a
//! comment whose answer was lost can be recognised there (`sync/recovery.rs`).
use crate::findings::store::Finding;

/// The hidden marker an issue of this finding carries, so an issue whose create answer was lost
/// can be found. With `REOPEN_POLICY=new` a finding has several issues over time, so each
/// generation (the number of issues before it) has a marker of its own; the first keeps the
/// marker issues have always carried.
pub fn marker(finding_id: &str, generation: usize) -> String {
    // The id is DeepSource's (base64); without `>` nothing in it can end the comment early.
    let id = finding_id.replace(['<', '>'], "_");
    match generation {
        0 => format!("<!-- deepsource-sync:{id} -->"),
        n => format!("<!-- deepsource-sync:{id} generation:{n} -->"),
    }
}

/// The marker of the finding's current issue.
pub fn current_marker(finding: &Finding) -> String {
    marker(&finding.id, finding.previous_issues.len())
}

/// An owed comment with a hidden marker of its own, so a post whose answer was lost can be
/// recognised on the issue.
pub fn with_comment_marker(text: &str) -> String {
    format!(
        "{text}\n\n<!-- deepsource-sync:comment:{} -->",
        uuid::Uuid::new_v4().simple()
    )
}

/// The marker `with_comment_marker` put in the comment; comments owed before markers existed
/// have none and are posted at least once.
pub fn comment_marker(comment: &str) -> Option<&str> {
    let start = comment.find("<!-- deepsource-sync:comment:")?;
    let end = start + comment[start..].find("-->")? + 3;
    Some(&comment[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_id_can_end_the_marker_early() {
        let m = marker("a-->b<!--c", 0);
        assert!(m.starts_with("<!-- deepsource-sync:") && m.ends_with(" -->"));
        assert_eq!(m.matches("-->").count(), 1);
        assert_eq!(m.matches("<!--").count(), 1);
        assert_ne!(marker("a-b", 0), marker("a_b", 0), "ids stay distinct");
    }

    #[test]
    fn a_comment_marker_is_found_in_its_comment() {
        let text = with_comment_marker("Closed.");
        let marker = comment_marker(&text).unwrap();
        assert!(text.starts_with("Closed.\n\n") && text.ends_with(marker));
        assert_ne!(
            marker,
            comment_marker(&with_comment_marker("Closed.")).unwrap(),
            "each its own"
        );
        assert_eq!(comment_marker("Closed by deepsource-sync."), None);
        let text = "Closed.\n\n<!-- deepsource-sync:comment:abc123 -->";
        assert_eq!(
            comment_marker(text),
            Some("<!-- deepsource-sync:comment:abc123 -->")
        );
    }
}
