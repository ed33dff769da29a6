//! Dropping a waiting call withdraws it without losing any value.

mod common;

use std::time::Duration;

#[tokio::test]
async fn a_dropped_pending_fetch_does_not_lose_a_later_value() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("cancel").await.expect("open");

    // A fetch that gives up on the client side (its future is dropped).
    let gave_up = tokio::time::timeout(Duration::from_millis(50), ws.fetch("x")).await;
    assert!(gave_up.is_err(), "nothing was stored yet");

    ws.store("x", "precious").await.expect("store");
    let v = ws
        .fetch_timeout("x", Duration::from_secs(5))
        .await
        .expect("value kept");
    assert_eq!(v.as_text(), Some("precious"));
}

#[tokio::test]
async fn many_dropped_fetches_racing_stores_lose_nothing() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("cancel").await.expect("open");
    let mut received = Vec::new();
    for i in 0..100u32 {
        let fetch = tokio::time::timeout(Duration::from_micros(300), ws.fetch("x"));
        let store = async {
            tokio::time::sleep(Duration::from_micros(250)).await;
            ws.store("x", i.to_string()).await
        };
        // A fetch abandoned right around the time its value is stored.
        let (fetched, stored) = tokio::join!(fetch, store);
        stored.expect("store");
        if let Ok(v) = fetched {
            received.push(v.expect("fetch"));
        }
    }
    // Every value reached a completed fetch or is back in the variable.
    let mut rest = Vec::new();
    while let Ok(v) = ws.fetch_timeout("x", Duration::from_millis(200)).await {
        rest.push(v);
    }
    let mut all: Vec<u32> = received
        .into_iter()
        .chain(rest)
        .map(|v| v.into_text().expect("text").parse().expect("number"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_dropped_pending_find_leaves_no_waiter() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("cancel").await.expect("open");
    let _ = tokio::time::timeout(Duration::from_millis(30), ws.find("y")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let vars = ws.list_vars().await.expect("list");
    assert_eq!(
        vars.iter().find(|v| v.name == "y").map_or(0, |v| v.finders),
        0
    );
}
