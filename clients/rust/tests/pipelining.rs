//! Many requests are outstanding at once on one session.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_fetches_share_one_connection() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("pipe").await.expect("open");

    // 200 fetches blocked at once on one session.
    let fetchers: Vec<_> = (0..200)
        .map(|_| {
            let ws = ws.clone();
            tokio::spawn(async move { ws.fetch("q").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let vars = ws.list_vars().await.expect("list");
    assert_eq!(
        vars.iter().find(|v| v.name == "q").map(|v| v.fetchers),
        Some(200)
    );

    let storer = common::connect(&server).await;
    let ws2 = storer.use_ws("pipe").await.expect("use");
    for i in 0..200 {
        ws2.store("q", i.to_string()).await.expect("store");
    }
    let mut got = BTreeSet::new();
    for f in fetchers {
        let v = tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .expect("fetch finished")
            .expect("task")
            .expect("fetch");
        got.insert(v.into_text().expect("text").parse::<u32>().expect("number"));
    }
    assert_eq!(got, (0..200).collect::<BTreeSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stores_and_fetches_lose_nothing() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("pipe").await.expect("open");
    let stores = futures::future::join_all((0..500).map(|i| {
        let ws = ws.clone();
        async move { ws.store("q", vec![(i % 256) as u8; i % 7]).await }
    }))
    .await;
    assert!(stores.iter().all(|r| r.is_ok()));
    let fetched = futures::future::join_all((0..500).map(|_| {
        let ws = ws.clone();
        async move { ws.fetch("q").await }
    }))
    .await;
    assert_eq!(fetched.iter().filter(|r| r.is_ok()).count(), 500);
    assert_eq!(ws.fetch_try("q").await.expect("fetch_try"), None);
}

/// Many more requests in flight than any window (the reply stream's flow
/// control, the server's reply queue) holds: the client keeps reading
/// replies while it sends, so every store completes.
#[tokio::test]
async fn thirty_thousand_stores_in_flight_at_once_all_complete() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("flood").await.expect("open");
    let stores = (0..30_000).map(|i| ws.store("v", i.to_string()));
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        futures::future::join_all(stores),
    )
    .await
    .expect("30,000 pipelined stores completed");
    assert!(done.iter().all(|r| r.is_ok()));
    let vars = ws.list_vars().await.expect("list");
    assert_eq!(vars[0].value_count, 30_000);
}
