//! The article's programs against a real server started in-process on
//! 127.0.0.1:0.

use std::time::Duration;

use nws_examples::cubes;
use nws_examples::max_search::{self, SearchParams};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A server on the current runtime; stops when dropped.
struct TestServer {
    addr: String,
    _stop: oneshot::Sender<()>,
}

async fn start_server() -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = nws_server::run(listener, nws_server::Config::default(), shutdown).await {
            eprintln!("test server failed: {e}");
        }
    });
    TestServer { addr, _stop: stop }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cubes_master_gets_every_cube_from_two_workers() {
    let server = start_server().await;
    let mut workers = Vec::new();
    for _ in 0..2 {
        let addr = server.addr.clone();
        workers.push(tokio::spawn(async move {
            let s = nws::Server::connect(&addr).await.expect("worker connect");
            cubes::worker(&s, None).await
        }));
    }
    let master = nws::Server::connect(&server.addr)
        .await
        .expect("master connect");
    let results = tokio::time::timeout(Duration::from_secs(30), cubes::master(&master, 100))
        .await
        .expect("master finished in time")
        .expect("master");
    assert_eq!(results.len(), 100);
    for (x, r) in &results {
        assert_eq!(Some(*r), cubes::cube(*x), "f({x})");
    }
    assert_eq!(results[2..5], [(2, 8), (3, 27), (4, 64)]);
    for w in &workers {
        assert!(!w.is_finished(), "workers keep waiting for more x");
    }
    for w in workers {
        w.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cubes_worker_started_after_the_master_serves_it_and_stops_at_its_count() {
    let server = start_server().await;
    let master = nws::Server::connect(&server.addr)
        .await
        .expect("master connect");
    let m = tokio::spawn(async move { cubes::master(&master, 10).await.expect("master") });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!m.is_finished(), "the master waits for a worker");
    let worker = nws::Server::connect(&server.addr)
        .await
        .expect("worker connect");
    let done = cubes::worker(&worker, Some(10)).await.expect("worker");
    assert_eq!(done, 10);
    let results = tokio::time::timeout(Duration::from_secs(10), m)
        .await
        .expect("master finished in time")
        .expect("master task");
    assert_eq!(results, (0..10).map(|x| (x, x * x * x)).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_search_agrees_with_the_sequential_maximum() {
    let server = start_server().await;
    for (workers, find_every) in [(1, 1), (3, 1), (4, 10)] {
        let params = SearchParams {
            workers,
            candidates: 5_000,
            find_every,
        };
        let report = tokio::time::timeout(
            Duration::from_secs(60),
            max_search::search(&server.addr, params),
        )
        .await
        .expect("search finished in time")
        .expect("search");
        assert!(report.agrees(), "{report:?}");
        assert_eq!(report.found.y, max_search::sequential_max(5_000).y);
        assert_eq!(report.stats.tested, 5_000);
        assert!(report.stats.updates >= 1, "{report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_workspace_is_gone_after_the_search() {
    let server = start_server().await;
    let params = SearchParams {
        workers: 2,
        candidates: 200,
        find_every: 1,
    };
    max_search::search(&server.addr, params)
        .await
        .expect("search");
    let observer = nws::Server::connect(&server.addr).await.expect("connect");
    let left: Vec<String> = observer
        .list_wss()
        .await
        .expect("list")
        .into_iter()
        .map(|w| w.name)
        .filter(|n| n.starts_with("max_search_"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
