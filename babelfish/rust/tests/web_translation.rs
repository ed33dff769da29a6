//! The Rust babelfish against a real server: a serde value stored by the
//! Rust client shows up readably in the web UI's JSON API.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

#[derive(Serialize)]
struct Point {
    x: i32,
    label: String,
    tags: Vec<&'static str>,
}

#[derive(Serialize)]
enum Shape {
    Circle { r: f64 },
}

/// `GET path` (blocking, `Connection: close`); the body.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    body.to_string()
}

fn display_of(addr: SocketAddr, ws: &str, var: &str) -> serde_json::Value {
    let body = get(addr, &format!("/api/values?ws={ws}&var={var}"));
    let j: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    j["values"][0].clone()
}

#[test]
fn serde_values_are_shown_readably() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = nws_server::Store::new(Default::default());
    let (grpc, web) = rt.block_on(async {
        let g = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let w = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let (ga, wa) = (g.local_addr().expect("addr"), w.local_addr().expect("addr"));
        let s = store.clone();
        tokio::spawn(nws_server::run_with_store(
            g,
            Default::default(),
            s,
            std::future::pending(),
        ));
        let s = store.clone();
        tokio::spawn(nws_server::web::serve(
            w,
            s,
            Default::default(),
            std::future::pending(),
        ));
        (ga, wa)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let translator = {
        let stop = stop.clone();
        let addr = grpc.to_string();
        std::thread::spawn(move || nws_babelfish::serve(&addr, &stop, &|_| {}))
    };

    let server = nws::blocking::Server::connect(&grpc.to_string()).expect("connect");
    let ws = server.open_ws("rust demo").expect("open");
    let point = Point {
        x: 3,
        label: "<corner>".into(),
        tags: vec!["a", "b"],
    };
    ws.store_serde("point", &point).expect("store");
    ws.store_serde("shape", &Shape::Circle { r: 1.5 })
        .expect("store");
    let map: BTreeMap<String, Vec<u32>> = (0..3)
        .map(|i| (format!("k{i}"), (0..40).collect()))
        .collect();
    ws.store_serde("map", &map).expect("store");

    // Wait for the translator to open its workspace.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !store.workspace_exists(nws_babelfish::WORKSPACE) {
        assert!(
            std::time::Instant::now() < deadline,
            "translator did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let v = display_of(web, "rust%20demo", "point");
    assert_eq!(v["codec"], "rust/cbor");
    assert_eq!(v["shown_as"], "translated", "{v}");
    assert_eq!(v["translator"], "Rust babelfish");
    assert_eq!(
        v["display"],
        r#"{"x": 3, "label": "<corner>", "tags": ["a", "b"]}"#
    );

    let v = display_of(web, "rust%20demo", "shape");
    assert_eq!(v["display"], r#"{"Circle": {"r": 1.5}}"#);

    let v = display_of(web, "rust%20demo", "map");
    let text = v["display"].as_str().expect("text");
    assert!(
        text.starts_with("{\n    \"k0\": [\n        0, 1, 2,"),
        "{text}"
    );

    // The page shows it too (escaped).
    let page = get(web, "/?ws=rust%20demo&var=point");
    assert!(
        page.contains("&quot;label&quot;: &quot;&lt;corner&gt;&quot;"),
        "{page}"
    );

    stop.store(true, Ordering::Relaxed);
    translator.join().expect("translator thread");
    drop(server);
    drop(rt);
}
