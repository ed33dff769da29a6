//! The synchronous facade.

mod common;

use std::time::Duration;

use nws::Reason;
use nws::blocking::Server;

#[test]
fn blocking_facade_stores_fetches_and_iterates() {
    let bg = common::start_in_background();
    let server = Server::connect(&bg.addr).expect("connect");
    let ws = server.open_ws("sync").expect("open");
    ws.store("x", "hello").expect("store");
    assert_eq!(ws.find("x").expect("find").as_text(), Some("hello"));
    assert_eq!(ws.fetch("x").expect("fetch").as_text(), Some("hello"));
    assert_eq!(ws.fetch_try("x").expect("fetch_try"), None);
    let err = ws
        .fetch_timeout("x", Duration::from_millis(30))
        .expect_err("timeout");
    assert_eq!(err.reason(), Some(Reason::TimedOut));

    for i in 0..5 {
        ws.store("q", i.to_string()).expect("store");
    }
    let found: Vec<String> = ws
        .ifind_try("q")
        .map(|v| v.expect("ifind_try").into_text().expect("text"))
        .collect();
    assert_eq!(found, ["0", "1", "2", "3", "4"]);
    let fetched = ws
        .ifetch_try("q")
        .collect::<Result<Vec<_>, _>>()
        .expect("ifetch_try");
    assert_eq!(fetched.len(), 5);
    assert_eq!(ws.fetch_try("q").expect("fetch_try"), None);

    ws.store_serde("p", &(1u8, "two")).expect("store_serde");
    let p: (u8, String) = ws.fetch_serde("p").expect("fetch_serde");
    assert_eq!(p, (1, "two".to_string()));
    assert!(
        server
            .list_wss()
            .expect("list")
            .iter()
            .any(|w| w.name == "sync")
    );
    server.close();
}

#[test]
fn blocking_fetch_is_woken_by_a_store_from_another_thread() {
    let bg = common::start_in_background();
    let server = Server::connect(&bg.addr).expect("connect");
    let ws = server.open_ws("sync").expect("open");
    let storer = ws.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        storer.store("x", "from thread")
    });
    assert_eq!(ws.fetch("x").expect("fetch").as_text(), Some("from thread"));
    t.join().expect("thread").expect("store");
}

#[test]
fn an_idle_blocking_session_survives_keepalive_pings() {
    // The server pings every second and ends sessions that do not answer
    // within a second: an idle client must keep answering in the background.
    let bg = common::start_in_background();
    let server = Server::connect(&bg.addr).expect("connect");
    let ws = server.open_ws("idle").expect("open");
    ws.store("x", "still here").expect("store");
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(
        ws.fetch("x").expect("session alive").as_text(),
        Some("still here")
    );
}

#[test]
fn dropping_the_last_blocking_handle_ends_the_session() {
    let bg = common::start_in_background();
    let observer = Server::connect(&bg.addr).expect("connect");
    {
        let server = Server::connect(&bg.addr).expect("connect");
        server.open_ws("short_lived").expect("open");
    }
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        !observer
            .list_wss()
            .expect("list")
            .iter()
            .any(|w| w.name == "short_lived")
    });
    assert!(gone, "the dropped session's workspace was not deleted");
}
