//! A fetch waits for a value stored later, even by another session.

mod common;

use std::time::Duration;

#[tokio::test]
async fn fetch_blocks_until_store() {
    let server = common::start().await;
    let a = common::connect(&server).await;
    let b = common::connect(&server).await;
    let ws_a = a.open_ws("meet").await.expect("open");
    let ws_b = b.use_ws("meet").await.expect("use");

    let waiting = tokio::spawn(async move { ws_a.fetch("x").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "fetch returned before any store");

    ws_b.store("x", "wake up").await.expect("store");
    let v = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("fetch woke up")
        .expect("task")
        .expect("fetch");
    assert_eq!(v.as_text(), Some("wake up"));
}

#[tokio::test]
async fn find_blocks_until_store_and_does_not_consume() {
    let server = common::start().await;
    let a = common::connect(&server).await;
    let ws = a.open_ws("meet").await.expect("open");
    let finder = {
        let ws = ws.clone();
        tokio::spawn(async move { ws.find("x").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    ws.store("x", "seen").await.expect("store");
    let v = finder.await.expect("task").expect("find");
    assert_eq!(v.as_text(), Some("seen"));
    assert_eq!(
        ws.fetch_try("x")
            .await
            .expect("fetch_try")
            .and_then(|v| v.into_text())
            .as_deref(),
        Some("seen")
    );
}
