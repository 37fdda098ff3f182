//! The price table: per-model rates with tiers, aliases, patterns and `effective_from`
//! periods, and exact cost arithmetic.
//!
//! Rates are held as integer femto-dollars (1e-15 USD) per token, so a cost is an exact
//! integer sum: `$3 / million tokens` is 3,000,000,000 fUSD per token, and 1,000 input plus
//! 500 output tokens of `claude-sonnet-4-5` is exactly 10,500,000,000,000 fUSD = $0.0105.
//! Every real price (USD per token with at most 15 decimals) is represented exactly.

pub mod litellm;
pub mod yaml;

use std::collections::HashMap;

/// Femto-dollars (1e-15 USD) in one dollar.
pub const FEMTO_PER_USD: u128 = 1_000_000_000_000_000;

/// The shipped table, used unless the config names another file.
pub const DEFAULT_TABLE: &str = include_str!("../../../../config/llm-prices.yaml");

/// Why a price file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("cannot read price file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A price or date in a price file that does not read.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("price {0} is not a non-negative number")]
    NotNonNegative(f64),
    #[error("price {0} is too large")]
    TooLarge(f64),
    #[error("invalid date {0:?}: expected YYYY-MM-DD")]
    Date(String),
}

/// Token counts of one LLM call, split by how they are billed (the four are disjoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens billed at the input rate (cache reads and writes excluded).
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

impl Tokens {
    /// The prompt size that selects a tier: all input, cached or not.
    pub fn prompt(&self) -> u64 {
        self.input + self.cache_read + self.cache_creation
    }
}

/// Rates in femto-dollars per token. A missing cache rate is billed at the input rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
}

impl Rates {
    /// `self` with the gaps filled from `base` (tiers only state what changes).
    fn over(&self, base: &Rates) -> Rates {
        Rates {
            input: self.input.or(base.input),
            output: self.output.or(base.output),
            cache_read: self.cache_read.or(base.cache_read),
            cache_write: self.cache_write.or(base.cache_write),
        }
    }
}

/// Rates that apply when the prompt is larger than `above_input_tokens`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub above_input_tokens: u64,
    pub rates: Rates,
}

/// The prices in force from `from_unix_nano` (0: always) until the next period starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub from_unix_nano: u64,
    pub base: Rates,
    /// Sorted by threshold, ascending.
    pub tiers: Vec<Tier>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelPrices {
    /// Canonical name, lower case.
    pub name: String,
    pub provider: Option<String>,
    pub aliases: Vec<String>,
    /// Globs (`*` = any run of characters) matched against the lower-cased model id.
    pub patterns: Vec<String>,
    /// Sorted by start, ascending.
    pub periods: Vec<Period>,
}

/// The outcome of pricing one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Priced {
    Cost {
        /// Exact cost in femto-dollars.
        femto_usd: u128,
        /// The table entry that priced it (canonical name).
        model: String,
        provider: Option<String>,
    },
    /// No entry matches the model id.
    UnknownModel,
    /// The model is known but no period had started at the call's time.
    NoPriceInForce { model: String },
}

/// A cost in USD as a float, for metric values and span attributes.
pub fn femto_to_usd(femto: u128) -> f64 {
    femto as f64 / FEMTO_PER_USD as f64
}

/// Converts a decimal price to femto-dollars per token. `scale` is femto-dollars per unit
/// of the figure (1e9 for USD per million tokens, 1e15 for USD per token). Rounding to
/// the nearest femto-dollar removes the float's representation error.
pub fn to_femto(value: f64, scale: f64) -> Result<u64, ValueError> {
    if !value.is_finite() || value < 0.0 {
        return Err(ValueError::NotNonNegative(value));
    }
    let femto = (value * scale).round();
    if femto > u64::MAX as f64 {
        return Err(ValueError::TooLarge(value));
    }
    Ok(femto as u64)
}

/// Models by name, alias and pattern.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    models: Vec<ModelPrices>,
    by_name: HashMap<String, usize>,
    patterns: Vec<(String, usize)>,
}

impl PriceTable {
    /// The shipped `config/llm-prices.yaml`.
    pub fn shipped() -> PriceTable {
        yaml::parse("config/llm-prices.yaml", DEFAULT_TABLE)
            .expect("the shipped price table is valid (tested)")
    }

    /// The table a config asks for: `prices` (or the shipped table), then the models of
    /// a LiteLLM file that the first does not name. Returns the table and how many LiteLLM
    /// entries had no token prices.
    pub fn load(prices: Option<&str>, litellm: Option<&str>) -> Result<PriceTable, PriceError> {
        let mut table = match prices {
            Some(path) => yaml::load(path)?,
            None => PriceTable::shipped(),
        };
        if let Some(path) = litellm {
            table.extend(litellm::load(path)?.models);
        }
        if table.is_empty() {
            return Err(PriceError::Invalid("the price table is empty".into()));
        }
        Ok(table)
    }

    /// Adds models; a name or alias already present keeps its first definition, so
    /// entries added earlier win.
    pub fn extend(&mut self, models: Vec<ModelPrices>) {
        for model in models {
            let index = self.models.len();
            let mut added = false;
            for name in std::iter::once(&model.name).chain(&model.aliases) {
                if !self.by_name.contains_key(name) {
                    self.by_name.insert(name.clone(), index);
                    added = true;
                }
            }
            for pattern in &model.patterns {
                self.patterns.push((pattern.clone(), index));
                added = true;
            }
            if added {
                self.models.push(model);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Finds the entry for a model id: exact name or alias, then without a `provider/`
    /// prefix, then the patterns in table order, then without a date suffix
    /// (`-20250929`, `-2024-08-06`, `@20250929`).
    pub fn find(&self, model_id: &str) -> Option<&ModelPrices> {
        let id = model_id.trim().to_ascii_lowercase();
        if id.is_empty() {
            return None;
        }
        let unprefixed = id.rsplit('/').next().unwrap_or(&id);
        let exact = |name: &str| self.by_name.get(name).map(|&i| &self.models[i]);
        exact(&id)
            .or_else(|| exact(unprefixed))
            .or_else(|| {
                self.patterns
                    .iter()
                    .find(|(pattern, _)| {
                        glob_match(pattern, &id) || glob_match(pattern, unprefixed)
                    })
                    .map(|&(_, i)| &self.models[i])
            })
            .or_else(|| strip_date_suffix(unprefixed).and_then(exact))
    }

    /// Prices one call made at `time_unix_nano`.
    pub fn price(&self, model_id: &str, tokens: &Tokens, time_unix_nano: u64) -> Priced {
        let Some(model) = self.find(model_id) else {
            return Priced::UnknownModel;
        };
        let Some(period) = model
            .periods
            .iter()
            .rev()
            .find(|p| p.from_unix_nano <= time_unix_nano)
        else {
            return Priced::NoPriceInForce {
                model: model.name.clone(),
            };
        };
        let prompt = tokens.prompt();
        let rates = period
            .tiers
            .iter()
            .rev()
            .find(|t| prompt > t.above_input_tokens)
            .map(|t| t.rates.over(&period.base))
            .unwrap_or(period.base);
        let input = rates.input.unwrap_or(0);
        let cost = |count: u64, rate: u64| count as u128 * rate as u128;
        let femto_usd = cost(tokens.input, input)
            + cost(tokens.output, rates.output.unwrap_or(0))
            + cost(tokens.cache_read, rates.cache_read.unwrap_or(input))
            + cost(tokens.cache_creation, rates.cache_write.unwrap_or(input));
        Priced::Cost {
            femto_usd,
            model: model.name.clone(),
            provider: model.provider.clone(),
        }
    }
}

/// `*` matches any run of characters (including none); everything else is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no '*' at all: exact match
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// `name-20250929` / `name-2024-08-06` / `name@20250929` → `name`.
fn strip_date_suffix(id: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if id.len() > 9 {
        let (head, tail) = id.split_at(id.len() - 9);
        if (tail.starts_with('-') || tail.starts_with('@')) && digits(&tail[1..]) {
            return Some(head);
        }
    }
    if id.len() > 11 {
        let (head, tail) = id.split_at(id.len() - 11);
        let b = tail.as_bytes();
        if b[0] == b'-'
            && b[5] == b'-'
            && b[8] == b'-'
            && digits(&tail[1..5])
            && digits(&tail[6..8])
            && digits(&tail[9..])
        {
            return Some(head);
        }
    }
    None
}

/// `YYYY-MM-DD` (UTC midnight) to Unix nanoseconds.
pub fn parse_date(text: &str) -> Result<u64, ValueError> {
    let bad = || ValueError::Date(text.to_string());
    let mut parts = text.trim().splitn(3, '-');
    let mut next = |len: usize| {
        parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (next(4)?, next(2)?, next(2)?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days as u64 * 86_400 * 1_000_000_000)
}

#[cfg(test)]
mod tests;
