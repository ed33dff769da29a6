//! Values far beyond the gRPC message limit stream in chunks.

mod common;

use bytes::Bytes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_mib_value_round_trips() {
    const SIZE: usize = 300 << 20;
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("big").await.expect("open");
    let data: Bytes = (0..SIZE)
        .map(|i| (i.wrapping_mul(31) >> 3) as u8)
        .collect::<Vec<u8>>()
        .into();

    ws.store("blob", data.clone()).await.expect("store 300 MiB");
    let found = ws.find("blob").await.expect("find 300 MiB");
    assert_eq!(found.len(), SIZE);
    assert!(found.as_bytes() == &data[..], "found bytes differ");
    drop(found);
    let fetched = ws.fetch("blob").await.expect("fetch 300 MiB");
    assert!(fetched.as_raw() == Some(&data), "fetched bytes differ");
}
