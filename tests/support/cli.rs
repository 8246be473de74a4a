//! Test harness: the `planscale` binary run once, as a user runs a
//! subcommand. Include with `#[path = "support/cli.rs"] mod cli;`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `planscale ARGS` in `dir`, to completion.
pub fn planscale(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_planscale"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Its stdout, after asserting it succeeded (stderr shown if not).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}
