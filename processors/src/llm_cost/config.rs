use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use serde::{Deserialize, Serialize};

use super::prices::PriceTable;
use super::usage::SpanInput;

/// `llm_cost` connector: turns LLM calls (GenAI spans, Claude Code `claude_code.api_request`
/// log events) into the delta sums `sentinel.llm.cost` (USD), `sentinel.llm.tokens` and
/// `sentinel.llm.unpriced`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmCostConfig {
    /// Price table in Sentinel's YAML format (USD per million tokens); a relative path is
    /// relative to the agent's working directory. Default: the shipped
    /// `config/llm-prices.yaml`, embedded in the binary. Read once at startup.
    #[serde(default)]
    pub prices: Option<String>,
    /// A LiteLLM `model_prices_and_context_window.json` (USD per token) whose models are
    /// added to the table. Models the YAML table names keep the YAML prices.
    #[serde(default)]
    pub litellm_prices: Option<String>,
    /// Whether a span's input token count includes its cache reads and writes (the GenAI
    /// conventions say it does). When it does, they are subtracted before pricing.
    #[serde(default = "default_true")]
    pub span_input_includes_cache: bool,
    /// Most distinct attribute sets (provider, model, service, session) tracked; data for
    /// new ones beyond it goes to one series marked `otel.metric.overflow=true`, counted.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// A series not seen for this long no longer counts against `max_series`.
    #[serde(default = "default_series_idle", with = "humantime_serde")]
    pub series_idle: Duration,
}

impl Default for LlmCostConfig {
    fn default() -> Self {
        LlmCostConfig {
            prices: None,
            litellm_prices: None,
            span_input_includes_cache: true,
            max_series: default_max_series(),
            series_idle: default_series_idle(),
        }
    }
}

/// `llm_cost` processor: adds `sentinel.llm.cost_usd` to every priced GenAI span and
/// `claude_code.api_request` log record. Unpriced calls get no cost attribute (never $0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmCostProcessorConfig {
    /// As for the connector: Sentinel's YAML price table. Default: the shipped one.
    #[serde(default)]
    pub prices: Option<String>,
    /// As for the connector: a LiteLLM price map added to the table.
    #[serde(default)]
    pub litellm_prices: Option<String>,
    /// As for the connector.
    #[serde(default = "default_true")]
    pub span_input_includes_cache: bool,
}

fn default_true() -> bool {
    true
}

fn default_max_series() -> usize {
    10_000
}

fn default_series_idle() -> Duration {
    Duration::from_secs(3600)
}

pub(crate) fn span_input(includes_cache: bool) -> SpanInput {
    if includes_cache {
        SpanInput::IncludesCache
    } else {
        SpanInput::ExcludesCache
    }
}

/// Loading the files is part of validation, so `sentinel validate` reports a bad table.
fn validate_prices(
    prices: &Option<String>,
    litellm: &Option<String>,
) -> Result<(), ValidationError> {
    PriceTable::load(prices.as_deref(), litellm.as_deref())
        .map(|_| ())
        .map_err(|e| ValidationError::new(e.to_string()))
}

impl ComponentConfig for LlmCostConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.max_series == 0 {
            return Err(ValidationError::new("max_series must be greater than 0"));
        }
        if self.series_idle.is_zero() {
            return Err(ValidationError::new("series_idle must be greater than 0"));
        }
        validate_prices(&self.prices, &self.litellm_prices)
    }
}

impl ComponentConfig for LlmCostProcessorConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_prices(&self.prices, &self.litellm_prices)
    }
}
