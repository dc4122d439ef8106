//! Which findings' issues hang under the overview as sub-issues. GitHub allows 100 per parent,
//! closed ones included: the open ones come first, most severe and most occurrences first; closed
//! ones already attached keep what room is left, the most recently closed first. So when room is
//! needed the longest-closed go first, and then the least severe open ones stay unattached.
//! Pure: the caller reads the candidates and carries the plan out.
use chrono::{DateTime, Utc};

/// GitHub's limit of sub-issues per parent.
pub const MAX_SUB_ISSUES: usize = 100;

/// A finding's own issue that may hang under the overview.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// GitHub's id of the issue.
    pub id: i64,
    pub open: bool,
    /// 0 for CRITICAL, 1 MAJOR, 2 MINOR, 3 not known yet.
    pub rank: usize,
    pub occurrences: i64,
    /// When the service last closed it (closed ones only).
    pub closed_at: Option<DateTime<Utc>>,
}

/// What to detach (first, to make room) and what to attach.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SubIssuePlan {
    pub detach: Vec<i64>,
    pub attach: Vec<i64>,
}

/// `attached`: ids hanging under the overview now; `refused`: ids GitHub would not take.
pub fn plan(candidates: &[Candidate], attached: &[i64], refused: &[i64], cap: usize) -> SubIssuePlan {
    let mut open: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.open && !refused.contains(&c.id))
        .collect();
    open.sort_by_key(|c| (c.rank, -c.occurrences, c.id));
    let mut kept: Vec<i64> = open.iter().take(cap).map(|c| c.id).collect();
    let mut closed: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.open && attached.contains(&c.id))
        .collect();
    closed.sort_by(|a, b| b.closed_at.cmp(&a.closed_at).then(a.id.cmp(&b.id)));
    let room = cap.saturating_sub(kept.len());
    kept.extend(closed.iter().take(room).map(|c| c.id));
    SubIssuePlan {
        detach: attached.iter().copied().filter(|id| !kept.contains(id)).collect(),
        attach: kept.into_iter().filter(|id| !attached.contains(id)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(id: i64, rank: usize, occurrences: i64) -> Candidate {
        Candidate {
            id,
            open: true,
            rank,
            occurrences,
            closed_at: None,
        }
    }

    fn closed(id: i64, days_ago: i64) -> Candidate {
        Candidate {
            id,
            open: false,
            rank: 0,
            occurrences: 0,
            closed_at: Some(Utc::now() - chrono::Duration::days(days_ago)),
        }
    }

    #[test]
    fn under_the_cap_every_open_issue_is_attached_and_closed_ones_stay() {
        let candidates = [open(1, 2, 1), open(2, 0, 5), closed(3, 1)];
        let p = plan(&candidates, &[3], &[], 100);
        assert_eq!(p.attach, [2, 1], "most severe first");
        assert!(p.detach.is_empty());
    }

    #[test]
    fn at_the_cap_the_longest_closed_go_first_then_the_least_severe_open_stay_off() {
        // Three slots: two attached closed issues and one open; two more open come.
        let candidates = [
            closed(10, 30),
            closed(11, 1),
            open(1, 1, 3),
            open(2, 0, 1),
            open(3, 2, 9),
        ];
        let p = plan(&candidates, &[10, 11, 1], &[], 3);
        assert_eq!(p.detach, [10, 11], "closed ones make room");
        assert_eq!(p.attach, [2, 3]);
        let p = plan(&candidates, &[10, 11, 1], &[], 4);
        assert_eq!(p.detach, [10], "only the longest-closed one");
        assert_eq!(p.attach, [2, 3]);
        // More open issues than room: the least severe stay unattached, even one attached.
        let p = plan(&[open(1, 2, 1), open(2, 0, 1), open(3, 1, 1)], &[1], &[], 2);
        assert_eq!((p.detach, p.attach), (vec![1], vec![2, 3]));
    }

    #[test]
    fn a_refused_issue_is_not_asked_again_and_an_issue_no_finding_has_is_detached() {
        let p = plan(&[open(1, 0, 1), open(2, 0, 1)], &[99], &[1], 100);
        assert_eq!((p.detach, p.attach), (vec![99], vec![2]));
    }
}
