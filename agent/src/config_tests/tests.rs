//! Unit tests of `sentinel test`'s planning and checks; the CLI is tested end to end in
//! tests/tests/config_tests_cli.rs.
