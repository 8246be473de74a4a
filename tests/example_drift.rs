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
    assert!(
        rec == committed_rec,
        "examples/clinic/recording.csv drifted: run `make example`"
    );
    assert!(
        sched == committed_sched,
        "examples/clinic/schedule.csv drifted: run `make example`"
    );
}
