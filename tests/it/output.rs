//! What reaches the terminal, across commands: colour only on a terminal and never with
//! `NO_COLOR` (or `--no-color` for data), the log level (`-q`, `-v`, `-vv`, `CS_CMDB_LOG`), and a
//! closed pipe ending the run quietly. Terminals are real pseudo-terminals.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;

use serde_json::json;

use crate::support::tree::Tree;
use crate::support::{cs_cmdb, cs_cmdb_spawnable, stderr_of, stdout_of};

/// A pseudo-terminal of 200 columns: (master, slave). What the child writes to the slave is
/// read from the master.
fn pty() -> (OwnedFd, std::fs::File) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("open a pseudo-terminal");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .expect("open the terminal side");
    rustix::termios::tcsetwinsize(
        &slave,
        rustix::termios::Winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .expect("set the window size");
    (master, slave)
}

/// Everything written to the terminal (until every writer closed it), `\r\n` made `\n`.
fn drain(master: OwnedFd) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        // Linux answers EIO once the last writer has closed the terminal side.
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
    })
}

/// Which streams of a run are terminals.
#[derive(Clone, Copy)]
enum Tty {
    Stdout,
    Stderr,
}

/// Run `query ARGS --source tree` with `tty` a terminal (the other stream a pipe): (terminal
/// text, piped text).
fn on_terminal(home: &Path, tty: Tty, env: &[(&str, &str)], args: &[&str]) -> (String, String) {
    let (master, slave) = pty();
    let mut cmd = cs_cmdb_spawnable(home);
    cmd.env("CS_CMDB_NOW", "2026-11-26T10:00:00Z")
        .args(["query", "--source", "tree"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let terminal = Stdio::from(slave.try_clone().unwrap());
    match tty {
        Tty::Stdout => cmd.stdout(terminal).stderr(Stdio::piped()),
        Tty::Stderr => cmd.stderr(terminal).stdout(Stdio::piped()),
    };
    let reader = drain(master);
    let child = cmd.stdin(Stdio::null()).spawn().unwrap();
    drop(slave);
    drop(cmd);
    let out = child.wait_with_output().unwrap();
    let on_tty = reader.join().unwrap();
    let piped = match tty {
        Tty::Stdout => stderr_of(&out),
        Tty::Stderr => stdout_of(&out),
    };
    assert!(out.status.success(), "{on_tty}{piped}");
    (on_tty, piped)
}

/// A tree with one deployment whose configuration has a malformed line (a warning on stderr).
fn home_with_tree() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    Tree::new(home.path().join("tree"))
        .deployment("111111111111", "eu-west-1", "web-front")
        .discovery(json!({"CloneSquadVersion": "v0.27.1", "MetadataRecordLastUpdatedAt": "2026-11-26 08:00:00"}))
        .configuration_text("{\"Key\": \"app.run_period\", \"Value\": \"2 minutes\"}\n{\"Key\": ");
    home
}

const ESC: char = '\u{1b}';

#[test]
fn tables_are_coloured_on_a_terminal_unless_no_color() {
    let home = home_with_tree();
    let home = home.path();
    let (table, _) = on_terminal(home, Tty::Stdout, &[], &["versions"]);
    assert!(
        table.contains(&format!("{ESC}[1mversion{ESC}[0m")),
        "a bold header: {table:?}"
    );
    for (env, args) in [
        (&[("NO_COLOR", "1")][..], &["versions"][..]),
        (&[], &["versions", "--no-color"]),
    ] {
        let (table, _) = on_terminal(home, Tty::Stdout, env, args);
        assert!(!table.contains(ESC), "{env:?} {args:?}: {table:?}");
        assert!(table.contains("v0.27.1"), "{table}");
    }
    // An empty NO_COLOR does not count (https://no-color.org).
    let (table, _) = on_terminal(home, Tty::Stdout, &[("NO_COLOR", "")], &["versions"]);
    assert!(table.contains(ESC), "{table:?}");
    // Not a terminal: no colour, whatever the environment.
    let out = cs_cmdb(home)
        .args(["query", "versions", "--source", "tree"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stdout_of(&out).contains(ESC));
    assert!(!stderr_of(&out).contains(ESC));
}

#[test]
fn warnings_are_coloured_on_a_terminal_unless_no_color() {
    let home = home_with_tree();
    let home = home.path();
    let config = ["config", "-p", "key=app.run_period"];
    let (warnings, _) = on_terminal(home, Tty::Stderr, &[], &config);
    // The warning's line carries a colour (whoever draws it: the log or the printer).
    let line = warnings
        .lines()
        .find(|l| l.contains("malformed line"))
        .unwrap_or_else(|| panic!("no warning: {warnings}"));
    assert!(line.contains(ESC), "{warnings:?}");
    let (warnings, _) = on_terminal(home, Tty::Stderr, &[("NO_COLOR", "1")], &config);
    assert!(warnings.contains("malformed line"), "{warnings}");
    assert!(!warnings.contains(ESC), "{warnings:?}");
}

/// The levels of the diagnostic log lines (INFO, DEBUG, TRACE) of `query config` on the tree
/// (stderr, no terminal). Warnings and summaries are the quiet rule's business (`-q`), not the
/// log level's.
fn log(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    log_lines(home, env, args)
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace().peekable();
            if words.peek().is_some_and(|w| uptime(w)) {
                words.next();
            }
            let level = words.next()?;
            ["INFO", "DEBUG", "TRACE"]
                .contains(&level)
                .then(|| level.to_string())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A log line's time since start (`0.012345678s`), written at -vv and beyond.
fn uptime(word: &str) -> bool {
    word.strip_suffix('s')
        .is_some_and(|t| t.contains('.') && t.parse::<f64>().is_ok())
}

/// The diagnostics (stderr lines) of a query run with `env` and `args`.
fn log_lines(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    let mut cmd = cs_cmdb(home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args([
            "query",
            "config",
            "-p",
            "key=app.run_period",
            "--format",
            "csv",
        ])
        .args(["--source", "tree"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains(",2 minutes,"),
        "data on stdout whatever the level"
    );
    stderr_of(&out).lines().map(str::to_string).collect()
}

#[test]
fn verbosity_and_cs_cmdb_log_choose_the_log_lines() {
    let home = home_with_tree();
    let home = home.path();
    let levels = |env: &[(&str, &str)], args: &[&str]| log(home, env, args);
    assert!(levels(&[], &[]).is_empty(), "no diagnostics by default");
    assert_eq!(levels(&[], &["-v"]), ["INFO"]);
    assert_eq!(levels(&[], &["-vv"]), ["DEBUG", "INFO"]);
    // At -vv each log line says when it happened (where a run's time goes); at -v none does.
    // (The other lines are the user's warnings, untimed at any level.)
    let timed = |args: &[&str]| -> Vec<bool> {
        log_lines(home, &[], args)
            .iter()
            .filter(|l| {
                l.split_whitespace()
                    .take(2)
                    .any(|w| ["INFO", "DEBUG"].contains(&w))
            })
            .map(|l| l.split_whitespace().next().is_some_and(uptime))
            .collect()
    };
    let (vv, v) = (timed(&["-vv"]), timed(&["-v"]));
    assert!(!vv.is_empty() && vv.iter().all(|&t| t), "{vv:?}");
    assert!(!v.is_empty() && v.iter().all(|&t| !t), "{v:?}");
    // CS_CMDB_LOG (an EnvFilter directive) overrides -v and -q.
    assert_eq!(
        levels(&[("CS_CMDB_LOG", "cs_cmdb=debug")], &[]),
        ["DEBUG", "INFO"]
    );
    assert!(levels(&[("CS_CMDB_LOG", "warn")], &["-vv"]).is_empty());
    assert_eq!(levels(&[("CS_CMDB_LOG", "info")], &["-q"]), ["INFO"]);
}

#[test]
fn a_closed_pipe_exits_quietly() {
    let home = tempfile::tempdir().unwrap();
    let mut child = cs_cmdb_spawnable(home.path())
        .args(["completions", "zsh"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stderr_of(&out).is_empty(), "{}", stderr_of(&out));
}

/// A long operation on a terminal shows a progress bar with its ETA (here the mirror's, over the
/// objects it fetches); piped, it shows none.
#[test]
fn the_progress_bar_on_a_terminal_shows_an_eta() {
    let (moto, _src, _files) = crate::mirror::seeded_bucket(20);
    let home = tempfile::tempdir().unwrap();
    let (master, slave) = pty();
    let mut cmd = cs_cmdb_spawnable(home.path());
    cmd.args([
        "--endpoint-url",
        &moto.endpoint,
        "--metadata-path",
        &crate::mirror::s3_path(),
        "mirror",
        "--cache-dir",
        "cache",
    ])
    // A terminal has a TERM (indicatif draws nothing when it is unset or `dumb`).
    .env("TERM", "xterm-256color")
    .stderr(Stdio::from(slave.try_clone().unwrap()))
    .stdout(Stdio::piped());
    let reader = drain(master);
    let child = cmd.stdin(Stdio::null()).spawn().unwrap();
    drop(slave);
    drop(cmd);
    let out = child.wait_with_output().unwrap();
    let on_tty = reader.join().unwrap();
    assert!(out.status.success(), "{on_tty}");
    assert!(
        on_tty.contains("objects") && on_tty.contains("(ETA "),
        "{on_tty:?}"
    );

    let piped = cs_cmdb(home.path())
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "--metadata-path",
            &crate::mirror::s3_path(),
            "mirror",
            "--cache-dir",
            "cache2",
        ])
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert!(!stderr_of(&piped).contains("ETA"), "{}", stderr_of(&piped));
}
