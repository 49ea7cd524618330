//! `cs-cmdb discover` (and the fan-out under it, shared with `export`): a simulated Organization
//! on moto behind the fault-injecting proxy, and the synthetic stand-in where a test asserts on
//! what the binary put on the wire (role ARNs, external id, session name, role chains, rate,
//! concurrency): both record every request they receive.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::support::org::{
    self, Dep, REGIONS, SimOrg, default_regions, failed_targets, key, queue_per_target, rows, run,
};
use crate::support::proxy::Proxy;
use crate::support::server::Exchange;
use crate::support::snapshot::{Filters, Runs};
use crate::support::standin::{self, StandIn};
use crate::support::{MAIN_ACCOUNT, Moto, cs_cmdb, stderr_of, stdout_of};

#[test]
fn discover_lists_and_describes_every_deployment() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sim = org::build(&moto, 24);
    assert!(sim.deployments.len() >= 24, "{}", sim.deployments.len());
    proxy.faults(|f| f.list_page_size = Some(2));
    let home = tempfile::tempdir().unwrap();
    let regions = REGIONS.join(",");
    let path = SimOrg::metadata_path();
    let api = |d: &Dep| proxy.apigw_url(&d.account, &d.region, &d.group);

    // --describe: one row per deployment, every page of ListFunctions read.
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
        assert_eq!(r["status"], "ok");
        assert_eq!(r["version"], "v0.27.1");
        assert_eq!(r["metadata_path"], path.as_str());
        assert!(r["api_url"].as_str().unwrap().ends_with("/v1/"));
    }
    let with_deployments = sim.targets_with_deployments().len();
    let targets = 25 * 3;
    let summary = stderr_of(&out);
    assert!(
        summary.contains(&format!(
            "discover: {targets} targets: {with_deployments} ok, {} skipped (no deployment {0}), 0 failed in ",
            targets - with_deployments
        )),
        "{summary}"
    );

    // Without --describe: the same rows, unknowns NULL, no invoke.
    let invokes = |proxy: &Proxy| {
        proxy
            .server
            .exchanges()
            .iter()
            .filter(|e| e.path().ends_with("/invocations"))
            .count()
    };
    let before = invokes(&proxy);
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
    assert_eq!(invokes(&proxy), before, "no Discovery function invoked");
    assert!(only.iter().all(|r| r["status"] == "found"));

    // --describe with no answer queued: every row says it failed and why, in CSV too; stderr
    // only counts (the reasons are in the rows).
    let out = cs_cmdb(home.path())
        .args(["--endpoint-url", &proxy.endpoint, "--format", "csv"])
        .args([
            "discover",
            "--describe",
            "--regions",
            &regions,
            "--group",
            "ci-runners",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let csv = stdout_of(&out);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("account_id,region,group_name,status,version,metadata_path,api_url,detail")
    );
    assert!(lines.all(|l| l.contains(",failed,,,,")), "{csv}");
    assert!(
        !stderr_of(&out).lines().any(|l| l.starts_with("failed ")),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn regions_all_skips_what_an_account_has_not_enabled() {
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
    // Lambda was called in af-south-1 by the one account that enabled it, and no other.
    let visited: BTreeSet<String> = proxy
        .server
        .exchanges()
        .iter()
        .filter_map(|e| e.scope())
        .filter(|s| s.service == "lambda" && s.region == "af-south-1")
        .filter_map(|s| proxy.account_of(&s.access_key))
        .collect();
    assert_eq!(visited, BTreeSet::from([a[1].clone()]));

    // An explicitly named region the account has not enabled fails as region-disabled; the
    // member credentials are assumed once per account across regions.
    let assumed_before = proxy.server.calls("AssumeRole").len();
    let out = run(
        home.path(),
        &proxy,
        &[
            "discover",
            "--regions",
            "us-east-1,af-south-1,eu-west-1",
            "--accounts",
            &format!("{},{}", a[2], a[3]),
        ],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        failed_targets(&stderr),
        BTreeMap::from([(
            (a[2].clone(), "af-south-1".to_string()),
            "region-disabled".to_string()
        )]),
        "{stderr}"
    );
    assert!(stderr.contains("discover: 6 targets:"), "{stderr}");
    let mut assumed: Vec<String> = proxy.server.calls("AssumeRole")[assumed_before..]
        .iter()
        .map(|e| e.form()["RoleArn"].clone())
        .collect();
    assumed.sort();
    let mut expected: Vec<String> = [&a[2], &a[3]]
        .map(|m| format!("arn:aws:iam::{m}:role/OrganizationAccountAccessRole"))
        .to_vec();
    expected.sort();
    assert_eq!(
        assumed, expected,
        "one AssumeRole per member account, not per region"
    );
}

#[test]
fn a_failure_budget_stops_starting_targets_and_nothing_could_run_exits_2() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sim = org::build(&moto, 4);
    let home = tempfile::tempdir().unwrap();
    proxy.faults(|f| f.deny_assume = sim.accounts.iter().cloned().collect());

    // With every member denied and one target at a time, the run stops starting targets after
    // 2 failures; the others are reported as not started.
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
    assert_eq!(proxy.server.calls("AssumeRole").len(), 2);

    // Nothing could run: every account refuses AssumeRole → exit 2. The denial is remembered
    // per account: one AssumeRole per account although two regions.
    let before = proxy.server.calls("AssumeRole").len();
    let out = cs_snapshot!(
        "nothing_could_run",
        Filters::new().account_ids(),
        cs_cmdb(home.path()).args([
            "--endpoint-url",
            &proxy.endpoint,
            "--format",
            "json",
            "discover",
            "--regions",
            "us-east-1,eu-west-1",
            "--exclude-account",
            MAIN_ACCOUNT,
            "--concurrency",
            "1",
        ])
    );
    assert_eq!(out.status.code(), Some(2));
    let arns: BTreeSet<String> = proxy.server.calls("AssumeRole")[before..]
        .iter()
        .map(|e| e.form()["RoleArn"].clone())
        .collect();
    assert_eq!(arns.len(), 4);
    assert_eq!(proxy.server.calls("AssumeRole").len() - before, 4);
}

/// The AssumeRole calls a run sent, as (role ARN, external id, session name, signing key).
fn assume_calls(calls: &[Exchange]) -> Vec<(String, Option<String>, String, String)> {
    calls
        .iter()
        .filter(|e| e.action() == "AssumeRole")
        .map(|e| {
            let form = e.form();
            (
                form["RoleArn"].clone(),
                form.get("ExternalId").cloned(),
                form["RoleSessionName"].clone(),
                e.scope().expect("a signed call").access_key,
            )
        })
        .collect()
}

/// Run `discover ARGS` against the stand-in (one deployment per target); what it sent.
fn discover(standin: &StandIn, home: &std::path::Path, args: &[&str]) -> Vec<Exchange> {
    let before = standin.server.exchanges().len();
    let out = cs_cmdb(home)
        .args(["--endpoint-url", &standin.endpoint, "--format", "json"])
        .arg("discover")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr_of(&out));
    let sent = standin.server.exchanges()[before..].to_vec();
    let targets = sent
        .iter()
        .filter(|e| standin::is_list_functions(e))
        .count();
    assert_eq!(
        rows(&out).len(),
        targets,
        "{args:?}: one deployment per target"
    );
    sent
}

#[test]
fn member_roles_are_assumed_as_told() {
    let standin = StandIn::start(3, Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    let members: Vec<String> = (0..3).map(standin::account_id).collect();
    let regions = ["--regions", "us-east-1,eu-west-1"];

    // The defaults: OrganizationAccountAccessRole, session `cs-cmdb`, no external id, with the
    // caller's own credentials; once per account, whatever the number of regions.
    let sent = discover(&standin, home.path(), &regions);
    let expected: Vec<_> = members
        .iter()
        .map(|m| {
            (
                format!("arn:aws:iam::{m}:role/OrganizationAccountAccessRole"),
                None,
                "cs-cmdb".to_string(),
                "testing".to_string(),
            )
        })
        .collect();
    let mut got = assume_calls(&sent);
    got.sort();
    assert_eq!(got, expected);
    // Each target's calls are signed with its member's credentials, in its region.
    let mut signed: Vec<(String, String)> = sent
        .iter()
        .filter(|e| standin::is_list_functions(e))
        .map(|e| {
            let scope = e.scope().unwrap();
            (scope.access_key, scope.region)
        })
        .collect();
    signed.sort();
    let mut want: Vec<(String, String)> = members
        .iter()
        .flat_map(|m| {
            ["eu-west-1", "us-east-1"].map(|r| (standin::access_key_of(m), r.to_string()))
        })
        .collect();
    want.sort();
    assert_eq!(signed, want);

    // --role-name, --external-id, --session-name, and a first hop (--via-role): the hop is
    // assumed once with the caller's credentials, the members from the hop's.
    let hop = format!("arn:aws:iam::{MAIN_ACCOUNT}:role/cs-cmdb-hop");
    let sent = discover(
        &standin,
        home.path(),
        &[
            &regions[..],
            &[
                "--role-name",
                "cs-cmdb-member",
                "--external-id",
                "xyz",
                "--session-name",
                "audit-2026",
                "--via-role",
                &hop,
            ],
        ]
        .concat(),
    );
    let calls = assume_calls(&sent);
    assert_eq!(
        calls[0],
        (
            hop.clone(),
            None,
            "audit-2026".to_string(),
            "testing".to_string()
        ),
        "the first hop first, without the members' external id"
    );
    let mut rest = calls[1..].to_vec();
    rest.sort();
    let expected: Vec<_> = members
        .iter()
        .map(|m| {
            (
                format!("arn:aws:iam::{m}:role/cs-cmdb-member"),
                Some("xyz".to_string()),
                "audit-2026".to_string(),
                standin::access_key_of(MAIN_ACCOUNT),
            )
        })
        .collect();
    assert_eq!(rest, expected);

    // CS_CMDB_ROLE_NAME and CS_CMDB_EXTERNAL_ID are their environment twins.
    let before = standin.server.exchanges().len();
    let out = cs_cmdb(home.path())
        .env("CS_CMDB_ROLE_NAME", "from-env")
        .env("CS_CMDB_EXTERNAL_ID", "env-id")
        .args(["--endpoint-url", &standin.endpoint, "discover"])
        .args(regions)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let calls = assume_calls(&standin.server.exchanges()[before..]);
    assert_eq!(calls.len(), 3);
    for (arn, external_id, _, _) in calls {
        assert!(arn.ends_with(":role/from-env"), "{arn}");
        assert_eq!(external_id.as_deref(), Some("env-id"));
    }
}

#[test]
fn regions_come_from_regions_its_environment_twin_or_the_region() {
    let standin = StandIn::start(2, Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    let visited = |sent: &[Exchange]| -> BTreeSet<String> {
        sent.iter()
            .filter(|e| standin::is_list_functions(e))
            .map(|e| e.scope().unwrap().region)
            .collect()
    };
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let before = standin.server.exchanges().len();
        let mut cmd = cs_cmdb(home.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .args(["--endpoint-url", &standin.endpoint, "discover"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        visited(&standin.server.exchanges()[before..])
    };
    assert_eq!(
        run(&[], &["--regions", "eu-west-3,ap-south-1"]),
        BTreeSet::from(["ap-south-1".to_string(), "eu-west-3".to_string()])
    );
    assert_eq!(
        run(&[("CS_CMDB_REGIONS", "ca-central-1")], &[]),
        BTreeSet::from(["ca-central-1".to_string()])
    );
    assert_eq!(
        run(&[], &["--region", "eu-north-1"]),
        BTreeSet::from(["eu-north-1".to_string()])
    );
    assert_eq!(run(&[], &[]), BTreeSet::from(["us-east-1".to_string()]));
}

/// The ListFunctions calls in flight at once, at most (from the recorded arrival and answer times).
fn most_in_flight(calls: &[Exchange]) -> usize {
    let spans: Vec<(Instant, Instant)> = calls
        .iter()
        .filter(|e| standin::is_list_functions(e))
        .map(|e| (e.arrived, e.answered.expect("answered")))
        .collect();
    spans
        .iter()
        .map(|(at, _)| {
            spans
                .iter()
                .filter(|(start, end)| start <= at && at < end)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn concurrency_bounds_the_targets_in_flight() {
    // Each ListFunctions takes 300 ms: targets started together overlap.
    let standin = StandIn::slow_listing(8, Duration::from_millis(300));
    let home = tempfile::tempdir().unwrap();
    let regions = ["--regions", "us-east-1"];
    let unbounded = discover(&standin, home.path(), &regions);
    assert!(
        most_in_flight(&unbounded) > 3,
        "the default (16) lets all 8 targets run at once"
    );
    let flag = discover(
        &standin,
        home.path(),
        &[&regions[..], &["--concurrency", "3"]].concat(),
    );
    assert!(most_in_flight(&flag) <= 3);

    let before = standin.server.exchanges().len();
    let out = cs_cmdb(home.path())
        .env("CS_CMDB_CONCURRENCY", "2")
        .args(["--endpoint-url", &standin.endpoint, "discover"])
        .args(regions)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(most_in_flight(&standin.server.exchanges()[before..]) <= 2);
}

#[test]
fn rate_caps_the_calls_per_second() {
    let standin = StandIn::start(6, Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    // The paced calls: AssumeRole and Lambda, in the order they arrived.
    let paced = |sent: &[Exchange]| -> Vec<Instant> {
        sent.iter()
            .filter(|e| e.action() == "AssumeRole" || standin::is_list_functions(e))
            .map(|e| e.arrived)
            .collect()
    };
    // The smallest span of three consecutive paced calls.
    let tightest = |times: &[Instant]| {
        times
            .windows(3)
            .map(|w| w[2] - w[0])
            .min()
            .expect("at least three calls")
    };
    let free = paced(&discover(
        &standin,
        home.path(),
        &["--regions", "us-east-1"],
    ));
    assert_eq!(free.len(), 12);
    assert!(
        tightest(&free) < Duration::from_millis(100),
        "without --rate, 16 targets at once: {:?}",
        tightest(&free)
    );
    // At 5 calls per second the binary spaces them 200 ms apart: three consecutive calls span
    // 400 ms (allowing 150 ms for scheduling).
    let capped = paced(&discover(
        &standin,
        home.path(),
        &["--regions", "us-east-1", "--rate", "5"],
    ));
    assert_eq!(capped.len(), 12);
    assert!(
        tightest(&capped) >= Duration::from_millis(250),
        "{:?}",
        tightest(&capped)
    );
}

#[test]
fn ctrl_c_stops_starting_targets_and_still_prints_the_summary() {
    // Every ListFunctions hangs: the run would take minutes without the interrupt.
    let standin = StandIn::slow_listing(6, Duration::from_secs(3600));
    let home = tempfile::tempdir().unwrap();
    let child = crate::support::spawn(
        home.path(),
        &[
            "--endpoint-url",
            &standin.endpoint,
            "--format",
            "json",
            "discover",
            "--regions",
            &REGIONS.join(","),
            "--concurrency",
            "2",
            "--call-timeout",
            "1s",
        ],
    );
    let target_of = |e: &Exchange| {
        let scope = e.scope().unwrap();
        (scope.access_key, scope.region)
    };
    let listing = |log: &[Exchange]| -> BTreeSet<(String, String)> {
        log.iter()
            .filter(|e| standin::is_list_functions(e))
            .map(target_of)
            .collect()
    };
    // Interrupt once two targets are waiting on their hung call.
    let started = standin
        .server
        .wait_for(Duration::from_secs(60), |log| listing(log).len() >= 2);
    if !started {
        panic!("no two targets started: {:?}", child.wait_with_output());
    }
    let before = listing(&standin.server.exchanges());
    crate::support::interrupt(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // No target started after the interrupt: the ones in flight finished (timed out).
    assert_eq!(listing(&standin.server.exchanges()), before, "{stderr}");
    assert_eq!(before.len(), 2);
    assert_eq!(rows(&out), Vec::<serde_json::Value>::new());
    assert!(
        stderr.contains("interrupted: no new targets will start; waiting for the calls in flight"),
        "{stderr}"
    );
    let failed = failed_targets(&stderr);
    assert_eq!(failed.len(), 2, "{stderr}");
    assert!(failed.values().all(|c| c == "timeout"), "{stderr}");
    assert!(
        stderr.contains(
            "discover: 18 targets: 0 ok, 16 skipped (not started: interrupted 16), 2 failed (timeout 2) in "
        ),
        "{stderr}"
    );
}

#[test]
fn input_errors_exit_2_and_say_why() {
    let standin = StandIn::start(2, Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    let mut runs = Runs::new(Filters::new());
    for args in [
        &["discover", "--accounts", "12345"][..],
        &["discover", "--accounts", "999999999999"],
        &["discover", "--regions", "all,eu-west-1"],
        &["discover", "--regions", "eu_west_1"],
        &["discover", "--regions", "eu-wst-1"],
        &["discover", "--group", "bad_name"],
        &["discover", "--concurrency", "0"],
        &["discover", "--rate", "0"],
        &["export", "--verify"],
    ] {
        let out = runs.run(
            &args.join(" "),
            cs_cmdb(home.path())
                .args(["--endpoint-url", &standin.endpoint])
                .args(args),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    insta::assert_snapshot!("fanout_input_errors", runs.text());
}
