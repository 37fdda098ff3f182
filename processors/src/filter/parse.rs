//! Parses the OTTL subset the filter understands, one condition per string:
//!
//! ```text
//! condition  := path ("==" | "!=") literal
//!             | "IsMatch" "(" path "," string ")"
//! path       := "name" | "metric.name" | "attributes" "[" string "]"
//!             | "resource.attributes" "[" string "]"
//! literal    := string | integer | float | "true" | "false" | "nil"
//! ```
//!
//! Strings are double-quoted with the escapes `\"`, `\\`, `\n`, `\t` and `\r`. Which paths
//! a condition may use depends on its context (see [`ContextKind`]).

use regex::Regex;

use super::condition::{ContextKind, Literal, Subject, Test};

/// Why a condition did not parse. Shown at the condition's line in the config.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid condition {condition:?}: {message} (at character {at})")]
pub struct ParseError {
    condition: String,
    message: String,
    /// 1-based position in the condition text.
    at: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Int(i64),
    Double(f64),
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Eq,
    NotEq,
}

/// A token and the 1-based character where it starts.
type Located = (usize, Token);

/// Parses one condition written for `context`.
pub fn parse(text: &str, context: ContextKind) -> Result<Test, ParseError> {
    let fail = |(at, message): (usize, String)| ParseError {
        condition: text.to_string(),
        message,
        at,
    };
    let tokens = tokenize(text).map_err(fail)?;
    let mut parser = Parser {
        tokens: &tokens,
        next: 0,
        end: text.chars().count() + 1,
        context,
    };
    let test = parser.condition().map_err(fail)?;
    parser.expect_end().map_err(fail)?;
    Ok(test)
}

type Failure = (usize, String);

fn tokenize(text: &str) -> Result<Vec<Located>, Failure> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let at = i + 1;
        let c = chars[i];
        let single = match c {
            '[' => Some(Token::LBracket),
            ']' => Some(Token::RBracket),
            '(' => Some(Token::LParen),
            ')' => Some(Token::RParen),
            ',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(token) = single {
            tokens.push((at, token));
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '=' || c == '!' {
            if chars.get(i + 1) != Some(&'=') {
                return Err((at, format!("`{c}` is not an operator; write `==` or `!=`")));
            }
            tokens.push((at, if c == '=' { Token::Eq } else { Token::NotEq }));
            i += 2;
        } else if c == '"' {
            let (value, next) = string(&chars, i)?;
            tokens.push((at, Token::Str(value)));
            i = next;
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let (token, next) = number(&chars, i)?;
            tokens.push((at, token));
            i = next;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_.".contains(chars[i])) {
                i += 1;
            }
            tokens.push((at, Token::Ident(chars[start..i].iter().collect())));
        } else {
            return Err((at, format!("unexpected `{c}`")));
        }
    }
    Ok(tokens)
}

/// A double-quoted string starting at `open`; returns it and the index after it.
fn string(chars: &[char], open: usize) -> Result<(String, usize), Failure> {
    let mut value = String::new();
    let mut i = open + 1;
    while let Some(&c) = chars.get(i) {
        match c {
            '"' => return Ok((value, i + 1)),
            '\\' => {
                let escaped = match chars.get(i + 1) {
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    other => {
                        let shown = other.map(|c| format!("\\{c}")).unwrap_or("\\".into());
                        return Err((
                            i + 1,
                            format!(
                                "unsupported escape `{shown}` in a string; a backslash is \
                                 written `\\\\` (so a regex `\\.` is `\"\\\\.\"`)"
                            ),
                        ));
                    }
                };
                value.push(escaped);
                i += 2;
            }
            _ => {
                value.push(c);
                i += 1;
            }
        }
    }
    Err((open + 1, "the string is not closed with `\"`".into()))
}

fn number(chars: &[char], start: usize) -> Result<(Token, usize), Failure> {
    let mut i = start + 1;
    while i < chars.len()
        && (chars[i].is_ascii_alphanumeric()
            || chars[i] == '.'
            || (matches!(chars[i], '+' | '-') && matches!(chars[i - 1], 'e' | 'E')))
    {
        i += 1;
    }
    let text: String = chars[start..i].iter().collect();
    let token = if text.contains(['.', 'e', 'E']) {
        text.parse().ok().map(Token::Double)
    } else {
        text.parse().ok().map(Token::Int)
    };
    token
        .map(|t| (t, i))
        .ok_or_else(|| (start + 1, format!("`{text}` is not a number")))
}

struct Parser<'t> {
    tokens: &'t [Located],
    next: usize,
    /// The position just after the text, for "expected ... at the end".
    end: usize,
    context: ContextKind,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(at, _)| *at)
    }

    fn take(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).map(|(_, t)| t.clone());
        self.next += 1;
        token
    }

    fn expect(&mut self, wanted: Token, what: &str) -> Result<(), Failure> {
        let at = self.position();
        match self.take() {
            Some(token) if token == wanted => Ok(()),
            found => Err((
                at,
                format!("expected {what}, found {}", describe(found.as_ref())),
            )),
        }
    }

    fn condition(&mut self) -> Result<Test, Failure> {
        if let Some(Token::Ident(name)) = self.peek() {
            if name == "IsMatch" {
                return self.is_match();
            }
            if name == "not" {
                return Err((self.position(), "`not` is not supported; use `!=`".into()));
            }
        }
        let subject = self.path()?;
        let at = self.position();
        let equal = match self.take() {
            Some(Token::Eq) => true,
            Some(Token::NotEq) => false,
            found => {
                return Err((
                    at,
                    format!(
                        "expected `==` or `!=` after {subject}, found {}",
                        describe(found.as_ref())
                    ),
                ))
            }
        };
        let literal = self.literal()?;
        Ok(Test::Compare {
            subject,
            equal,
            literal,
        })
    }

    fn is_match(&mut self) -> Result<Test, Failure> {
        self.take();
        self.expect(Token::LParen, "`(` after IsMatch")?;
        let subject = self.path()?;
        self.expect(Token::Comma, "`,` after the first argument of IsMatch")?;
        let at = self.position();
        let Some(Token::Str(pattern)) = self.take() else {
            return Err((at, "the pattern of IsMatch must be a string".into()));
        };
        let regex = Regex::new(&pattern)
            .map_err(|err| (at, format!("invalid regular expression: {err}")))?;
        self.expect(Token::RParen, "`)` closing IsMatch")?;
        Ok(Test::IsMatch { subject, regex })
    }

    fn path(&mut self) -> Result<Subject, Failure> {
        let at = self.position();
        let Some(Token::Ident(path)) = self.take() else {
            return Err((at, format!("expected a path: {}", paths(self.context))));
        };
        if self.peek() == Some(&Token::LParen) {
            return Err((
                at,
                format!("unsupported function `{path}`; only IsMatch is"),
            ));
        }
        let keyed = matches!(path.as_str(), "attributes" | "resource.attributes");
        let key = if keyed { Some(self.key(&path)?) } else { None };
        use ContextKind::*;
        let subject = match (path.as_str(), key, self.context) {
            ("name", _, Span | Metric) | ("metric.name", _, DataPoint) => Subject::Name,
            ("attributes", Some(key), Span | LogRecord | DataPoint) => Subject::Attribute(key),
            ("resource.attributes", Some(key), _) => Subject::ResourceAttribute(key),
            ("name", _, LogRecord) => return Err((at, "a log record has no name".into())),
            ("name", _, DataPoint) => {
                return Err((
                    at,
                    "a data point has no name; its metric's is `metric.name`".into(),
                ))
            }
            ("attributes", _, Metric) => {
                return Err((
                    at,
                    "a metric has no attributes; filter on data point attributes under \
                     `metrics.datapoint`"
                        .into(),
                ))
            }
            _ => {
                return Err((
                    at,
                    format!("unsupported path `{path}`; here: {}", paths(self.context)),
                ))
            }
        };
        Ok(subject)
    }

    /// `["key"]` after `attributes`.
    fn key(&mut self, path: &str) -> Result<String, Failure> {
        let what = format!("`[\"key\"]` after `{path}`");
        self.expect(Token::LBracket, &what)?;
        let at = self.position();
        let Some(Token::Str(key)) = self.take() else {
            return Err((at, format!("expected {what}")));
        };
        self.expect(Token::RBracket, "`]`")?;
        Ok(key)
    }

    fn literal(&mut self) -> Result<Literal, Failure> {
        let at = self.position();
        Ok(match self.take() {
            Some(Token::Str(s)) => Literal::String(s),
            Some(Token::Int(i)) => Literal::Int(i),
            Some(Token::Double(d)) => Literal::Double(d),
            Some(Token::Ident(word)) if word == "true" => Literal::Bool(true),
            Some(Token::Ident(word)) if word == "false" => Literal::Bool(false),
            Some(Token::Ident(word)) if word == "nil" => Literal::Nil,
            found => {
                return Err((
                    at,
                    format!(
                        "expected a value (\"text\", a number, true, false or nil), found {}",
                        describe(found.as_ref())
                    ),
                ))
            }
        })
    }

    fn expect_end(&mut self) -> Result<(), Failure> {
        let at = self.position();
        match self.take() {
            None => Ok(()),
            Some(Token::Ident(word)) if word == "and" || word == "or" => Err((
                at,
                format!(
                    "`{word}` is not supported: write each alternative as its own condition \
                     (an item matching any condition is dropped)"
                ),
            )),
            found => Err((
                at,
                format!(
                    "unexpected {} after the condition",
                    describe(found.as_ref())
                ),
            )),
        }
    }
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "the end of the condition".into(),
        Some(Token::Ident(word)) => format!("`{word}`"),
        Some(Token::Str(s)) => format!("{s:?}"),
        Some(Token::Int(i)) => format!("`{i}`"),
        Some(Token::Double(d)) => format!("`{d}`"),
        Some(Token::LBracket) => "`[`".into(),
        Some(Token::RBracket) => "`]`".into(),
        Some(Token::LParen) => "`(`".into(),
        Some(Token::RParen) => "`)`".into(),
        Some(Token::Comma) => "`,`".into(),
        Some(Token::Eq) => "`==`".into(),
        Some(Token::NotEq) => "`!=`".into(),
    }
}

/// The paths a context offers, for error messages.
fn paths(context: ContextKind) -> &'static str {
    match context {
        ContextKind::Span => "`name`, `attributes[\"key\"]`, `resource.attributes[\"key\"]`",
        ContextKind::LogRecord => "`attributes[\"key\"]`, `resource.attributes[\"key\"]`",
        ContextKind::Metric => "`name`, `resource.attributes[\"key\"]`",
        ContextKind::DataPoint => {
            "`metric.name`, `attributes[\"key\"]`, `resource.attributes[\"key\"]`"
        }
    }
}
