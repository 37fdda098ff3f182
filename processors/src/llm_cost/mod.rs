//! `llm_cost`: prices LLM calls. The connector turns GenAI spans and Claude Code
//! `claude_code.api_request` events into `sentinel.llm.cost`, `sentinel.llm.tokens` and
//! `sentinel.llm.unpriced` (delta sums); the processor writes `sentinel.llm.cost_usd` onto
//! the spans and events themselves. Prices come from `config/llm-prices.yaml` (embedded),
//! another file in that format, and optionally a LiteLLM price map.

mod config;
mod connector;
mod pricer;
pub mod prices;
mod processor;
pub mod usage;

#[cfg(test)]
mod compliance;
#[cfg(test)]
mod tests;

pub use config::{LlmCostConfig, LlmCostProcessorConfig};
pub use connector::{LlmCostConnector, LlmCostConnectorFactory};
pub use pricer::{Outcome, Pricer};
pub use processor::{LlmCostProcessor, LlmCostProcessorFactory, COST_ATTRIBUTE};
