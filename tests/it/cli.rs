//! The command line itself: help, completions, man pages.

use crate::support::{cs_cmdb, stderr_of, stdout_of};

/// Every subcommand, as `--help` lists them.
const COMMANDS: [&str; 17] = [
    "accounts",
    "whoami",
    "query",
    "tables",
    "describe",
    "install",
    "partitions",
    "discover",
    "export",
    "mirror",
    "backups",
    "sample",
    "check",
    "org",
    "report",
    "completions",
    "man",
];

#[test]
fn help_lists_commands_and_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = stdout_of(&out);
    let listed: Vec<&str> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("  ").filter(|l| !l.starts_with(' ')))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(listed, COMMANDS, "{help}");
    // The commands that read the bucket say so; `query --help` lists the queries.
    for command in ["install", "partitions", "mirror", "backups"] {
        let out = cs_cmdb(home.path())
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(
            stdout_of(&out).contains("Required: Needs --metadata-path"),
            "{command}"
        );
    }
    let out = cs_cmdb(home.path())
        .args(["query", "--help"])
        .output()
        .unwrap();
    for name in ["deployments", "stale", "coverage-map", "freshness"] {
        assert!(
            stdout_of(&out).contains(&format!("\n  {name} ")),
            "{name}: {}",
            stdout_of(&out)
        );
    }
    for needle in ["--endpoint-url", "--profile", "--no-color", "Exit codes: 0"] {
        assert!(help.contains(needle), "missing {needle}: {help}");
    }
    for command in COMMANDS {
        let out = cs_cmdb(home.path())
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{command} --help");
        let help = stdout_of(&out);
        assert!(
            help.contains(&format!("\nUsage: cs-cmdb {command}")),
            "{help}"
        );
        // Every command teaches by example, and keeps the global flags under their own heading.
        assert!(help.contains("Examples:\n  cs-cmdb "), "{command}: {help}");
        assert!(help.contains("\nGlobal options:\n"), "{command}: {help}");
        assert!(help.contains("\nOutput options:\n"), "{command}: {help}");
        let options = help.split("\nOptions:\n").nth(1).unwrap_or_default();
        let own = options
            .split("\nGlobal options:")
            .next()
            .unwrap_or_default();
        assert!(
            !own.contains("--profile"),
            "{command}: a global flag among its own: {help}"
        );
    }
}

/// Dynamic completion (`source <(COMPLETE=bash cs-cmdb)`) completes query and table names: the
/// shell's script calls the binary with COMPLETE set and the words typed so far.
#[test]
fn query_and_table_names_complete() {
    let home = tempfile::tempdir().unwrap();
    let complete = |words: &[&str]| {
        let out = cs_cmdb(home.path())
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
            .env("_CLAP_COMPLETE_COMP_TYPE", "9")
            .env("_CLAP_COMPLETE_SPACE", "true")
            .arg("--")
            .args(words)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        stdout_of(&out)
    };
    assert_eq!(complete(&["cs-cmdb", "query", "st"]).trim(), "stale");
    assert_eq!(
        complete(&["cs-cmdb", "describe", "clonesquad_v"]).trim(),
        "clonesquad_volumes"
    );
    // The script the shell sources.
    let out = cs_cmdb(home.path())
        .env("COMPLETE", "bash")
        .output()
        .unwrap();
    assert!(stdout_of(&out).contains("complete "), "{}", stdout_of(&out));
}

#[test]
fn completions_and_man_pages() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = cs_cmdb(home.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr_of(&out));
        let script = stdout_of(&out);
        for needle in ["discover", "metadata-path", "via-role"] {
            assert!(script.contains(needle), "{shell}: no {needle}");
        }
    }
    let out = cs_cmdb(home.path()).arg("man").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains(".TH cs-cmdb 1"),
        "{}",
        stdout_of(&out)
    );
    let dir = home.path().join("man");
    let out = cs_cmdb(home.path())
        .args(["man", "--out-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("cs-cmdb-{c}.1"))
        .chain(["cs-cmdb.1".to_string()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    let query = std::fs::read_to_string(dir.join("cs-cmdb-query.1")).unwrap();
    assert!(query.contains(".TH cs-cmdb-query 1"), "{query}");
    assert!(query.contains("reuse\\-minutes"), "{query}");
}
