//! Policy-directory reload without a restart.
//!
//! A mounted ConfigMap changes by an atomic symlink swap, which file-watch
//! APIs report unreliably; the directory is small, so we read it every
//! `reload_interval` and compare a fingerprint of the file names and contents.
//! On a change the policies are loaded again and [`plan`] says which runners
//! to start, restart and stop. A file that became invalid is reported (log and
//! `planscale_policies_invalid`), and the policy it held before keeps running
//! with its last good version; every other policy is unaffected.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::policy::{self, LoadedPolicy, PolicyError};

/// A hash of the names and contents of the policy files and the iCalendar
/// (`.ics`) files beside them (0 for an unreadable directory).
pub fn fingerprint(dir: &Path) -> u64 {
    let mut files: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            // Closures files beside the policies (`calendar.source.path`,
            // read at load) too: a changed one reloads, and the policies
            // whose resolved calendar changed restart (`plan` compares them).
            let ics = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("ics"));
            if p.is_file() && (policy::is_policy_file(&p) || ics) {
                files.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    let mut h = DefaultHasher::new();
    files.hash(&mut h);
    h.finish()
}

/// Load the directory, and reject policies whose target namespace is not allowed.
pub fn load(dir: &Path, namespaces: &[String]) -> (Vec<LoadedPolicy>, Vec<PolicyError>) {
    let (valid, mut errors) = policy::load_paths(&[dir.to_path_buf()]);
    let mut ok = Vec::new();
    for lp in valid {
        if !namespaces.is_empty() && !namespaces.contains(&lp.policy.target.namespace) {
            errors.push(PolicyError {
                file: lp.path.clone(),
                field: "target.namespace".into(),
                line: None,
                message: format!(
                    "expected one of the namespaces this controller manages ({}), found {:?}",
                    namespaces.join(", "),
                    lp.policy.target.namespace
                ),
            });
        } else {
            ok.push(lp);
        }
    }
    (ok, errors)
}

/// What to do with the runners after a reload.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// New or changed policies to (re)start.
    pub start: Vec<LoadedPolicy>,
    /// Running policies to stop (gone from the directory).
    pub stop: Vec<String>,
    /// Running policies whose file is now invalid: kept at their last good version.
    pub keep_stale: Vec<String>,
}

/// Compare the running policies (name → loaded) with a fresh load.
pub fn plan(
    running: &HashMap<String, LoadedPolicy>,
    valid: Vec<LoadedPolicy>,
    errors: &[PolicyError],
) -> Plan {
    let bad_files: BTreeSet<&Path> = errors.iter().map(|e| e.file.as_path()).collect();
    let new_names: BTreeSet<String> = valid.iter().map(|l| l.policy.name.clone()).collect();
    let mut out = Plan::default();
    for lp in valid {
        match running.get(&lp.policy.name) {
            Some(old) if old == &lp => {}
            _ => out.start.push(lp),
        }
    }
    let mut names: Vec<&String> = running.keys().collect();
    names.sort();
    for name in names {
        if new_names.contains(name) {
            continue;
        }
        if bad_files.contains(running[name].path.as_path()) {
            out.keep_stale.push(name.clone());
        } else {
            out.stop.push(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_yaml(name: &str, max: u32) -> String {
        format!(
            "name: {name}\ntarget: {{kind: Deployment, namespace: planning, name: {name}}}\nreplicas: {{min: 1, max: {max}}}\ncapacity: {{per_replica: 2, startup: 2m}}\ndemand: {{arrivals: {{series: arrivals}}}}\nslo: {{max_wait: 5m}}\n"
        )
    }

    fn running(dir: &Path) -> HashMap<String, LoadedPolicy> {
        let (v, e) = load(dir, &[]);
        assert!(e.is_empty(), "{e:?}");
        v.into_iter().map(|l| (l.policy.name.clone(), l)).collect()
    }

    #[test]
    fn change_restarts_only_that_policy_and_removal_stops_it() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.yaml"), policy_yaml("a", 5)).unwrap();
        std::fs::write(d.path().join("b.yaml"), policy_yaml("b", 5)).unwrap();
        let before = fingerprint(d.path());
        let run = running(d.path());
        std::fs::write(d.path().join("a.yaml"), policy_yaml("a", 9)).unwrap();
        std::fs::remove_file(d.path().join("b.yaml")).unwrap();
        assert_ne!(fingerprint(d.path()), before);
        let (v, e) = load(d.path(), &[]);
        let p = plan(&run, v, &e);
        assert_eq!(p.start.len(), 1);
        assert_eq!(p.start[0].policy.replicas.max, 9);
        assert_eq!(p.stop, vec!["b".to_string()]);
        assert!(p.keep_stale.is_empty());
    }

    #[test]
    fn invalid_file_is_reported_and_keeps_its_last_good_policy() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.yaml"), policy_yaml("a", 5)).unwrap();
        std::fs::write(d.path().join("b.yaml"), policy_yaml("b", 5)).unwrap();
        let run = running(d.path());
        std::fs::write(d.path().join("b.yaml"), "name: b\nreplicas: [oops\n").unwrap();
        let (v, e) = load(d.path(), &[]);
        assert_eq!(e.len(), 1);
        assert!(e[0].file.ends_with("b.yaml"), "{:?}", e[0]);
        let p = plan(&run, v, &e);
        assert!(p.start.is_empty(), "a did not change");
        assert!(p.stop.is_empty());
        assert_eq!(p.keep_stale, vec!["b".to_string()]);
    }

    #[test]
    fn a_changed_closures_file_beside_the_policies_restarts_the_policy_that_reads_it() {
        let d = tempfile::tempdir().unwrap();
        let ics = |date: &str| {
            format!(
                "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART;VALUE=DATE:{date}\nEND:VEVENT\nEND:VCALENDAR\n"
            )
        };
        std::fs::write(d.path().join("closures.ics"), ics("20261224")).unwrap();
        let calendar = "calendar: {timezone: UTC, hours: {mon-fri: \"08:00-17:00\"}, source: {type: ics, path: closures.ics}}\n";
        std::fs::write(d.path().join("a.yaml"), policy_yaml("a", 5) + calendar).unwrap();
        std::fs::write(d.path().join("b.yaml"), policy_yaml("b", 5)).unwrap();
        let before = fingerprint(d.path());
        let run = running(d.path());
        std::fs::write(d.path().join("closures.ics"), ics("20261231")).unwrap();
        assert_ne!(fingerprint(d.path()), before);
        let (v, e) = load(d.path(), &[]);
        let p = plan(&run, v, &e);
        let started: Vec<&str> = p.start.iter().map(|l| l.policy.name.as_str()).collect();
        assert_eq!(started, ["a"]);
        let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert!(p.start[0].policy.calendar().unwrap().closed.contains(&date));
    }

    #[test]
    fn namespaces_outside_the_allowed_set_are_rejected() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.yaml"), policy_yaml("a", 5)).unwrap();
        let (v, e) = load(d.path(), &["imaging".to_string()]);
        assert!(v.is_empty());
        assert_eq!(e[0].field, "target.namespace");
        assert!(e[0].message.contains("imaging"));
    }
}
