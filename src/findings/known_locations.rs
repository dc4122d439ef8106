//! What a finding's known locations become when an `introduced` event arrives. An event lists the
//! occurrences introduced *in its commit*, not the finding's whole set (see CONTRACTS.md), so it
//! adds them to what is known; only DeepSource's API, through a comparison or a lookup, replaces
//! the set with what is open now.
use crate::findings::event::Occurrence;

/// More locations than this are not kept from events alone: the oldest go first. A finding that
/// keeps gaining and losing occurrences without a DeepSource token would otherwise grow its
/// list without end (a `resolved` event cannot say which to drop); the body shows far fewer.
pub const MAX_KNOWN_LOCATIONS: usize = 5_000;

/// Whether two occurrences are the same one: the same DeepSource id, or the same file and lines
/// (events and listings do not always carry ids).
pub fn same(a: &Occurrence, b: &Occurrence) -> bool {
    let ids = matches!((&a.id, &b.id), (Some(x), Some(y)) if x == y);
    ids || (&a.path, a.begin_line, a.end_line) == (&b.path, b.begin_line, b.end_line)
}

/// `known` with each of `introduced` that is not already in it appended (in the event's order),
/// at most `MAX_KNOWN_LOCATIONS` of them, the newest kept. One already known takes the event's
/// description of it (its place may have moved, its title changed) when the event is `newer`
/// than the locations known, and keeps the known one otherwise (an event delivered late).
pub fn add(known: &[Occurrence], introduced: &[Occurrence], newer: bool) -> Vec<Occurrence> {
    let mut all = known.to_vec();
    for occurrence in introduced {
        match all.iter_mut().find(|k| same(k, occurrence)) {
            Some(known) if newer => *known = occurrence.clone(),
            Some(_) => {}
            None => all.push(occurrence.clone()),
        }
    }
    let excess = all.len().saturating_sub(MAX_KNOWN_LOCATIONS);
    all.drain(..excess);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: Option<&str>, path: &str, begin: i64, end: i64) -> Occurrence {
        Occurrence {
            id: id.map(str::to_owned),
            path: Some(path.into()),
            begin_line: Some(begin),
            end_line: Some(end),
            title: Some(format!("{path}:{begin}")),
        }
    }

    #[test]
    fn an_event_adds_what_it_introduced_to_what_is_known() {
        let known = vec![at(None, "a.go", 1, 1), at(None, "a.go", 5, 6)];
        let added = add(&known, &[at(None, "b.go", 3, 3)], true);
        assert_eq!(
            added,
            vec![known[0].clone(), known[1].clone(), at(None, "b.go", 3, 3)]
        );
    }

    #[test]
    fn the_same_occurrence_is_listed_once_by_id_or_by_place() {
        let known = vec![at(Some("OC1"), "a.go", 1, 1), at(None, "a.go", 5, 6)];
        // Same id, moved lines (DeepSource tracks it): still the same one, now where the newer
        // event says, and where it was when the event is older than what is known.
        let moved = at(Some("OC1"), "a.go", 2, 2);
        assert_eq!(
            add(&known, std::slice::from_ref(&moved), true),
            vec![moved.clone(), known[1].clone()]
        );
        assert_eq!(add(&known, &[moved], false), known);
        // No id, same file and lines.
        assert_eq!(add(&known, &[at(Some("OC9"), "a.go", 5, 6)], true).len(), 2);
        assert_eq!(add(&known, &[at(Some("OC9"), "a.go", 5, 6)], false), known);
        // Same file, other lines: another occurrence; and the end line counts.
        assert_eq!(add(&known, &[at(None, "a.go", 1, 2)], true).len(), 3);
        assert_eq!(add(&known, &[at(Some("OC2"), "b.go", 1, 1)], false).len(), 3);
        // Twice in one event: once.
        let twice = [at(None, "c.go", 1, 1), at(None, "c.go", 1, 1)];
        assert_eq!(add(&[], &twice, true).len(), 1);
    }

    #[test]
    fn different_ids_at_one_place_are_one_occurrence_and_none_is_not_an_id() {
        let none = at(None, "a.go", 1, 1);
        assert!(same(&none, &at(None, "a.go", 1, 1)));
        assert!(!same(&at(None, "a.go", 1, 1), &at(None, "a.go", 2, 2)));
        assert!(!same(&at(Some("x"), "a.go", 1, 1), &at(Some("y"), "b.go", 1, 1)));
        assert!(same(&at(Some("x"), "a.go", 1, 1), &at(Some("x"), "b.go", 9, 9)));
    }

    #[test]
    fn the_list_is_bounded_and_keeps_the_newest() {
        let known: Vec<Occurrence> = (0..MAX_KNOWN_LOCATIONS as i64)
            .map(|i| at(None, "a.go", i, i))
            .collect();
        let added = add(&known, &[at(None, "b.go", 1, 1), at(None, "b.go", 2, 2)], true);
        assert_eq!(added.len(), MAX_KNOWN_LOCATIONS);
        assert_eq!(added[0], known[2], "the two oldest went");
        assert_eq!(added.last(), Some(&at(None, "b.go", 2, 2)));
    }
}
