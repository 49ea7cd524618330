//! `cs-cmdb report`, tested in a real browser: Debian's `chromium`, headless (./scripts/test
//! installs it when missing; the test FAILS without it). The page of the bundled example and of
//! a generated 1,000-deployment tree (with an Organization snapshot) is opened, its DOM read back
//! after its script ran (`--dump-dom`), and its figures compared with what `cs-cmdb query`
//! answers; sorting and filtering are driven through the page's address; every browser run goes
//! through a recording proxy that must see no request from the page (Chromium's own calls, learnt
//! from an empty page in the same test, are told apart). Screenshots at 1280x800 and 390x844
//! are written under the target directory's test tmp dir (`report/`).

use std::collections::BTreeSet;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use regex::Regex;
use serde_json::Value;

use crate::support::{cs_cmdb, query_json as query, stderr_of, stdout_of};

// The clock of the bundled example and of generated trees.
use crate::support::tree::GENERATED_AT as NOW;

fn chromium() -> PathBuf {
    let path = PathBuf::from(
        std::env::var_os("CS_CMDB_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()),
    );
    assert!(
        path.is_file(),
        "chromium not found at {} (set CS_CMDB_CHROMIUM): run ./scripts/test, which installs Debian's chromium",
        path.display()
    );
    path
}

/// A loopback proxy that records the host of every request made through it (and answers none).
struct Recorder {
    port: u16,
    hosts: Arc<Mutex<BTreeSet<String>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hosts = Arc::new(Mutex::new(BTreeSet::new()));
        let seen = hosts.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0u8; 2048];
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    // A connection opened ahead of time and closed unused (Chromium preconnects
                    // to its proxy): no request was made through it.
                    continue;
                }
                // `CONNECT host:443 HTTP/1.1` or `GET http://host/path HTTP/1.1`.
                let line = String::from_utf8_lossy(&buf[..n]);
                let target = line.split_whitespace().nth(1).unwrap_or("?").to_string();
                let host = target
                    .trim_start_matches("http://")
                    .split(['/', ':'])
                    .next()
                    .unwrap_or("?")
                    .to_string();
                seen.lock().unwrap().insert(host);
            }
        });
        Self { port, hosts }
    }

    fn hosts(&self) -> BTreeSet<String> {
        self.hosts.lock().unwrap().clone()
    }
}

/// Hosts Chromium's background services call on their own schedule, whatever the page (so an
/// empty page's run may miss them): sign-in, component and update checks. No page resource
/// (fonts, scripts, images) is served from these.
const CHROMIUM_SERVICES: &[&str] = &[
    "accounts.google.com",
    "android.clients.google.com",
    "clients2.google.com",
    "clientservices.googleapis.com",
    "update.googleapis.com",
    "redirector.gvt1.com",
    "safebrowsingohttpgateway.googleapis.com",
];

/// The hosts Chromium itself calls (sign-in, connectivity checks) whatever the page: learnt from
/// an empty page, plus [`CHROMIUM_SERVICES`], so the report's test can tell its own requests
/// (there must be none) from them.
fn browser_noise(home: &Path) -> BTreeSet<String> {
    let empty = home.join("empty.html");
    std::fs::write(
        &empty,
        "<!DOCTYPE html><html lang=\"en\"><title>empty</title></html>",
    )
    .unwrap();
    let proxy = Recorder::start();
    browse(
        &proxy,
        &home.join("empty.profile"),
        &format!("file://{}", empty.display()),
        &["--dump-dom"],
    );
    let mut hosts = proxy.hosts();
    hosts.extend(CHROMIUM_SERVICES.iter().map(|h| h.to_string()));
    hosts
}

/// Run headless chromium on `url` with `extra` arguments, every request through `proxy`.
fn browse(proxy: &Recorder, profile: &Path, url: &str, extra: &[&str]) -> String {
    let out = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--no-pings",
            "--disable-client-side-phishing-detection",
            "--disable-features=Translate,OptimizationHints,MediaRouter,NetworkTimeServiceQuerying,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
            "--metrics-recording-only",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{}", proxy.port))
        .arg("--proxy-bypass-list=<-loopback>")
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn report(home: &Path, source: &Path, out: &str, extra: &[&str]) -> String {
    report_at(home, source, out, extra, NOW)
}

fn report_at(home: &Path, source: &Path, out: &str, extra: &[&str], now: &str) -> String {
    let run = cs_cmdb(home)
        .env("CS_CMDB_NOW", now)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["report", "--out", out, "--cache-dir", "cache", "--source"])
        .arg(source)
        .args(extra)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr_of(&run));
    stderr_of(&run)
}

/// The figure `key` of the headline, as the browser rendered it.
fn figure(dom: &str, key: &str) -> i64 {
    let re = Regex::new(&format!(
        r#"data-figure="{key}"><div class="value">(\d+)</div>"#
    ))
    .unwrap();
    re.captures(dom)
        .unwrap_or_else(|| panic!("no figure {key}"))[1]
        .parse()
        .unwrap()
}

/// The deployments table's rows: (hidden, cells' text).
fn rows(dom: &str) -> Vec<(bool, Vec<String>)> {
    let row = Regex::new(r#"<tr data-text="[^"]*"( hidden="")?>(.*?)</tr>"#).unwrap();
    let cell = Regex::new(r"<td[^>]*>(?:<a [^>]*>)?(.*?)(?:</a>)?</td>").unwrap();
    row.captures_iter(dom)
        .map(|r| {
            (
                r.get(1).is_some(),
                cell.captures_iter(&r[2])
                    .map(|c| c[1].to_string())
                    .collect(),
            )
        })
        .collect()
}

/// The index of a column of the deployments table.
fn header(dom: &str, name: &str) -> usize {
    let heads: Vec<String> = Regex::new(r#"<th scope="col" data-name="([a-z_]+)""#)
        .unwrap()
        .captures_iter(dom)
        .map(|c| c[1].to_string())
        .collect();
    heads
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {heads:?}"))
}

fn sum(rows: &[Value], key: &str) -> i64 {
    rows.iter().map(|r| r[key].as_i64().unwrap_or(0)).sum()
}

/// Check the page `file` of `source` against the queries, in the browser.
fn check_page(home: &Path, source: &Path, file: &str, with_org: bool, proxy: &Recorder) {
    let url = format!("file://{}", home.join(file).display());
    let profile = home.join(format!("{file}.profile"));
    let dom = browse(proxy, &profile, &url, &["--dump-dom"]);
    assert!(dom.contains(r#"data-ready="1""#), "the page's script ran");

    let deployments = query(home, source, &["deployments-by-ou"]);
    let stale = query(home, source, &["stale"]);
    assert_eq!(figure(&dom, "deployments"), deployments.len() as i64);
    assert_eq!(figure(&dom, "running"), sum(&deployments, "running"));
    assert!(dom.contains(&format!(
        "instances running, of {} managed",
        sum(&deployments, "instances")
    )));
    assert_eq!(figure(&dom, "stale"), stale.len() as i64);
    if with_org {
        let coverage = query(home, source, &["coverage"]);
        assert_eq!(figure(&dom, "accounts"), sum(&coverage, "with_deployment"));
        assert!(dom.contains(&format!("of {} active", sum(&coverage, "accounts"))));
    }
    let versions = query(home, source, &["versions"]);
    for v in &versions {
        // The DOM serializer leaves quotes of text nodes as they are.
        let label = v["version"].as_str().unwrap();
        assert!(
            dom.contains(&format!("{label}: {}", v["deployments"])),
            "the versions chart describes {label}"
        );
    }

    // Every deployment is a row, in the query's order.
    let table = rows(&dom);
    assert_eq!(table.len(), deployments.len());
    assert!(table.iter().all(|(hidden, _)| !hidden));
    let account = header(&dom, "account_id");
    let group = header(&dom, "group_name");
    for (row, d) in table.iter().zip(&deployments) {
        assert_eq!(row.1[account], d["account_id"].as_str().unwrap());
        assert_eq!(row.1[group], d["group_name"].as_str().unwrap());
    }

    // Sorting: by age, oldest first (unknown ages last).
    let sorted = rows(&browse(
        proxy,
        &profile,
        &format!("{url}#sort=age_hours:desc"),
        &["--dump-dom"],
    ));
    let age = header(&dom, "age_hours");
    let ages: Vec<i64> = sorted
        .iter()
        .filter_map(|(_, cells)| cells[age].parse().ok())
        .collect();
    let mut expected = ages.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(ages, expected, "sorted by age, descending");
    let oldest = deployments
        .iter()
        .filter_map(|d| d["age_hours"].as_i64())
        .max()
        .unwrap();
    assert_eq!(ages[0], oldest);

    // Search: one group's rows stay.
    let name = deployments[0]["group_name"].as_str().unwrap();
    let filtered = browse(proxy, &profile, &format!("{url}#q={name}"), &["--dump-dom"]);
    let shown = rows(&filtered)
        .into_iter()
        .filter(|(hidden, _)| !hidden)
        .count();
    let expected = deployments
        .iter()
        .filter(|d| {
            d.as_object()
                .unwrap()
                .values()
                .any(|v| v.as_str().is_some_and(|s| s.to_lowercase().contains(name)))
        })
        .count();
    assert_eq!(shown, expected);
    assert!(filtered.contains(&format!(
        r#"<span id="shown">{expected} of {}</span>"#,
        deployments.len()
    )));

    // Screenshots, for people to look at.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&shots).unwrap();
    for (w, h) in [(1280, 800), (390, 844)] {
        let png = shots.join(format!("{}-{w}x{h}.png", file.trim_end_matches(".html")));
        browse(
            proxy,
            &profile,
            &url,
            &[
                &format!("--window-size={w},{h}"),
                &format!("--screenshot={}", png.display()),
            ],
        );
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", png.display());
        assert!(bytes.len() > 10_000, "{} shows something", png.display());
    }
    let noise = browser_noise(home);
    let requested: BTreeSet<String> = proxy.hosts().difference(&noise).cloned().collect();
    assert!(
        requested.is_empty(),
        "the page made network requests to {requested:?} (Chromium's own: {noise:?})"
    );
    // And it names nothing to fetch: no URL but the SVG namespace, a CSP that allows none.
    let page = std::fs::read_to_string(home.join(file)).unwrap();
    let urls = Regex::new(r"(https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}").unwrap();
    let named: Vec<&str> = urls
        .find_iter(&page)
        .map(|m| m.as_str())
        .filter(|u| *u != "http://www.w3.org")
        .collect();
    assert!(named.is_empty(), "the page names {named:?}");
    assert!(page.contains("content=\"default-src 'none';"));
}

/// A copy of `from` at `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_bundled_example_reports_what_the_queries_answer_in_a_real_browser() {
    let home = tempfile::tempdir().unwrap();
    // A copy named `examples`, so the page (and its screenshot, the README's) names it so.
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &home.path().join("examples"),
    );
    let example = PathBuf::from("examples");
    let err = report(
        home.path(),
        &example,
        "example.html",
        &["--policy", "examples/policy.toml"],
    );
    assert!(err.contains("wrote example.html"), "{err}");
    let page = std::fs::read_to_string(home.path().join("example.html")).unwrap();
    assert!(page.contains("No Organization snapshot: OU context is omitted"));
    assert!(page.contains("id=\"violations\""));
    let proxy = Recorder::start();
    check_page(home.path(), &example, "example.html", false, &proxy);
}

/// Accounts of a generated tree spread over three OUs, as a snapshot.
fn snapshot_of(tree: &Path, cache: &Path) {
    use cs_cmdb::org::accounts::Account;
    use cs_cmdb::org::snapshot::{OrgAccount, Snapshot, SnapshotInfo, Unit, local_dir};
    let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
        .and_then(|d| d.and_hms_opt(8, 0, 0))
        .unwrap();
    let ous = [
        ("ou-gen1-11111111", "Prod", "Root/Workloads/Prod"),
        ("ou-gen1-22222222", "Dev", "Root/Workloads/Dev"),
        ("ou-gen1-33333333", "Sandbox", "Root/Sandbox"),
    ];
    let mut units = vec![
        Unit {
            id: "r-gen1".into(),
            name: "Root".into(),
            path: "Root".into(),
            parent_id: None,
            depth: 0,
        },
        Unit {
            id: "ou-gen1-00000000".into(),
            name: "Workloads".into(),
            path: "Root/Workloads".into(),
            parent_id: Some("r-gen1".into()),
            depth: 1,
        },
    ];
    units.extend(ous.iter().map(|(id, name, path)| Unit {
        id: id.to_string(),
        name: name.to_string(),
        path: path.to_string(),
        parent_id: Some(if path.starts_with("Root/Workloads") {
            "ou-gen1-00000000".into()
        } else {
            "r-gen1".into()
        }),
        depth: path.matches('/').count() as u32,
    }));
    let mut ids: Vec<String> = std::fs::read_dir(tree.join("metadata/discovery"))
        .unwrap()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_start_matches("accountid=")
                .to_string()
        })
        .collect();
    ids.sort();
    // And ten accounts without CloneSquad.
    ids.extend((0..10).map(|i| format!("9999999999{i:02}")));
    let accounts = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (ou, _, path) = ous[i % ous.len()];
            OrgAccount {
                account: Account {
                    id: id.clone(),
                    name: format!("acct-{i}"),
                    email: format!("acct-{i}@example.com"),
                    status: "ACTIVE".into(),
                    joined_method: Some("CREATED".into()),
                    joined_at: Some(at),
                },
                ou_id: ou.into(),
                ou_path: path.into(),
                tags: [("Owner".to_string(), format!("team-{}", i % 4))].into(),
            }
        })
        .collect::<Vec<_>>();
    Snapshot {
        info: SnapshotInfo {
            organization_id: "o-generated".into(),
            management_account: ids[0].clone(),
            taken_at: at,
            accounts: accounts.len(),
            units: units.len(),
        },
        units,
        accounts,
    }
    .write(&local_dir(cache))
    .unwrap();
}

#[test]
fn a_thousand_deployments_with_their_organization_in_a_real_browser() {
    let home = tempfile::tempdir().unwrap();
    let tree = home.path().join("tree");
    cs_cmdb::sample::generate(
        &tree,
        &cs_cmdb::sample::SampleSpec {
            deployments: 1000,
            instances: 4,
            seed: 3,
            now: chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
                .and_then(|d| d.and_hms_opt(9, 0, 0))
                .unwrap(),
        },
    )
    .unwrap();
    snapshot_of(&tree, &home.path().join("cache"));
    // Twice, a day apart: the second run's page charts both days.
    report_at(
        home.path(),
        &tree,
        "fleet.html",
        &[],
        "2026-11-25T09:00:00Z",
    );
    report(home.path(), &tree, "fleet.html", &[]);
    let page = std::fs::read_to_string(home.path().join("fleet.html")).unwrap();
    assert!(!page.contains("No Organization snapshot"));
    assert!(page.contains("Organization o-generated as of 2026-11-26 08:00 UTC (1h 0m old)"));
    assert!(page.contains(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 640 220" width="100%" role="img" aria-labelledby="trend-chart-t trend-chart-d">"#));
    assert!(
        page.contains("deployments: 1000, 1000"),
        "the trend has both runs (one point a day, the day's last run)"
    );
    let history = std::fs::read_dir(home.path().join("cache/history"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    assert_eq!(std::fs::read_to_string(history).unwrap().lines().count(), 2);
    let proxy = Recorder::start();
    check_page(home.path(), &tree, "fleet.html", true, &proxy);
}

/// WCAG relative luminance of `#rrggbb`.
fn luminance(hex: &str) -> f64 {
    let channel = |i: usize| {
        let c = u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
}

fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn the_page_is_accessible_in_light_and_dark() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    report(home.path(), &example, "a11y.html", &[]);
    let page = std::fs::read_to_string(home.path().join("a11y.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    // Table headers carry their scope; charts their text alternative; inputs a label.
    let headers = Regex::new(r"<th[ >]").unwrap().find_iter(&page).count();
    assert!(headers > 10);
    assert_eq!(headers, page.matches("<th scope=\"col\"").count());
    let svgs = page.matches("<svg").count();
    assert!(svgs >= 4);
    assert_eq!(page.matches("role=\"img\" aria-labelledby=").count(), svgs);
    assert_eq!(page.matches("<title id=").count(), svgs);
    assert_eq!(page.matches("<desc id=").count(), svgs);
    assert!(page.contains("<label>Search <input id=\"search\""));
    // Contrast of every text colour on its background, in both themes (WCAG AA: 4.5:1).
    let var = |block: &str, name: &str| -> String {
        Regex::new(&format!(r"--{name}: (#[0-9a-f]{{6}})"))
            .unwrap()
            .captures(block)
            .unwrap_or_else(|| panic!("no --{name}"))[1]
            .to_string()
    };
    let light = page
        .split("@media (prefers-color-scheme: dark)")
        .next()
        .unwrap();
    let dark = page
        .split("@media (prefers-color-scheme: dark)")
        .nth(1)
        .unwrap();
    for (theme, block) in [("light", light), ("dark", dark)] {
        for bg in ["bg", "panel"] {
            for fg in ["fg", "muted", "accent", "bad", "warn", "ok"] {
                let ratio = contrast(&var(block, fg), &var(block, bg));
                assert!(
                    ratio >= 4.5,
                    "{theme}: --{fg} on --{bg} has contrast {ratio:.2}"
                );
            }
        }
        // The heat map's cells carry white numbers.
        for h in ["h0", "h1", "h2", "h3", "h4"] {
            let ratio = contrast("#ffffff", &var(block, h));
            assert!(
                ratio >= 4.5,
                "{theme}: white on --{h} has contrast {ratio:.2}"
            );
        }
    }
}

/// The page names its queries, and they are the canned ones: what the page shows is what
/// `cs-cmdb query` answers (checked figure by figure in the browser tests above).
#[test]
fn the_page_names_the_canned_queries_it_is_made_of() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    report(home.path(), &example, "q.html", &["--no-history"]);
    let page = std::fs::read_to_string(home.path().join("q.html")).unwrap();
    let list = cs_cmdb(home.path())
        .args(["query", "--list", "--format", "json"])
        .output()
        .unwrap();
    let canned: Vec<Value> = serde_json::from_str(&stdout_of(&list)).unwrap();
    for name in Regex::new(r#"data-query="([a-z-]+)""#)
        .unwrap()
        .captures_iter(&page)
        .map(|c| c[1].to_string())
        .filter(|n| n != "backups")
    {
        assert!(
            canned.iter().any(|q| q["name"] == name),
            "{name} is not a canned query"
        );
    }
    assert!(page.contains("No history yet") || !page.contains("id=\"trend-chart"));
    assert!(
        !home.path().join("cache/history").exists(),
        "--no-history writes nothing"
    );
}

#[test]
fn check_runs_join_the_trend_the_report_charts() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for now in ["2026-11-24T09:00:00Z", "2026-11-25T09:00:00Z"] {
        let check = cs_cmdb(home.path())
            .env("CS_CMDB_NOW", now)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["check", "--cache-dir", "cache", "--policy"])
            .arg(example.join("policy.toml"))
            .arg("--source")
            .arg(&example)
            .output()
            .unwrap();
        assert_eq!(check.status.code(), Some(1), "{}", stderr_of(&check));
    }
    report(home.path(), &example, "trend.html", &[]);
    let page = std::fs::read_to_string(home.path().join("trend.html")).unwrap();
    // Three days: two check runs (violations, no stale count) and this report (no policy).
    assert!(page.contains("deployments: 9, 9, 9"), "{page}");
    assert!(page.contains("stale exports: no value, no value, 3"));
    let violations = Regex::new(r"violations: (\d+), (\d+), no value")
        .unwrap()
        .captures(&page)
        .expect("violations per day");
    assert!(violations[1].parse::<u32>().unwrap() > 0);
}

/// The report runs many queries over the same tables on one engine: each table is brought up to
/// date once, so a malformed line is reported once, not once per query that reads its table.
#[test]
fn a_malformed_line_is_reported_once_per_report() {
    let home = tempfile::tempdir().unwrap();
    let tree = home.path().join("tree");
    crate::support::tree::generate(&tree, 4, 2, 7);
    let discovery = std::fs::read_dir(tree.join("metadata/discovery"))
        .unwrap()
        .flat_map(|a| walk_files(&a.unwrap().path()))
        .next()
        .unwrap();
    let mut text = std::fs::read_to_string(&discovery).unwrap();
    text.push_str("\n{\"broken\": \n");
    std::fs::write(&discovery, text).unwrap();
    let stderr = report(home.path(), &tree, "fleet.html", &[]);
    assert_eq!(
        stderr
            .matches("WARN clonesquad_discovery: 1 file(s) with 1 malformed line(s)")
            .count(),
        1,
        "{stderr}"
    );
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    if dir.is_file() {
        return vec![dir.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|e| walk_files(&e.unwrap().path()))
        .collect();
    out.sort();
    out
}

/// CI runners start empty: with `--history s3://...` every runner appends one object per run to
/// the bucket, and the report charts them all.
#[test]
fn the_history_can_live_in_the_bucket_for_runners_that_start_empty() {
    let moto = crate::support::Moto::start();
    moto.create_bucket("cmdb-bucket");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let history = "s3://cmdb-bucket/cs-cmdb/history";
    let run = |args: &[&str], now: &str| {
        // A fresh runner each time: nothing kept locally between runs.
        let home = tempfile::tempdir().unwrap();
        crate::support::org::example_snapshot(&home.path().join("cache"));
        let out = cs_cmdb(home.path())
            .env("CS_CMDB_NOW", now)
            .args(["--endpoint-url", &moto.endpoint])
            .args(args)
            .args(["--history", history, "--cache-dir", "cache", "--source"])
            .arg(&example)
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{}",
            stderr_of(&out)
        );
        let page = home.path().join("fleet.html");
        (
            stderr_of(&out),
            std::fs::read_to_string(page).unwrap_or_default(),
        )
    };
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    run(&["report", "--out", "fleet.html"], "2026-11-24T09:00:00Z");
    run(
        &["check", "--policy", policy.to_str().unwrap()],
        "2026-11-25T09:00:00Z",
    );
    let (stderr, page) = run(&["report", "--out", "fleet.html"], "2026-11-26T09:00:00Z");
    assert!(!stderr.contains("unreadable"), "{stderr}");
    assert!(
        page.contains("deployments: 9, 9, 9"),
        "three runs, one a day, from three empty runners: {}",
        page.lines()
            .filter(|l| l.contains("deployments:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let keys: Vec<String> = crate::support::block_on(async {
        moto.s3()
            .list_objects_v2()
            .bucket("cmdb-bucket")
            .prefix("cs-cmdb/history/")
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(String::from))
            .collect()
    });
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys.iter().all(|k| Regex::new(
            r"^cs-cmdb/history/[0-9a-f]{16}/202611(24|25|26)T090000\.000Z-(report|check)\.json$"
        )
        .unwrap()
        .is_match(k)),
        "{keys:?}"
    );
}
