//! The server's side of the babelfish protocol (`spec/babelfish.md`):
//! requests in `food`, answers from `doof`, deadline and fallbacks.

mod webutil;

use std::time::Duration;

use nws_server::web::WebConfig;
use webutil::{FakeTranslator, Web, blob, text};

fn pickle_of_412_bytes() -> Vec<u8> {
    let mut v = vec![0x80, 0x04];
    v.resize(412, b'x');
    v
}

#[tokio::test]
async fn a_blob_without_translator_shows_codec_size_and_no_translator_running() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    web.store("w", "x", blob("python/pickle", &pickle_of_412_bytes()));
    let started = std::time::Instant::now();
    let j = web.get("/api/values?ws=w&var=x").await.json();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no wait without a translator"
    );
    let v = &j["values"][0];
    assert_eq!(v["kind"], "blob");
    assert_eq!(v["codec"], "python/pickle");
    assert_eq!(v["shown_as"], "fallback");
    assert_eq!(
        v["display"],
        "python/pickle, 412 bytes, no translator running"
    );
    // The server never creates a translator's workspace.
    assert!(!web.store.workspace_exists("Python babelfish"));
    let page = web.get("/?ws=w&var=x").await.body;
    assert!(page.contains("python/pickle, 412 bytes, no translator running"));
    web.stop().await;
}

#[tokio::test]
async fn a_translators_answer_is_shown_and_the_request_has_the_documented_form() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    let payload = pickle_of_412_bytes();
    let expected = payload.clone();
    let t = FakeTranslator::start(&web.store, "Python babelfish", move |id, header, body| {
        assert_eq!(header, format!("nws-babelfish 1 {id} python/pickle 10000"));
        if body.len() == 412 {
            assert_eq!(body, &expected[..]);
        }
        Some(format!("{id} ok\n{{'translated': {}}}", body.len()))
    });
    web.store("w", "x", blob("python/pickle", &payload));
    let j = web.get("/api/values?ws=w&var=x").await.json();
    let v = &j["values"][0];
    assert_eq!(v["shown_as"], "translated", "{v}");
    assert_eq!(v["display"], "{'translated': 412}");
    assert_eq!(v["translator"], "Python babelfish");
    let page = web.get("/?ws=w&var=x").await.body;
    assert!(page.contains("{&#39;translated&#39;: 412}"), "{page}");
    assert!(page.contains("shown by Python babelfish"));
    // The same bytes are asked about once (cached), another value again.
    assert_eq!(t.count(), 1);
    web.store("w", "y", blob("python/pickle", b"\x80\x04K\x02."));
    let j = web.get("/api/values?ws=w&var=y").await.json();
    assert_eq!(j["values"][0]["shown_as"], "translated");
    assert_eq!(t.count(), 2);
    // The translator consumed its requests; the value itself is untouched.
    let food = web
        .store
        .list_vars("Python babelfish")
        .expect("list")
        .into_iter()
        .find(|v| v.name == "food")
        .map_or(0, |v| v.value_count);
    assert_eq!(food, 0);
    assert_eq!(web.store.list_vars("w").expect("list")[0].value_count, 1);
    web.stop().await;
}

#[tokio::test]
async fn codecs_map_to_language_workspaces() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    let _r = FakeTranslator::start(&web.store, "R babelfish", |id, header, _| {
        Some(format!(
            "{id} ok\nR saw {}",
            header.split(' ').nth(3).unwrap_or("?")
        ))
    });
    let _rs = FakeTranslator::start(&web.store, "Rust babelfish", |id, _, _| {
        Some(format!("{id} ok\nRust"))
    });
    web.store("w", "r", blob("r/serialize", b"X\n\x00\x00\x00\x03"));
    web.store("w", "rs", blob("rust/cbor", b"\x01"));
    web.store("w", "js", blob("json", br#"{"a": [1, 2]}"#));
    let j = web.get("/api/values?ws=w&var=r").await.json();
    assert_eq!(j["values"][0]["display"], "R saw r/serialize");
    let j = web.get("/api/values?ws=w&var=rs").await.json();
    assert_eq!(j["values"][0]["display"], "Rust");
    // json is text: shown by the server itself.
    let j = web.get("/api/values?ws=w&var=js").await.json();
    assert_eq!(j["values"][0]["shown_as"], "text");
    assert_eq!(j["values"][0]["display"], r#"{"a": [1, 2]}"#);
    let t = web.get("/api/babelfish").await.json();
    let running: Vec<&str> = t["translators"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|t| t["running"] == true)
        .map(|t| t["language"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(running, ["R", "Rust"]);
    web.stop().await;
}

#[tokio::test]
async fn a_silent_translator_gives_the_fallback_after_the_deadline() {
    let web = Web::start_with(WebConfig {
        babelfish_timeout: Duration::from_millis(300),
        ..WebConfig::default()
    })
    .await;
    let _s = web.open("o", "w", false);
    // A translator workspace whose owner never answers.
    let _silent = web.open("hung babelfish", "Python babelfish", false);
    web.store("w", "x", blob("python/pickle", &pickle_of_412_bytes()));
    let started = std::time::Instant::now();
    let j = web.get("/api/values?ws=w&var=x").await.json();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(j["values"][0]["shown_as"], "fallback");
    assert_eq!(
        j["values"][0]["display"],
        "python/pickle, 412 bytes, no answer from Python babelfish within 0.3 s"
    );
    // The unanswered request waits in food; a late answer to it is
    // dropped, and a later request is answered normally.
    let food = |web: &Web| {
        web.store
            .list_vars("Python babelfish")
            .expect("list")
            .into_iter()
            .find(|v| v.name == "food")
            .map_or(0, |v| v.value_count)
    };
    assert_eq!(food(&web), 1);
    let stale = web
        .store
        .find_now("Python babelfish", "food")
        .expect("find")
        .expect("request");
    let header_end = stale.data.iter().position(|&b| b == b'\n').expect("header");
    let stale_id: u64 = std::str::from_utf8(&stale.data[..header_end])
        .expect("ascii")
        .split(' ')
        .nth(2)
        .and_then(|s| s.parse().ok())
        .expect("id");
    web.store(
        "Python babelfish",
        "doof",
        text(&format!("{stale_id} ok\nlate")),
    );
    web.store
        .delete_var("Python babelfish", "food")
        .expect("clear the queue");
    // Now a real translator takes over the (still existing) workspace's requests.
    drop(_silent);
    let _t = FakeTranslator::start(&web.store, "Python babelfish", |id, _, _| {
        Some(format!("{id} ok\non time"))
    });
    let j = web.get("/api/values?ws=w&var=x").await.json();
    assert_eq!(j["values"][0]["display"], "on time", "{j}");
    web.stop().await;
}

#[tokio::test]
async fn a_translator_error_is_shown_as_an_error() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    let _t = FakeTranslator::start(&web.store, "Python babelfish", |id, _, _| {
        Some(format!("{id} error\nrefused: posix.system"))
    });
    web.store("w", "x", blob("python/pickle", b"cposix\nsystem\n."));
    let j = web.get("/api/values?ws=w&var=x").await.json();
    assert_eq!(j["values"][0]["shown_as"], "translator-error");
    assert_eq!(j["values"][0]["display"], "refused: posix.system");
    let page = web.get("/?ws=w&var=x").await.body;
    assert!(
        page.contains(r#"<pre class="error">refused: posix.system</pre>"#),
        "{page}"
    );
    web.stop().await;
}

#[tokio::test]
async fn a_translator_that_stops_mid_request_gives_a_fallback_at_once() {
    let web = Web::start_with(WebConfig {
        babelfish_timeout: Duration::from_secs(5),
        ..WebConfig::default()
    })
    .await;
    let _s = web.open("o", "w", false);
    let owner = web.open("dying babelfish", "Python babelfish", false);
    web.store("w", "x", blob("python/pickle", b"\x80\x04K\x01."));
    let store = web.store.clone();
    tokio::spawn(async move {
        // The translator's session ends while the page waits.
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(owner);
        drop(store);
    });
    let started = std::time::Instant::now();
    let j = web.get("/api/values?ws=w&var=x").await.json();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(j["values"][0]["shown_as"], "fallback");
    assert_eq!(
        j["values"][0]["display"],
        "python/pickle, 5 bytes, translator stopped before answering"
    );
    web.stop().await;
}

#[tokio::test]
async fn many_values_are_translated_concurrently_within_one_deadline() {
    let web = Web::start_with(WebConfig {
        babelfish_timeout: Duration::from_secs(2),
        ..WebConfig::default()
    })
    .await;
    let _s = web.open("o", "w", false);
    let t = FakeTranslator::start(&web.store, "Python babelfish", |id, _, body| {
        Some(format!("{id} ok\n{}", body[0]))
    });
    for i in 0..40u8 {
        web.store("w", "x", blob("python/pickle", &[i]));
    }
    let j = web.get("/api/values?ws=w&var=x").await.json();
    let shown: Vec<String> = j["values"]
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["display"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(shown, (0..40).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(t.count(), 40);
    web.stop().await;
}
