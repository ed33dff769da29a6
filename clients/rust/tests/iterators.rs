//! ifetch, ifetchTry, ifind, ifindTry.

mod common;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use nws::{Mode, Reason, Value};

fn texts(values: Vec<Value>) -> Vec<String> {
    values
        .into_iter()
        .map(|v| v.into_text().expect("text"))
        .collect()
}

#[tokio::test]
async fn ifind_sees_values_in_order() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("it").await.expect("open");
    for i in 0..5 {
        ws.store("log", format!("line {i}")).await.expect("store");
    }
    let seen: Vec<Value> = ws.ifind("log").take(5).try_collect().await.expect("ifind");
    assert_eq!(
        texts(seen),
        (0..5).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    // Nothing was consumed.
    assert_eq!(ws.ifind_try("log").count().await, 5);
}

#[tokio::test]
async fn ifind_waits_for_new_values_and_ends_when_the_variable_is_deleted() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("it").await.expect("open");
    ws.store("log", "a").await.expect("store");
    let reader = {
        let ws = ws.clone();
        tokio::spawn(async move { ws.ifind("log").try_collect::<Vec<_>>().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    ws.store("log", "b").await.expect("store");
    tokio::time::sleep(Duration::from_millis(50)).await;
    ws.delete_var("log").await.expect("delete");
    let seen = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("ifind ended")
        .expect("task")
        .expect("ifind");
    assert_eq!(texts(seen), ["a", "b"]);
}

#[tokio::test]
async fn ifetch_try_consumes_in_order_and_ends() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("it").await.expect("open");
    for i in 0..4 {
        ws.store("q", i.to_string()).await.expect("store");
    }
    let got: Vec<Value> = ws.ifetch_try("q").try_collect().await.expect("ifetch_try");
    assert_eq!(texts(got), ["0", "1", "2", "3"]);
    assert_eq!(ws.fetch_try("q").await.expect("fetch_try"), None);
}

#[tokio::test]
async fn ifind_try_ends_when_no_unread_value_is_left() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("it").await.expect("open");
    assert_eq!(ws.ifind_try("nothing").count().await, 0);
    ws.store("q", "x").await.expect("store");
    ws.store("q", "y").await.expect("store");
    let got: Vec<Value> = ws.ifind_try("q").try_collect().await.expect("ifind_try");
    assert_eq!(texts(got), ["x", "y"]);
}

#[tokio::test]
async fn ifetch_waits_for_values_stored_later() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("it").await.expect("open");
    let consumer = {
        let ws = ws.clone();
        tokio::spawn(async move { ws.ifetch("q").take(3).try_collect::<Vec<_>>().await })
    };
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ws.store("q", i.to_string()).await.expect("store");
    }
    let got = tokio::time::timeout(Duration::from_secs(5), consumer)
        .await
        .expect("ifetch got three")
        .expect("task")
        .expect("ifetch");
    assert_eq!(texts(got), ["0", "1", "2"]);
}

#[tokio::test]
async fn iterators_on_lifo_variables_fail_with_iterator_mode() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("it").await.expect("open");
    ws.declare("stack", Mode::Lifo).await.expect("declare");
    ws.store("stack", "a").await.expect("store");
    let mut it = ws.ifind_try("stack");
    let err = it
        .next()
        .await
        .expect("one item")
        .expect_err("iterator mode");
    assert_eq!(err.reason(), Some(Reason::IteratorMode));
    // An error is not the end of iteration (spec/iterators.md#end): the
    // next step asks the server again and fails the same way.
    let again = it.next().await.expect("the stream goes on after an error");
    assert_eq!(
        again.expect_err("still LIFO").reason(),
        Some(Reason::IteratorMode)
    );
}

#[tokio::test]
async fn an_ended_iterator_stays_ended_when_values_arrive_later() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("ended").await.expect("open");
    ws.store("x", "a").await.expect("store");
    let mut it = ws.ifind_try("x");
    assert_eq!(
        it.next().await.expect("a").expect("value").as_text(),
        Some("a")
    );
    assert!(it.next().await.is_none(), "ended");
    ws.store("x", "b").await.expect("store");
    assert!(it.next().await.is_none(), "stays ended, no panic");
}
