//! `sentinel alerts`: alerting tools.

pub mod silence;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Silences of the notification exporters, through the running agent's admin address.
    Silence {
        #[command(subcommand)]
        command: silence::SilenceCommand,
    },
}

pub fn run(command: AlertsCommand) -> ExitCode {
    match command {
        AlertsCommand::Silence { command } => silence::run(command),
    }
}
