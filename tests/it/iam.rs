//! The shipped IAM policies grant every AWS action the fan-out code calls, and nothing else.

use std::collections::BTreeSet;
use std::path::Path;

use cs_cmdb::org;

fn policy_actions(file: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("iam").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("policy is JSON");
    let mut out = BTreeSet::new();
    for statement in json["Statement"].as_array().expect("Statement array") {
        assert_eq!(
            statement["Effect"], "Allow",
            "{file}: only Allow statements"
        );
        match &statement["Action"] {
            serde_json::Value::String(a) => {
                out.insert(a.clone());
            }
            serde_json::Value::Array(list) => {
                out.extend(list.iter().map(|a| a.as_str().unwrap().to_string()));
            }
            other => panic!("{file}: unexpected Action {other}"),
        }
        assert!(
            out.iter().all(|a| !a.contains('*')),
            "{file}: no wildcard actions"
        );
    }
    out
}

fn set(actions: &[&str]) -> BTreeSet<String> {
    actions.iter().map(|a| a.to_string()).collect()
}

#[test]
fn every_action_the_code_calls_is_granted_and_nothing_more() {
    let called: BTreeSet<String> = [
        org::accounts::ACTIONS,
        org::fanout::ACTIONS,
        org::deployments::ACTIONS,
        org::export::ACTIONS,
        cs_cmdb::org::identity::ACTIONS,
    ]
    .iter()
    .flat_map(|a| set(a))
    .collect();
    let central = set(&org::central_actions());
    let member = set(&org::member_actions());
    // Every call is assigned to a role.
    let assigned: BTreeSet<String> = central.union(&member).cloned().collect();
    assert_eq!(
        assigned, called,
        "assign each new action to the central or the member role"
    );

    let central_policy = policy_actions("central-role-policy.json");
    let member_policy = policy_actions("member-role-policy.json");
    let missing_central: Vec<_> = central.difference(&central_policy).collect();
    let missing_member: Vec<_> = member.difference(&member_policy).collect();
    assert!(
        missing_central.is_empty(),
        "central policy lacks {missing_central:?}"
    );
    assert!(
        missing_member.is_empty(),
        "member policy lacks {missing_member:?}"
    );

    // Least privilege: nothing granted that the code does not call, except s3:ListBucket, which
    // makes S3 answer NoSuchKey (not AccessDenied) while --verify waits for a missing object.
    let extra_central: Vec<_> = central_policy
        .difference(&central)
        .filter(|a| *a != "s3:ListBucket")
        .collect();
    let extra_member: Vec<_> = member_policy.difference(&member).collect();
    assert!(
        extra_central.is_empty(),
        "central policy grants unused {extra_central:?}"
    );
    assert!(
        extra_member.is_empty(),
        "member policy grants unused {extra_member:?}"
    );

    assert_eq!(
        policy_actions("member-role-trust-policy.json"),
        set(&["sts:AssumeRole"])
    );
}
