//! The fan-out benchmark (on demand: `bench/fanout.sh`, or
//! `cargo nextest run --run-ignored only bench_fanout --no-capture`): `cs-cmdb export` over N
//! targets against the synthetic stand-in, each trigger answering after a fixed latency; wall
//! time against the ideal (targets × latency ÷ concurrency) and against concurrency 1, and peak
//! memory (GNU time's maximum resident set size).

use std::time::Duration;

use crate::support::standin::StandIn;
use crate::support::{ACCESS_KEY, REGION, SECRET_KEY};

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse().expect("a number"))
        .collect()
}

struct Run {
    wall: f64,
    peak_mb: f64,
    cpu: f64,
}

fn run(targets: usize, concurrency: usize, latency: Duration) -> Run {
    // Two regions per account.
    let standin = StandIn::start(targets / 2, latency);
    let home = tempfile::tempdir().unwrap();
    let timing = home.path().join("time.txt");
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-o")
        .arg(&timing)
        .args(["-f", "%e %M %U %S"])
        .arg(
            std::env::var_os("CS_CMDB_BENCH_BIN")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| assert_cmd::cargo::cargo_bin("cs-cmdb")),
        )
        .args([
            "--endpoint-url",
            &standin.endpoint,
            "--format",
            "csv",
            "export",
        ])
        .args([
            "--regions",
            "us-east-1,eu-west-1",
            "--concurrency",
            &concurrency.to_string(),
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("c"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("s"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", REGION)
        .current_dir(home.path())
        .output()
        .expect("run /usr/bin/time cs-cmdb");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows = String::from_utf8_lossy(&out.stdout).lines().count() - 1;
    assert_eq!(rows, targets, "{stderr}");
    assert_eq!(standin.triggers(), targets);
    let text = std::fs::read_to_string(&timing).unwrap();
    let mut fields = text.split_whitespace();
    let wall: f64 = fields.next().unwrap().parse().unwrap();
    let peak_kb: f64 = fields.next().unwrap().parse().unwrap();
    let cpu: f64 = fields.filter_map(|f| f.parse::<f64>().ok()).sum();
    Run {
        wall,
        peak_mb: peak_kb / 1024.0,
        cpu,
    }
}

#[test]
#[ignore = "benchmark: run on demand with bench/fanout.sh"]
fn bench_fanout() {
    let latency = Duration::from_millis(env_list("CS_CMDB_BENCH_LATENCY_MS", "200")[0] as u64);
    let concurrency = env_list("CS_CMDB_BENCH_CONCURRENCY", "50")[0];
    let sizes = env_list("CS_CMDB_BENCH_TARGETS", "1000,5000");
    let baseline = env_list("CS_CMDB_BENCH_BASELINE_TARGETS", "1000");
    println!("latency per trigger {latency:?}, concurrency {concurrency}");
    println!(
        "{:>8} {:>5} {:>9} {:>9} {:>7} {:>9} {:>7}",
        "targets", "conc", "wall s", "ideal s", "ratio", "peak MB", "cpu s"
    );
    let mut first: Option<(usize, f64)> = None;
    for &n in &sizes {
        let r = run(n, concurrency, latency);
        let ideal = n as f64 * latency.as_secs_f64() / concurrency as f64;
        println!(
            "{n:>8} {concurrency:>5} {:>9.2} {ideal:>9.2} {:>7.2} {:>9.1} {:>7.2}",
            r.wall,
            r.wall / ideal,
            r.peak_mb,
            r.cpu
        );
        first.get_or_insert((n, r.wall));
    }
    for &n in &baseline {
        let r = run(n, 1, latency);
        let ideal = n as f64 * latency.as_secs_f64();
        println!(
            "{n:>8} {:>5} {:>9.2} {ideal:>9.2} {:>7.2} {:>9.1} {:>7.2}",
            1,
            r.wall,
            r.wall / ideal,
            r.peak_mb,
            r.cpu
        );
        if let Some((m, wall)) = first.filter(|(m, _)| *m == n) {
            println!(
                "speed-up of concurrency {concurrency} over 1 on {m} targets: {:.1}x",
                r.wall / wall
            );
        }
    }
}
