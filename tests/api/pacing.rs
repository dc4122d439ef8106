//! The shared GitHub write budget (`Pacer`), driven directly: what it books, and when a
//! credential is blocked.
use std::time::Duration;

use deepsource_sync::sync::{Pacer, Slot};
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

/// Books a write and marks it sent (without waiting for its slot: only the booking is looked
/// at); returns how far off the slot was, or how long until one is free.
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
