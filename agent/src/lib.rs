//! The sentinel agent: config loading, pipeline runtime and receivers.

pub mod components;
