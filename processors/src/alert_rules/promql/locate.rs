//! Finds where an error is in the expression text. `promql-parser` gives no positions,
//! so we scan the text for the construct's token (strings and comments skipped).

use promql_parser::parser::lex;

use super::parse::{Position, Unsupported};

/// One token of the scan: identifiers and single punctuation characters, with their
/// character offset. Strings and comments are skipped; nesting is tracked.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    at: usize,
    /// Inside `{...}`.
    in_braces: bool,
    /// Inside `[...]`.
    in_brackets: bool,
}

fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let (mut out, mut i, mut braces, mut brackets) = (Vec::new(), 0, 0i32, 0i32);
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' && c != '`' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || (c == ':' && brackets == 0) {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '_'
                    || (chars[i] == ':' && brackets == 0))
            {
                i += 1;
            }
        } else {
            i += 1;
        }
        if c.is_whitespace() {
            continue;
        }
        match c {
            '{' => braces += 1,
            '}' => braces -= 1,
            '[' => brackets += 1,
            ']' => brackets -= 1,
            _ => {}
        }
        out.push(Token {
            text: chars[start..i].iter().collect(),
            at: start,
            in_braces: braces > 0,
            in_brackets: brackets > 0,
        });
    }
    out
}

/// Line and column of the character at `offset`.
fn position_of(text: &str, offset: usize) -> Position {
    let (mut line, mut column) = (1, 1);
    for c in text.chars().take(offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Position { line, column }
}

/// Where the unsupported construct starts.
pub(crate) fn construct(text: &str, found: &Unsupported) -> Option<Position> {
    let toks = tokens(text);
    let followed_by_paren = |i: usize| toks.get(i + 1).is_some_and(|t| t.text == "(");
    let hit = match found {
        Unsupported::Function(name) => toks
            .iter()
            .enumerate()
            .position(|(i, t)| t.text == *name && !t.in_braces && followed_by_paren(i)),
        Unsupported::Aggregation(op) | Unsupported::Operator(op) => toks
            .iter()
            .position(|t| t.text == *op && !t.in_braces && !t.in_brackets),
        Unsupported::At => toks.iter().position(|t| t.text == "@"),
        Unsupported::Subquery => toks.iter().position(|t| t.text == ":" && t.in_brackets),
        Unsupported::OrMatchers => toks.iter().position(|t| t.text == "or" && t.in_braces),
        Unsupported::Fill => toks.iter().position(|t| t.text.starts_with("fill")),
        Unsupported::StringLiteral => return first_string(text),
        Unsupported::Extension => None,
    };
    hit.map(|i| position_of(text, toks[i].at))
}

fn first_string(text: &str) -> Option<Position> {
    // The first quote outside a label matcher block is a string literal.
    let mut braces = 0;
    for (i, c) in text.chars().enumerate() {
        match c {
            '{' => braces += 1,
            '}' => braces -= 1,
            '"' | '\'' | '`' if braces == 0 => return Some(position_of(text, i)),
            _ => {}
        }
    }
    None
}

/// Where a parse error is, when it can be found: lexer errors are found by lexing
/// growing prefixes until the same message appears; an unclosed parenthesis is the
/// unmatched one. Grammar errors carry no position in `promql-parser`.
pub(crate) fn syntax_error(text: &str, message: &str) -> Option<Position> {
    if message.contains("unclosed left parenthesis") {
        let mut open = Vec::new();
        for t in tokens(text) {
            match t.text.as_str() {
                "(" => open.push(t.at),
                ")" => {
                    open.pop();
                }
                _ => {}
            }
        }
        return open.first().map(|&at| position_of(text, at));
    }
    if lex::lexer(text).is_ok() {
        return None;
    }
    let ends: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    ends.iter().enumerate().find_map(|(n, &end)| {
        let prefix = &text[..end];
        match lex::lexer(prefix) {
            Err(m) if m == message => Some(position_of(text, n)),
            _ => None,
        }
    })
}
