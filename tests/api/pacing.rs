//! The shared GitHub write budget (`Pacer`), driven directly: what it books, and when a
//! credential is blocked.
use std::time::Duration;

use deepsource_sync::github::pacing::{Pacer, Slot};
use tokio::time::Instant;

use crate::helpers::{spawn_app_with, TestApp};

const KEY: &str = "token:test";
const HORIZON: Duration = Duration::from_secs(20);

async fn pacer(interval_ms: u64, per_minute: u32, per_hour: u32) -> (TestApp, Pacer) {
    let app = spawn_app_with(|s| {
        s.github.min_write_interval = Duration::from_millis(interval_ms);
        s.github.writes_per_minute = per_minute;
        s.github.writes_per_hour = per_hour;
    })
    .await;
    let pacer = Pacer::new(app.pool.clone(), &app.settings.github);
    (app, pacer)
}

/// Books a write and marks it sent (without sleeping to its slot: only the booking is looked at,
/// though `sending` still waits for the write before it to be the interval old); returns how far
/// off the slot was, or how long until one is free.
async fn book(pacer: &Pacer) -> Result<Duration, Duration> {
    match pacer.book_write(KEY, HORIZON).await.unwrap() {
        Slot::Booked { id, at } => {
            let wait = at.saturating_duration_since(Instant::now());
            pacer.sending(id).await.unwrap();
            Ok(wait)
        }
        Slot::Wait(wait) => Err(wait),
    }
}

#[tokio::test]
async fn writes_are_booked_at_least_the_interval_apart() {
    let (_app, pacer) = pacer(2_000, 1000, 1000).await;
    assert!(
        book(&pacer).await.unwrap() < Duration::from_millis(500),
        "the first goes now"
    );
    let second = book(&pacer).await.unwrap();
    assert!(second >= Duration::from_millis(1_000), "{second:?}");
}

#[tokio::test]
async fn a_write_that_went_out_late_pushes_the_next_one_back() {
    let (_app, pacer) = pacer(2_000, 1000, 1000).await;
    let Slot::Booked { id, .. } = pacer.book_write(KEY, HORIZON).await.unwrap() else {
        panic!("the first write is free")
    };
    // The write goes out 2.5 s after its slot (a slow call before it, a busy machine): the slot
    // after it would be long past, had its record stayed where it was booked.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    pacer.sending(id).await.unwrap();
    let next = book(&pacer).await.unwrap();
    assert!(
        next >= Duration::from_millis(1_000),
        "the interval counts from when it really went: {next:?}"
    );
}

#[tokio::test]
async fn the_minute_and_hour_limits_send_later_writes_beyond_the_horizon() {
    let (_app, minute) = pacer(0, 2, 1000).await;
    book(&minute).await.unwrap();
    book(&minute).await.unwrap();
    let wait = book(&minute).await.unwrap_err();
    assert!(
        wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );

    let (_app, hour) = pacer(0, 1000, 2).await;
    book(&hour).await.unwrap();
    book(&hour).await.unwrap();
    let wait = book(&hour).await.unwrap_err();
    assert!(
        wait > Duration::from_secs(3590) && wait <= Duration::from_secs(3600),
        "{wait:?}"
    );
}

#[tokio::test]
async fn a_block_stops_reads_and_writes_until_it_ends() {
    let (_app, pacer) = pacer(0, 1000, 1000).await;
    assert_eq!(pacer.blocked_for(KEY).await.unwrap(), None, "never blocked");
    pacer.block(KEY, Duration::from_secs(30)).await.unwrap();
    let left = pacer.blocked_for(KEY).await.unwrap().expect("blocked");
    assert!(
        left > Duration::from_secs(29) && left <= Duration::from_secs(30),
        "{left:?}"
    );
    let wait = book(&pacer).await.unwrap_err();
    assert!(
        wait > Duration::from_secs(29),
        "no write inside a block: {wait:?}"
    );

    // A shorter block asked for later does not shorten it.
    pacer.block(KEY, Duration::from_secs(1)).await.unwrap();
    assert!(pacer.blocked_for(KEY).await.unwrap().unwrap() > Duration::from_secs(28));
}

#[tokio::test]
async fn a_block_that_has_ended_blocks_nothing() {
    let (_app, pacer) = pacer(0, 1000, 1000).await;
    pacer.block(KEY, Duration::from_millis(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(pacer.blocked_for(KEY).await.unwrap(), None);
    assert!(book(&pacer).await.is_ok());
}

fn booked(slot: Slot) -> (i64, Instant) {
    match slot {
        Slot::Booked { id, at } => (id, at),
        Slot::Wait(wait) => panic!("no slot within the horizon: {wait:?}"),
    }
}

type Time = chrono::DateTime<chrono::Utc>;

/// (when it was booked for, when it left) of a write.
async fn sent_at(app: &TestApp, id: i64) -> (Time, Option<Time>) {
    sqlx::query_as("SELECT written_at, sent_at FROM github_writes WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_write_waits_for_the_one_booked_before_it_to_have_left_the_interval_before() {
    // Two replicas: the first books the slot now, the second the one after; the first's process
    // wakes half a second late. The second's write still leaves the interval after the first's.
    let (app, first) = pacer(300, 1000, 1000).await;
    let second = Pacer::new(app.pool.clone(), &app.settings.github);
    let (a, _) = booked(first.book_write(KEY, HORIZON).await.unwrap());
    let (b, b_at) = booked(second.book_write(KEY, HORIZON).await.unwrap());
    let sending = tokio::spawn(async move {
        tokio::time::sleep_until(b_at).await;
        second.sending(b).await.unwrap();
    });
    tokio::time::sleep_until(b_at + Duration::from_millis(200)).await;
    assert!(
        !sending.is_finished(),
        "the second waits while the first has not left"
    );
    first.sending(a).await.unwrap();
    sending.await.unwrap();
    let ((_, a_sent), (_, b_sent)) = (sent_at(&app, a).await, sent_at(&app, b).await);
    let gap = (b_sent.unwrap() - a_sent.unwrap()).num_milliseconds();
    assert!(
        gap >= 295,
        "{gap} ms apart: the interval, less 5 ms for the usual wake-up"
    );
}

#[tokio::test]
async fn a_write_booked_and_never_sent_holds_the_next_back_about_a_second() {
    let (app, pacer) = pacer(0, 1000, 1000).await;
    // Its process died between booking and sending.
    let (abandoned, _) = booked(pacer.book_write(KEY, HORIZON).await.unwrap());
    let (next, _) = booked(pacer.book_write(KEY, HORIZON).await.unwrap());
    pacer.sending(next).await.unwrap();
    let ((booked_for, never), (_, sent)) = (sent_at(&app, abandoned).await, sent_at(&app, next).await);
    assert!(never.is_none());
    let held = (sent.unwrap() - booked_for).num_milliseconds();
    assert!((1_000..3_000).contains(&held), "held back {held} ms");
}

#[tokio::test]
async fn the_budget_shown_says_what_is_left_when_the_next_write_may_go_and_any_pause() {
    let (_app, paced) = pacer(0, 1000, 10).await;
    for _ in 0..3 {
        book(&paced).await.unwrap();
    }
    let budgets = paced.budgets().await.unwrap();
    assert_eq!(budgets.len(), 1);
    let budget = &budgets[0];
    assert_eq!(
        (
            budget.key.as_str(),
            budget.writes_last_hour,
            budget.writes_left_this_hour
        ),
        (KEY, 3, 7)
    );
    assert!(budget.blocked_until.is_none(), "GitHub asked for nothing");
    assert!(budget.next_write_at <= chrono::Utc::now(), "a write may go now");

    paced.block(KEY, Duration::from_secs(30)).await.unwrap();
    let budget = &paced.budgets().await.unwrap()[0];
    let until = budget.blocked_until.expect("the pause is shown");
    let ahead = (until - chrono::Utc::now()).num_seconds();
    assert!((28..=30).contains(&ahead), "{ahead}");
    assert!(budget.next_write_at >= until, "no write inside the pause");

    let (_app, ended) = pacer(0, 1000, 10).await;
    ended.block(KEY, Duration::from_millis(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        ended.budgets().await.unwrap()[0].blocked_until.is_none(),
        "a pause that ended is not shown"
    );
}
