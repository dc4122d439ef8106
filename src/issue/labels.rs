//! Which of the service's own labels an issue must gain and lose: only those it set itself
//! (`findings.github_labels`) are ever taken off, so labels people added stay.
/// `base` and then each of `extra` (ISSUE_LABELS, from the operator) that is not already there;
/// GitHub's label names ignore case, so none is sent twice.
pub fn with_extra(mut base: Vec<String>, extra: &[String]) -> Vec<String> {
    for label in extra {
        if !base.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            base.push(label.clone());
        }
    }
    base
}

/// What to add and what to take off for the issue to carry `wanted`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl LabelChange {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// `applied` is what the service last set; `None` for an issue from before labels were kept,
/// whose labels were set whole and are taken to be what it wants.
pub fn change(applied: Option<&[String]>, wanted: &[String]) -> LabelChange {
    let Some(applied) = applied else {
        return LabelChange::default();
    };
    LabelChange {
        add: wanted.iter().filter(|l| !applied.contains(l)).cloned().collect(),
        remove: applied.iter().filter(|l| !wanted.contains(l)).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_difference_is_written() {
        let applied = labels(&["deepsource", "deepsource/bug_risk"]);
        let wanted = labels(&["deepsource", "deepsource/security", "analyzer/go"]);
        let c = change(Some(&applied), &wanted);
        assert_eq!(c.add, labels(&["deepsource/security", "analyzer/go"]));
        assert_eq!(c.remove, labels(&["deepsource/bug_risk"]));
        assert!(change(Some(&wanted), &wanted).is_empty());
        assert!(
            change(None, &wanted).is_empty(),
            "issues from before are taken as they are"
        );
    }
}
