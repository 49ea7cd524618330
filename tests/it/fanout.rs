//! `discover` and `export` across a simulated Organization on moto, behind a fault-injecting
//! proxy (tests/it/support/proxy.rs) that also stands in for API Gateway and account:ListRegions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::support::org::{self, Dep, REGIONS, SimOrg};
use crate::support::proxy::Proxy;
use crate::support::{
    MAIN_ACCOUNT, Moto, block_on, cs_cmdb, sdk_config_with, stderr_of, stdout_of,
};

fn default_regions() -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = REGIONS
        .iter()
        .map(|r| (r.to_string(), "ENABLED_BY_DEFAULT".to_string()))
        .collect();
    r.push(("af-south-1".into(), "DISABLED".into()));
    r
}

/// Queue, in each target, one answer list per deployment (groups in the order the tool visits them).
fn queue_per_target(moto: &Moto, sim: &SimOrg, answers: impl Fn(&Dep) -> Vec<String>) {
    for (account, region) in sim.targets_with_deployments() {
        let mut all = Vec::new();
        let mut deps = sim.in_target(&account, &region);
        deps.sort_by(|a, b| a.group.cmp(&b.group));
        for d in deps {
            all.extend(answers(d));
        }
        org::queue_answers(moto, &account, &region, &all);
    }
}

fn run(home: &std::path::Path, proxy: &Proxy, args: &[&str]) -> std::process::Output {
    cs_cmdb(home)
        .args(["--endpoint-url", &proxy.endpoint, "--format", "json"])
        .args(args)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap()
}

fn rows(out: &std::process::Output) -> Vec<serde_json::Value> {
    serde_json::from_str(&stdout_of(out)).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout_of(out),
            stderr_of(out)
        )
    })
}

/// `failed <account>/<region>: <class>: ...` lines of the summary, by target.
fn failed_targets(stderr: &str) -> BTreeMap<(String, String), String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("failed "))
        .filter_map(|l| {
            let (target, rest) = l.split_once(": ")?;
            let (account, region) = target.split_once('/')?;
            let class = rest.split(':').next()?.to_string();
            Some(((account.to_string(), region.to_string()), class))
        })
        .collect()
}

fn status_of(rows: &[serde_json::Value]) -> BTreeMap<(String, String, String), (String, String)> {
    rows.iter()
        .map(|r| {
            (
                (
                    r["account_id"].as_str().unwrap().to_string(),
                    r["region"].as_str().unwrap().to_string(),
                    r["group_name"].as_str().unwrap().to_string(),
                ),
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["class"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

fn key(d: &Dep) -> (String, String, String) {
    (d.account.clone(), d.region.clone(), d.group.clone())
}

#[test]
fn discover_and_export_end_to_end_across_60_accounts() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let started = Instant::now();
    let sim = org::build(&moto, 60);
    eprintln!("organization built in {:?}", started.elapsed());
    assert!(sim.deployments.len() >= 60, "{}", sim.deployments.len());
    proxy.faults(|f| {
        f.list_page_size = Some(2);
        f.default_regions = default_regions();
        f.bucket = org::BUCKET.into();
        f.prefix = org::PREFIX.into();
    });
    let home = tempfile::tempdir().unwrap();
    let regions = REGIONS.join(",");
    let path = SimOrg::metadata_path();
    let api = |d: &Dep| proxy.apigw_url(&d.account, &d.region, &d.group);

    // discover --describe: one row per deployment, every page of ListFunctions read.
    queue_per_target(&moto, &sim, |d| {
        vec![org::discovery_record(d, &api(d), &path)]
    });
    let out = run(
        home.path(),
        &proxy,
        &["discover", "--describe", "--regions", &regions],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let found = rows(&out);
    let got: BTreeSet<(String, String, String)> = found
        .iter()
        .map(|r| {
            (
                r["account_id"].as_str().unwrap().into(),
                r["region"].as_str().unwrap().into(),
                r["group_name"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: BTreeSet<_> = sim.deployments.iter().map(key).collect();
    assert_eq!(got, want);
    for r in &found {
        assert_eq!(r["version"], "v0.27.1");
        assert_eq!(r["metadata_path"], path.as_str());
        assert!(r["api_url"].as_str().unwrap().ends_with("/v1/"));
    }
    let stderr = stderr_of(&out);
    let targets = 61 * 3;
    assert!(
        stderr.contains(&format!(
            "discover: {targets} targets: {} ok",
            sim.targets_with_deployments().len()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("skipped (no deployment"), "{stderr}");

    // Without --describe: the same rows, unknowns NULL, no invoke.
    let out = run(
        home.path(),
        &proxy,
        &["discover", "--regions", &regions, "--group", "ci-runners"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let only = rows(&out);
    assert_eq!(
        only.len(),
        sim.deployments
            .iter()
            .filter(|d| d.group == "ci-runners")
            .count()
    );
    assert!(
        only.iter()
            .all(|r| r["version"].is_null() && r["api_url"].is_null())
    );

    // export --via apigw --verify: the stand-in checks the signature and writes the discovery
    // object for the writers; a few deployments never write; one writes elsewhere.
    let silent: Vec<&Dep> = sim.deployments.iter().step_by(9).collect();
    let misconfigured = &sim.deployments[4];
    assert!(!silent.contains(&misconfigured));
    proxy.faults(|f| {
        f.writers = sim
            .deployments
            .iter()
            .filter(|d| !silent.contains(d))
            .map(key)
            .collect();
    });
    queue_per_target(&moto, &sim, |d| {
        let p = if d == misconfigured {
            "s3://someone-elses-bucket/cs".to_string()
        } else {
            path.clone()
        };
        vec![org::discovery_record(d, &api(d), &p)]
    });
    let out = run(
        home.path(),
        &proxy,
        &[
            "--metadata-path",
            &path,
            "export",
            "--via",
            "apigw",
            "--verify",
            "--verify-timeout",
            "3s",
            "--regions",
            &regions,
            "--concurrency",
            "24",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let status = status_of(&rows(&out));
    assert_eq!(status.len(), sim.deployments.len());
    for d in &sim.deployments {
        let (s, class) = &status[&key(d)];
        if d == misconfigured {
            assert_eq!(
                (s.as_str(), class.as_str()),
                ("failed", "misconfigured"),
                "{d:?}"
            );
        } else if silent.contains(&d) {
            assert_eq!(
                (s.as_str(), class.as_str()),
                ("failed", "not-verified"),
                "{d:?}"
            );
        } else {
            assert_eq!((s.as_str(), class.as_str()), ("ok", ""), "{d:?}");
        }
    }
    assert_eq!(
        proxy
            .counters()
            .apigw_bad_signature
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(
        proxy
            .counters()
            .written
            .load(std::sync::atomic::Ordering::SeqCst),
        sim.deployments.len() - silent.len() - 1
    );
    let failed = failed_targets(&stderr_of(&out));
    assert!(
        failed
            .values()
            .all(|c| c == "not-verified" || c == "misconfigured"),
        "{failed:?}"
    );

    // export --via lambda: the Interact answer decides; a 500 is an invoke error with its body.
    let broken = &sim.deployments[7];
    queue_per_target(&moto, &sim, |d| {
        let answer = if d == broken {
            r#"{"statusCode": 500, "body": "MetadataAndBackupS3Path is not set"}"#.to_string()
        } else {
            org::interact_ok()
        };
        vec![org::discovery_record(d, &api(d), &path), answer]
    });
    let out = run(
        home.path(),
        &proxy,
        &["--metadata-path", &path, "export", "--regions", &regions],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let all = rows(&out);
    let status = status_of(&all);
    for d in &sim.deployments {
        let expected = if d == broken {
            ("failed", "invoke-error")
        } else {
            ("ok", "")
        };
        let (s, c) = &status[&key(d)];
        assert_eq!((s.as_str(), c.as_str()), expected, "{d:?}");
    }
    let detail = all
        .iter()
        .find(|r| {
            r["group_name"] == broken.group.as_str()
                && r["account_id"] == broken.account.as_str()
                && r["region"] == broken.region.as_str()
        })
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("status 500") && detail.contains("MetadataAndBackupS3Path is not set"),
        "{detail}"
    );

    // export --via sqs: one {"OpType":"backup"} in every Interact queue.
    queue_per_target(&moto, &sim, |d| {
        vec![org::discovery_record(d, &api(d), &path)]
    });
    let out = run(
        home.path(),
        &proxy,
        &["export", "--via", "sqs", "--regions", &regions],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(rows(&out).len(), sim.deployments.len());
    block_on(async {
        for d in sim.deployments.iter().take(12) {
            let config = sdk_config_with(&moto.endpoint, sim.creds[&d.account].clone())
                .to_builder()
                .region(aws_config::Region::new(d.region.clone()))
                .build();
            let sqs = aws_sdk_sqs::Client::new(&config);
            let url = sqs
                .get_queue_url()
                .queue_name(format!("CloneSquad-Interact-{}", d.group))
                .send()
                .await
                .unwrap()
                .queue_url()
                .unwrap()
                .to_string();
            let got = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let bodies: Vec<&str> = got.messages().iter().filter_map(|m| m.body()).collect();
            assert_eq!(bodies, [r#"{"OpType":"backup"}"#], "{d:?}");
        }
    });

    // --dry-run triggers nothing.
    let before = proxy
        .counters()
        .triggers
        .load(std::sync::atomic::Ordering::SeqCst);
    let out = run(
        home.path(),
        &proxy,
        &["export", "--dry-run", "--regions", &regions],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let dry = rows(&out);
    assert_eq!(dry.len(), sim.deployments.len());
    assert!(dry.iter().all(|r| r["status"] == "dry-run"));
    assert_eq!(
        proxy
            .counters()
            .triggers
            .load(std::sync::atomic::Ordering::SeqCst),
        before
    );
}

#[test]
fn faults_are_classified_healthy_targets_succeed_and_the_run_is_bounded() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sim = org::build(&moto, 60);
    let path = SimOrg::metadata_path();
    let all_targets: Vec<(String, String)> = std::iter::once(MAIN_ACCOUNT.to_string())
        .chain(sim.accounts.iter().cloned())
        .flat_map(|a| REGIONS.iter().map(move |r| (a.clone(), r.to_string())))
        .collect();
    assert_eq!(all_targets.len(), 183);
    // 10% of the accounts refuse AssumeRole; of the other targets, ~5% throttle every Lambda
    // call and ~2% hang; one Lambda call in 29 elsewhere is throttled once (retried by the SDK).
    let denied: BTreeSet<String> = sim.accounts.iter().skip(3).step_by(10).cloned().collect();
    assert_eq!(denied.len(), 6);
    let others: Vec<&(String, String)> = all_targets
        .iter()
        .filter(|(a, _)| !denied.contains(a))
        .collect();
    let throttled: BTreeSet<(String, String)> = others
        .iter()
        .skip(1)
        .step_by(19)
        .take(9)
        .map(|t| (*t).clone())
        .collect();
    let hung: BTreeSet<(String, String)> = others
        .iter()
        .skip(5)
        .step_by(41)
        .filter(|t| !throttled.contains(*t))
        .take(4)
        .map(|t| (*t).clone())
        .collect();
    assert_eq!((throttled.len(), hung.len()), (9, 4));
    proxy.faults(|f| {
        f.deny_assume = denied.iter().cloned().collect();
        f.throttle = throttled.iter().cloned().collect();
        f.hang = hung.iter().cloned().collect();
        f.transient_throttle_every = 29;
        f.trigger_latency = Duration::from_millis(20);
    });
    let api = |d: &Dep| proxy.apigw_url(&d.account, &d.region, &d.group);
    queue_per_target(&moto, &sim, |d| {
        vec![org::discovery_record(d, &api(d), &path), org::interact_ok()]
    });

    let home = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(
        home.path(),
        &proxy,
        &[
            "--metadata-path",
            &path,
            "export",
            "--regions",
            &REGIONS.join(","),
            "--concurrency",
            "16",
            "--call-timeout",
            "2s",
        ],
    );
    let elapsed = started.elapsed();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Bounded: 4 attempts × 2 s per hung call plus backoff (without the timeouts a hung call
    // would last an hour); the rest is moto's pace on a loaded machine.
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");

    let failed = failed_targets(&stderr);
    let mut expected = BTreeMap::new();
    for (a, r) in &all_targets {
        let class = if denied.contains(a) {
            "assume-role-denied"
        } else if throttled.contains(&(a.clone(), r.clone())) {
            "throttled"
        } else if hung.contains(&(a.clone(), r.clone())) {
            "timeout"
        } else {
            continue;
        };
        expected.insert((a.clone(), r.clone()), class.to_string());
    }
    assert_eq!(failed, expected, "{stderr}");
    // Every deployment of a healthy target was exported.
    let status = status_of(&rows(&out));
    for d in &sim.deployments {
        let t = (d.account.clone(), d.region.clone());
        if expected.contains_key(&t) {
            assert!(
                status.get(&key(d)).is_none_or(|(s, _)| s == "failed"),
                "{d:?}"
            );
        } else {
            assert_eq!(status[&key(d)], ("ok".to_string(), String::new()), "{d:?}");
        }
    }
    let throttles = proxy
        .counters()
        .throttled
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        throttles > 9 * 4,
        "transient throttles were retried too: {throttles}"
    );
    // The summary counts every target once.
    assert!(
        stderr.contains("export: 183 targets: ")
            && stderr.contains("31 failed (assume-role-denied 18, throttled 9, timeout 4)"),
        "{stderr}"
    );
    eprintln!("faulty export run took {elapsed:?}");
}

#[test]
fn regions_all_credentials_cache_budget_and_nothing_could_run() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sim = org::build(&moto, 4);
    let a = &sim.accounts;
    proxy.faults(|f| {
        f.default_regions = default_regions();
        let mut opted_in = default_regions();
        opted_in[3].1 = "ENABLED".into();
        f.regions.insert(a[1].clone(), opted_in);
        f.region_disabled
            .insert((a[2].clone(), "af-south-1".into()));
    });
    let home = tempfile::tempdir().unwrap();

    // --regions all: enabled regions visited, af-south-1 skipped where not enabled.
    let out = run(
        home.path(),
        &proxy,
        &["discover", "--regions", "all", "--concurrency", "4"],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // 5 accounts × 4 regions = 20 targets, af-south-1 skipped in 4 of them.
    assert!(stderr.contains("discover: 20 targets:"), "{stderr}");
    assert!(
        stderr.contains("region not enabled (DISABLED) 4"),
        "{stderr}"
    );
    assert_eq!(rows(&out).len(), sim.deployments.len());

    // An explicitly named region the account has not enabled fails as region-disabled; the
    // member credentials are assumed once per account across regions.
    let assumed_before = proxy
        .counters()
        .assumed
        .load(std::sync::atomic::Ordering::SeqCst);
    let denied_before = proxy
        .counters()
        .denied
        .load(std::sync::atomic::Ordering::SeqCst);
    let out = run(
        home.path(),
        &proxy,
        &[
            "discover",
            "--regions",
            "us-east-1,af-south-1,eu-west-1",
            "--accounts",
            &format!("{},{}", a[2], a[3]),
            "-v",
        ],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let failed = failed_targets(&stderr);
    assert_eq!(
        failed,
        BTreeMap::from([(
            (a[2].clone(), "af-south-1".to_string()),
            "region-disabled".to_string()
        )]),
        "{stderr}"
    );
    assert!(stderr.contains("discover: 6 targets:"), "{stderr}");
    let assumed = proxy
        .counters()
        .assumed
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        assumed - assumed_before,
        2,
        "one AssumeRole per member account, not per region"
    );
    assert_eq!(
        proxy
            .counters()
            .denied
            .load(std::sync::atomic::Ordering::SeqCst),
        denied_before
    );

    // Failure budget: with every member denied and one target at a time, the run stops starting
    // targets after 2 failures; the others are reported as not started.
    proxy.faults(|f| f.deny_assume = a.iter().cloned().collect());
    let out = run(
        home.path(),
        &proxy,
        &[
            "discover",
            "--regions",
            "us-east-1",
            "--concurrency",
            "1",
            "--max-failures",
            "2",
            "--exclude-account",
            MAIN_ACCOUNT,
        ],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("4 targets: 0 ok, 2 skipped (not started: failure budget reached 2), 2 failed (assume-role-denied 2)"), "{stderr}");
    assert_eq!(
        proxy
            .counters()
            .denied
            .load(std::sync::atomic::Ordering::SeqCst),
        denied_before + 2
    );

    // Nothing could run: every account refuses AssumeRole → exit 2.
    let out = run(
        home.path(),
        &proxy,
        &[
            "discover",
            "--regions",
            "us-east-1,eu-west-1",
            "--exclude-account",
            MAIN_ACCOUNT,
        ],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing could run"), "{stderr}");
    assert!(stderr.contains("assume-role-denied"), "{stderr}");
    // The denial is cached per account: one AssumeRole per account although two regions.
    assert_eq!(
        proxy
            .counters()
            .denied
            .load(std::sync::atomic::Ordering::SeqCst),
        denied_before + 2 + 4
    );

    // A role chain: first hop, then the members, from it.
    proxy.faults(|f| f.deny_assume.clear());
    let out = run(
        home.path(),
        &proxy,
        &[
            "discover",
            "--regions",
            "us-east-1",
            "--via-role",
            &format!("arn:aws:iam::{MAIN_ACCOUNT}:role/cs-cmdb-hop"),
            "--external-id",
            "xyz",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    // --rate caps the calls per second across the run: 4 AssumeRole + 5 ListFunctions at 5/s.
    let started = Instant::now();
    let out = run(
        home.path(),
        &proxy,
        &["discover", "--regions", "us-east-1", "--rate", "5"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    // Input errors exit 2 with a message.
    for (args, message) in [
        (
            vec!["discover", "--accounts", "12345"],
            "is not an AWS account id",
        ),
        (
            vec!["discover", "--accounts", "999999999999"],
            "not active in the Organization",
        ),
        (
            vec!["discover", "--regions", "all,eu-west-1"],
            "cannot be combined",
        ),
        (vec!["export", "--verify"], "--verify needs --metadata-path"),
        (
            vec!["discover", "--group", "bad_name"],
            "not a CloneSquad group name",
        ),
    ] {
        let out = run(home.path(), &proxy, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(message),
            "{args:?}: {}",
            stderr_of(&out)
        );
    }
}

#[test]
fn ctrl_c_stops_starting_targets_and_still_prints_the_summary() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sim = org::build(&moto, 5);
    // Every Lambda call hangs: the run would take minutes without the interrupt.
    proxy.faults(|f| {
        f.hang = std::iter::once(MAIN_ACCOUNT.to_string())
            .chain(sim.accounts.iter().cloned())
            .flat_map(|a| REGIONS.iter().map(move |r| (a.clone(), r.to_string())))
            .collect();
    });
    let home = tempfile::tempdir().unwrap();
    let mut cmd = crate::support::cs_cmdb_spawnable(home.path());
    let started = Instant::now();
    let child = cmd
        .args([
            "--endpoint-url",
            &proxy.endpoint,
            "--format",
            "json",
            "discover",
        ])
        .args([
            "--regions",
            &REGIONS.join(","),
            "--concurrency",
            "2",
            "--call-timeout",
            "1s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("interrupted: no new targets will start"),
        "{stderr}"
    );
    assert!(stderr.contains("discover: 18 targets: 0 ok"), "{stderr}");
    assert!(stderr.contains("not started: interrupted"), "{stderr}");
    assert!(stderr.contains("timeout"), "{stderr}");
    // The two targets in flight finish within their timeouts (4 attempts of 1 s, plus backoff).
    assert!(elapsed < Duration::from_secs(40), "took {elapsed:?}");
    assert_eq!(rows(&out), Vec::<serde_json::Value>::new());
}
