//! Any interleaving and duplication of a valid event history ends in the same GitHub state as
//! delivering that history in order.
use std::sync::atomic::{AtomicUsize, Ordering};

use deepsource_sync::issue::markers::marker;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::helpers::{issue_event, spawn_app, TestApp, INTRODUCED, RESOLVED, SAMPLE_REPO};

#[derive(Clone, Debug)]
struct Case {
    /// The history, in event-time order: (introduced?, occurrences).
    events: Vec<(bool, i64)>,
    /// The order deliveries arrive in: a permutation, then redeliveries.
    deliveries: Vec<usize>,
    /// Whether the worker runs after each delivery.
    run_after: Vec<bool>,
}

fn cases() -> impl Strategy<Value = Case> {
    prop::collection::vec((any::<bool>(), 1..=3i64), 1..=6).prop_flat_map(|events| {
        let n = events.len();
        let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
        let redeliveries = prop::collection::vec(0..n, 0..=3);
        let run_after = prop::collection::vec(any::<bool>(), n + 3);
        (Just(events), order, redeliveries, run_after).prop_map(|(events, order, redeliveries, run_after)| {
            Case {
                events,
                deliveries: order.into_iter().chain(redeliveries).collect(),
                run_after,
            }
        })
    })
}

fn event(case_no: usize, finding: &str, i: usize, (introduced, count): (bool, i64)) -> Vec<u8> {
    let kind = if introduced { INTRODUCED } else { RESOLVED };
    issue_event(
        kind,
        &format!("{finding}-{i}"),
        finding,
        count,
        1_700_000_000 + (case_no * 100 + i) as i64,
    )
}

/// The finding's issues as GitHub shows them: (state, body with the finding's own id taken out).
fn github_state(app: &TestApp, finding: &str) -> Vec<(String, String)> {
    app.github
        .issues(SAMPLE_REPO)
        .into_iter()
        .filter(|i| i.body.contains(&marker(finding, 0)))
        .map(|i| (i.state, i.body.replace(&marker(finding, 0), "")))
        .collect()
}

async fn check(app: &TestApp, case_no: usize, case: &Case) -> Result<(), TestCaseError> {
    let in_order = format!("case{case_no}-in-order");
    let shuffled = format!("case{case_no}-shuffled");
    for (i, e) in case.events.iter().enumerate() {
        app.deliver(&event(case_no, &in_order, i, *e)).await;
        app.run_worker().await.unwrap();
    }
    for (step, &i) in case.deliveries.iter().enumerate() {
        app.deliver(&event(case_no, &shuffled, i, case.events[i])).await;
        if case.run_after[step] {
            app.run_worker().await.unwrap();
        }
    }
    app.run_worker().await.unwrap();

    let expected = github_state(app, &in_order);
    let actual = github_state(app, &shuffled);
    prop_assert!(
        expected.len() <= 1 && actual.len() <= 1,
        "never two issues: {expected:?} {actual:?}"
    );
    let open = |state: &[(String, String)]| state.iter().find(|(s, _)| s == "open").cloned();
    prop_assert_eq!(open(&expected), open(&actual));
    let sum: i64 = case
        .events
        .iter()
        .map(|(introduced, n)| if *introduced { *n } else { -n })
        .sum();
    prop_assert_eq!(open(&actual).is_some(), sum > 0);
    if sum > 0 {
        let count_line = format!("| Open occurrences | {sum} |");
        prop_assert!(open(&actual).unwrap().1.contains(&count_line));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_interleaving_and_duplication_ends_like_the_in_order_history() {
    let app = spawn_app().await;
    let handle = tokio::runtime::Handle::current();
    let case_no = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&cases(), |case| {
        // Fresh finding ids for every run, shrinking included.
        let n = case_no.fetch_add(1, Ordering::SeqCst);
        tokio::task::block_in_place(|| handle.block_on(check(&app, n, &case)))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
