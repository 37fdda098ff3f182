//! Sentinel's own price file (`config/llm-prices.yaml`): USD per million tokens.
//!
//! ```yaml
//! models:
//!   - name: claude-sonnet-4-5
//!     provider: anthropic
//!     aliases: [claude-sonnet-4.5]
//!     patterns: ["claude-sonnet-4-5-*"]
//!     prices:
//!       - effective_from: 2025-09-29
//!         input: 3
//!         output: 15
//!         cache_read: 0.3
//!         cache_write: 3.75
//!         tiers:
//!           - above_input_tokens: 200000
//!             input: 6
//! ```

use sentinel_pipeline::config::{decode, parse_yaml};
use serde::Deserialize;

use super::{parse_date, to_femto, ModelPrices, Period, PriceError, Rates, Tier, ValueError};

/// Femto-dollars per token for one USD per million tokens.
const PER_MILLION: f64 = 1e9;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    models: Vec<ModelEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    name: String,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    prices: Vec<PeriodEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodEntry {
    #[serde(default)]
    effective_from: Option<String>,
    input: f64,
    output: f64,
    #[serde(default)]
    cache_read: Option<f64>,
    #[serde(default)]
    cache_write: Option<f64>,
    #[serde(default)]
    tiers: Vec<TierEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierEntry {
    above_input_tokens: u64,
    #[serde(default)]
    input: Option<f64>,
    #[serde(default)]
    output: Option<f64>,
    #[serde(default)]
    cache_read: Option<f64>,
    #[serde(default)]
    cache_write: Option<f64>,
}

/// Reads a price file from disk.
pub fn load(path: &str) -> Result<super::PriceTable, PriceError> {
    let text = std::fs::read_to_string(path).map_err(|source| PriceError::Read {
        path: path.to_string(),
        source,
    })?;
    parse(path, &text)
}

/// Parses a price file; errors name the file, line and column.
pub fn parse(file: &str, text: &str) -> Result<super::PriceTable, PriceError> {
    let node = parse_yaml(file, text)
        .map_err(|e| PriceError::Invalid(e.to_string()))?
        .ok_or_else(|| PriceError::Invalid(format!("{file}: empty price file")))?;
    let parsed: PriceFile = decode(&node).map_err(|d| PriceError::Invalid(d.to_string()))?;
    let models = parsed
        .models
        .into_iter()
        .map(|m| model(m).map_err(|e| PriceError::Invalid(format!("{file}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut table = super::PriceTable::default();
    table.extend(models);
    Ok(table)
}

fn rate(value: Option<f64>) -> Result<Option<u64>, ValueError> {
    value.map(|v| to_femto(v, PER_MILLION)).transpose()
}

/// A model entry that cannot be priced.
#[derive(Debug, thiserror::Error)]
enum ModelError {
    #[error("model {0}: `prices` needs at least one period")]
    NoPeriod(String),
    /// A rate or date that does not read (the reason comes from the shared parsers).
    #[error("model {model}: {reason}")]
    BadValue { model: String, reason: ValueError },
    #[error("model {0}: two price periods start on the same date")]
    SameStart(String),
}

fn model(entry: ModelEntry) -> Result<ModelPrices, ModelError> {
    let name = entry.name.to_ascii_lowercase();
    if entry.prices.is_empty() {
        return Err(ModelError::NoPeriod(name));
    }
    let mut periods = entry
        .prices
        .into_iter()
        .map(|p| {
            let from_unix_nano = p.effective_from.as_deref().map(parse_date).transpose()?;
            let mut tiers = p
                .tiers
                .into_iter()
                .map(|t| {
                    Ok(Tier {
                        above_input_tokens: t.above_input_tokens,
                        rates: Rates {
                            input: rate(t.input)?,
                            output: rate(t.output)?,
                            cache_read: rate(t.cache_read)?,
                            cache_write: rate(t.cache_write)?,
                        },
                    })
                })
                .collect::<Result<Vec<_>, ValueError>>()?;
            tiers.sort_by_key(|t| t.above_input_tokens);
            Ok(Period {
                from_unix_nano: from_unix_nano.unwrap_or(0),
                base: Rates {
                    input: rate(Some(p.input))?,
                    output: rate(Some(p.output))?,
                    cache_read: rate(p.cache_read)?,
                    cache_write: rate(p.cache_write)?,
                },
                tiers,
            })
        })
        .collect::<Result<Vec<_>, ValueError>>()
        .map_err(|reason| ModelError::BadValue {
            model: name.clone(),
            reason,
        })?;
    periods.sort_by_key(|p| p.from_unix_nano);
    if periods
        .windows(2)
        .any(|w| w[0].from_unix_nano == w[1].from_unix_nano)
    {
        return Err(ModelError::SameStart(name));
    }
    Ok(ModelPrices {
        name,
        provider: entry.provider,
        aliases: lower(entry.aliases),
        patterns: lower(entry.patterns),
        periods,
    })
}

fn lower(names: Vec<String>) -> Vec<String> {
    names.into_iter().map(|n| n.to_ascii_lowercase()).collect()
}
