//! A small shell parser for policy checks: it splits a command line into pipelines of
//! simple commands, the way `sh` would word-split them, and looks inside `$(…)`,
//! backticks, `<(…)`, subshells and `bash -c '…'`. It is not a full shell grammar; it is
//! built to see what will actually run, so that quoting or chaining cannot hide it.

/// One command of a pipeline, after quote removal, with prefixes such as `sudo` and
/// `env VAR=…` stripped so that `argv[0]` is the program that really runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleCommand {
    pub argv: Vec<String>,
    /// Targets of `>`, `>>`, `<`, `&>` and friends.
    pub redirects: Vec<String>,
    /// Programs run inside command substitutions in this command's words, e.g. `curl` in
    /// `sh -c "$(curl …)"`.
    pub substituted: Vec<String>,
    /// The command word is itself an expansion (`$(echo rm) -rf /`, `"$CMD" -rf /`): the
    /// program is not known until it runs, so checks judge its arguments as any program's.
    pub dynamic_program: bool,
}

impl SimpleCommand {
    /// The program's base name (`/bin/rm` → `rm`), or "" for an empty command.
    pub fn program(&self) -> &str {
        self.argv
            .first()
            .map(|p| p.rsplit('/').next().unwrap_or(p))
            .unwrap_or("")
    }

    pub fn args(&self) -> &[String] {
        self.argv.get(1..).unwrap_or(&[])
    }
}

/// Commands joined by `|`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pipeline {
    pub commands: Vec<SimpleCommand>,
}

/// How deep `bash -c` and substitutions are followed; deeper nesting is ignored.
const MAX_DEPTH: usize = 6;

/// Every pipeline the script would run, nested ones included.
pub fn parse(script: &str) -> Vec<Pipeline> {
    let mut out = Vec::new();
    parse_into(script, 0, &mut out);
    out
}

fn parse_into(script: &str, depth: usize, out: &mut Vec<Pipeline>) {
    if depth > MAX_DEPTH {
        return;
    }
    let mut lexer = Lexer {
        chars: script.chars().collect(),
        pos: 0,
        depth,
        nested: Vec::new(),
    };
    let mut pipeline = Pipeline::default();
    let mut command = RawCommand::default();
    while let Some(token) = lexer.next_token() {
        match token {
            Token::Word(word, substituted, expanded) => {
                if command.expect_redirect_target {
                    command.redirects.push(word);
                    command.expect_redirect_target = false;
                } else {
                    command.words.push(word);
                    command.expanded.push(expanded);
                }
                command.substituted.extend(substituted);
            }
            Token::Redirect => command.expect_redirect_target = true,
            Token::Pipe => pipeline.commands.extend(command.take().finish(depth, out)),
            Token::End => {
                pipeline.commands.extend(command.take().finish(depth, out));
                if !pipeline.commands.is_empty() {
                    out.push(std::mem::take(&mut pipeline));
                }
            }
        }
    }
    pipeline.commands.extend(command.finish(depth, out));
    if !pipeline.commands.is_empty() {
        out.push(pipeline);
    }
    out.append(&mut lexer.nested);
}

#[derive(Default)]
struct RawCommand {
    words: Vec<String>,
    /// Per word: it held a substitution or a parameter expansion.
    expanded: Vec<bool>,
    redirects: Vec<String>,
    substituted: Vec<String>,
    expect_redirect_target: bool,
}

impl RawCommand {
    fn take(&mut self) -> RawCommand {
        std::mem::take(self)
    }

    /// Strips prefixes and follows `sh -c`. Returns the command unless it is empty.
    fn finish(self, depth: usize, out: &mut Vec<Pipeline>) -> Option<SimpleCommand> {
        let before = self.words.len();
        let argv = strip_prefixes(self.words);
        // Prefixes are only ever removed from the front.
        let dynamic_program = !argv.is_empty()
            && self
                .expanded
                .get(before - argv.len())
                .copied()
                .unwrap_or(false);
        let command = SimpleCommand {
            argv,
            redirects: self.redirects,
            substituted: self.substituted,
            dynamic_program,
        };
        if let Some(script) = shell_dash_c(&command) {
            parse_into(&script, depth + 1, out);
        }
        // `eval "rm -rf /"` runs its arguments, joined by spaces, as a script.
        if command.program() == "eval" && !command.dynamic_program {
            parse_into(&command.args().join(" "), depth + 1, out);
        }
        (!command.argv.is_empty() || !command.redirects.is_empty()).then_some(command)
    }
}

const SHELLS: [&str; 7] = ["sh", "bash", "zsh", "dash", "ksh", "ash", "fish"];

/// The script of `bash -c 'script'` (also `bash -lc`, `sh -ec`, …).
fn shell_dash_c(command: &SimpleCommand) -> Option<String> {
    if !SHELLS.contains(&command.program()) {
        return None;
    }
    let mut args = command.args().iter();
    while let Some(arg) = args.next() {
        if arg.starts_with('-') && !arg.starts_with("--") && arg.contains('c') {
            return args.next().cloned();
        }
        if !arg.starts_with('-') {
            return None;
        }
    }
    None
}

/// Removes `VAR=value` assignments and wrappers that run another command (`sudo`, `env`,
/// `nohup`, `time`, `xargs`, …) until the real program is first.
fn strip_prefixes(mut words: Vec<String>) -> Vec<String> {
    loop {
        let before = words.len();
        while words
            .first()
            .is_some_and(|w| is_assignment(w) || w == "{" || w == "!")
        {
            words.remove(0);
        }
        let Some(first) = words.first() else {
            return words;
        };
        let program = first.rsplit('/').next().unwrap_or(first).to_string();
        // Options of each wrapper that take a separate value.
        let valued: &[&str] = match program.as_str() {
            "sudo" | "doas" => &["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"],
            "env" => &["-u", "-C", "-S", "--unset", "--chdir"],
            "nice" => &["-n"],
            "ionice" => &["-c", "-n", "-p"],
            "xargs" => &["-I", "-n", "-P", "-L", "-d", "-E", "-s", "-a"],
            "timeout" => &["-s", "-k", "--signal", "--kill-after"],
            "stdbuf" => &["-i", "-o", "-e"],
            "nohup" | "time" | "command" | "exec" | "builtin" | "caffeinate" | "unbuffer" => &[],
            _ => return words,
        };
        words.remove(0);
        while let Some(word) = words.first() {
            if valued.contains(&word.as_str()) {
                words.drain(..words.len().min(2));
            } else if (word.starts_with('-') && word != "-")
                || (program == "env" && is_assignment(word))
            {
                words.remove(0);
            } else {
                break;
            }
        }
        if program == "timeout" && !words.is_empty() {
            words.remove(0); // the duration
        }
        if words.len() == before {
            return words;
        }
    }
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

enum Token {
    /// A word after quote removal, with the programs of the substitutions inside it, and
    /// whether it held any expansion (`$(…)`, backticks, `$VAR`, `${VAR}`).
    Word(String, Vec<String>, bool),
    Redirect,
    Pipe,
    /// `;`, `&`, `&&`, `||`, newline, `(`, `)`: the end of a pipeline.
    End,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    /// Pipelines found inside substitutions.
    nested: Vec<Pipeline>,
}

impl Lexer {
    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn next_token(&mut self) -> Option<Token> {
        while matches!(self.peek(0), Some(' ' | '\t' | '\r')) {
            self.pos += 1;
        }
        let c = self.peek(0)?;
        match c {
            '#' => {
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                Some(Token::End)
            }
            '\n' | ';' | '(' | ')' => {
                self.pos += 1;
                Some(Token::End)
            }
            '|' => {
                self.pos += 1;
                if self.peek(0) == Some('|') {
                    self.pos += 1;
                    return Some(Token::End);
                }
                if self.peek(0) == Some('&') {
                    self.pos += 1; // `|&` pipes stderr too
                }
                Some(Token::Pipe)
            }
            '&' => {
                self.pos += 1;
                if self.peek(0) == Some('>') {
                    return Some(self.redirect());
                }
                if self.peek(0) == Some('&') {
                    self.pos += 1;
                }
                Some(Token::End)
            }
            '<' if self.peek(1) == Some('(') => Some(self.word()),
            '>' | '<' => Some(self.redirect()),
            _ => Some(self.word()),
        }
    }

    fn redirect(&mut self) -> Token {
        while matches!(self.peek(0), Some('>' | '<' | '&' | '|')) {
            self.pos += 1;
        }
        Token::Redirect
    }

    fn word(&mut self) -> Token {
        let mut word = String::new();
        let mut substituted = Vec::new();
        let start = self.pos;
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '|' | '&' | ')' => break,
                '(' if word.is_empty() => break,
                '>' | '<' if self.peek(1) != Some('(') => {
                    // `2>file`: the digits were a file descriptor, not a word.
                    if !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()) {
                        return self.redirect();
                    }
                    break;
                }
                '\\' => {
                    self.pos += 1;
                    if let Some(next) = self.peek(0) {
                        if next != '\n' {
                            word.push(next);
                        }
                        self.pos += 1;
                    }
                }
                '\'' => {
                    self.pos += 1;
                    while let Some(c) = self.peek(0) {
                        self.pos += 1;
                        if c == '\'' {
                            break;
                        }
                        word.push(c);
                    }
                }
                '"' => {
                    self.pos += 1;
                    while let Some(c) = self.peek(0) {
                        match c {
                            '"' => {
                                self.pos += 1;
                                break;
                            }
                            '\\' if matches!(self.peek(1), Some('"' | '\\' | '$' | '`')) => {
                                word.push(self.peek(1).unwrap_or_default());
                                self.pos += 2;
                            }
                            '$' if self.peek(1) == Some('(') => {
                                self.pos += 1;
                                substituted.extend(self.substitution(&mut word));
                            }
                            '`' => substituted.extend(self.backticks(&mut word)),
                            _ => {
                                word.push(c);
                                self.pos += 1;
                            }
                        }
                    }
                }
                '$' if self.peek(1) == Some('\'') => {
                    self.pos += 2;
                    while let Some(c) = self.peek(0) {
                        self.pos += 1;
                        match c {
                            '\'' => break,
                            '\\' => {
                                if let Some(next) = self.peek(0) {
                                    word.push(next);
                                    self.pos += 1;
                                }
                            }
                            _ => word.push(c),
                        }
                    }
                }
                '$' | '<' if self.peek(1) == Some('(') => {
                    self.pos += 1;
                    substituted.extend(self.substitution(&mut word));
                }
                '`' => substituted.extend(self.backticks(&mut word)),
                _ => {
                    word.push(c);
                    self.pos += 1;
                }
            }
        }
        let expanded = self.has_expansion(start);
        Token::Word(word, substituted, expanded)
    }

    /// Whether the raw text from `start` to here holds an expansion outside single quotes.
    fn has_expansion(&self, start: usize) -> bool {
        let raw = &self.chars[start..self.pos.min(self.chars.len())];
        let mut single = false;
        raw.iter().enumerate().any(|(i, c)| {
            if *c == '\'' {
                single = !single;
            }
            let next = raw.get(i + 1).copied().unwrap_or(' ');
            !single
                && (*c == '`'
                    || (*c == '$'
                        && (next == '('
                            || next == '{'
                            || next == '_'
                            || next.is_ascii_alphabetic())))
        })
    }

    /// At `(` of `$(` or `<(`: reads to the matching `)`, parses the inside, and returns
    /// the programs it runs. The word keeps the raw text so path checks still see it.
    fn substitution(&mut self, word: &mut String) -> Vec<String> {
        self.pos += 1;
        let start = self.pos;
        let mut depth = 1;
        let mut quote = None;
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), _) if c == q => quote = None,
                (None, '(') => depth += 1,
                (None, ')') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = if depth == 0 { self.pos - 1 } else { self.pos };
        let inner: String = self.chars[start..end].iter().collect();
        word.push_str(&inner);
        self.nested_programs(&inner)
    }

    fn backticks(&mut self, word: &mut String) -> Vec<String> {
        self.pos += 1;
        let start = self.pos;
        while self.peek(0).is_some_and(|c| c != '`') {
            self.pos += if self.peek(0) == Some('\\') { 2 } else { 1 };
        }
        let end = self.pos.min(self.chars.len());
        self.pos += 1;
        let inner: String = self.chars[start..end].iter().collect();
        word.push_str(&inner);
        self.nested_programs(&inner)
    }

    fn nested_programs(&mut self, script: &str) -> Vec<String> {
        let mut pipelines = Vec::new();
        parse_into(script, self.depth + 1, &mut pipelines);
        let programs = pipelines
            .iter()
            .flat_map(|p| p.commands.iter().map(|c| c.program().to_string()))
            .collect();
        self.nested.extend(pipelines);
        programs
    }
}

/// Whether the shell glob `pattern` (`*`, `?`, `[…]` as a set of characters) matches
/// `text`. Linear backtracking over the last `*`, so no pattern is exponential.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        let class_end = (p.get(pi) == Some(&'['))
            .then(|| p[pi..].iter().position(|c| *c == ']').map(|e| pi + e))
            .flatten();
        let one = match class_end {
            Some(end) => p[pi + 1..end].contains(&t[ti]).then_some(end + 1),
            None => {
                (pi < p.len() && p[pi] != '*' && (p[pi] == '?' || p[pi] == t[ti])).then_some(pi + 1)
            }
        };
        if let Some(next) = one {
            pi = next;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}
