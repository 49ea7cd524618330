//! `cs-cmdb export`: triggering CloneSquad's `backup` in every deployment (Lambda, API Gateway,
//! SQS), `--verify`, `--dry-run`, and the fan-out's failure classes, across a simulated
//! Organization on moto behind the fault-injecting proxy (which records what it receives and
//! stands in for API Gateway).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use crate::support::org::{
    self, Dep, REGIONS, SimOrg, failed_targets, key, queue_per_target, rows, run, status_of,
};
use crate::support::proxy::Proxy;
use crate::support::{MAIN_ACCOUNT, Moto, block_on, sdk_config_with, stderr_of};

#[test]
fn export_via_apigw_lambda_and_sqs_with_verify_and_dry_run() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sim = org::build(&moto, 30);
    assert!(sim.deployments.len() >= 30, "{}", sim.deployments.len());
    proxy.faults(|f| {
        f.bucket = org::BUCKET.into();
        f.prefix = org::PREFIX.into();
    });
    let home = tempfile::tempdir().unwrap();
    let regions = REGIONS.join(",");
    let path = SimOrg::metadata_path();
    let api = |d: &Dep| proxy.apigw_url(&d.account, &d.region, &d.group);

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
    assert_eq!(proxy.counters().apigw_bad_signature.load(SeqCst), 0);
    assert_eq!(
        proxy.counters().written.load(SeqCst),
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

    // --dry-run triggers nothing, whatever the way.
    let triggers = |proxy: &Proxy| {
        proxy
            .server
            .exchanges()
            .iter()
            .filter(|e| {
                e.path().contains("/functions/CloneSquad-Interact-")
                    || e.path().starts_with("/apigw/")
                    || e.action() == "SendMessage"
            })
            .count()
    };
    // It reads what the real run reads (the discovery read, the queue's URL), so it needs the
    // deployments' answers, and reports what would fail.
    let discovery = |d: &Dep| vec![org::discovery_record(d, &api(d), &path)];
    let before = triggers(&proxy);
    queue_per_target(&moto, &sim, discovery);
    let out = run(
        home.path(),
        &proxy,
        &["export", "--dry-run", "--regions", &regions],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let dry = rows(&out);
    assert_eq!(dry.len(), sim.deployments.len());
    assert!(dry.iter().all(|r| r["status"] == "dry-run"));
    for via in ["lambda", "apigw", "sqs"] {
        queue_per_target(&moto, &sim, discovery);
        let out = run(
            home.path(),
            &proxy,
            &["export", "--dry-run", "--via", via, "--regions", &regions],
        );
        assert_eq!(out.status.code(), Some(0), "{via}: {}", stderr_of(&out));
    }
    assert_eq!(triggers(&proxy), before);
    // Deployments that do not answer the discovery read: the dry run fails them as the real run
    // would, and says why once (in the rows; stderr only counts).
    let out = run(
        home.path(),
        &proxy,
        &["export", "--dry-run", "--regions", &regions],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let failed = rows(&out);
    assert!(failed.iter().all(|r| r["status"] == "failed"), "{failed:?}");
    let stderr = stderr_of(&out);
    let reason = failed[0]["detail"].as_str().unwrap();
    assert!(!stderr.contains(reason), "said twice: {stderr}");
    assert_eq!(triggers(&proxy), before);
}

#[test]
fn faults_are_classified_healthy_targets_succeed_and_hung_calls_time_out() {
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
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

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
    let throttles = proxy.counters().throttled.load(SeqCst);
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
}
