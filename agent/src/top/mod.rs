//! `sentinel top` and `sentinel tap`: clients of the admin address.

pub mod snapshot;
