//! `sentinel alerts check`: loads each rule file as the `alert_rules` connector does and
//! reports every problem at FILE:LINE:COL.

use std::path::PathBuf;
use std::process::ExitCode;

use sentinel_processors::alert_rules::rules::load_file;

pub fn run(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        println!("Checking {}", file.display());
        match load_file(file) {
            Ok(groups) => {
                let rules: usize = groups.iter().map(|g| g.rules.len()).sum();
                println!("  SUCCESS: {rules} rules found");
            }
            Err(problems) => {
                failed = true;
                println!("  FAILED:");
                for problem in problems {
                    eprintln!("{problem}");
                }
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
