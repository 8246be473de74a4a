//! The committed example is exactly what the seeded generator writes: if the
//! generator changes, `make example` must be run and the files committed.

use planscale::example::{Department, write_schedule_csv};

#[test]
fn committed_example_matches_the_generator() {
    let g = Department::bundled().generate(42);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/clinic");
    let mut rec = Vec::new();
    g.recording.write_csv(&mut rec).unwrap();
    let mut sched = Vec::new();
    write_schedule_csv(&g.schedule, &mut sched).unwrap();
    let committed_rec = std::fs::read(dir.join("recording.csv")).unwrap();
    let committed_sched = std::fs::read(dir.join("schedule.csv")).unwrap();
    let policy = planscale::cli::department::department_policy(&Department::bundled(), 42).unwrap();
    let committed_policy = std::fs::read_to_string(dir.join("policy.yaml")).unwrap();
    assert!(
        rec == committed_rec,
        "examples/clinic/recording.csv drifted: run `make example`"
    );
    assert!(
        sched == committed_sched,
        "examples/clinic/schedule.csv drifted: run `make example`"
    );
    assert!(
        policy == committed_policy,
        "examples/clinic/policy.yaml drifted: run `make example`"
    );
}

/// The clinic's generated policy is the bundled one but for its name and
/// where the schedule is (beside it), so replaying `examples/clinic/` with
/// it is replaying the bundled example.
#[test]
fn the_clinics_generated_policy_is_the_bundled_policy() {
    use planscale::policy::Policy;
    let text = planscale::cli::department::department_policy(&Department::bundled(), 42).unwrap();
    let mut generated = Policy::from_str_named(&text, std::path::Path::new("policy.yaml")).unwrap();
    let bundled = Policy::from_str_named(
        planscale::cli::bundled::POLICY,
        std::path::Path::new(planscale::cli::bundled::POLICY_PATH),
    )
    .unwrap();
    assert_eq!(generated.name, "clinic-autocontour");
    generated.name = bundled.name.clone();
    let (g, b) = (
        generated.schedule.as_mut().unwrap(),
        bundled.schedule.as_ref().unwrap(),
    );
    match &g.source {
        planscale::schedule::SourceSpec::Csv { path, .. } => {
            assert_eq!(path, std::path::Path::new("schedule.csv"))
        }
        other => panic!("{other:?}"),
    }
    g.source = b.source.clone();
    assert_eq!(generated, bundled);
}
