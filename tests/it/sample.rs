//! `cs-cmdb sample`: deterministic trees in CloneSquad's layout, and the bundled `examples/` is
//! exactly what it writes (so the example shows every quirk the generator knows).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::{cs_cmdb, stderr_of};

const NOW: &str = "2026-11-26T09:00:00Z";

/// Every file below `root/metadata` and `root/backups`, by relative path, with its bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    for top in ["metadata", "backups"] {
        walk(root, &root.join(top), &mut out);
    }
    out
}

fn sample(home: &Path, out: &str, seed: &str) -> std::process::Output {
    cs_cmdb(home)
        .env("CS_CMDB_NOW", NOW)
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
        "examples/ is not `CS_CMDB_NOW={NOW} cs-cmdb sample --out examples --deployments 9 --seed 77`; regenerate it (rm -rf examples/metadata examples/backups first).\nonly generated: {only_fresh:?}\nonly bundled: {only_bundled:?}\ndiffer: {differ:?}"
    );
}

#[test]
fn the_generator_is_deterministic_and_counts_what_it_wrote() {
    let home = tempfile::tempdir().unwrap();
    let first = sample(home.path(), "a", "5");
    assert!(first.status.success(), "{}", stderr_of(&first));
    let a = tree(&home.path().join("a"));
    let err = stderr_of(&first);
    let files: usize = err
        .split(" files under")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no file count in {err}"));
    assert_eq!(files, a.len(), "{err}");
    assert!(err.starts_with("wrote 9 deployments, "), "{err}");
    let discovery = a
        .keys()
        .filter(|k| k.starts_with("metadata/discovery"))
        .count();
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
