//! Deadlines: a timed-out request fails with TIMED_OUT and consumes nothing.

mod common;

use std::time::{Duration, Instant};

use nws::Reason;

#[tokio::test]
async fn fetch_timeout_fails_with_timed_out() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("t").await.expect("open");
    let started = Instant::now();
    let err = ws
        .fetch_timeout("empty", Duration::from_millis(150))
        .await
        .expect_err("nothing to fetch");
    assert_eq!(err.reason(), Some(Reason::TimedOut));
    assert!(started.elapsed() >= Duration::from_millis(140));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn find_timeout_fails_with_timed_out() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("t").await.expect("open");
    let err = ws
        .find_timeout("empty", Duration::from_millis(50))
        .await
        .expect_err("nothing to find");
    assert_eq!(err.reason(), Some(Reason::TimedOut));
}

#[tokio::test]
async fn fetch_timeout_returns_a_value_stored_in_time() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("t").await.expect("open");
    let storer = ws.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        storer.store("x", "in time").await
    });
    let v = ws
        .fetch_timeout("x", Duration::from_secs(5))
        .await
        .expect("fetch");
    assert_eq!(v.as_text(), Some("in time"));
}
