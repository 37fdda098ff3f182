//! Binary operators: arithmetic and comparisons on scalars and vectors, vector
//! matching (one-to-one, many-to-one, one-to-many), and the set operators.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{ensure_unique, Ctx, Val};
use xxhash_rust::xxh64::Xxh64;

use super::labels::{Labels, METRIC_NAME};
use super::{EvalError, Sample};

/// Evaluates one binary expression.
pub(crate) fn binary(ctx: &Ctx<'_>, b: &BinaryExpr) -> Result<Val, EvalError> {
    let op = b.op.to_string();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ctx.eval(&b.lhs)?;
    let rhs = ctx.eval(&b.rhs)?;
    let out = match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (value, keep) = apply(&op, l, r)?;
            // The parser requires `bool` for scalar comparisons.
            let value = if is_comparison(&op) {
                f64::from(u8::from(keep))
            } else {
                value
            };
            return Ok(Val::Scalar(value));
        }
        (Val::Vector(l), Val::Scalar(r)) => vector_scalar(&op, l, r, false, return_bool)?,
        (Val::Scalar(l), Val::Vector(r)) => vector_scalar(&op, r, l, true, return_bool)?,
        (Val::Vector(l), Val::Vector(r)) => {
            let default = BinModifier {
                card: VectorMatchCardinality::OneToOne,
                matching: None,
                return_bool: false,
                fill_values: Default::default(),
            };
            let m = b.modifier.as_ref().unwrap_or(&default);
            match op.as_str() {
                "and" | "or" | "unless" => return Ok(Val::Vector(set_op(&op, l, r, m))),
                _ => vector_vector(&op, l, r, m)?,
            }
        }
        _ => {
            return Err(EvalError::Unsupported(
                "a binary operator on a range".into(),
            ))
        }
    };
    ensure_unique(&out)?;
    Ok(Val::Vector(out))
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// `(value, keep)`: arithmetic gives the result and keeps it; a comparison gives the
/// left value and whether it holds.
fn apply(op: &str, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (go_mod(l, r), true),
        "^" => (l.powf(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => return Err(EvalError::Unsupported(format!("operator `{other}`"))),
    })
}

/// Go's `math.Mod` (the result takes the sign of the dividend, like Rust's `%`).
fn go_mod(l: f64, r: f64) -> f64 {
    l % r
}

/// A vector against a scalar (`swap` when the scalar is on the left). A comparison
/// filters and keeps the vector's value; `bool` gives 0/1 instead. Arithmetic and
/// `bool` drop the metric name.
fn vector_scalar(
    op: &str,
    vector: Vec<Sample>,
    scalar: f64,
    swap: bool,
    return_bool: bool,
) -> Result<Vec<Sample>, EvalError> {
    let mut out = Vec::with_capacity(vector.len());
    let comparison = is_comparison(op);
    for s in vector {
        let (l, r) = if swap {
            (scalar, s.value)
        } else {
            (s.value, scalar)
        };
        let (mut value, mut keep) = apply(op, l, r)?;
        if comparison && swap {
            value = s.value;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if !comparison || return_bool {
                s.labels.without_name()
            } else {
                s.labels
            };
            out.push(Sample { labels, value });
        }
    }
    Ok(out)
}

/// Whether `name` takes part in the match-group signature: `on` lists the labels,
/// otherwise all labels but the `ignoring` ones and the metric name.
fn in_signature(name: &str, matching: Option<&LabelModifier>) -> bool {
    match matching {
        Some(LabelModifier::Include(names)) => names.labels.iter().any(|n| n == name),
        Some(LabelModifier::Exclude(names)) => {
            name != METRIC_NAME && !names.labels.iter().any(|n| n == name)
        }
        None => name != METRIC_NAME,
    }
}

/// The match-group signature as a hash of its labels, as Prometheus matches.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> u64 {
    let mut hasher = Xxh64::new(0);
    for (k, v) in labels.iter().filter(|(k, _)| in_signature(k, matching)) {
        hasher.update(k.as_bytes());
        hasher.update(&[0xff]);
        hasher.update(v.as_bytes());
        hasher.update(&[0xff]);
    }
    hasher.digest()
}

/// The match group's labels, for error messages.
fn signature_labels(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    Labels::from_pairs(labels.iter().filter(|(k, _)| in_signature(k, matching)))
}

/// Arithmetic and comparisons between two vectors with Prometheus's matching rules and
/// errors.
fn vector_vector(
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    m: &BinModifier,
) -> Result<Vec<Sample>, EvalError> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let matching = m.matching.as_ref();
    let (card_swapped, include) = match &m.card {
        VectorMatchCardinality::OneToMany(l) => (true, l.labels.clone()),
        VectorMatchCardinality::ManyToOne(l) => (false, l.labels.clone()),
        _ => (false, Vec::new()),
    };
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    // For one-to-many, the "many" side is walked and the values are swapped back.
    let (many, one) = if card_swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<u64, Sample> = HashMap::with_capacity(one.len());
    for s in one {
        let sig = signature(&s.labels, matching);
        if let Some(prev) = one_by_sig.get(&sig) {
            return Err(EvalError::DuplicateMatch {
                group: signature_labels(&s.labels, matching).to_string(),
                side: if card_swapped { "left" } else { "right" },
                first: s.labels.to_string(),
                second: prev.labels.to_string(),
            });
        }
        one_by_sig.insert(sig, s);
    }
    let comparison = is_comparison(op);
    // One-to-one: match groups seen; otherwise (group, result labels) seen.
    let mut matched: HashSet<u64> = HashSet::new();
    let mut grouped: HashSet<(u64, Labels)> = HashSet::new();
    let mut out = Vec::new();
    for s in many {
        let sig = signature(&s.labels, matching);
        let Some(other) = one_by_sig.get(&sig) else {
            continue;
        };
        let (l, r) = if card_swapped {
            (other.value, s.value)
        } else {
            (s.value, other.value)
        };
        let (mut value, keep) = apply(op, l, r)?;
        if m.return_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut labels = result_labels(&s.labels, &other.labels, comparison, m, &include);
        if m.return_bool {
            labels.remove(METRIC_NAME);
        }
        if one_to_one {
            if !matched.insert(sig) {
                return Err(EvalError::ManyToOneImplicit);
            }
        } else if !grouped.insert((sig, labels.clone())) {
            return Err(EvalError::GroupingNotUnique);
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
}

/// The result's labels: the "many" side's, without the name for arithmetic; for
/// one-to-one only the `on` labels or all but the `ignoring` ones; `group_x` labels
/// copied from the "one" side.
fn result_labels(
    many: &Labels,
    one: &Labels,
    comparison: bool,
    m: &BinModifier,
    include: &[String],
) -> Labels {
    let mut labels = if comparison {
        many.clone()
    } else {
        many.without_name()
    };
    if matches!(m.card, VectorMatchCardinality::OneToOne) {
        match &m.matching {
            Some(LabelModifier::Include(names)) => {
                let names: Vec<&str> = names.labels.iter().map(String::as_str).collect();
                labels = labels.keep_only(&names);
            }
            Some(LabelModifier::Exclude(names)) => {
                let names: Vec<&str> = names.labels.iter().map(String::as_str).collect();
                labels = labels.without(&names);
            }
            None => {}
        }
    }
    for name in include {
        match one.get(name) {
            Some(v) => labels.set(name.clone(), v.to_string()),
            None => labels.remove(name),
        }
    }
    labels
}

/// `and`, `or`, `unless` on match-group signatures; labels are never changed.
fn set_op(op: &str, lhs: Vec<Sample>, rhs: Vec<Sample>, m: &BinModifier) -> Vec<Sample> {
    let matching = m.matching.as_ref();
    let sigs = |v: &[Sample]| -> HashSet<u64> {
        v.iter().map(|s| signature(&s.labels, matching)).collect()
    };
    match op {
        "and" => {
            let right = sigs(&rhs);
            lhs.into_iter()
                .filter(|s| right.contains(&signature(&s.labels, matching)))
                .collect()
        }
        "unless" => {
            let right = sigs(&rhs);
            lhs.into_iter()
                .filter(|s| !right.contains(&signature(&s.labels, matching)))
                .collect()
        }
        _ => {
            let left = sigs(&lhs);
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|s| !left.contains(&signature(&s.labels, matching))),
            );
            out
        }
    }
}
