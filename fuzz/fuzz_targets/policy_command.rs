//! The hook policy: the shell-command parser on a Bash command (everything before the
//! first NUL byte), and a policy file (the rest) evaluated on that command.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (command, policy) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let command = String::from_utf8_lossy(command);
    let policy = String::from_utf8_lossy(policy);
    sentinel_agent::fuzz_api::policy(&policy, &command);
});
