//! `weir wal verify|dump|salvage`: the operator's way out of a damaged log (server stopped).

use crate::cli::WalAction;
use std::path::Path;
use std::process::ExitCode;

pub fn run(action: &WalAction, wal_dir: &Path) -> ExitCode {
    let disk = persist::FileDisk;
    let result = match action {
        WalAction::Verify => persist::tools::verify(&disk, wal_dir).map(|report| {
            println!("{report:#?}");
            report.exit_code()
        }),
        WalAction::Dump => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            persist::tools::dump(&disk, wal_dir, &mut out).map(|report| report.exit_code())
        }
        WalAction::Salvage => {
            let quarantine = wal_dir.join("salvaged");
            persist::tools::salvage(&disk, wal_dir, &quarantine).map(|report| {
                println!("{report:#?}");
                persist::tools::EXIT_OK
            })
        }
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) => {
            eprintln!("weir wal: {error}");
            ExitCode::FAILURE
        }
    }
}
