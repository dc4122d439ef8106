//! The status page: what a browser is let do, over HTTP, and the page itself driven in a real
//! browser (Debian's chromium through chromedriver, which `scripts/test.sh` installs when missing):
//! sign in, see a finding and its link, retry a dead job and see it leave the list.
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use fantoccini::{ClientBuilder, Locator};

use crate::admin::{admin_app, ADMIN_TOKEN};
use crate::helpers::{spawn_app, Fault, TestApp, INTRODUCED, SAMPLE_REPO};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in over HTTP; returns the `Set-Cookie` header and the cookie as a browser sends it.
pub(crate) async fn sign_in(app: &TestApp) -> (String, String) {
    let response = no_redirects()
        .post(format!("{}/login", app.address))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    (set_cookie, cookie)
}

#[tokio::test]
async fn the_page_is_off_without_a_token_and_asks_for_it_otherwise() {
    let off = spawn_app().await;
    assert_eq!(off.get("/").await.status(), 404);

    let app = admin_app().await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(
        text.contains(r#"name="token""#) && !text.contains("Dead jobs"),
        "a login form only"
    );

    let wrong = no_redirects()
        .post(format!("{}/login", app.address))
        .form(&[("token", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    let (set_cookie, cookie) = sign_in(&app).await;
    let attributes = set_cookie.to_ascii_lowercase();
    assert!(
        attributes.contains("httponly") && attributes.contains("samesite=strict"),
        "{set_cookie}"
    );
    assert!(!attributes.contains("secure"), "plain HTTP here: {set_cookie}");
    assert!(!set_cookie.contains(ADMIN_TOKEN), "the cookie is not the token");
    let page = app
        .client
        .get(format!("{}/", app.address))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.text().await.unwrap().contains("Dead jobs"));
}

#[tokio::test]
async fn a_retry_needs_the_sessions_form_token_and_this_origin() {
    let app = admin_app().await;
    app.github.fail_next("POST", Fault::Status(404));
    app.sync_event(INTRODUCED, "1", "RI-a", 1, 1_700_000_000).await;
    let job: i64 = sqlx::query_scalar("SELECT id FROM sync_jobs WHERE event_id = '1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (_, cookie) = sign_in(&app).await;
    let page = app
        .client
        .get(format!("{}/", app.address))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    let form_token = page
        .split(r#"name="form_token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token")
        .to_owned();
    let post = |cookie: Option<&str>, token: &str, origin: Option<&str>| {
        let mut request = no_redirects()
            .post(format!("{}/jobs/{job}/retry", app.address))
            .form(&[("form_token", token)]);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie.to_owned());
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin.to_owned());
        }
        request.send()
    };
    assert_eq!(
        post(None, &form_token, None).await.unwrap().status(),
        403,
        "signed out"
    );
    assert_eq!(
        post(Some(&cookie), "00ff", None).await.unwrap().status(),
        403,
        "another form"
    );
    let elsewhere = post(Some(&cookie), &form_token, Some("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 403, "another site's page");
    assert_eq!(app.job_of("1").await.0, "dead");

    let this_host = app.address.clone();
    let retried = post(Some(&cookie), &form_token, Some(&this_host)).await.unwrap();
    assert_eq!(retried.status(), 303);
    assert_eq!(retried.headers()["location"], format!("/?retried={job}"));
    assert_eq!(app.job_of("1").await.0, "pending");
}

/// chromedriver on a port of its own; killed when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> Self {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{binary}: {e}: the browser test needs chromium and chromedriver (apt-get install chromium chromium-driver; scripts/test.sh installs them)")
            });
        // It says when it listens: waited for, not slept on.
        let stdout = child.stdout.take().unwrap();
        let started = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("started successfully"));
        assert!(started, "chromedriver did not start");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn in_a_browser_sign_in_follow_a_finding_and_retry_a_dead_job() {
    let app = admin_app().await;
    app.sync_event(INTRODUCED, "1", "RI-open", 2, 1_700_000_000).await;
    app.github.fail_next("POST", Fault::Status(404));
    app.sync_event(INTRODUCED, "2", "RI-dead", 1, 1_700_000_000).await;
    let dead: i64 = sqlx::query_scalar("SELECT id FROM sync_jobs WHERE event_id = '2'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let issue = app.linked_issue("RI-open").await.unwrap();

    let driver = ChromeDriver::start();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,1400"],
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        }),
    );
    let http = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser = ClientBuilder::new(http)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session");

    browser.goto(&format!("{}/", app.address)).await.unwrap();
    browser
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(ADMIN_TOKEN)
        .await
        .unwrap();
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let summary = browser.wait().for_element(Locator::Id("summary")).await.unwrap();
    assert!(
        summary.text().await.unwrap().contains("Needs a look"),
        "a dead job is shown as such"
    );

    let link = browser
        .find(Locator::Css(r#"tr[data-finding="RI-open"] a.issue"#))
        .await
        .unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    assert!(
        href.ends_with(&format!("/{SAMPLE_REPO}/issues/{issue}")),
        "{href}"
    );

    if let Ok(path) = std::env::var("STATUS_PAGE_SCREENSHOT") {
        std::fs::write(&path, browser.screenshot().await.unwrap()).unwrap();
    }

    browser
        .find(Locator::Css(&format!(r#"tr[data-job="{dead}"] button"#)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = browser.wait().for_element(Locator::Css("p.note")).await.unwrap();
    assert_eq!(
        notice.text().await.unwrap(),
        format!("Job {dead} is pending again.")
    );
    let rows = browser
        .find_all(Locator::Css("#dead-jobs tr[data-job]"))
        .await
        .unwrap();
    assert!(rows.is_empty(), "the retried job left the list");
    assert_eq!(app.job_of("2").await.0, "pending");
    browser.close().await.unwrap();
}
