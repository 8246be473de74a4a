//! The `planscale` binary: parse arguments, call the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = planscale::cli::Cli::parse();
    planscale::cli::init_tracing(&cli);
    match planscale::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
