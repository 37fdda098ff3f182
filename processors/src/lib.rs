//! Sentinel processor and connector stages. Each folder holds one component: its
//! documented config, its implementation, its factory and its tests.

pub mod actions;
pub mod alert_rules;
pub mod anomaly;
pub mod attributes;
pub mod batch;
pub mod count;
pub mod dedup;
pub mod filter;
pub mod forward;
pub mod hook_metrics;
pub mod llm_cost;
pub mod memory_limiter;
pub mod pool_metrics;
pub mod probabilistic_sampler;
pub mod resource;
pub mod resourcedetection;
pub mod spanmetrics;
pub mod tail_sampling;

#[cfg(test)]
mod test_data;
