//! `--help` explains every flag and argument of every subcommand (issue 19, item 11).

use clap::CommandFactory;
use sentinel_agent::cli::Cli;

/// Every (subcommand path, argument id) without help text, depth first.
fn undocumented(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
    for arg in command.get_arguments() {
        let has_help = arg
            .get_help()
            .is_some_and(|h| !h.to_string().trim().is_empty())
            || arg.get_long_help().is_some();
        if !has_help {
            missing.push(format!("{path} {}", arg.get_id()));
        }
    }
    for sub in command.get_subcommands() {
        let sub_path = format!("{path} {}", sub.get_name());
        if sub.get_about().is_none() {
            missing.push(format!("{sub_path} (the subcommand itself)"));
        }
        undocumented(sub, &sub_path, missing);
    }
}

#[test]
fn every_argument_of_every_subcommand_has_help_text() {
    let command = Cli::command();
    command.clone().debug_assert();
    let mut missing = Vec::new();
    undocumented(&command, "sentinel", &mut missing);
    assert!(missing.is_empty(), "no help text: {missing:#?}");
}

#[test]
fn the_walk_sees_the_flags_it_must_check() {
    // Guards the walk itself: it must reach nested and flattened arguments.
    let command = Cli::command();
    let mut ids = Vec::new();
    fn collect(command: &clap::Command, path: &str, ids: &mut Vec<String>) {
        for arg in command.get_arguments() {
            ids.push(format!("{path} {}", arg.get_id()));
        }
        for sub in command.get_subcommands() {
            collect(sub, &format!("{path} {}", sub.get_name()), ids);
        }
    }
    collect(&command, "sentinel", &mut ids);
    for expected in [
        "sentinel validate configs",
        "sentinel print-config configs",
        "sentinel db migrate configs",
        "sentinel queue inspect directory",
        "sentinel hook uninstall endpoint",
        "sentinel hook uninstall project",
    ] {
        assert!(
            ids.iter().any(|id| id == expected),
            "{expected} in {ids:#?}"
        );
    }
}

#[test]
fn queue_inspect_says_which_directory_it_expects() {
    let mut command = Cli::command();
    let inspect = command
        .find_subcommand_mut("queue")
        .and_then(|queue| queue.find_subcommand_mut("inspect"))
        .expect("queue inspect exists");
    let help = inspect.render_long_help().to_string();
    assert!(
        help.contains("<service.data_dir>/queues/<exporter id>"),
        "{help}"
    );
    assert!(help.contains("sending_queue.directory"), "{help}");
}
