//! The command line itself: help, completions, man page, config errors.

use crate::support::{cs_cmdb, stderr_of, stdout_of};

#[test]
fn help_lists_commands_and_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = stdout_of(&out);
    for needle in [
        "accounts",
        "query",
        "completions",
        "man",
        "--endpoint-url",
        "Exit codes",
    ] {
        assert!(help.contains(needle), "missing {needle}: {help}");
    }
    for command in ["accounts", "query", "sample", "completions", "man"] {
        let out = cs_cmdb(home.path())
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{command} --help");
    }
}

#[test]
fn completions_and_man_page() {
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout_of(&out).contains("cs-cmdb"));
    let out = cs_cmdb(home.path()).arg("man").output().unwrap();
    assert!(stdout_of(&out).contains(".TH cs-cmdb"));
    let dir = home.path().join("man");
    let out = cs_cmdb(home.path())
        .args(["man", "--out-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(dir.join("cs-cmdb.1").is_file());
    assert!(dir.join("cs-cmdb-query.1").is_file());
}

#[test]
fn a_malformed_config_file_names_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cs-cmdb.toml"),
        "region = \"eu-west-1\"\nmetdata-path = \"s3://b/p\"\n",
    )
    .unwrap();
    let out = cs_cmdb(home.path()).arg("accounts").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("cs-cmdb.toml"), "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("metdata-path"), "{err}");

    std::fs::write(home.path().join("cs-cmdb.toml"), "format = \"yaml\"\n").unwrap();
    let out = cs_cmdb(home.path()).arg("accounts").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("line 1"), "{}", stderr_of(&out));

    let out = cs_cmdb(home.path())
        .args(["--config", "missing.toml", "accounts"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("missing.toml"));
}

#[test]
fn a_closed_pipe_exits_quietly() {
    let home = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("cs-cmdb");
    let mut child = std::process::Command::new(bin)
        .args(["completions", "zsh"])
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stderr_of(&out).is_empty(), "{}", stderr_of(&out));
}
