//! Leased fetches: acknowledged values are gone, released or dropped ones
//! come back.

mod common;

use std::time::Duration;

#[tokio::test]
async fn a_lease_dropped_without_ack_returns_the_value() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("lease").await.expect("open");
    ws.store("task", "t1").await.expect("store");
    {
        let (v, lease) = ws.fetch_leased("task").await.expect("fetch_leased");
        assert_eq!(v.as_text(), Some("t1"));
        assert_ne!(lease.id(), 0);
        // Dropped here: the worker "died".
    }
    let again = ws
        .fetch_timeout("task", Duration::from_secs(5))
        .await
        .expect("value came back");
    assert_eq!(again.as_text(), Some("t1"));
}

#[tokio::test]
async fn a_released_lease_returns_the_value_to_another_session() {
    let server = common::start().await;
    let a = common::connect(&server).await;
    let b = common::connect(&server).await;
    let ws_a = a.open_ws("lease").await.expect("open");
    let ws_b = b.use_ws("lease").await.expect("use");
    ws_a.store("task", "t1").await.expect("store");
    let (_, lease) = ws_a.fetch_leased("task").await.expect("fetch_leased");
    let waiting = tokio::spawn(async move { ws_b.fetch("task").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished());
    lease.release();
    let v = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("released value delivered")
        .expect("task")
        .expect("fetch");
    assert_eq!(v.as_text(), Some("t1"));
}

#[tokio::test]
async fn an_acknowledged_lease_consumes_the_value() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("lease").await.expect("open");
    ws.store("task", "t1").await.expect("store");
    let (_, lease) = ws.fetch_leased("task").await.expect("fetch_leased");
    lease.ack().expect("ack");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(ws.fetch_try("task").await.expect("fetch_try"), None);
}

#[tokio::test]
async fn a_session_that_ends_holding_a_lease_gives_the_value_back() {
    let server = common::start().await;
    let worker = common::connect(&server).await;
    let master = common::connect(&server).await;
    let ws_w = worker.use_ws("lease").await.expect("use");
    let ws_m = master.open_ws("lease").await.expect("open");
    ws_m.store("task", "t1").await.expect("store");
    let (_, lease) = ws_w.fetch_leased("task").await.expect("fetch_leased");
    worker.close().await;
    drop(lease);
    let v = ws_m
        .fetch_timeout("task", Duration::from_secs(5))
        .await
        .expect("value came back");
    assert_eq!(v.as_text(), Some("t1"));
}

#[tokio::test]
async fn a_plain_fetch_is_acknowledged_so_ending_the_session_does_not_return_it() {
    let server = common::start().await;
    let fetcher = common::connect(&server).await;
    let observer = common::connect(&server).await;
    let ws_f = fetcher.use_ws("lease").await.expect("use");
    let ws_o = observer.open_ws("lease").await.expect("open");
    ws_o.store("task", "t1").await.expect("store");
    assert_eq!(
        ws_f.fetch("task").await.expect("fetch").as_text(),
        Some("t1")
    );
    fetcher.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ws_o.fetch_try("task").await.expect("fetch_try"), None);
}

#[tokio::test]
async fn an_ifetch_value_is_acknowledged_on_receipt() {
    use futures::StreamExt;
    let server = common::start().await;
    let fetcher = common::connect(&server).await;
    let observer = common::connect(&server).await;
    let ws_f = fetcher.use_ws("lease").await.expect("use");
    let ws_o = observer.open_ws("lease").await.expect("open");
    ws_o.store("q", "a").await.expect("store");
    let first = ws_f.ifetch("q").next().await.expect("one").expect("ifetch");
    assert_eq!(first.as_text(), Some("a"));
    drop(ws_f);
    fetcher.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ws_o.fetch_try("q").await.expect("fetch_try"), None);
}

#[tokio::test]
async fn fetch_try_leased_and_fetch_leased_timeout_take_nothing_when_empty() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("lease").await.expect("open");
    assert!(ws.fetch_try_leased("task").await.expect("try").is_none());
    let e = ws
        .fetch_leased_timeout("task", Duration::from_millis(20))
        .await
        .expect_err("timed out");
    assert_eq!(e.reason(), Some(nws::Reason::TimedOut));
    ws.store("task", "t1").await.expect("store");
    let (v, lease) = ws
        .fetch_try_leased("task")
        .await
        .expect("try")
        .expect("a value");
    assert_eq!(v.as_text(), Some("t1"));
    lease.release();
    let (v, lease) = ws
        .fetch_leased_timeout("task", Duration::from_secs(5))
        .await
        .expect("released value again");
    assert_eq!(v.as_text(), Some("t1"));
    lease.ack().expect("ack");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(ws.fetch_try("task").await.expect("fetch_try").is_none());
}
