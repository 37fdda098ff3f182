//! Receivers: components that take data in from outside the agent.

#[cfg(test)]
pub(crate) mod compliance_client;
pub mod database;
pub mod hooks;
pub mod hostmetrics;
pub mod httpcheck;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod otlp;
pub mod pgbouncer;
pub mod postgresql;
pub mod redis;
pub mod scrape;
pub mod tcpcheck;
