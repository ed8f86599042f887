//! The dashboard in a real browser: Chromium, driven through chromedriver, against the real
//! binary serving the demo source and stdin. The counters move, log text stays text, a meltdown
//! ends as a Critical `inventory-db` card under a MELTDOWN status, the card's Silence button
//! makes a silence the panel lists (its text as text) and expires, and the console stays free
//! of errors. Behind an ingest token, the first change asks for the token, once.
//!
//! Needs `/usr/bin/chromium` and `chromedriver` (Debian's `chromium` and `chromium-driver`,
//! which `scripts/test.sh` installs). With `IC_SCREENSHOT=PATH`, a PNG of the dashboard in
//! meltdown is saved there; `docs/dashboard.png` is made that way.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;
use url::{ParseError, Url};

mod common;
use common::server::Server;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";
const INSTALL_HINT: &str =
    "scripts/test.sh installs them (apt-get install chromium chromium-driver)";

/// Chromium's flags: headless, without the sandbox (tests run as root in containers), and
/// without any network traffic of its own, so only the dashboard's requests happen.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--window-size=1440,900",
];
const VIEWPORT: (u32, u32) = (1440, 900);

/// Starting chromedriver or the server: a second normally, more on a loaded 2-core machine.
const STARTUP: Duration = Duration::from_secs(15);
/// A live update: stats come every second, log lines four times a second.
const LIVE: Duration = Duration::from_secs(10);
/// Meltdown switched on to its Critical incident: a few windows at 500 lines/s, analyzed.
const MELTDOWN: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// Markup in a log message, which the dashboard must show as text.
const PAYLOAD: &str = "<img src=x onerror=alert(1)>";
/// Written to the console by the test itself.
const CONSOLE_PROBE: &str = "browser test: console probe";

#[tokio::test]
async fn browser_dashboard_live_safe_and_meltdown() {
    let started = Instant::now();
    let chromedriver = require_browser();
    let driver = ChromeDriver::start(&chromedriver);
    let mut server = start_server();
    let client = driver.connect().await;
    client
        .goto(&server.url("/"))
        .await
        .expect("open the dashboard");
    set_viewport(&client, VIEWPORT).await;

    counters_move(&client).await;
    log_text_stays_text(&client, &mut server).await;
    let incident = meltdown_is_reported(&client).await;
    silence_from_the_card(&client, &incident).await;
    evidence_shows_the_timeline(&client, &incident).await;
    no_console_errors(&client, &[]).await;
    if let Some(path) = std::env::var_os("IC_SCREENSHOT") {
        save_screenshot(&client, Path::new(&path)).await;
    }

    client.close().await.expect("end the browser session");
    eprintln!("browser test took {:.1?}", started.elapsed());
}

/// With an ingest token, the dashboard's controls ask for it once: a refused token is asked
/// for again, saying so, and the accepted one serves every later change from the tab.
#[tokio::test]
async fn browser_a_dashboard_behind_a_token_asks_for_it_once() {
    let chromedriver = require_browser();
    let driver = ChromeDriver::start(&chromedriver);
    let server = Server::start(
        &["--source", "demo", "--seed", "1", "--ingest-token", TOKEN],
        &[("NO_COLOR", "1")],
    );
    let client = driver.connect().await;
    client
        .goto(&server.url("/"))
        .await
        .expect("open the dashboard");
    let switch = r#"//*[@id="meltdown" and not(@disabled)]"#;
    wait_for(&client, LIVE, "the meltdown switch to be enabled", switch).await;

    // The first change is refused for want of the token: the dialog asks for it.
    execute(&client, "document.getElementById('meltdown').click()").await;
    let open = r#"//dialog[@id="token-dialog" and @open]"#;
    wait_for(&client, LIVE, "the token dialog", open).await;
    assert_eq!(
        meltdown_on(&server),
        Some(false),
        "nothing changed without the token"
    );
    // A wrong token is refused, and the dialog says so.
    submit_token(&client, "not-the-token").await;
    let refused =
        r#"//dialog[@id="token-dialog" and @open]//*[@id="token-note" and @data-refused="true"]"#;
    wait_for(
        &client,
        LIVE,
        "the dialog to say the token was refused",
        refused,
    )
    .await;
    // The right one makes the change.
    submit_token(&client, TOKEN).await;
    wait_until_meltdown_is(&server, true);
    let closed = r#"//dialog[@id="token-dialog" and not(@open)]"#;
    wait_for(&client, LIVE, "the dialog to close", closed).await;

    // The next change goes through without asking.
    execute(&client, "document.getElementById('meltdown').click()").await;
    wait_until_meltdown_is(&server, false);
    let asked = execute(
        &client,
        "return document.getElementById('token-dialog').open",
    )
    .await;
    assert_eq!(asked, json!(false), "the token was asked for again");
    // The browser logs each refused request; nothing else may be there.
    no_console_errors(&client, &["status of 401"]).await;
    client.close().await.expect("end the browser session");
}

/// The token of [`browser_a_dashboard_behind_a_token_asks_for_it_once`].
const TOKEN: &str = "s3cret-ingest-token";

/// Types `token` into the open token dialog and submits it.
async fn submit_token(client: &Client, token: &str) {
    let script = "
        document.getElementById('token-input').value = arguments[0];
        document.getElementById('token-form').requestSubmit();";
    client
        .execute(script, vec![json!(token)])
        .await
        .expect("submit the token");
}

/// Whether the demo source is in meltdown, as the server says.
fn meltdown_on(server: &Server) -> Option<bool> {
    let (status, body) = common::server::curl(&[&server.url("/api/stats")]);
    assert_eq!(status, 200, "{body}");
    common::server::json(&body)["demo"]["meltdown"].as_bool()
}

fn wait_until_meltdown_is(server: &Server, on: bool) {
    let deadline = Instant::now() + LIVE;
    while meltdown_on(server) != Some(on) {
        assert!(Instant::now() < deadline, "the meltdown did not turn {on}");
        std::thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------- the checks

/// The page starts NORMAL (the demo's normal traffic opens nothing) and counts lines live.
async fn counters_move(client: &Client) {
    wait_for(client, LIVE, "#status to read NORMAL", &status_is("NORMAL")).await;
    wait_for(
        client,
        LIVE,
        "#connection to say the event stream is live",
        r#"//*[@id="connection" and @data-state="live"]"#,
    )
    .await;
    let first = wait_for(
        client,
        LIVE,
        "a first count in #logs-processed",
        r#"//*[@id="logs-processed" and normalize-space() != "0"]"#,
    )
    .await;
    let first = text(&first).await;
    let xpath = format!(r#"//*[@id="logs-processed" and normalize-space() != "{first}"]"#);
    let second = wait_for(client, LIVE, "#logs-processed to change", &xpath).await;
    let second = text(&second).await;
    assert!(
        count(&second) > count(&first),
        "#logs-processed went from {first:?} to {second:?}, it should grow"
    );
}

/// A log line carrying markup appears in the stream as the very text it holds: no element is
/// created from it, no handler runs.
async fn log_text_stays_text(client: &Client, server: &mut Server) {
    // A real alert() would block every later WebDriver command with a vague error; recording
    // calls lets the test say what ran.
    execute(
        client,
        "window.__xss = []; window.alert = (m) => window.__xss.push(String(m));",
    )
    .await;
    let message = format!("hello {PAYLOAD} world");
    server.send_line(&json!({"level": "error", "service": "attacker", "msg": message}));

    let row = wait_for(
        client,
        LIVE,
        "the line with markup in #log-stream",
        &format!(
            r#"//*[@id="log-stream"]/*[{}][contains(., "{PAYLOAD}")]"#,
            has_class("log-line")
        ),
    )
    .await;
    let shown = row
        .find(Locator::Css(".log-message"))
        .await
        .expect("a .log-message in the row");
    assert_eq!(text(&shown).await, message, "the message is shown verbatim");

    // A bidirectional override cannot reorder what the page shows.
    server.send_line(
        &json!({"level": "error", "service": "admin\u{202e}gnp.exe", "msg": "bidi probe"}),
    );
    let probe = wait_for(
        client,
        LIVE,
        "the bidi probe in #log-stream",
        &format!(
            r#"//*[@id="log-stream"]/*[{}][contains(., "bidi probe")]"#,
            has_class("log-line")
        ),
    )
    .await;
    let service = probe
        .find(Locator::Css(".log-service"))
        .await
        .expect("a .log-service in the row");
    assert_eq!(text(&service).await, "admin\u{fffd}gnp.exe");
    assert_eq!(
        row.attr("data-level").await.unwrap().as_deref(),
        Some("ERROR"),
        "the row's data-level"
    );

    // The page's own markup holds no image, so any <img> came from log text.
    let images = client.find_all(Locator::Css("img")).await.unwrap();
    assert!(images.is_empty(), "{} <img> in the page", images.len());
    let handlers = execute(
        client,
        "return document.querySelectorAll('[onerror]').length",
    )
    .await;
    assert_eq!(handlers, json!(0), "elements with an onerror attribute");
    let fired = execute(client, "return window.__xss").await;
    assert_eq!(fired, json!([]), "alert() calls from log text");
}

/// The meltdown switch turns the demo's storm on; it ends as a Critical incident whose root
/// cause is `inventory-db`, and the status says MELTDOWN. Returns the card's incident id.
async fn meltdown_is_reported(client: &Client) -> String {
    let switch = wait_for(
        client,
        LIVE,
        "#meltdown to be enabled",
        r#"//input[@id="meltdown" and not(@disabled)]"#,
    )
    .await;
    switch.click().await.expect("click #meltdown");

    let card_xpath = format!(
        r#"//*[@id="incidents"]/*[{}][@data-severity="Critical"][contains(., "inventory-db")]"#,
        has_class("incident-card")
    );
    let card = wait_for(
        client,
        MELTDOWN,
        "a Critical incident card naming inventory-db",
        &card_xpath,
    )
    .await;
    wait_for(
        client,
        LIVE,
        "#status to read MELTDOWN",
        &status_is("MELTDOWN"),
    )
    .await;

    let id = card.attr("data-id").await.unwrap().unwrap_or_default();
    assert!(!id.is_empty(), "the card has no data-id");
    let shown = card_contents(client, &id).await;
    assert_eq!(shown["status"], "open", "the card: {shown:#}");
    let root_cause = shown["parts"][".root-cause"].as_str().unwrap_or_default();
    assert!(
        root_cause.contains("inventory-db"),
        "the root cause should name inventory-db: {shown:#}"
    );
    for (part, text) in shown["parts"].as_object().unwrap() {
        assert!(
            text.as_str().is_some_and(|t| !t.is_empty()),
            "the card's {part} is missing or empty: {shown:#}"
        );
    }
    let open = text(&client.find(Locator::Id("open-incidents")).await.unwrap()).await;
    assert!(count(&open) >= 1, "#open-incidents reads {open:?}");
    // Normal traffic is about 10 lines/s, the storm about 500.
    wait_for(
        client,
        LIVE,
        "#lines-per-second to show the storm",
        r#"//*[@id="lines-per-second" and number(translate(normalize-space(), ",", "")) >= 100]"#,
    )
    .await;
    id
}

/// The card's Silence button opens a form prefilled from the incident; the silence it makes
/// is listed in the panel with its hostile comment as text, the card says it is silenced and
/// until when, and the panel's Expire button ends it.
async fn silence_from_the_card(client: &Client, id: &str) {
    // One script: the card is rebuilt several times a second in a storm (its form is kept).
    let script = "
        const card = [...document.querySelectorAll('#incidents .incident-card')]
            .find((card) => card.dataset.id === arguments[0]);
        card.querySelector('[data-action=silence]').click();
        const form = card.querySelector('.silence-form');
        const matchers = [...form.querySelectorAll('input[data-matcher]')]
            .map((box) => [box.dataset.matcher, box.value, box.checked]);
        form.querySelector('[name=author]').value = 'ana';
        form.querySelector('[name=comment]').value = arguments[1];
        form.querySelector('[name=duration]').value = '60';
        form.requestSubmit();
        return matchers;";
    let comment = format!("pool resize {PAYLOAD} \u{202e}txt");
    let matchers = client
        .execute(script, vec![json!(id), json!(comment)])
        .await
        .expect("fill the Silence form");
    assert_eq!(
        matchers[0],
        json!(["service", "inventory-db", true]),
        "the form is prefilled with the root-cause service"
    );
    let item_xpath = r#"//*[@id="silences"]/li[@data-state="active"]"#;
    let item = wait_for(client, LIVE, "an active silence in the panel", item_xpath).await;
    let meta = item
        .find(Locator::Css(".silence-meta"))
        .await
        .expect("the silence's meta line");
    let shown = text(&meta).await;
    assert!(
        shown.contains(&format!("by ana: pool resize {PAYLOAD} \u{fffd}txt")),
        "the comment is shown as text, its bidi control neutralized: {shown:?}"
    );
    let matchers = text(&item.find(Locator::Css(".silence-matchers")).await.unwrap()).await;
    assert_eq!(matchers, r#"service="inventory-db""#);
    let chip = format!(
        r#"//*[@id="incidents"]/*[@data-id="{id}"]//*[@data-kind="silenced"][starts-with(., "silenced until")]"#
    );
    wait_for(client, LIVE, "the card's silenced chip", &chip).await;
    let fired = execute(
        client,
        "return [window.__xss, document.querySelectorAll('img').length]",
    )
    .await;
    assert_eq!(
        fired,
        json!([[], 0]),
        "markup in the comment ran or rendered"
    );

    item.find(Locator::Css("button.expire"))
        .await
        .expect("an Expire button")
        .click()
        .await
        .expect("click Expire");
    wait_for(
        client,
        LIVE,
        "the silence to read expired",
        r#"//*[@id="silences"]/li[@data-state="expired"]"#,
    )
    .await;
    let gone =
        format!(r#"//*[@id="incidents"]/*[@data-id="{id}"][not(.//*[@data-kind="silenced"])]"#);
    wait_for(client, LIVE, "the card without its silenced chip", &gone).await;
}

/// The card's evidence opens on its incident's timeline, which begins with the opening.
async fn evidence_shows_the_timeline(client: &Client, id: &str) {
    let script = "
        const card = [...document.querySelectorAll('#incidents .incident-card')]
            .find((card) => card.dataset.id === arguments[0]);
        card.querySelector('[data-action=toggle-evidence]').click();";
    client
        .execute(script, vec![json!(id)])
        .await
        .expect("open the evidence");
    let opened = format!(
        r#"//*[@id="incidents"]/*[@data-id="{id}"]//*[{}]/li[1][@data-event="opened"]"#,
        has_class("timeline")
    );
    wait_for(client, LIVE, "the timeline in the evidence", &opened).await;
}

/// The browser's console holds no error: no failed request, no CSP violation, no exception;
/// none but those whose message holds one of `expected`.
async fn no_console_errors(client: &Client, expected: &[&str]) {
    // A line the page did not write: seeing it proves the log is read at all.
    execute(client, &format!("console.info('{CONSOLE_PROBE}')")).await;
    let entries = client
        .issue_cmd(BrowserLog)
        .await
        .expect("read the browser log");
    let entries = entries.as_array().cloned().unwrap_or_default();
    for entry in &entries {
        eprintln!("console: {entry}");
    }
    assert!(
        entries.iter().any(|entry| entry["message"]
            .as_str()
            .is_some_and(|m| m.contains(CONSOLE_PROBE))),
        "the browser log lacks the probe line, so it cannot show errors either"
    );
    let severe: Vec<&Value> = entries
        .iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .filter(|entry| {
            let message = entry["message"].as_str().unwrap_or_default();
            !expected.iter().any(|e| message.contains(e))
        })
        .collect();
    assert!(
        severe.is_empty(),
        "the console holds errors:\n{}",
        severe
            .iter()
            .map(|entry| entry["message"].to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A picture for the docs: first lets the storm run for about ten seconds, so the chart shows
/// it as a plateau rather than a single spike at its right edge.
async fn save_screenshot(client: &Client, path: &Path) {
    wait_for(
        client,
        Duration::from_secs(30),
        "#logs-processed to pass 5,000",
        r#"//*[@id="logs-processed" and number(translate(normalize-space(), ",", "")) >= 5000]"#,
    )
    .await;
    let png = client.screenshot().await.expect("take a screenshot");
    assert_eq!(png_size(&png), Some(VIEWPORT), "the screenshot's size");
    std::fs::write(path, &png).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
    eprintln!("screenshot saved to {}", path.display());
}

// ---------------------------------------------------------------- page helpers

/// Waits until `xpath` matches, or fails saying what it waited for and what the page showed.
async fn wait_for(client: &Client, within: Duration, what: &str, xpath: &str) -> Element {
    match client
        .wait()
        .at_most(within)
        .every(POLL)
        .for_element(Locator::XPath(xpath))
        .await
    {
        Ok(element) => element,
        Err(err) => panic!(
            "waited {within:?} for {what}: {err}\nthe page: {}",
            page_summary(client).await
        ),
    }
}

/// Headless Chromium takes `--window-size` as the window's outer size, and leaves the page
/// less than that: grow the window by the difference so the page gets exactly `size`.
async fn set_viewport(client: &Client, (width, height): (u32, u32)) {
    let frame = execute(
        client,
        "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]",
    )
    .await;
    let extra = |i: usize| u32::try_from(frame[i].as_u64().unwrap_or(0)).unwrap_or(0);
    client
        .set_window_size(width + extra(0), height + extra(1))
        .await
        .expect("resize the window");
    let inner = execute(client, "return [window.innerWidth, window.innerHeight]").await;
    assert_eq!(inner, json!([width, height]), "the page's viewport");
}

/// What a failing wait reports: the status, counters and incident cards as shown.
async fn page_summary(client: &Client) -> Value {
    let script = "
        const text = (id) => document.getElementById(id)?.textContent.trim();
        return {
            status: text('status'),
            connection: text('connection'),
            logs_processed: text('logs-processed'),
            open_incidents: text('open-incidents'),
            cards: [...document.querySelectorAll('.incident-card')].map((card) =>
                `${card.dataset.severity} ${card.dataset.status}: ${card.innerText}`),
        };";
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|err| json!(format!("unreadable: {err}")))
}

/// A card's status and the text of its parts, read in one script: the page rebuilds a card's
/// content on every update (several a second in a storm), so elements found one by one would
/// go stale between two WebDriver calls.
async fn card_contents(client: &Client, id: &str) -> Value {
    let script = "
        const card = [...document.querySelectorAll('#incidents .incident-card')]
            .find((card) => card.dataset.id === arguments[0]);
        if (!card) return null;
        const parts = {};
        for (const part of arguments[1]) {
            parts[part] = card.querySelector(part)?.textContent.trim() ?? null;
        }
        return { status: card.dataset.status, parts };";
    let parts = [
        ".title",
        ".root-cause",
        ".impacted",
        ".summary",
        ".noise",
        ".counts",
        ".status",
    ];
    client
        .execute(script, vec![json!(id), json!(parts)])
        .await
        .unwrap_or_else(|err| panic!("read card {id}: {err}"))
}

async fn execute(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|err| panic!("run {script:?}: {err}"))
}

async fn text(element: &Element) -> String {
    element.text().await.expect("read an element's text")
}

/// The status badge showing `word`, in its text and (in any case) its `data-status`.
fn status_is(word: &str) -> String {
    let lower = word.to_lowercase();
    format!(
        r#"//*[@id="status" and normalize-space()="{word}"
            and translate(@data-status, "{lower}", "{word}")="{word}"]"#
    )
}

/// An XPath test for one class among an element's classes.
fn has_class(class: &str) -> String {
    format!("contains(concat(' ', normalize-space(@class), ' '), ' {class} ')")
}

/// A counter as the page formats it: `12,345`.
fn count(shown: &str) -> u64 {
    shown
        .replace(',', "")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{shown:?} is not a count"))
}

/// Width and height from a PNG's header.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" {
        return None;
    }
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    Some((be(16), be(20)))
}

/// ChromeDriver's log endpoint (not in the W3C protocol, so not in fantoccini): the console
/// entries since the last read.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &Url, session_id: Option<&str>) -> Result<Url, ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &Url) -> (Method, Option<String>) {
        (Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

// ---------------------------------------------------------------- processes

/// Fails, rather than skips, when the browser is missing: a skipped test looks like a pass.
fn require_browser() -> PathBuf {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is not installed; {INSTALL_HINT}"
    );
    on_path(CHROMEDRIVER).unwrap_or_else(|| panic!("{CHROMEDRIVER} is not on PATH; {INSTALL_HINT}"))
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// A port nobody listens on: bound by the system, then released for the child to take.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// Copies a child's output into the test's own (shown when the test fails) on a thread, so the
/// pipe never fills.
fn drain(name: &'static str, output: impl Read + Send + 'static) {
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            eprintln!("{name}: {line}");
        }
    });
}

/// A child process that is killed when the test ends, passed or panicked.
struct Process {
    child: Child,
    /// Kill the child's whole process group: chromedriver's browsers are in it.
    group: bool,
}

impl Process {
    fn spawn(command: &mut Command, group: bool) -> Self {
        if group {
            command.process_group(0);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("start {:?}: {err}", command.get_program()));
        Self { child, group }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.group {
            // The group's id is the leader's pid; a negative pid names the group.
            let group = -i32::try_from(self.child.id()).expect("a pid fits in i32");
            // SAFETY: kill(2) only sends a signal; the group is ours, made at spawn.
            unsafe { libc::kill(group, libc::SIGKILL) };
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// chromedriver on a free port, with a fresh browser profile.
struct ChromeDriver {
    process: Process,
    port: u16,
    // Dropped after the process (fields drop after `drop`), so Chromium is gone first.
    profile: TempDir,
}

impl ChromeDriver {
    fn start(program: &Path) -> Self {
        let port = free_port();
        let mut process = Process::spawn(
            Command::new(program)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            true,
        );
        drain("chromedriver", process.child.stdout.take().unwrap());
        drain("chromedriver", process.child.stderr.take().unwrap());
        let mut driver = Self {
            process,
            port,
            profile: tempfile::tempdir().expect("a temporary browser profile"),
        };
        driver.wait_until_listening();
        driver
    }

    /// chromedriver says nothing machine-readable when it is ready: try to connect until it
    /// accepts, or it dies, or time is up.
    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.process.exited() {
                panic!(
                    "chromedriver exited ({status}) before listening on {}",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {} within {STARTUP:?}",
                self.port
            );
            std::thread::sleep(POLL);
        }
    }

    async fn connect(&self) -> Client {
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities(self.profile.path()));
        builder
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|err| panic!("start Chromium through chromedriver: {err}"))
    }
}

fn capabilities(profile: &Path) -> Capabilities {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(ToString::to_string).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        // Keeps the console for `no_console_errors`.
        "goog:loggingPrefs": {"browser": "ALL"},
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object"),
    }
}

/// `incident-commander serve` on a free port, with the demo source, stdin, and its own database.
fn start_server() -> Server {
    let sources = ["--source", "demo", "--source", "stdin", "--seed", "1"];
    Server::start(&sources, &[("NO_COLOR", "1")])
}
