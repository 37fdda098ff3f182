//! The Go-template subset Prometheus rule annotations and labels use: text with
//! `{{ ... }}` actions (`{{-`/`-}}` trim spaces), pipelines `a | f`, the variables
//! `$labels`, `$value`, `$externalLabels` (and `.Labels`, `.Value`, `.ExternalLabels`),
//! field access `$labels.instance`, string and number literals, and the functions
//! `humanize`, `humanize1024`, `humanizePercentage`, `humanizeDuration`, `printf`,
//! `index`, `toUpper`, `toLower`, `title`. Anything else (`if`, `range`, other functions)
//! is refused when the rule is loaded, with its position in the template.

use std::collections::BTreeMap;

use super::format::{go_float, humanize, humanize_1024, humanize_duration, printf};

/// A template that parsed, ready to expand.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action(Vec<Command>),
}

/// One command of a pipeline: a function with arguments, or a lone operand.
#[derive(Debug, Clone, PartialEq)]
enum Command {
    Call(Func, Vec<Operand>),
    Value(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Str(String),
    Num(f64),
    /// A variable (`labels`, `value`, `externalLabels`) and the fields read from it.
    Var(Var, Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Var {
    Root,
    Labels,
    Value,
    ExternalLabels,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Humanize,
    Humanize1024,
    HumanizePercentage,
    HumanizeDuration,
    Printf,
    Index,
    ToUpper,
    ToLower,
    Title,
}

const FUNCS: [(&str, Func); 9] = [
    ("humanize", Func::Humanize),
    ("humanize1024", Func::Humanize1024),
    ("humanizePercentage", Func::HumanizePercentage),
    ("humanizeDuration", Func::HumanizeDuration),
    ("printf", Func::Printf),
    ("index", Func::Index),
    ("toUpper", Func::ToUpper),
    ("toLower", Func::ToLower),
    ("title", Func::Title),
];

const KEYWORDS: [&str; 9] = [
    "if", "else", "end", "range", "with", "define", "template", "block", "break",
];

/// A template that cannot be parsed, at a 1-based line and column inside the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template line {line} col {col}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// What a template is expanded with.
pub struct Data<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone)]
enum TValue {
    Str(String),
    Num(f64),
    Map(BTreeMap<String, String>),
}

impl TValue {
    fn text(&self) -> String {
        match self {
            TValue::Str(s) => s.clone(),
            TValue::Num(n) => go_float(*n),
            TValue::Map(m) => {
                let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", pairs.join(" "))
            }
        }
    }

    fn number(&self) -> Result<f64, String> {
        match self {
            TValue::Num(n) => Ok(*n),
            TValue::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("cannot convert {s:?} to a number")),
            TValue::Map(_) => Err("cannot convert a map to a number".into()),
        }
    }
}

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Template {
    /// Parses `text`; errors name the construct and where it is.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let fail = |offset: usize, message: String| {
            let (line, col) = position(text, offset);
            TemplateError { line, col, message }
        };
        let mut parts = Vec::new();
        let mut rest = 0;
        let mut trim_next = false;
        while let Some(found) = text[rest..].find("{{") {
            let open = rest + found;
            let mut literal = &text[rest..open];
            if trim_next {
                literal = literal.trim_start();
            }
            let mut inner_start = open + 2;
            if text[inner_start..].starts_with("- ") || text[inner_start..].starts_with("-\n") {
                literal = literal.trim_end();
                inner_start += 1;
            }
            if !literal.is_empty() {
                parts.push(Part::Text(literal.to_string()));
            }
            let close = text[inner_start..]
                .find("}}")
                .map(|i| inner_start + i)
                .ok_or_else(|| fail(open, "unclosed action: missing }}".into()))?;
            let mut inner_end = close;
            trim_next = false;
            if inner_end > inner_start && text[..inner_end].ends_with(" -") {
                inner_end -= 1;
                trim_next = true;
            }
            let inner = &text[inner_start..inner_end];
            let trimmed = inner.trim();
            if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
                let commands =
                    parse_action(inner).map_err(|(at, msg)| fail(inner_start + at, msg))?;
                parts.push(Part::Action(commands));
            }
            rest = close + 2;
        }
        let mut literal = &text[rest..];
        if trim_next {
            literal = literal.trim_start();
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal.to_string()));
        }
        Ok(Template { parts })
    }

    /// Expands the template. A function that fails (humanize of a word) makes the whole
    /// result `<error expanding template: ...>`, as Prometheus writes it.
    pub fn expand(&self, data: &Data<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Action(commands) => match run(commands, data) {
                    Ok(value) => out.push_str(&value.text()),
                    Err(err) => return format!("<error expanding template: {err}>"),
                },
            }
        }
        out
    }
}

/// Splits an action into tokens with their offsets.
fn tokens(inner: &str) -> Result<Vec<(usize, String)>, (usize, String)> {
    let bytes = inner.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'`' {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                i += if bytes[i] == b'\\' && c == b'"' { 2 } else { 1 };
            }
            if i >= bytes.len() {
                return Err((start, "unterminated string".into()));
            }
            i += 1;
            out.push((start, inner[start..i].to_string()));
        } else if c == b'|' || c == b'(' || c == b')' {
            out.push((i, (c as char).to_string()));
            i += 1;
        } else {
            let start = i;
            while i < bytes.len()
                && !bytes[i].is_ascii_whitespace()
                && !b"|()\"`".contains(&bytes[i])
            {
                i += 1;
            }
            out.push((start, inner[start..i].to_string()));
        }
    }
    Ok(out)
}

fn parse_action(inner: &str) -> Result<Vec<Command>, (usize, String)> {
    let toks = tokens(inner)?;
    if toks.is_empty() {
        return Err((0, "empty action".into()));
    }
    let mut commands = Vec::new();
    for segment in toks.split(|(_, t)| t == "|") {
        let Some(((at, first), args)) = segment.split_first() else {
            return Err((inner.len(), "missing command in pipeline".into()));
        };
        if first == "(" || first == ")" {
            return Err((*at, "parenthesised pipelines are not supported".into()));
        }
        if KEYWORDS.contains(&first.as_str()) {
            return Err((*at, format!("unsupported template action {first:?}")));
        }
        if let Some((_, func)) = FUNCS.iter().find(|(name, _)| name == first) {
            let args = args
                .iter()
                .map(|(at, t)| operand(t).map_err(|m| (*at, m)))
                .collect::<Result<Vec<_>, _>>()?;
            commands.push(Command::Call(*func, args));
        } else if first.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err((*at, format!("unsupported template function {first:?}")));
        } else {
            if let Some((at, _)) = args.first() {
                return Err((*at, format!("{first} is not a function")));
            }
            commands.push(Command::Value(operand(first).map_err(|m| (*at, m))?));
        }
    }
    Ok(commands)
}

fn operand(token: &str) -> Result<Operand, String> {
    if let Some(quoted) = token.strip_prefix('`') {
        return Ok(Operand::Str(quoted.trim_end_matches('`').to_string()));
    }
    if token.starts_with('"') {
        return serde_json::from_str::<String>(token)
            .map(Operand::Str)
            .map_err(|_| format!("bad string literal {token}"));
    }
    if let Ok(n) = token.parse::<f64>() {
        return Ok(Operand::Num(n));
    }
    let (var, path) = if let Some(rest) = token.strip_prefix('$') {
        let mut fields = rest.split('.');
        let var = match fields.next().unwrap_or("") {
            "" => Var::Root,
            "labels" | "Labels" => Var::Labels,
            "value" | "Value" => Var::Value,
            "externalLabels" | "ExternalLabels" => Var::ExternalLabels,
            other => return Err(format!("undefined variable ${other}")),
        };
        (var, fields.map(str::to_string).collect::<Vec<_>>())
    } else if let Some(rest) = token.strip_prefix('.') {
        (Var::Root, rest.split('.').map(str::to_string).collect())
    } else {
        return Err(format!("unexpected {token:?}"));
    };
    let path: Vec<String> = path.into_iter().filter(|f| !f.is_empty()).collect();
    resolve_root(var, path)
}

/// `.Labels.x` is `$labels.x`: the root's fields become the variables.
fn resolve_root(var: Var, mut path: Vec<String>) -> Result<Operand, String> {
    if var != Var::Root {
        return Ok(Operand::Var(var, path));
    }
    if path.is_empty() {
        return Err("the template's data ($ or .) cannot be printed whole".into());
    }
    let var = match path.remove(0).as_str() {
        "Labels" => Var::Labels,
        "Value" => Var::Value,
        "ExternalLabels" => Var::ExternalLabels,
        other => return Err(format!("unknown field .{other}")),
    };
    Ok(Operand::Var(var, path))
}

fn value_of(op: &Operand, data: &Data<'_>) -> Result<TValue, String> {
    match op {
        Operand::Str(s) => Ok(TValue::Str(s.clone())),
        Operand::Num(n) => Ok(TValue::Num(*n)),
        Operand::Var(var, path) => {
            // `$labels.x`: read the one label instead of copying the map.
            let map = match var {
                Var::Labels => Some(data.labels),
                Var::ExternalLabels => Some(data.external_labels),
                _ => None,
            };
            if let (Some(map), [field]) = (map, path.as_slice()) {
                return Ok(TValue::Str(map.get(field).cloned().unwrap_or_default()));
            }
            let base = match var {
                Var::Value => TValue::Num(data.value),
                Var::Labels => TValue::Map(data.labels.clone()),
                Var::ExternalLabels => TValue::Map(data.external_labels.clone()),
                Var::Root => return Err("bad variable".into()),
            };
            path.iter().try_fold(base, |value, field| match value {
                // Prometheus expands with missingkey=zero: an absent label is "".
                TValue::Map(m) => Ok(TValue::Str(m.get(field).cloned().unwrap_or_default())),
                _ => Err(format!("can't evaluate field {field} of a non-map")),
            })
        }
    }
}

fn run(commands: &[Command], data: &Data<'_>) -> Result<TValue, String> {
    let mut piped: Option<TValue> = None;
    for command in commands {
        piped = Some(match command {
            Command::Value(op) => {
                if piped.is_some() {
                    return Err("a value cannot take piped input".into());
                }
                value_of(op, data)?
            }
            Command::Call(func, ops) => {
                let mut args = ops
                    .iter()
                    .map(|op| value_of(op, data))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(piped.take());
                call(*func, &args)?
            }
        });
    }
    piped.ok_or_else(|| "empty pipeline".into())
}

fn one<'a>(args: &'a [TValue], name: &str) -> Result<&'a TValue, String> {
    match args {
        [arg] => Ok(arg),
        _ => Err(format!("{name} takes 1 argument, got {}", args.len())),
    }
}

fn call(func: Func, args: &[TValue]) -> Result<TValue, String> {
    let text = |s: String| Ok(TValue::Str(s));
    match func {
        Func::Humanize => text(humanize(one(args, "humanize")?.number()?)),
        Func::Humanize1024 => text(humanize_1024(one(args, "humanize1024")?.number()?)),
        Func::HumanizePercentage => {
            let v = one(args, "humanizePercentage")?.number()?;
            text(format!("{}%", super::format::go_g(v * 100.0, 4)))
        }
        Func::HumanizeDuration => text(humanize_duration(one(args, "humanizeDuration")?.number()?)),
        Func::ToUpper => text(one(args, "toUpper")?.text().to_uppercase()),
        Func::ToLower => text(one(args, "toLower")?.text().to_lowercase()),
        Func::Title => text(title(&one(args, "title")?.text())),
        Func::Index => match args {
            [TValue::Map(m), key] => text(m.get(&key.text()).cloned().unwrap_or_default()),
            _ => Err("index takes a map and a key".into()),
        },
        Func::Printf => {
            let (format, rest) = args.split_first().ok_or("printf needs a format")?;
            let numbers: Vec<PrintArg> = rest
                .iter()
                .map(|a| match a {
                    TValue::Num(n) => PrintArg::Num(*n),
                    other => PrintArg::Str(other.text()),
                })
                .collect();
            text(printf(&format.text(), &numbers))
        }
    }
}

pub use super::format::PrintArg;

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str, value: f64) -> String {
        let labels = BTreeMap::from([("instance".to_string(), "db1:5432".to_string())]);
        let external = BTreeMap::from([("site".to_string(), "eu".to_string())]);
        Template::parse(text).unwrap().expand(&Data {
            labels: &labels,
            external_labels: &external,
            value,
        })
    }

    #[test]
    fn expands_the_prometheus_forms() {
        assert_eq!(
            expand("{{ $labels.instance }} at {{ $value }}", 1.5),
            "db1:5432 at 1.5"
        );
        assert_eq!(
            expand("{{ .Labels.instance }}/{{ $externalLabels.site }}", 0.0),
            "db1:5432/eu"
        );
        assert_eq!(expand("{{ humanize $value }}", 1234567.0), "1.235M");
        assert_eq!(expand("{{ $value | humanize }}B", 0.001), "1mB");
        assert_eq!(
            expand("{{ $value | humanizePercentage }}", 0.8512),
            "85.12%"
        );
        assert_eq!(expand("{{ humanizeDuration $value }}", 3725.0), "1h 2m 5s");
        assert_eq!(expand("{{ printf \"%.2f\" $value }}", 12.3456), "12.35");
        assert_eq!(expand("{{ $labels.missing }}|", 0.0), "|");
        assert_eq!(expand("a {{- $value -}} b", 2.0), "a2b");
        assert_eq!(expand("{{ $value }}", 1e6), "1e+06");
        assert_eq!(
            expand("{{ \"x\" | humanize }}", 0.0),
            "<error expanding template: cannot convert \"x\" to a number>"
        );
    }

    #[test]
    fn refuses_unsupported_syntax_with_its_position() {
        let err = Template::parse("ok\n  {{ if $value }}x{{ end }}").unwrap_err();
        assert_eq!((err.line, err.col), (2, 6));
        assert!(err.message.contains("\"if\""), "{}", err.message);
        let err = Template::parse("{{ reReplaceAll \"a\" \"b\" $value }}").unwrap_err();
        assert!(err.message.contains("reReplaceAll"));
        assert!(Template::parse("{{ $labels.x").is_err());
        assert!(Template::parse("{{ $nope }}").is_err());
    }
}
