//! Detection on real faults, scored by the fault data set's rules.
//!
//! Run: `cargo bench -p ic-core --bench detection -- [FOLDER]`, where FOLDER holds
//! `<case>.log.gz` and `<case>.truth.json` files (default: `tests/fixtures/nezha-dev`, ten
//! TrainTicket faults and two controls). Prints one line per case and the totals.

#[path = "../tests/faults/mod.rs"]
mod faults;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The first argument that is not a flag (cargo passes `--bench`); a relative path that does
    // not exist from the crate's folder (where cargo runs benches) is taken from the workspace.
    let folder = match std::env::args().skip(1).find(|arg| !arg.starts_with("--")) {
        Some(arg) => {
            let path = PathBuf::from(arg);
            let from_root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(&path);
            if path.is_relative() && !path.exists() {
                from_root
            } else {
                path
            }
        }
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nezha-dev"),
    };
    match faults::score_folder(&folder) {
        Ok(scores) => {
            print!("{}", faults::table(&scores));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}: {error}", folder.display());
            ExitCode::FAILURE
        }
    }
}
