//! Workspaces and the session lifetime.

mod common;

use std::time::Duration;

use nws::{Error, Mode, OpenOptions, Reason};

#[tokio::test]
async fn hello_reports_a_session_id_and_limits() {
    let server = common::start().await;
    let a = common::connect(&server).await;
    let b = common::connect(&server).await;
    assert_ne!(a.session_id(), b.session_id());
    assert!(a.info().max_chunk_size > 0);
    assert!(a.info().max_value_size > 0);
    assert!(!a.info().server.is_empty());
}

#[tokio::test]
async fn list_wss_shows_owner_and_mine() {
    let server = common::start().await;
    let a = common::connect(&server).await;
    let b = common::connect(&server).await;
    a.open_ws("owned_by_a").await.expect("open");
    let used = b.use_ws("owned_by_a").await.expect("use");
    assert!(!used.owned());
    let from_a = a.list_wss().await.expect("list");
    let ws = from_a
        .iter()
        .find(|w| w.name == "owned_by_a")
        .expect("listed");
    assert!(ws.mine);
    assert!(
        ws.owner.starts_with("rust nws "),
        "owner was {:?}",
        ws.owner
    );
    let from_b = b.list_wss().await.expect("list");
    assert!(!from_b.iter().any(|w| w.name == "owned_by_a" && w.mine));
}

#[tokio::test]
async fn closing_a_session_deletes_its_owned_workspaces() {
    let server = common::start().await;
    let owner = common::connect(&server).await;
    let other = common::connect(&server).await;
    owner.open_ws("temp").await.expect("open");
    let kept = owner
        .open_ws_with(
            "kept",
            OpenOptions {
                persistent: true,
                ..Default::default()
            },
        )
        .await
        .expect("open persistent");
    assert!(kept.persistent());
    let tmp = owner.mktemp_ws(None).await.expect("mktemp");
    owner.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let names: Vec<String> = other
        .list_wss()
        .await
        .expect("list")
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert!(!names.contains(&"temp".to_string()));
    assert!(!names.contains(&tmp.name().to_string()));
    assert!(names.contains(&"kept".to_string()));
}

#[tokio::test]
async fn calls_after_close_fail_with_closed() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("w").await.expect("open");
    let pending = {
        let ws = ws.clone();
        tokio::spawn(async move { ws.fetch("never").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.close().await;
    let r = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("pending call ended")
        .expect("task");
    assert!(matches!(r, Err(Error::Closed)), "got {r:?}");
    assert!(matches!(ws.store("x", "1").await, Err(Error::Closed)));
}

#[tokio::test]
async fn must_exist_on_a_missing_workspace_gives_no_such_workspace() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let err = client
        .open_ws_with(
            "nowhere",
            OpenOptions {
                must_exist: true,
                ..Default::default()
            },
        )
        .await
        .expect_err("missing");
    assert_eq!(err.reason(), Some(Reason::NoSuchWorkspace));
}

#[tokio::test]
async fn declaring_a_different_mode_gives_mode_conflict() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("w").await.expect("open");
    ws.declare("v", Mode::Single).await.expect("declare");
    ws.declare("v", Mode::Single)
        .await
        .expect("same mode again");
    let err = ws.declare("v", Mode::Fifo).await.expect_err("conflict");
    assert_eq!(err.reason(), Some(Reason::ModeConflict));
    let vars = ws.list_vars().await.expect("list");
    assert_eq!(
        vars.iter().find(|v| v.name == "v").map(|v| v.mode),
        Some(Mode::Single)
    );
}

#[tokio::test]
async fn deleting_a_workspace_wakes_its_waiters_with_no_such_workspace() {
    let server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("doomed").await.expect("open");
    let waiter = {
        let ws = ws.clone();
        tokio::spawn(async move { ws.fetch("x").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.delete_ws("doomed").await.expect("delete");
    let r = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woke")
        .expect("task");
    assert_eq!(
        r.expect_err("deleted").reason(),
        Some(Reason::NoSuchWorkspace)
    );
}

#[tokio::test]
async fn an_unreachable_server_gives_a_transport_error() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = nws::Server::connect(&format!("127.0.0.1:{port}"))
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::Transport(_)), "got {err:?}");
    let err = nws::Server::connect("https://x:1")
        .await
        .expect_err("bad address");
    assert!(matches!(err, Error::InvalidAddress(_)));
}

#[tokio::test]
async fn a_server_shutdown_fails_pending_fetches_with_shutting_down() {
    let mut server = common::start().await;
    let client = common::connect(&server).await;
    let ws = client.open_ws("w").await.expect("open");
    let waiter = {
        let ws = ws.clone();
        tokio::spawn(async move { ws.fetch("x").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown();
    let r = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woke")
        .expect("task");
    assert_eq!(
        r.expect_err("shut down").reason(),
        Some(Reason::ShuttingDown)
    );
    // The stream ended with the server's reason: later calls fail with it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let later = ws.store("x", "1").await.expect_err("no server");
    assert_eq!(later.reason(), Some(Reason::ShuttingDown));
}

#[tokio::test]
async fn dropping_the_last_handle_ends_the_session() {
    let server = common::start().await;
    let observer = common::connect(&server).await;
    {
        let client = common::connect(&server).await;
        let ws = client.open_ws("short_lived").await.expect("open");
        let _ = ws.server();
    }
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let wss = observer.list_wss().await.expect("list");
        if !wss.iter().any(|w| w.name == "short_lived") {
            gone = true;
            break;
        }
    }
    assert!(gone, "the dropped session's workspace was not deleted");
}

#[tokio::test]
async fn a_connection_error_names_its_cause() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = nws::Server::connect(&format!("127.0.0.1:{port}"))
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.len() > "transport error: ".len(),
        "uninformative: {text:?}"
    );
}
