//! The web UI's JSON API, deletion rules, request guards and live events,
//! against a real listener (`server/src/web/mod.rs`).

mod webutil;

use std::time::Duration;

use nws_server::store::{Mode, Step};
use nws_server::web::WebConfig;
use webutil::{Events, Web, raw, text};

#[tokio::test]
async fn workspaces_api_lists_name_owner_persistence_and_variable_count() {
    let web = Web::start().await;
    let _alice = web.open("alice@host", "work", false);
    let _bob = web.open("bob@host", "keep", true);
    web.store("work", "x", text("1"));
    web.store("work", "y", text("2"));

    let r = web.get("/api/workspaces").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
    );
    let j = r.json();
    let wss = j["workspaces"].as_array().expect("list");
    assert_eq!(wss.len(), 2);
    assert_eq!(wss[0]["name"], "keep");
    assert_eq!(wss[0]["owner"], "bob@host");
    assert_eq!(wss[0]["persistent"], true);
    assert_eq!(wss[0]["variables"], 0);
    assert_eq!(wss[1]["name"], "work");
    assert_eq!(wss[1]["persistent"], false);
    assert_eq!(wss[1]["variables"], 2);
    assert_eq!(j["server"]["sessions"].as_u64(), Some(3)); // two + the web UI's own
    web.stop().await;
}

#[tokio::test]
async fn variables_api_lists_mode_value_count_and_waiting_requests() {
    let web = Web::start().await;
    let s = web.open("owner", "w", false);
    web.store.declare("w", "bag", Mode::Multi).expect("declare");
    for i in 0..3 {
        web.store("w", "bag", text(&i.to_string()));
    }
    // One fetcher and two finders wait on an empty variable.
    let mut waiting = Vec::new();
    for fetch in [true, false, false] {
        let step = if fetch {
            web.store.fetch(s.id(), "w", "empty", false)
        } else {
            web.store.find(s.id(), "w", "empty", false)
        };
        match step.expect("blocks") {
            Step::Wait(p) => waiting.push(p),
            Step::Ready(_) => panic!("should wait"),
        }
    }

    let j = web.get("/api/variables?ws=w").await.json();
    assert_eq!(j["workspace"]["name"], "w");
    assert_eq!(j["workspace"]["owner"], "owner");
    let vars = j["variables"].as_array().expect("list");
    assert_eq!(vars.len(), 2);
    assert_eq!(vars[0]["name"], "bag");
    assert_eq!(vars[0]["mode"], "MULTI");
    assert_eq!(vars[0]["values"], 3);
    assert_eq!(vars[1]["name"], "empty");
    assert_eq!(vars[1]["mode"], "unknown");
    assert_eq!(vars[1]["fetchers"], 1);
    assert_eq!(vars[1]["finders"], 2);
    assert!(j["sleigh"].is_null());
    drop(waiting);
    web.stop().await;
}

#[tokio::test]
async fn a_workspace_with_task_and_result_variables_shows_sleigh_progress() {
    let web = Web::start().await;
    let s = web.open("master", "sleigh", false);
    for i in 0..5 {
        web.store("sleigh", "task", text(&i.to_string()));
    }
    web.store("sleigh", "result", text("r"));
    let j = web.get("/api/variables?ws=sleigh").await.json();
    assert_eq!(j["sleigh"]["tasks"], 5);
    assert_eq!(j["sleigh"]["results"], 1);
    let page = web.get("/?ws=sleigh").await;
    assert!(page.body.contains("5 tasks"), "{}", page.body);
    drop(s);
    web.stop().await;
}

#[tokio::test]
async fn values_api_shows_text_as_text_and_raw_as_hex_without_consuming() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    web.store("w", "x", text("hello\nworld"));
    web.store("w", "x", raw(b"NWS\x00\x01\xff"));
    web.store("w", "x", text(""));

    let j = web.get("/api/values?ws=w&var=x").await.json();
    assert_eq!(j["count"], 3);
    assert_eq!(j["mode"], "FIFO");
    let values = j["values"].as_array().expect("list");
    assert_eq!(values[0]["kind"], "text");
    assert_eq!(values[0]["shown_as"], "text");
    assert_eq!(values[0]["display"], "hello\nworld");
    assert_eq!(values[0]["size"], 11);
    assert_eq!(values[1]["kind"], "raw");
    assert_eq!(values[1]["shown_as"], "hex");
    assert!(
        values[1]["display"]
            .as_str()
            .expect("text")
            .starts_with("00000000  4e 57 53 00 01 ff"),
        "{}",
        values[1]["display"]
    );
    assert!(
        values[1]["display"]
            .as_str()
            .expect("text")
            .ends_with("|NWS...|")
    );
    assert_eq!(values[2]["display"], "");
    // Nothing was consumed.
    let vars = web.store.list_vars("w").expect("list");
    assert_eq!(vars[0].value_count, 3);
    assert_eq!(
        web.store.find_now("w", "x").expect("find"),
        Some(text("hello\nworld"))
    );
    web.stop().await;
}

#[tokio::test]
async fn values_api_limits_the_values_shown() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    for i in 0..30 {
        web.store("w", "x", text(&i.to_string()));
    }
    let j = web.get("/api/values?ws=w&var=x&limit=7").await.json();
    assert_eq!(j["count"], 30);
    assert_eq!(j["shown"], 7);
    assert_eq!(j["values"][6]["display"], "6");
    let page = web.get("/?ws=w&var=x&limit=7").await;
    assert!(
        page.body.contains("Showing the first 7 of 30 values"),
        "{}",
        page.body
    );
    web.stop().await;
}

#[tokio::test]
async fn a_missing_workspace_is_404_no_such_workspace_and_a_bad_name_400() {
    let web = Web::start().await;
    let r = web.get("/api/variables?ws=nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "NO_SUCH_WORKSPACE");
    let r = web.get("/api/values?ws=nope&var=x").await;
    assert_eq!(r.status, 404);
    let r = web.get("/api/variables?ws=a%01b").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "INVALID_NAME");
    let page = web.get("/?ws=nope").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("Not here"));
    let r = web.get("/no/such/page").await;
    assert_eq!(r.status, 404);
    web.stop().await;
}

#[tokio::test]
async fn deleting_a_variable_needs_post_and_confirmation() {
    let web = Web::start().await;
    let s = web.open("o", "w", false);
    web.store("w", "x", text("v"));
    let waiter = match web.store.fetch(s.id(), "w", "y", false).expect("fetch") {
        Step::Wait(p) => p,
        Step::Ready(_) => panic!("should wait"),
    };

    // Never over GET.
    let r = web.get("/api/delete-variable?ws=w&var=x&confirm=yes").await;
    assert_eq!(r.status, 405);
    // Not without confirm=yes.
    let r = web
        .post_form("/api/delete-variable", &[("ws", "w"), ("var", "x")])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "CONFIRMATION_REQUIRED");
    assert_eq!(web.store.list_vars("w").expect("list").len(), 2);

    let r = web
        .post_form(
            "/api/delete-variable",
            &[("ws", "w"), ("var", "x"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["deleted"], "variable");
    let names: Vec<String> = web
        .store
        .list_vars("w")
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["y"]);

    // A request waiting on a deleted variable wakes with VARIABLE_DELETED.
    let r = web
        .post_form(
            "/api/delete-variable",
            &[("ws", "w"), ("var", "y"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, 200);
    let outcome = tokio::time::timeout(webutil::WAIT, waiter.resolve(None, std::future::pending()))
        .await
        .expect("woken");
    assert!(
        matches!(outcome, Err(nws_server::Error::VariableDeleted(_))),
        "{outcome:?}"
    );
    web.stop().await;
}

#[tokio::test]
async fn deleting_a_workspace_with_confirmation() {
    let web = Web::start().await;
    let _s = web.open("o", "w", true);
    let r = web.post_form("/api/delete-workspace", &[("ws", "w")]).await;
    assert_eq!(r.status, 400);
    assert!(web.store.workspace_exists("w"));
    let r = web
        .post_form("/api/delete-workspace", &[("ws", "w"), ("confirm", "yes")])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"deleted": "workspace", "workspace": "w"})
    );
    assert!(!web.store.workspace_exists("w"));
    let r = web
        .post_form("/api/delete-workspace", &[("ws", "w"), ("confirm", "yes")])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "NO_SUCH_WORKSPACE");
    web.stop().await;
}

#[tokio::test]
async fn a_plain_html_form_gets_a_confirmation_page_then_a_redirect() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    web.store("w", "x", text("v"));
    let html = [("Accept", "text/html,application/xhtml+xml")];
    let r = web
        .post_form_with("/api/delete-variable", &[("ws", "w"), ("var", "x")], &html)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Please confirm"));
    assert!(
        r.body.contains(r#"name="confirm" value="yes""#),
        "{}",
        r.body
    );
    assert!(r.body.contains("with its 1 value"), "{}", r.body);
    assert_eq!(web.store.list_vars("w").expect("list").len(), 1);

    let r = web
        .post_form_with(
            "/api/delete-variable",
            &[("ws", "w"), ("var", "x"), ("confirm", "yes")],
            &html,
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/?ws=w"));
    assert!(web.store.list_vars("w").expect("list").is_empty());
    web.stop().await;
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    let form = [("ws", "w"), ("confirm", "yes")];
    let r = web
        .post_form_with(
            "/api/delete-workspace",
            &form,
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = web
        .post_form_with(
            "/api/delete-workspace",
            &form,
            &[("Sec-Fetch-Site", "cross-site")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = web
        .post_form_with("/api/delete-workspace", &form, &[("Origin", "null")])
        .await;
    assert_eq!(r.status, 403);
    assert!(web.store.workspace_exists("w"));
    // The page's own origin is fine.
    let origin = format!("http://{}", web.addr);
    let r = web
        .post_form_with(
            "/api/delete-workspace",
            &form,
            &[
                ("Origin", &origin),
                ("Sec-Fetch-Site", "same-origin"),
                ("Accept", "application/json"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    web.stop().await;
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_on_loopback() {
    let web = Web::start().await;
    let r = web
        .get_with("/api/workspaces", &[("Host", "evil.example:8766")])
        .await;
    assert_eq!(r.status, 403);
    for host in ["localhost:8766", "127.0.0.1", "[::1]:8766", "app.localhost"] {
        let r = web.get_with("/api/workspaces", &[("Host", host)]).await;
        assert_eq!(r.status, 200, "Host: {host}");
    }
    web.stop().await;
}

#[tokio::test]
async fn a_token_is_required_when_configured() {
    let web = Web::start_with(WebConfig {
        token: Some("s3cret".into()),
        ..WebConfig::default()
    })
    .await;
    assert_eq!(web.get("/api/workspaces").await.status, 401);
    assert_eq!(web.get("/").await.status, 401);
    let r = web
        .get_with("/api/workspaces", &[("Authorization", "Bearer wrong")])
        .await;
    assert_eq!(r.status, 401);
    let r = web
        .get_with("/api/workspaces", &[("Authorization", "Bearer s3cret")])
        .await;
    assert_eq!(r.status, 200);
    // Visiting ?token= once trades it for a cookie and drops it from the address.
    let r = web.get("/?ws=a%20b&token=s3cret").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/?ws=a%20b"));
    let cookie = r.header("set-cookie").expect("cookie").to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair");
    let r = web.get_with("/api/workspaces", &[("Cookie", pair)]).await;
    assert_eq!(r.status, 200);
    // With a token, other host names are allowed (the token protects).
    let r = web
        .get_with(
            "/api/workspaces",
            &[("Cookie", pair), ("Host", "nws.example:8766")],
        )
        .await;
    assert_eq!(r.status, 200);
    web.stop().await;
}

#[tokio::test]
async fn every_reply_carries_a_strict_content_security_policy() {
    let web = Web::start().await;
    for path in ["/", "/api/workspaces", "/static/nws.js", "/nope"] {
        let r = web.get(path).await;
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let css = web.get("/static/nws.css").await;
    assert!(
        css.header("content-type")
            .unwrap_or("")
            .starts_with("text/css")
    );
    web.stop().await;
}

#[tokio::test]
async fn events_report_changes_to_the_viewed_workspace_only() {
    let web = Web::start().await;
    let _a = web.open("o", "a", false);
    let _b = web.open("o", "b", false);
    let mut events = Events::open(web.addr, "/api/events?ws=a").await;
    assert_eq!(events.next(webutil::WAIT).await.as_deref(), Some("ready"));

    web.store("b", "x", text("elsewhere"));
    assert_eq!(events.next(Duration::from_millis(600)).await, None);

    web.store("a", "x", text("here"));
    assert_eq!(events.next(webutil::WAIT).await.as_deref(), Some("change"));
    web.stop().await;
}

#[tokio::test]
async fn events_for_a_variable_follow_its_values() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    web.store
        .declare("w", "one", Mode::Single)
        .expect("declare");
    web.store("w", "one", text("first"));
    let mut events = Events::open(web.addr, "/api/events?ws=w&var=one").await;
    assert_eq!(events.next(webutil::WAIT).await.as_deref(), Some("ready"));
    // SINGLE: the count stays 1, the value changes.
    web.store("w", "one", text("second"));
    assert_eq!(events.next(webutil::WAIT).await.as_deref(), Some("change"));
    web.store("w", "other", text("x"));
    assert_eq!(events.next(Duration::from_millis(600)).await, None);
    web.stop().await;
}

#[tokio::test]
async fn a_burst_of_changes_is_coalesced() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    let mut events = Events::open(web.addr, "/api/events").await;
    assert_eq!(events.next(webutil::WAIT).await.as_deref(), Some("ready"));
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        for i in 0..50 {
            web.store("w", "x", text(&i.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut changes = 0;
    while events.next(Duration::from_millis(400)).await.is_some() {
        changes += 1;
    }
    // About 10 per second at most: 500 ms of stores give ~5-6.
    assert!((1..=8).contains(&changes), "{changes} change events");
    web.stop().await;
}
