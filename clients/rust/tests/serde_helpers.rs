//! store_serde / fetch_serde / find_serde with the rust/cbor codec.

mod common;

use std::collections::BTreeMap;

use nws::{Error, Value};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Task {
    id: u64,
    name: String,
    input: Vec<f64>,
    options: BTreeMap<String, Option<i32>>,
}

fn task() -> Task {
    Task {
        id: 42,
        name: "cube".into(),
        input: vec![1.5, -2.0, 1e300],
        options: [
            ("retries".to_string(), Some(3)),
            ("limit".to_string(), None),
        ]
        .into_iter()
        .collect(),
    }
}

#[tokio::test]
async fn serde_values_round_trip_as_rust_cbor_blobs() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("serde").await.expect("open");
    ws.store_serde("t", &task()).await.expect("store");
    let raw = ws.find("t").await.expect("find raw");
    assert_eq!(raw.codec(), Some(nws::RUST_CBOR));
    let found: Task = ws.find_serde("t").await.expect("find_serde");
    assert_eq!(found, task());
    let fetched: Task = ws.fetch_serde("t").await.expect("fetch_serde");
    assert_eq!(fetched, task());
    assert_eq!(
        ws.fetch_try_serde::<Task>("t")
            .await
            .expect("fetch_try_serde"),
        None
    );
}

#[tokio::test]
async fn a_typed_fetch_of_a_foreign_blob_gives_a_codec_error_with_the_value() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("serde").await.expect("open");
    let pickle = Value::blob("python/pickle", vec![0x80u8, 4, 0x4b, 7, 0x2e]);
    ws.store("p", pickle.clone()).await.expect("store");
    match ws.fetch_serde::<Task>("p").await {
        Err(Error::Codec(e)) => {
            assert_eq!(e.codec, "python/pickle");
            assert_eq!(e.value, Some(pickle));
        }
        other => panic!("expected a codec error, got {other:?}"),
    }
    ws.store("s", "plain text").await.expect("store");
    assert!(matches!(
        ws.find_serde::<Task>("s").await,
        Err(Error::Codec(_))
    ));
}
