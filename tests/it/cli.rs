//! The command line itself: help, completions, man pages.

use crate::support::{cs_cmdb, stderr_of, stdout_of};

/// Every subcommand, as `--help` lists them.
const COMMANDS: [&str; 15] = [
    "accounts",
    "whoami",
    "query",
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
    for needle in ["--endpoint-url", "--profile", "--no-color", "Exit codes: 0"] {
        assert!(help.contains(needle), "missing {needle}: {help}");
    }
    for command in COMMANDS {
        let out = cs_cmdb(home.path())
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{command} --help");
        assert!(
            stdout_of(&out).contains(&format!("\nUsage: cs-cmdb {command}")),
            "{}",
            stdout_of(&out)
        );
    }
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
