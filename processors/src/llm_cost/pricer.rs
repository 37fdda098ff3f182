//! Pricing shared by the connector and the processor: the table, the warn-once memory of
//! unknown models, the cost cross-check against Claude Code, and their self-metrics.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sentinel_pipeline::{Kind, SelfMetrics};

use super::prices::{femto_to_usd, PriceTable, Priced};
use super::usage::LlmCall;

/// Unknown model ids remembered for warn-once; past this, they are only counted.
const MAX_WARNED_MODELS: usize = 1024;

/// A computed cost further than this from Claude Code's own figure counts as a mismatch.
const MISMATCH_TOLERANCE: f64 = 0.01;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    component_kind: &'static str,
    component_id: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component_kind: &'static str,
    component_id: String,
}

/// The llm_cost self-metric families, registered once per agent registry.
#[derive(Clone, Default)]
pub(crate) struct LlmFamilies {
    mismatch: Family<ModelLabels, Counter<u64, AtomicU64>>,
    unpriced: Family<ComponentLabels, Counter<u64, AtomicU64>>,
    overflow: Family<ComponentLabels, Counter<u64, AtomicU64>>,
}

pub(crate) fn families(metrics: &Arc<SelfMetrics>) -> LlmFamilies {
    LlmFamilies {
        mismatch: metrics.family(
            "llm_cost_mismatch",
            "Claude Code api_request events whose cost_usd differs from Sentinel's price table by more than 1%, by priced model",
            Family::default,
        ),
        unpriced: metrics.family(
            "llm_unpriced_calls",
            "LLM calls that could not be priced (unknown model or no price in force); never counted as $0",
            Family::default,
        ),
        overflow: metrics.family(
            "llm_series_overflow",
            "LLM cost/token data points folded into the otel.metric.overflow series because the series cap was reached",
            Family::default,
        ),
    }
}

/// The outcome of pricing one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Priced {
        femto_usd: u128,
        /// The call's provider, else the table's.
        provider: Option<String>,
    },
    Unpriced {
        provider: Option<String>,
    },
}

pub struct Pricer {
    table: PriceTable,
    labels: ComponentLabels,
    families: LlmFamilies,
    unpriced: Counter<u64, AtomicU64>,
    warned: Mutex<HashSet<String>>,
}

impl Pricer {
    /// `kind` tells the connector's counters from the processor's of the same id.
    pub fn new(table: PriceTable, kind: Kind, id: &str, metrics: &Arc<SelfMetrics>) -> Pricer {
        let families = families(metrics);
        let labels = ComponentLabels {
            component_kind: kind.as_str(),
            component_id: id.to_string(),
        };
        let unpriced = families.unpriced.get_or_create(&labels).clone();
        Pricer {
            table,
            labels,
            families,
            unpriced,
            warned: Mutex::default(),
        }
    }

    /// This component's series-overflow counter (the connector's series cap).
    pub(crate) fn overflow_counter(&self) -> Counter<u64, AtomicU64> {
        self.families.overflow.get_or_create(&self.labels).clone()
    }

    /// Prices a call; warns once per unknown model and checks a reported cost.
    pub fn price(&self, call: &LlmCall) -> Outcome {
        match self
            .table
            .price(&call.model, &call.tokens, call.time_unix_nano)
        {
            Priced::Cost {
                femto_usd,
                model,
                provider,
            } => {
                if let Some(reported) = call.reported_cost_usd.filter(|_| !call.priced_upstream) {
                    self.check_reported(&model, femto_usd, reported);
                }
                Outcome::Priced {
                    femto_usd,
                    provider: call.provider.clone().or(provider),
                }
            }
            Priced::UnknownModel => {
                self.unpriced(call, "the model is not in the price table");
                Outcome::Unpriced {
                    provider: call.provider.clone(),
                }
            }
            Priced::NoPriceInForce { .. } => {
                self.unpriced(call, "no price period had started at the call's time");
                Outcome::Unpriced {
                    provider: call.provider.clone(),
                }
            }
        }
    }

    /// Unknown model ids warned about so far (the warn-once memory).
    #[cfg(test)]
    pub(crate) fn warned_models(&self) -> usize {
        self.warned.lock().map(|w| w.len()).unwrap_or(0)
    }

    fn check_reported(&self, model: &str, femto_usd: u128, reported: f64) {
        let ours = femto_to_usd(femto_usd);
        let off = if reported > 0.0 {
            (ours - reported).abs() > reported * MISMATCH_TOLERANCE
        } else {
            ours > 0.0
        };
        if off {
            self.families
                .mismatch
                .get_or_create(&ModelLabels {
                    component_kind: self.labels.component_kind,
                    component_id: self.labels.component_id.clone(),
                    model: model.to_string(),
                })
                .inc();
            tracing::debug!(
                component = %self.labels.component_id,
                model,
                ours,
                reported,
                "LLM cost differs from the reported cost_usd by more than 1%"
            );
        }
    }

    fn unpriced(&self, call: &LlmCall, reason: &'static str) {
        if call.priced_upstream {
            return; // counted and warned about where it was first priced
        }
        self.unpriced.inc();
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.len() > MAX_WARNED_MODELS || warned.contains(&call.model) {
            return;
        }
        if warned.len() == MAX_WARNED_MODELS {
            warned.insert(String::new()); // marks the cap as announced
            tracing::warn!(
                component = %self.labels.component_id,
                "Many unpriced LLM models; further ones are only counted"
            );
            return;
        }
        warned.insert(call.model.clone());
        tracing::warn!(
            component = %self.labels.component_id,
            model = %call.model,
            reason,
            "LLM call not priced; counted in sentinel.llm.unpriced. Add the model to the price table."
        );
    }
}
