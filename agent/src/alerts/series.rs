//! promtool's input notation: series `name{label="value", ...}` and values
//! `1 2+3x4 _ stale 5x2 _x3`.

use std::collections::BTreeMap;

/// One value of an input series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    Value(f64),
    /// `_`: no sample at this step.
    Missing,
    /// `stale`: a staleness marker.
    Stale,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotationError(pub String);

fn bad(message: impl Into<String>) -> NotationError {
    NotationError(message.into())
}

/// `name{a="b"}` or `{__name__="name", a="b"}` into a label map with `__name__`.
pub fn parse_series(text: &str) -> Result<BTreeMap<String, String>, NotationError> {
    let text = text.trim();
    let (name, rest) = match text.find('{') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let mut labels = BTreeMap::new();
    let name = name.trim();
    if !name.is_empty() {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(bad(format!("invalid metric name {name:?}")));
        }
        labels.insert("__name__".to_string(), name.to_string());
    }
    if rest.is_empty() {
        return Ok(labels);
    }
    let inner = rest
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| bad(format!("unclosed label set in {text:?}")))?;
    let mut chars = inner.char_indices().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|(_, c)| c.is_whitespace() || *c == ',')
        {
            chars.next();
        }
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let eq = inner[start..]
            .find('=')
            .ok_or_else(|| bad(format!("expected label=\"value\" in {text:?}")))?;
        let key = inner[start..start + eq].trim().to_string();
        let after = &inner[start + eq + 1..];
        let quote_at = after
            .find('"')
            .filter(|i| after[..*i].trim().is_empty())
            .ok_or_else(|| bad(format!("label {key} needs a quoted value in {text:?}")))?;
        let value_start = start + eq + 1 + quote_at;
        let (value, len) = quoted(&inner[value_start..])
            .ok_or_else(|| bad(format!("unterminated value of {key} in {text:?}")))?;
        labels.insert(key, value);
        while chars.peek().is_some_and(|(i, _)| *i < value_start + len) {
            chars.next();
        }
    }
    Ok(labels)
}

/// A Go-quoted string at the start of `s`: its value and byte length.
fn quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn number(text: &str) -> Result<f64, NotationError> {
    match text {
        "Inf" | "+Inf" | "inf" | "+inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => text
            .parse()
            .map_err(|_| bad(format!("invalid value {text:?}"))),
    }
}

/// Expands a values string into one point per step.
pub fn parse_values(text: &str) -> Result<Vec<Point>, NotationError> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        if token.starts_with("{{") {
            return Err(bad("native histogram samples are not supported"));
        }
        match token {
            "_" => out.push(Point::Missing),
            "stale" => out.push(Point::Stale),
            _ => expand(token, &mut out)?,
        }
    }
    Ok(out)
}

/// `a+bxN`, `a-bxN`, `axN`, `_xN` or a plain number.
fn expand(token: &str, out: &mut Vec<Point>) -> Result<(), NotationError> {
    let Some((head, times)) = token.rsplit_once('x') else {
        out.push(Point::Value(number(token)?));
        return Ok(());
    };
    let times: usize = times
        .parse()
        .map_err(|_| bad(format!("invalid repetition in {token:?}")))?;
    if head == "_" {
        out.extend(std::iter::repeat_n(Point::Missing, times));
        return Ok(());
    }
    // The step's sign splits start and step; a leading sign belongs to the start.
    let split = head
        .char_indices()
        .skip(1)
        .filter(|(i, c)| (*c == '+' || *c == '-') && !head[..*i].ends_with(['e', 'E']))
        .map(|(i, _)| i)
        .last();
    let (start, step) = match split {
        Some(i) => (number(&head[..i])?, number(&head[i..])?),
        None => (number(head)?, 0.0),
    };
    for k in 0..=times {
        out.push(Point::Value(start + step * k as f64));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<Point> {
        parse_values(text).unwrap()
    }

    #[test]
    fn expands_promtool_notation() {
        let v = |x: &[f64]| x.iter().map(|&f| Point::Value(f)).collect::<Vec<_>>();
        assert_eq!(values("-2+4x3"), v(&[-2.0, 2.0, 6.0, 10.0]));
        assert_eq!(values("1-2x4"), v(&[1.0, -1.0, -3.0, -5.0, -7.0]));
        assert_eq!(values("1x4"), v(&[1.0; 5]));
        assert_eq!(
            values("1 _x3 stale"),
            [
                Point::Value(1.0),
                Point::Missing,
                Point::Missing,
                Point::Missing,
                Point::Stale
            ]
        );
        assert!(parse_values("1+x").is_err());
        let labels = parse_series(r#"up{job="a\"b", instance="x:1"}"#).unwrap();
        assert_eq!(labels["job"], "a\"b");
        assert_eq!(labels["instance"], "x:1");
        assert_eq!(labels["__name__"], "up");
        assert_eq!(parse_series("{__name__=\"x\"}").unwrap()["__name__"], "x");
    }
}
