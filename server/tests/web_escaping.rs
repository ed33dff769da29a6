//! Hostile names and values are escaped everywhere in the HTML, including
//! attributes and addresses (`server/src/web/render.rs`).

mod webutil;

use webutil::{FakeTranslator, Web, blob, text};

const EVIL_WS: &str = r#"<img src=x onerror=alert(1)> "quoted" 'single' & amp"#;
const EVIL_VAR: &str = r#""><script>alert(2)</script><b x=""#;
const EVIL_OWNER: &str = r#"</td><script>alert(3)</script>"#;
const EVIL_TEXT: &str = r#"</pre><script>alert(4)</script><pre>"#;

/// The tags the pages may contain; anything else came from data.
const ALLOWED: &[&str] = &[
    "html", "head", "meta", "title", "link", "script", "body", "header", "a", "img", "nav", "span",
    "main", "div", "h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td", "form", "input",
    "button", "footer", "dialog", "code", "ol", "li", "pre", "strong",
];

/// Every tag name in `html`, and checks the only script is ours.
fn check_markup(html: &str) {
    let bytes = html.as_bytes();
    let mut scripts = 0;
    for (i, _) in html.match_indices('<') {
        let rest = &html[i + 1..];
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        if rest.starts_with('!') {
            continue; // doctype
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(
            !name.is_empty() || !bytes[i + 1].is_ascii_alphabetic(),
            "odd tag at {i}"
        );
        if name.is_empty() {
            continue;
        }
        assert!(
            ALLOWED.contains(&name.as_str()),
            "unexpected <{name}> in:\n{html}"
        );
        if name == "script" && !html[i..].starts_with("</script") {
            assert!(html[i..].starts_with(r#"<script src="/static/nws.js" defer>"#));
            scripts += 1;
        }
        if name == "img" {
            assert!(
                html[i..].starts_with(r#"<img src="/static/icon.svg""#),
                "{}",
                &html[i..]
            );
        }
    }
    assert!(scripts <= 1, "{scripts} scripts");
    for needle in ["<script>alert", "<img src=x", "onerror=alert(1)>", "<b x="] {
        assert!(!html.contains(needle), "{needle:?} unescaped in:\n{html}");
    }
}

#[tokio::test]
async fn hostile_names_owners_and_values_are_escaped_on_every_page() {
    let web = Web::start().await;
    let session = web.open(EVIL_OWNER, EVIL_WS, false);
    web.store(EVIL_WS, EVIL_VAR, text(EVIL_TEXT));
    web.store(EVIL_WS, "plain", text("ok"));
    let q = |pairs: &[(&str, &str)]| format!("/?{}", nws_server::web::render::query_string(pairs));

    let pages = [
        "/".to_string(),
        q(&[("ws", EVIL_WS)]),
        q(&[("ws", EVIL_WS), ("var", EVIL_VAR)]),
        q(&[("ws", EVIL_WS), ("var", EVIL_VAR), ("fragment", "1")]),
        q(&[("ws", EVIL_VAR)]), // missing workspace, named in the page
        q(&[("ws", EVIL_WS), ("var", "gone")]), // missing variable
    ];
    for path in &pages {
        let r = web.get(path).await;
        assert!(r.status == 200 || r.status == 404, "{path}: {}", r.status);
        check_markup(&r.body);
    }
    let list = web.get("/").await.body;
    assert!(list.contains(
        "&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &#39;single&#39; &amp; amp"
    ));
    assert!(list.contains("&lt;/td&gt;&lt;script&gt;alert(3)&lt;/script&gt;"));
    let var = web.get(&pages[2]).await.body;
    assert!(var.contains("&lt;/pre&gt;&lt;script&gt;alert(4)&lt;/script&gt;&lt;pre&gt;"));
    // Attributes: hidden form fields and data-confirm carry the names escaped.
    assert!(
        var.contains(
            r#"name="var" value="&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;&lt;b x=&quot;""#
        ),
        "{var}"
    );

    // The no-script confirmation page too.
    let r = web
        .post_form_with(
            "/api/delete-variable",
            &[("ws", EVIL_WS), ("var", EVIL_VAR)],
            &[("Accept", "text/html")],
        )
        .await;
    assert_eq!(r.status, 200);
    check_markup(&r.body);
    drop(session);
    web.stop().await;
}

#[tokio::test]
async fn names_in_addresses_are_percent_encoded_and_dot_names_work() {
    let web = Web::start().await;
    let _a = web.open("o", "a&var=b", false);
    let _b = web.open("o", "..", false);
    let _c = web.open("o", "50% / ü?#", false);
    web.store("..", "x", text("dots"));
    let list = web.get("/").await.body;
    assert!(list.contains(r#"href="/?ws=a%26var%3Db""#), "{list}");
    assert!(list.contains(r#"href="/?ws=..""#), "{list}");
    assert!(
        list.contains(r#"href="/?ws=50%25%20%2F%20%C3%BC%3F%23""#),
        "{list}"
    );
    let dots = web.get("/?ws=..").await;
    assert_eq!(dots.status, 200);
    assert!(
        dots.body.contains(r#"href="/?ws=..&amp;var=x""#),
        "{}",
        dots.body
    );
    let j = web.get("/api/values?ws=..&var=x").await.json();
    assert_eq!(j["values"][0]["display"], "dots");
    let j = web
        .get("/api/variables?ws=50%25%20%2F%20%C3%BC%3F%23")
        .await
        .json();
    assert_eq!(j["workspace"]["name"], "50% / ü?#");
    web.stop().await;
}

#[tokio::test]
async fn a_hostile_translation_is_escaped() {
    let web = Web::start().await;
    let _s = web.open("o", "w", false);
    let _t = FakeTranslator::start(&web.store, "Python babelfish", |id, _, _| {
        Some(format!("{id} ok\n<script>alert(5)</script>"))
    });
    web.store("w", "x", blob("python/pickle", b"\x80\x04K\x01."));
    let page = web.get("/?ws=w&var=x").await;
    check_markup(&page.body);
    assert!(
        page.body.contains("&lt;script&gt;alert(5)&lt;/script&gt;"),
        "{}",
        page.body
    );
    web.stop().await;
}
