//! Each kind of value comes back exactly as it was stored.

mod common;

use bytes::Bytes;
use futures::StreamExt;
use nws::Value;

async fn round_trip(value: Value) -> Value {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("round_trip").await.expect("open");
    ws.store("v", value).await.expect("store");
    ws.fetch("v").await.expect("fetch")
}

#[tokio::test]
async fn text_value_round_trips() {
    let v = round_trip(Value::from("héllo, wörld ✓")).await;
    assert_eq!(v, Value::Text("héllo, wörld ✓".into()));
}

#[tokio::test]
async fn raw_value_round_trips() {
    let bytes: Vec<u8> = (0..=255u8).collect();
    let v = round_trip(Value::from(bytes.clone())).await;
    assert_eq!(v, Value::Raw(Bytes::from(bytes)));
}

#[tokio::test]
async fn blob_value_round_trips_with_its_codec() {
    let v = round_trip(Value::blob("python/pickle", vec![0x80u8, 4, 0x95])).await;
    assert_eq!(v.codec(), Some("python/pickle"));
    assert_eq!(v.as_bytes(), &[0x80u8, 4, 0x95]);
}

#[tokio::test]
async fn empty_text_and_raw_values_round_trip() {
    assert_eq!(
        round_trip(Value::from("")).await,
        Value::Text(String::new())
    );
    assert_eq!(
        round_trip(Value::from(Vec::<u8>::new())).await,
        Value::Raw(Bytes::new())
    );
}

#[tokio::test]
async fn values_of_a_few_mib_round_trip_in_chunks() {
    let data: Vec<u8> = (0..(3 << 20) + 17).map(|i: u32| (i % 251) as u8).collect();
    let text = "x".repeat((2 << 20) + 3);
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("chunks").await.expect("open");
    ws.store("raw", data.clone()).await.expect("store raw");
    ws.store("text", text.clone()).await.expect("store text");
    assert_eq!(ws.find("raw").await.expect("find").as_bytes(), &data[..]);
    assert_eq!(ws.fetch("raw").await.expect("fetch").as_bytes(), &data[..]);
    assert_eq!(
        ws.fetch("text").await.expect("fetch").into_text(),
        Some(text)
    );
}

#[tokio::test]
async fn values_large_enough_for_pooled_reassembly_come_back_byte_exact() {
    // Above the client's pooling threshold (4 MiB): raw and blob values are
    // reassembled in a reusable buffer (the raw one twice), text in its own.
    let size = (5 << 20) + 3;
    let data: Vec<u8> = (0..size).map(|i: u32| (i % 253) as u8).collect();
    let text: String = (0..size)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("huge").await.expect("open");
    ws.store("raw", data.clone()).await.expect("store raw");
    ws.store("blob", Value::blob("test/bytes", data.clone()))
        .await
        .expect("store blob");
    ws.store("text", text.clone()).await.expect("store text");
    assert_eq!(ws.find("raw").await.expect("find").as_bytes(), &data[..]);
    let seen = ws.ifind_try("raw").next().await.expect("one value");
    assert_eq!(seen.expect("ifind").as_bytes(), &data[..]);
    assert_eq!(ws.fetch("raw").await.expect("fetch").as_bytes(), &data[..]);
    let blob = ws.fetch("blob").await.expect("fetch blob");
    assert_eq!(blob.codec(), Some("test/bytes"));
    assert_eq!(blob.as_bytes(), &data[..]);
    assert_eq!(
        ws.fetch("text").await.expect("fetch text").into_text(),
        Some(text)
    );
}
