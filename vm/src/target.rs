//! Target resolution (PACKS_AND_CLI.md §6): `namespace/policy[/rule]` to a policy and rules.

use crate::program::{PolicyId, RuleId};
use crate::verified::VerifiedProgram;

/// What a target names: a policy and the rules to evaluate (every export, or one rule).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub policy: PolicyId,
    pub rules: Vec<RuleId>,
}

pub fn resolve(p: &VerifiedProgram, target: &str) -> Result<Target, String> {
    let p = &p.program;
    let segs: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let mut longest_ns: Option<String> = None;
    for n in (1..segs.len()).rev() {
        let ns = segs[..n].join("/");
        if !p.namespaces.contains(&ns) {
            continue;
        }
        if longest_ns.is_none() {
            longest_ns = Some(ns.clone());
        }
        let Some(policy) = p.policy(&ns, segs[n]) else {
            continue;
        };
        let rest = &segs[n + 1..];
        let pinfo = &p.policies[policy];
        return match rest {
            [] => Ok(Target {
                policy,
                rules: pinfo.exports.clone(),
            }),
            [rule] => {
                let full = format!("{ns}/{}/{rule}", segs[n]);
                match p.rule_in(policy, rule) {
                    None => Err(format!("rule not found: {full}")),
                    Some(r) if !p.rules[r].exported => Err(format!("rule is not exported: {full}")),
                    Some(r) => Ok(Target {
                        policy,
                        rules: vec![r],
                    }),
                }
            }
            _ => Err(format!("rule not found: {}", segs.join("/"))),
        };
    }
    match longest_ns {
        Some(ns) => {
            let next = segs.get(ns.split('/').count()).copied().unwrap_or("");
            Err(format!("policy not found: {ns}/{next}"))
        }
        None => Err(format!("namespace not found: {}", segs.join("/"))),
    }
}

/// Up to three exported targets (`ns/policy` or `ns/policy/rule`) nearest to `target` by
/// edit distance, for a "did you mean" after a failed [`resolve`]. Only close names are
/// offered: at most a third of the target's last segment may differ.
pub fn nearest(p: &VerifiedProgram, target: &str) -> Vec<String> {
    let p = &p.program;
    let wanted = target.trim_matches('/');
    let mut all: Vec<String> = Vec::new();
    for (_, pol) in p.policies.iter() {
        let base = format!("{}/{}", pol.namespace, pol.name);
        for r in &pol.exports {
            all.push(format!("{base}/{}", p.rules[*r].name));
        }
        all.push(base);
    }
    // As many edits as a third of the last segment (the part most likely mistyped) allows.
    let last = wanted.rsplit('/').next().unwrap_or(wanted).chars().count();
    if last < 3 {
        return Vec::new();
    }
    let limit = (last / 3).max(1);
    let mut scored: Vec<(usize, String)> = all
        .into_iter()
        .map(|t| (strsim::osa_distance(wanted, &t), t))
        .filter(|(d, _)| *d > 0 && *d <= limit)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_target_without_empty_segments() {
        let p = crate::verify(
            crate::Program::default(),
            std::sync::Arc::new(crate::host::NoHost),
        )
        .unwrap();
        assert_eq!(
            resolve(&p, "/nope//x/").unwrap_err(),
            "namespace not found: nope/x"
        );
    }
}
