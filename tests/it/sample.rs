//! `cs-cmdb sample`: deterministic trees in CloneSquad's layout, and the bundled `examples/` is
//! exactly what it writes (so the example shows every quirk the generator knows).

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::snapshot::Filters;
use crate::support::tree::{self, GENERATED_AT};
use crate::support::{cs_cmdb, stderr_of};

/// Every file below `root/metadata` and `root/backups`, by relative path, with its bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    tree::files(root)
        .into_iter()
        .filter(|(rel, _)| rel.starts_with("metadata/") || rel.starts_with("backups/"))
        .collect()
}

fn sample(home: &Path, out: &str, seed: &str) -> std::process::Output {
    cs_cmdb(home)
        .env("CS_CMDB_NOW", GENERATED_AT)
        .args(["sample", "--out", out, "--deployments", "9", "--seed", seed])
        .output()
        .unwrap()
}

#[test]
fn the_bundled_example_is_what_the_generator_writes() {
    let home = tempfile::tempdir().unwrap();
    let out = sample(home.path(), "fresh", "77");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let fresh = tree(&home.path().join("fresh"));
    let bundled = tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"));
    let only_fresh: Vec<_> = fresh.keys().filter(|k| !bundled.contains_key(*k)).collect();
    let only_bundled: Vec<_> = bundled.keys().filter(|k| !fresh.contains_key(*k)).collect();
    let differ: Vec<_> = fresh
        .iter()
        .filter(|(k, v)| bundled.get(*k).is_some_and(|b| b != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        only_fresh.is_empty() && only_bundled.is_empty() && differ.is_empty(),
        "examples/ is not `CS_CMDB_NOW={GENERATED_AT} cs-cmdb sample --out examples --deployments 9 --seed 77 --force`; regenerate it (rm -rf examples/metadata examples/backups first).\nonly generated: {only_fresh:?}\nonly bundled: {only_bundled:?}\ndiffer: {differ:?}"
    );
}

#[test]
fn the_generator_is_deterministic_and_counts_what_it_wrote() {
    let home = tempfile::tempdir().unwrap();
    let first = cs_snapshot!(
        "nine_deployments_seed_5",
        Filters::new(),
        cs_cmdb(home.path()).env("CS_CMDB_NOW", GENERATED_AT).args([
            "sample",
            "--out",
            "a",
            "--deployments",
            "9",
            "--seed",
            "5"
        ])
    );
    assert!(first.status.success(), "{}", stderr_of(&first));
    // The summary counts what is on disk: files, deployments, instances (one per line).
    let a = tree(&home.path().join("a"));
    let discovery = a
        .keys()
        .filter(|k| k.starts_with("metadata/discovery/"))
        .count();
    let instances: usize = a
        .iter()
        .filter(|(k, _)| k.starts_with("metadata/instances/"))
        .map(|(_, body)| {
            body.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
        })
        .sum();
    assert_eq!(
        stderr_of(&first),
        format!(
            "wrote {discovery} deployments, {instances} instances, {} files under a\n",
            a.len()
        )
    );
    assert_eq!(discovery, 9);

    assert!(sample(home.path(), "b", "5").status.success());
    assert_eq!(a, tree(&home.path().join("b")), "same seed, same tree");
    assert!(sample(home.path(), "c", "6").status.success());
    assert_ne!(
        a,
        tree(&home.path().join("c")),
        "another seed, another tree"
    );
}

/// A sample written into a directory that holds something would mix two trees: refused, unless
/// --force.
#[test]
fn a_non_empty_out_directory_is_refused_without_force() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("busy")).unwrap();
    std::fs::write(home.path().join("busy/notes.txt"), "mine").unwrap();
    let refused = cs_snapshot!(
        "a_non_empty_out_directory",
        Filters::new(),
        cs_cmdb(home.path()).args(["sample", "--out", "busy"])
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(!home.path().join("busy/metadata").exists());
    let forced = cs_cmdb(home.path())
        .args(["sample", "--out", "busy", "--force"])
        .output()
        .unwrap();
    assert!(forced.status.success(), "{}", stderr_of(&forced));
    assert!(home.path().join("busy/metadata").is_dir());
}
