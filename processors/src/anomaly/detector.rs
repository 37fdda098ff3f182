//! The streaming detector shared by the `anomaly` connector and `sentinel anomaly backtest`.
//!
//! One [`SeriesState`] per series (a fixed size: a few numbers and 24 hourly season slots
//! as f32, no buffers), updated once per point by [`Detector::step`]. A point is scored against the
//! state built from the points before it only, then folded into that state: no look-ahead.
//!
//! Raw detectors look at each value, each squashed into [0, 1):
//! - **level**: distance from a slow EWMA baseline, in units of its mean absolute deviation;
//! - **range**: how far the value lands outside the range seen lately (a decaying min/max);
//! - **season**: distance from the mean of this UTC hour of the day (24 slots), in units of
//!   the mean absolute deviation from those means;
//! - **change** (off by default): the step from the previous value, in units of past steps.
//!
//! The largest weighted one is the raw score. It is then judged against the series' own
//! history: a running estimate of a high quantile of its raw scores maps to 0.5, so a
//! series that is spiky all the time needs a bigger spike than a quiet one. (An HTM-style
//! likelihood stage is available instead; it measured lower on NAB.)
//!
//! **Probation:** the first `probation` points of a series score 0 while the baselines learn.
//!
//! An event (the connector's `sentinel.anomaly` log, the backtest's `label` 1) is emitted when
//! the score rises through the threshold, then no other for `cooldown` points.

use serde::{Deserialize, Serialize};

/// The detector's model: how fast each baseline learns and how the raw detectors combine.
/// The defaults were fitted on NAB's 51 labelled series (docs/anomaly.md); `model` in the
/// connector's config.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Model {
    /// Weight of a new point in the level baseline (EWMA mean and mean absolute
    /// deviation). Default 0.003.
    pub level_alpha: f64,
    /// Weight of a new step in the change baseline (EWMA of |step|). Default 0.01.
    pub change_alpha: f64,
    /// Per-point shrink of the remembered min/max towards the baseline. Default 0.0003.
    pub range_decay: f64,
    /// Deviations (level and change) at which a raw score reaches one half. Default 4.
    pub half_at: f64,
    /// Fraction of the recent range outside it at which the range score reaches one half.
    /// Default 0.1.
    pub range_half: f64,
    /// Weights of the level, change and range detectors; 0 turns one off. Default
    /// `[1, 0, 1]`: the change detector cost NAB points (docs/anomaly.md).
    pub weights: [f64; 3],
    /// Weight of the time-of-day detector: distance from the hourly seasonal mean (24
    /// slots, UTC), in deviations. 0 turns it off. Default 1.
    pub season_weight: f64,
    /// Weight of a new point in its hour's seasonal mean. Default 0.1.
    pub season_alpha: f64,
    /// Quantile of the series' own raw scores that maps to a score of 0.5, so a series
    /// that is always spiky needs a bigger spike; 0 turns the stage off. Default 0.998.
    pub quantile: f64,
    /// Step of the running quantile estimate. Default 0.003.
    pub quantile_rate: f64,
    /// Score through the HTM-style likelihood stage instead of the raw score. Default
    /// false: it scored lower on NAB here (docs/anomaly.md).
    pub likelihood: bool,
    /// Weight of a new raw score in the likelihood stage's short average. Default 0.3.
    pub short_alpha: f64,
    /// Weight of a new short average in the likelihood stage's long mean and variance.
    /// Default 0.002.
    pub long_alpha: f64,
    /// Smallest standard deviation of the likelihood stage's short averages. Default 0.03.
    pub min_std: f64,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            level_alpha: 0.003,
            change_alpha: 0.01,
            range_decay: 0.0003,
            half_at: 4.0,
            range_half: 0.1,
            weights: [1.0, 0.0, 1.0],
            season_weight: 1.0,
            season_alpha: 0.1,
            quantile: 0.998,
            quantile_rate: 0.003,
            likelihood: false,
            short_alpha: 0.3,
            long_alpha: 0.002,
            min_std: 0.03,
        }
    }
}

/// Everything the detector needs: the model, the probation and the event rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    pub model: Model,
    /// Points per series that score 0 while the baselines learn.
    pub probation: u32,
    /// Score at or above which an event is emitted (when the score rises through it).
    pub threshold: f64,
    /// Points after an event during which no other event is emitted.
    pub cooldown: u32,
}

/// Default probation, threshold and cooldown (the connector's defaults).
pub const DEFAULT_PROBATION: u32 = 100;
pub const DEFAULT_THRESHOLD: f64 = 0.7;
pub const DEFAULT_COOLDOWN: u32 = 200;

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            model: Model::default(),
            probation: DEFAULT_PROBATION,
            threshold: DEFAULT_THRESHOLD,
            cooldown: DEFAULT_COOLDOWN,
        }
    }
}

/// What the detector has learnt about one series: plain numbers, snapshotted bit for bit
/// by [`SeriesState::to_words`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SeriesState {
    /// Points seen.
    pub n: u64,
    mean: f64,
    dev: f64,
    prev: f64,
    step: f64,
    lo: f64,
    hi: f64,
    raw_short: f64,
    raw_mean: f64,
    raw_var: f64,
    q: f64,
    /// Seasonal mean per UTC hour, and which hours have one.
    season: [f32; SEASON_SLOTS],
    season_seen: u32,
    season_dev: f64,
    /// The previous score was at or above the threshold.
    above: bool,
    /// Points left in the cooldown after an event.
    quiet: u32,
}

/// Number of words in [`SeriesState::to_words`].
pub const STATE_WORDS: usize = 13 + SEASON_SLOTS / 2 + 2;
/// Slots of the time-of-day baseline: one per UTC hour.
pub const SEASON_SLOTS: usize = 24;

impl SeriesState {
    /// The state as 64-bit words (floats by their bits), so a snapshot restores it exactly.
    pub fn to_words(&self) -> [u64; STATE_WORDS] {
        let f = |x: f64| x.to_bits();
        let head = [
            self.n,
            f(self.mean),
            f(self.dev),
            f(self.prev),
            f(self.step),
            f(self.lo),
            f(self.hi),
            f(self.raw_short),
            f(self.raw_mean),
            f(self.raw_var),
            f(self.q),
            u64::from(self.above),
            u64::from(self.quiet),
        ];
        let mut out = [0u64; STATE_WORDS];
        out[..13].copy_from_slice(&head);
        for (i, pair) in self.season.chunks(2).enumerate() {
            out[13 + i] = u64::from(pair[0].to_bits()) << 32 | u64::from(pair[1].to_bits());
        }
        out[STATE_WORDS - 2] = u64::from(self.season_seen);
        out[STATE_WORDS - 1] = f(self.season_dev);
        out
    }

    /// The state from [`SeriesState::to_words`]; `None` for a wrong length.
    pub fn from_words(words: &[u64]) -> Option<SeriesState> {
        let w: &[u64; STATE_WORDS] = words.try_into().ok()?;
        let f = f64::from_bits;
        Some(SeriesState {
            n: w[0],
            mean: f(w[1]),
            dev: f(w[2]),
            prev: f(w[3]),
            step: f(w[4]),
            lo: f(w[5]),
            hi: f(w[6]),
            raw_short: f(w[7]),
            raw_mean: f(w[8]),
            raw_var: f(w[9]),
            q: f(w[10]),
            above: w[11] != 0,
            quiet: u32::try_from(w[12]).ok()?,
            season: std::array::from_fn(|i| {
                let word = w[13 + i / 2];
                let bits = if i % 2 == 0 {
                    word >> 32
                } else {
                    word & 0xffff_ffff
                };
                f32::from_bits(bits as u32)
            }),
            season_seen: u32::try_from(w[STATE_WORDS - 2]).ok()?,
            season_dev: f(w[STATE_WORDS - 1]),
        })
    }
}

/// Which raw detector gave the raw score, for the event's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Level,
    Change,
    Range,
    Season,
}

/// The verdict on one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Anomaly score in [0, 1].
    pub score: f64,
    /// The score rose through the threshold outside a cooldown: emit an event.
    pub event: bool,
    /// The band the baseline expected: mean ± `half_at` deviations.
    pub expected: (f64, f64),
    /// Signed distance from the baseline in deviations.
    pub sigmas: f64,
    /// The raw detector that dominated.
    pub cause: Cause,
}

impl Verdict {
    /// The detector's reason in words, e.g. "value 5.2σ above the baseline".
    pub fn reason(&self) -> String {
        let side = if self.sigmas >= 0.0 { "above" } else { "below" };
        let what = match self.cause {
            Cause::Level => "the slow baseline",
            Cause::Change => "the baseline, after an unusual step",
            Cause::Range => "the baseline, outside the range seen lately",
            Cause::Season => "the baseline, and unusual for this hour of the day",
        };
        format!("value {:.1}σ {side} {what}", self.sigmas.abs())
    }
}

/// What the raw detectors say about one point.
struct Raw {
    raw: f64,
    cause: Cause,
    /// The level baseline's deviation (bias-corrected, floored).
    dev: f64,
    /// Signed distance from the level baseline in deviations.
    level_z: f64,
}

/// The detector: its tuning. Stateless itself; the state lives in [`SeriesState`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Detector {
    pub config: DetectorConfig,
}

/// Smallest scale, relative to the value's magnitude, so a flat series has a finite one.
const REL_FLOOR: f64 = 1e-3;
const ABS_FLOOR: f64 = 1e-9;
/// Where the running quantile of raw scores starts: about where it settles for a series
/// with Gaussian-like noise, so a young series neither alerts on noise nor misses a spike.
const QUANTILE_START: f64 = 0.0;

impl Detector {
    pub fn new(config: DetectorConfig) -> Self {
        Detector { config }
    }

    /// Scores `x` against `state`, then learns it. Non-finite values are ignored (score 0).
    pub fn step(&self, state: &mut SeriesState, x: f64) -> Verdict {
        self.step_at(state, None, x)
    }

    /// [`Detector::step`] for a point at `second_of_day` (UTC), which the time-of-day
    /// detector uses; `None` leaves it out.
    pub fn step_at(&self, state: &mut SeriesState, second_of_day: Option<u32>, x: f64) -> Verdict {
        let slot = second_of_day.map(|s| (s / 3600) as usize % SEASON_SLOTS);
        let c = &self.config;
        let m = &c.model;
        if !x.is_finite() {
            return Verdict {
                score: 0.0,
                event: false,
                expected: (state.mean, state.mean),
                sigmas: 0.0,
                cause: Cause::Level,
            };
        }
        if state.n == 0 {
            *state = SeriesState {
                n: 0,
                mean: x,
                prev: x,
                lo: x,
                hi: x,
                q: QUANTILE_START,
                ..SeriesState::default()
            };
        }
        let Raw {
            raw,
            cause,
            dev,
            level_z,
        } = self.raw(state, slot, x);
        let likely = self.likelihood(state, raw);
        let score = if m.likelihood { likely } else { raw };
        let score = if m.quantile > 0.0 {
            self.relative(state, score)
        } else {
            score
        };
        let baseline = state.mean; // the band is what was expected before this point
        self.learn(state, slot, x);
        // In probation the event rule still tracks the score, so the first scored point
        // does not count as a rise; it only says nothing.
        let learning = state.n <= u64::from(c.probation);
        let event = self.alert(state, score, learning);
        let score = if learning { 0.0 } else { score };
        let half = m.half_at * dev;
        Verdict {
            score,
            event,
            expected: (baseline - half, baseline + half),
            sigmas: level_z,
            cause,
        }
    }

    /// The raw detectors on `x`, before any of them learns it.
    fn raw(&self, state: &SeriesState, slot: Option<usize>, x: f64) -> Raw {
        let m = &self.config.model;
        let floor = REL_FLOOR * (state.mean.abs() + (state.hi - state.lo)) + ABS_FLOOR;
        // The EWMAs of deviations start at 0: divide out that start-up bias (as Adam
        // does), or a young series would see every wiggle as many deviations.
        let seen = state.n.min(1 << 20) as i32;
        let unbias = |alpha: f64, value: f64| {
            let weight = 1.0 - (1.0 - alpha).powi(seen);
            if weight > 0.0 {
                value / weight
            } else {
                0.0
            }
        };
        let dev = unbias(m.level_alpha, state.dev).max(floor);
        let step_scale = unbias(m.change_alpha, state.step).max(floor);
        let level_z = (x - state.mean) / dev;
        let change_z = (x - state.prev).abs() / step_scale;
        let width = (state.hi - state.lo).max(floor);
        let outside = (x - state.hi).max(state.lo - x).max(0.0) / width;

        let squash = |z: f64| z / (z + m.half_at);
        let candidates = [
            (squash(m.weights[0] * level_z.abs()), Cause::Level),
            (squash(m.weights[1] * change_z), Cause::Change),
            (
                m.weights[2] * outside / (outside + m.range_half),
                Cause::Range,
            ),
            (
                squash(
                    m.season_weight
                        * season_z(
                            state,
                            slot,
                            x,
                            unbias(m.level_alpha, state.season_dev).max(floor),
                        ),
                ),
                Cause::Season,
            ),
        ];
        let (raw, cause) = candidates
            .into_iter()
            .fold((0.0, Cause::Level), |best, cand| {
                if cand.0 > best.0 {
                    cand
                } else {
                    best
                }
            });
        Raw {
            raw,
            cause,
            dev,
            level_z,
        }
    }

    /// HTM-style likelihood: how unusual the recent raw scores are next to the long run.
    fn likelihood(&self, state: &mut SeriesState, raw: f64) -> f64 {
        let c = &self.config.model;
        let first = state.n == 0;
        state.raw_short = if first {
            raw
        } else {
            state.raw_short + c.short_alpha * (raw - state.raw_short)
        };
        // As HTM: the distribution is that of the short averages themselves.
        let std = state.raw_var.sqrt().max(c.min_std);
        let z = (state.raw_short - state.raw_mean) / std;
        let d = state.raw_short - state.raw_mean;
        if first {
            state.raw_mean = state.raw_short;
        } else {
            state.raw_mean += c.long_alpha * d;
            state.raw_var = (1.0 - c.long_alpha) * (state.raw_var + c.long_alpha * d * d);
        }
        // Tail probability on a log scale, as HTM's log-likelihood: 1e-10 maps to 1.
        let tail = upper_tail(z).max(1e-10);
        (-tail.log10() / 10.0).clamp(0.0, 1.0)
    }

    /// The score relative to a running quantile of the series' own scores: the quantile
    /// maps to 0.5, so a series that is always spiky needs a bigger spike.
    fn relative(&self, state: &mut SeriesState, raw: f64) -> f64 {
        let m = &self.config.model;
        let q = state.q.clamp(1e-6, 1.0 - 1e-6);
        let score = if raw <= q {
            0.5 * raw / q
        } else {
            0.5 + 0.5 * (raw - q) / (1.0 - q)
        };
        let below = if raw < state.q { 1.0 } else { 0.0 };
        state.q = (state.q + m.quantile_rate * (m.quantile - below)).clamp(0.0, 1.0);
        score
    }

    fn learn(&self, state: &mut SeriesState, slot: Option<usize>, x: f64) {
        let c = &self.config.model;
        if let Some(slot) = slot {
            let bit = 1u32 << slot;
            if state.season_seen & bit == 0 {
                state.season[slot] = x as f32;
                state.season_seen |= bit;
            } else {
                let mean = f64::from(state.season[slot]);
                state.season_dev += c.level_alpha * ((x - mean).abs() - state.season_dev);
                state.season[slot] = (mean + c.season_alpha * (x - mean)) as f32;
            }
        }
        let dev_sample = (x - state.mean).abs();
        state.mean += c.level_alpha * (x - state.mean);
        state.dev += c.level_alpha * (dev_sample - state.dev);
        let step = (x - state.prev).abs();
        state.step += c.change_alpha * (step - state.step);
        state.prev = x;
        state.hi = x.max(state.hi - c.range_decay * (state.hi - state.mean).max(0.0));
        state.lo = x.min(state.lo + c.range_decay * (state.mean - state.lo).max(0.0));
        state.n += 1;
    }

    /// An event when the score rises through the threshold outside a cooldown.
    fn alert(&self, state: &mut SeriesState, score: f64, learning: bool) -> bool {
        let c = &self.config;
        let above = score >= c.threshold;
        let rising = above && !state.above;
        state.above = above;
        if learning {
            return false;
        }
        if state.quiet > 0 {
            state.quiet -= 1;
            return false;
        }
        if rising {
            state.quiet = c.cooldown;
        }
        rising
    }
}

/// Distance of `x` from its hour's seasonal mean in deviations; 0 without one.
fn season_z(state: &SeriesState, slot: Option<usize>, x: f64, dev: f64) -> f64 {
    match slot {
        Some(slot) if state.season_seen & (1 << slot) != 0 => {
            (x - f64::from(state.season[slot])).abs() / dev
        }
        _ => 0.0,
    }
}

/// P(Z > z) for a standard normal Z (Abramowitz–Stegun 7.1.26 on erfc).
fn upper_tail(z: f64) -> f64 {
    if z < 0.0 {
        return 1.0 - upper_tail(-z);
    }
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}
