//! fetchTry and findTry answer at once.

mod common;

#[tokio::test]
async fn fetch_try_returns_none_for_an_empty_variable() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("try").await.expect("open");
    assert_eq!(ws.fetch_try("missing").await.expect("fetch_try"), None);
    ws.store("x", "1").await.expect("store");
    assert_eq!(
        ws.fetch_try("x")
            .await
            .expect("fetch_try")
            .and_then(|v| v.into_text())
            .as_deref(),
        Some("1")
    );
    assert_eq!(ws.fetch_try("x").await.expect("fetch_try"), None);
}

#[tokio::test]
async fn find_try_does_not_consume() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("try").await.expect("open");
    assert_eq!(ws.find_try("x").await.expect("find_try"), None);
    ws.store("x", "kept").await.expect("store");
    for _ in 0..3 {
        assert_eq!(
            ws.find_try("x")
                .await
                .expect("find_try")
                .and_then(|v| v.into_text())
                .as_deref(),
            Some("kept")
        );
    }
    let vars = ws.list_vars().await.expect("list");
    let x = vars.iter().find(|v| v.name == "x").expect("x listed");
    assert_eq!(x.value_count, 1);
}
