//! LiteLLM's `model_prices_and_context_window.json`: an object keyed by model id, prices
//! in USD per token (`input_cost_per_token`, `output_cost_per_token`,
//! `cache_read_input_token_cost`, `cache_creation_input_token_cost`) and tiers as the same
//! fields with an `_above_<N>k_tokens` suffix.

use serde_json::{Map, Value};

use super::{to_femto, ModelPrices, Period, PriceError, Rates, Tier, ValueError};

/// Femto-dollars per token for one USD per token.
const PER_TOKEN: f64 = 1e15;

const INPUT: &str = "input_cost_per_token";
const OUTPUT: &str = "output_cost_per_token";
const CACHE_READ: &str = "cache_read_input_token_cost";
const CACHE_WRITE: &str = "cache_creation_input_token_cost";

/// What a LiteLLM file contributed.
#[derive(Debug)]
pub struct Loaded {
    pub models: Vec<ModelPrices>,
    /// Entries without both an input and an output token price (images, audio, search).
    pub skipped: usize,
}

/// Why a LiteLLM price map does not read.
#[derive(Debug, thiserror::Error)]
pub enum LiteLlmError {
    #[error("not a LiteLLM price map: {0}")]
    NotAPriceMap(serde_json::Error),
    #[error("model {model}: {reason}")]
    Model { model: String, reason: FieldError },
}

/// A price field of one model that does not read.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    #[error("{0} is not a number")]
    NotANumber(String),
    #[error("{key} is {found}, not a number")]
    WrongType { key: String, found: String },
    #[error(transparent)]
    Value(#[from] ValueError),
}

pub fn load(path: &str) -> Result<Loaded, PriceError> {
    let text = std::fs::read_to_string(path).map_err(|source| PriceError::Read {
        path: path.to_string(),
        source,
    })?;
    parse(&text).map_err(|e| PriceError::Invalid(format!("{path}: {e}")))
}

pub fn parse(text: &str) -> Result<Loaded, LiteLlmError> {
    let root: Map<String, Value> =
        serde_json::from_str(text).map_err(LiteLlmError::NotAPriceMap)?;
    let mut loaded = Loaded {
        models: Vec::with_capacity(root.len()),
        skipped: 0,
    };
    for (name, entry) in &root {
        if name == "sample_spec" {
            continue; // documents the fields; not a model
        }
        match entry.as_object().map(|fields| model(name, fields)) {
            Some(Ok(Some(model))) => loaded.models.push(model),
            Some(Ok(None)) | None => loaded.skipped += 1,
            Some(Err(reason)) => {
                return Err(LiteLlmError::Model {
                    model: name.clone(),
                    reason,
                })
            }
        }
    }
    Ok(loaded)
}

fn price(fields: &Map<String, Value>, key: &str) -> Result<Option<u64>, FieldError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| FieldError::NotANumber(key.to_string()))
            .and_then(|v| to_femto(v, PER_TOKEN).map_err(FieldError::from))
            .map(Some),
        Some(other) => Err(FieldError::WrongType {
            key: key.to_string(),
            found: other.to_string(),
        }),
    }
}

fn model(name: &str, fields: &Map<String, Value>) -> Result<Option<ModelPrices>, FieldError> {
    let (Some(input), Some(output)) = (price(fields, INPUT)?, price(fields, OUTPUT)?) else {
        return Ok(None);
    };
    let base = Rates {
        input: Some(input),
        output: Some(output),
        cache_read: price(fields, CACHE_READ)?,
        cache_write: price(fields, CACHE_WRITE)?,
    };
    let mut tiers: Vec<Tier> = Vec::new();
    for key in fields.keys() {
        let Some((field, threshold)) = tier_key(key) else {
            continue;
        };
        let rate = price(fields, key)?;
        let index = match tiers.iter().position(|t| t.above_input_tokens == threshold) {
            Some(i) => i,
            None => {
                tiers.push(Tier {
                    above_input_tokens: threshold,
                    rates: Rates::default(),
                });
                tiers.len() - 1
            }
        };
        let rates = &mut tiers[index].rates;
        match field {
            INPUT => rates.input = rate,
            OUTPUT => rates.output = rate,
            CACHE_READ => rates.cache_read = rate,
            _ => rates.cache_write = rate,
        }
    }
    tiers.sort_by_key(|t| t.above_input_tokens);
    Ok(Some(ModelPrices {
        name: name.to_ascii_lowercase(),
        provider: fields
            .get("litellm_provider")
            .and_then(Value::as_str)
            .map(str::to_string),
        aliases: Vec::new(),
        patterns: Vec::new(),
        periods: vec![Period {
            from_unix_nano: 0,
            base,
            tiers,
        }],
    }))
}

/// `input_cost_per_token_above_200k_tokens` → (`input_cost_per_token`, 200000). Other
/// suffixed fields (`_above_1hr`, `_batches`, `_priority`) are not token tiers.
fn tier_key(key: &str) -> Option<(&'static str, u64)> {
    let (field, rest) = key.split_once("_above_")?;
    let field = [INPUT, OUTPUT, CACHE_READ, CACHE_WRITE]
        .into_iter()
        .find(|f| *f == field)?;
    let thousands: u64 = rest.strip_suffix("k_tokens")?.parse().ok()?;
    Some((field, thousands * 1000))
}
