//! The sentinel agent: config loading, pipeline runtime and receivers.

pub mod alerts;
pub mod anomaly_backtest;
pub mod cli;
pub mod components;
pub mod config;
pub mod config_tests;
#[doc(hidden)]
pub mod fuzz_api;
pub mod hook;
pub mod logging;
pub mod policy;
pub mod receivers;
pub mod runtime;
pub mod top;
