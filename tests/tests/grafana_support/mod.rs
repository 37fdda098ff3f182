//! Grafana's query interpolation for the PostgreSQL data source, as Grafana does it:
//! 1. `$__interval_ms`, `$__interval`, `$__unixEpochFrom()`, `$__unixEpochTo()` (sqleng);
//! 2. template variables `$name` / `${name}`: multi-value or include-all variables become
//!    quoted literals joined by commas (`'a','b'`), single values have `'` doubled and no
//!    quotes (the SQL data sources' `interpolateVariable`);
//! 3. macros matched as `$name(args)` with args up to the first `)`, split on commas and
//!    trimmed (grafana-postgresql-datasource/macros.go): `$__time`, `$__timeEpoch`,
//!    `$__timeFilter` (`col BETWEEN '<from>' AND '<to>'`, RFC 3339 UTC), `$__timeFrom()`,
//!    `$__timeTo()`, `$__timeGroup(col, iv)` (`floor(extract(epoch from col)/S)*S`, with
//!    `AS "time"` added when a `,` follows, the pre-5.3 form), `$__timeGroupAlias`,
//!    `$__unixEpochFilter`, `$__unixEpochNanoFilter`, `$__unixEpochNanoFrom/To()`,
//!    `$__unixEpochGroup(Alias)`. Unknown macros are an error, as in Grafana.

#![allow(dead_code)]

pub mod traffic;

use std::collections::BTreeMap;

/// The dashboard time range, in Unix milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct TimeRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// A template variable's chosen value(s).
#[derive(Clone, Debug)]
pub enum VarValue {
    /// A multi-value / include-all variable: each value quoted.
    Multi(Vec<String>),
    /// A single value (textbox, single select): inserted with `'` doubled.
    Single(String),
}

/// The panel interval: text (`5s`) and milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Interval {
    pub text: &'static str,
    pub ms: u64,
}

pub fn expand(
    sql: &str,
    vars: &BTreeMap<String, VarValue>,
    range: TimeRange,
    interval: Interval,
) -> Result<String, String> {
    let sql = sql
        .replace("$__interval_ms", &interval.ms.to_string())
        .replace("$__interval", interval.text)
        .replace("$__unixEpochFrom()", &(range.from_ms / 1000).to_string())
        .replace("$__unixEpochTo()", &(range.to_ms / 1000).to_string());
    let sql = template_variables(&sql, vars);
    macros(&sql, range)
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn template_variables(sql: &str, vars: &BTreeMap<String, VarValue>) -> String {
    let render = |value: &VarValue| match value {
        VarValue::Multi(values) => values
            .iter()
            .map(|v| quote(v))
            .collect::<Vec<_>>()
            .join(","),
        VarValue::Single(v) => v.replace('\'', "''"),
    };
    let mut out = String::new();
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, used) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after.find(|c| !is_word(c)).unwrap_or(after.len());
            (&after[..end], end)
        };
        match vars.get(name) {
            Some(value) if used > 0 => {
                out.push_str(&render(value));
                rest = &after[used..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn macros(sql: &str, range: TimeRange) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let name_end = after.find(|c| !is_word(c)).unwrap_or(after.len());
        let name = &after[..name_end];
        let call = &after[name_end..];
        let close = call.find(')');
        if name.is_empty() || !call.starts_with('(') || close.is_none() {
            out.push('$');
            rest = after;
            continue;
        }
        let close = close.unwrap();
        let args: Vec<&str> = call[1..close].split(',').map(str::trim).collect();
        let tail = &call[close + 1..];
        // Pre-5.3 form: `$__timeGroup(...)` directly followed by a comma gets the alias.
        let name = if name == "__timeGroup" && tail.starts_with(',') {
            "__timeGroupAlias"
        } else {
            name
        };
        out.push_str(&evaluate(name, &args, range)?);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

fn evaluate(name: &str, args: &[&str], range: TimeRange) -> Result<String, String> {
    let column = || -> Result<&str, String> {
        args.first()
            .filter(|a| !a.is_empty())
            .copied()
            .ok_or_else(|| format!("missing time column argument for macro {name}"))
    };
    let (from_s, to_s) = (range.from_ms / 1000, range.to_ms / 1000);
    let (from_ns, to_ns) = (range.from_ms * 1_000_000, range.to_ms * 1_000_000);
    Ok(match name {
        "__time" => format!("{} AS \"time\"", column()?),
        "__timeEpoch" => format!("extract(epoch from {}) as \"time\"", column()?),
        "__timeFilter" => format!(
            "{} BETWEEN '{}' AND '{}'",
            column()?,
            rfc3339(range.from_ms),
            rfc3339(range.to_ms)
        ),
        "__timeFrom" => format!("'{}'", rfc3339(range.from_ms)),
        "__timeTo" => format!("'{}'", rfc3339(range.to_ms)),
        "__timeGroup" | "__timeGroupAlias" | "__unixEpochGroup" | "__unixEpochGroupAlias" => {
            let seconds = group_seconds(name, args)?;
            let expr = if name.starts_with("__timeGroup") {
                format!("floor(extract(epoch from {})/{seconds})*{seconds}", args[0])
            } else {
                format!("floor(({})/{seconds})*{seconds}", args[0])
            };
            if name.ends_with("Alias") {
                format!("{expr} AS \"time\"")
            } else {
                expr
            }
        }
        "__unixEpochFilter" => {
            let c = column()?;
            format!("{c} >= {from_s} AND {c} <= {to_s}")
        }
        "__unixEpochNanoFilter" => {
            let c = column()?;
            format!("{c} >= {from_ns} AND {c} <= {to_ns}")
        }
        "__unixEpochNanoFrom" => from_ns.to_string(),
        "__unixEpochNanoTo" => to_ns.to_string(),
        other => return Err(format!("unknown macro \"{other}\"")),
    })
}

/// The interval of a group macro in seconds, printed as Go's `%v` prints a float64.
fn group_seconds(name: &str, args: &[&str]) -> Result<String, String> {
    if args.len() < 2 {
        return Err(format!(
            "macro {name} needs time column and interval and optional fill value"
        ));
    }
    let text = args[1].trim_matches('\'');
    let seconds = parse_interval(text).ok_or_else(|| format!("error parsing interval {text}"))?;
    Ok(if seconds.fract() == 0.0 {
        format!("{}", seconds as i64)
    } else {
        format!("{seconds}")
    })
}

/// Grafana's interval syntax: a number and one of ms, s, m, h, d, w, y.
fn parse_interval(text: &str) -> Option<f64> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        "y" => 31_536_000.0,
        _ => return None,
    };
    Some(number * scale)
}

/// UTC RFC 3339 as Go's `time.RFC3339Nano` writes it (fraction without trailing zeros).
pub fn rfc3339(unix_ms: i64) -> String {
    let (days, ms_of_day) = (
        unix_ms.div_euclid(86_400_000),
        unix_ms.rem_euclid(86_400_000),
    );
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    let fraction = if ms == 0 {
        String::new()
    } else {
        format!(".{ms:03}").trim_end_matches('0').to_string()
    };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: TimeRange = TimeRange {
        from_ms: 1_492_750_877_000,
        to_ms: 1_492_751_177_500,
    };
    const IV: Interval = Interval {
        text: "5m",
        ms: 300_000,
    };

    #[test]
    fn macros_expand_as_grafana_documents() {
        let mut vars = BTreeMap::new();
        vars.insert(
            "service".to_string(),
            VarValue::Multi(vec!["shop".into(), "o'hara".into()]),
        );
        vars.insert("id".to_string(), VarValue::Single("it's".into()));
        let sql = "SELECT $__timeGroupAlias(ts, $__interval), $__timeGroup(ts,'1m'), x FROM t WHERE $__timeFilter(ts) AND s IN ($service) AND i = '${id}' AND e > $__unixEpochFrom() AND n < $__interval_ms AND f = $__timeFrom() AND $__unixEpochFilter(u) LIMIT $missing";
        assert_eq!(
            expand(sql, &vars, RANGE, IV).unwrap(),
            "SELECT floor(extract(epoch from ts)/300)*300 AS \"time\", floor(extract(epoch from ts)/60)*60 AS \"time\", x FROM t WHERE ts BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:06:17.5Z' AND s IN ('shop','o''hara') AND i = 'it''s' AND e > 1492750877 AND n < 300000 AND f = '2017-04-21T05:01:17Z' AND u >= 1492750877 AND u <= 1492751177 LIMIT $missing"
        );
        assert!(expand("$__nope(x)", &vars, RANGE, IV).is_err());
        assert_eq!(
            expand("$__timeGroup(ts, '500ms') AS b", &vars, RANGE, IV).unwrap(),
            "floor(extract(epoch from ts)/0.5)*0.5 AS b"
        );
    }
}
