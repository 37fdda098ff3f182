//! The kinds of check a policy rule can make. Each is parameterised from the rule file, so
//! the lists of targets, programs and devices are data, not code.

use sentinel_pipeline::config::ValidationError;
use serde::Deserialize;
use serde_json::Value;

use super::paths::{self, normalise};
use super::shell::{self, Pipeline, SimpleCommand};

/// What a rule looks at: the tool's command (parsed) or its file paths.
pub struct Subject {
    pipelines: Vec<Pipeline>,
    raw_command: String,
    paths: Vec<String>,
    /// Whose `~` the command's paths are relative to.
    home: Option<String>,
}

impl Subject {
    pub fn new(tool: &str, input: &Value) -> Subject {
        let raw_command = input
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let pipelines = if tool == "Bash" {
            shell::parse(&raw_command)
        } else {
            Vec::new()
        };
        let paths = ["file_path", "path", "notebook_path"]
            .iter()
            .filter_map(|k| input.get(*k).and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        Subject {
            pipelines,
            raw_command,
            paths,
            home: paths::home(),
        }
    }

    /// The same subject judged as if `home` were the user's home directory.
    #[cfg(test)]
    pub fn with_home(mut self, home: Option<&str>) -> Subject {
        self.home = home.map(str::to_string);
        self
    }

    fn normalise(&self, path: &str) -> String {
        normalise(path, self.home.as_deref())
    }

    /// Whether `path` names one of `targets`, however either is spelled.
    fn is_target(&self, path: &str, targets: &[String]) -> bool {
        let path = self.normalise(path);
        targets.iter().any(|t| self.normalise(t) == path)
    }

    fn commands(&self) -> impl Iterator<Item = &SimpleCommand> {
        self.pipelines.iter().flat_map(|p| p.commands.iter())
    }
}

/// Exactly one of these is set in a rule's `when:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `rm` with both recursive and force flags on one of `targets` (paths compared after
    /// normalisation, see [`normalise`]: `/*` is the shell glob of everything under `/`).
    /// A command word that is itself an expansion (`$(echo rm) -rf /`) counts as `rm`.
    pub rm_recursive_force: Option<Targets>,
    /// `find` starting at one of `targets` with `-delete`, or `-exec`/`-execdir`/`-ok` of
    /// `rm`, `shred` or `unlink` (`find / -delete`, `find ~ -exec rm -rf {} +`), unless a
    /// test narrows what it finds (`-name '*.o'`, `-mtime`, `-empty`; not `-type`).
    pub find_delete: Option<Targets>,
    /// `chmod` with a recursive flag, one of `modes`, on one of `targets`.
    pub chmod_recursive: Option<ChmodCheck>,
    /// A download program piped into (or substituted into) a shell.
    pub pipe_to_shell: Option<PipeToShell>,
    /// Any of these programs; `*` in a name is a wildcard (`mkfs.*`).
    pub program: Option<Vec<String>>,
    /// `dd` whose `of=` is a device matching one of these globs.
    pub dd_to_device: Option<Vec<String>>,
    /// The `:(){ :|:& };:` shape, under any function name.
    pub fork_bomb: Option<bool>,
    /// `git push` with `--force`/`-f`/`+refspec` onto one of `branches`.
    /// `--force-with-lease` alone is not a forced push here.
    pub git_force_push: Option<GitForcePush>,
    /// A file whose name matches `names` (globs) but not `except`, read or written: by a
    /// file tool's path, a Bash argument, or a redirect.
    pub file_access: Option<FileAccess>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    pub targets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChmodCheck {
    pub modes: Vec<String>,
    pub targets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipeToShell {
    pub sources: Vec<String>,
    pub shells: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitForcePush {
    pub branches: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAccess {
    pub names: Vec<String>,
    #[serde(default)]
    pub except: Vec<String>,
    /// Programs whose arguments are not file accesses (`echo .env` prints a word).
    #[serde(default)]
    pub ignore_programs: Vec<String>,
    /// Interpreters (globs, `python*`) whose one-liners are searched for the names too:
    /// `python -c "open('.env')"`, `node -e "fs.readFileSync('.env')"`, `ruby -e`, `perl -e`.
    #[serde(default)]
    pub interpreters: Vec<String>,
}

impl Condition {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let set = [
            self.rm_recursive_force.is_some(),
            self.find_delete.is_some(),
            self.chmod_recursive.is_some(),
            self.pipe_to_shell.is_some(),
            self.program.is_some(),
            self.dd_to_device.is_some(),
            self.fork_bomb.is_some(),
            self.git_force_push.is_some(),
            self.file_access.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        match set {
            1 => Ok(()),
            0 => Err(ValidationError::new("`when` needs one check")),
            _ => Err(ValidationError::new("`when` takes exactly one check")),
        }
    }

    pub fn matches(&self, subject: &Subject) -> bool {
        if let Some(check) = &self.rm_recursive_force {
            return subject
                .commands()
                .any(|c| rm_recursive_force(subject, c, &check.targets));
        }
        if let Some(check) = &self.find_delete {
            return subject
                .commands()
                .any(|c| find_delete(subject, c, &check.targets));
        }
        if let Some(check) = &self.chmod_recursive {
            return subject
                .commands()
                .any(|c| chmod_recursive(subject, c, check));
        }
        if let Some(check) = &self.pipe_to_shell {
            return pipe_to_shell(subject, check);
        }
        if let Some(programs) = &self.program {
            return subject
                .commands()
                .any(|c| programs.iter().any(|p| glob(p, c.program())));
        }
        if let Some(devices) = &self.dd_to_device {
            return subject.commands().any(|c| {
                c.program() == "dd"
                    && c.args().iter().any(|a| {
                        a.strip_prefix("of=").is_some_and(|dev| {
                            let dev = subject.normalise(dev);
                            devices.iter().any(|d| glob(d, &dev))
                        })
                    })
            });
        }
        if self.fork_bomb == Some(true) {
            return fork_bomb(&subject.raw_command);
        }
        if let Some(check) = &self.git_force_push {
            return subject
                .commands()
                .any(|c| git_force_push(c, &check.branches));
        }
        if let Some(check) = &self.file_access {
            return file_access(subject, check);
        }
        false
    }
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Splits flags from operands; short flag clusters (`-rf`) are expanded to their letters.
fn flags_and_operands(args: &[String]) -> (Vec<String>, Vec<&str>) {
    let mut flags = Vec::new();
    let mut operands = Vec::new();
    let mut only_operands = false;
    for arg in args {
        if only_operands || arg == "-" || !arg.starts_with('-') {
            operands.push(arg.as_str());
        } else if arg == "--" {
            only_operands = true;
        } else if let Some(long) = arg.strip_prefix("--") {
            flags.push(long.split('=').next().unwrap_or(long).to_string());
        } else {
            flags.extend(arg[1..].chars().map(|c| c.to_string()));
        }
    }
    (flags, operands)
}

fn rm_recursive_force(subject: &Subject, command: &SimpleCommand, targets: &[String]) -> bool {
    if command.program() != "rm" && !command.dynamic_program {
        return false;
    }
    let (flags, operands) = flags_and_operands(command.args());
    let recursive = flags
        .iter()
        .any(|f| f == "r" || f == "R" || f == "recursive");
    let force = flags.iter().any(|f| f == "f" || f == "force");
    recursive && force && operands.iter().any(|op| subject.is_target(op, targets))
}

fn chmod_recursive(subject: &Subject, command: &SimpleCommand, check: &ChmodCheck) -> bool {
    if command.program() != "chmod" {
        return false;
    }
    let (flags, operands) = flags_and_operands(command.args());
    if !flags.iter().any(|f| f == "R" || f == "recursive") {
        return false;
    }
    let Some((mode, paths)) = operands.split_first() else {
        return false;
    };
    check.modes.iter().any(|m| m == mode)
        && paths.iter().any(|p| subject.is_target(p, &check.targets))
}

fn pipe_to_shell(subject: &Subject, check: &PipeToShell) -> bool {
    let is_shell = |c: &SimpleCommand| check.shells.iter().any(|s| s == c.program());
    let is_source = |p: &str| check.sources.iter().any(|s| s == p);
    let piped = subject.pipelines.iter().any(|p| {
        let first_source = p.commands.iter().position(|c| is_source(c.program()));
        first_source.is_some_and(|i| p.commands[i + 1..].iter().any(is_shell))
    });
    // `sh -c "$(curl …)"` and `bash <(wget -O- …)`.
    let substituted = subject
        .commands()
        .any(|c| is_shell(c) && c.substituted.iter().any(|p| is_source(p)));
    piped || substituted
}

fn fork_bomb(raw: &str) -> bool {
    let text: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    text.match_indices("(){").any(|(at, _)| {
        let name: String = text[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        !name.is_empty() && text[at + 3..].starts_with(&format!("{name}|{name}&"))
    })
}

fn git_force_push(command: &SimpleCommand, branches: &[String]) -> bool {
    if command.program() != "git" {
        return false;
    }
    // Skip git's own options (`-C dir`, `-c key=value`) up to the subcommand.
    let mut args = command.args().iter();
    let mut rest = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "-C" || arg == "-c" {
            args.next();
        } else if arg.starts_with('-') {
            continue;
        } else if arg == "push" {
            rest = args.cloned().collect();
            break;
        } else {
            return false;
        }
    }
    let (flags, operands) = flags_and_operands(&rest);
    let forced_flag = flags.iter().any(|f| f == "force" || f == "f");
    // The first operand is the remote; the rest are refspecs.
    operands.iter().skip(1).any(|refspec| {
        let plus = refspec.starts_with('+');
        let dest = refspec
            .trim_start_matches('+')
            .rsplit(':')
            .next()
            .unwrap_or("");
        let dest = dest.strip_prefix("refs/heads/").unwrap_or(dest);
        (forced_flag || plus) && branches.iter().any(|b| b == dest)
    })
}

/// `find PATH… EXPRESSION` deleting what it finds under one of `targets`.
fn find_delete(subject: &Subject, command: &SimpleCommand, targets: &[String]) -> bool {
    if command.program() != "find" && !command.dynamic_program {
        return false;
    }
    let args = command.args();
    // Leading options -H -L -P -O3 -D x, then start paths up to the expression.
    let mut at = 0;
    while let Some(arg) = args.get(at) {
        match arg.as_str() {
            "-H" | "-L" | "-P" => at += 1,
            "-D" => at += 2,
            a if a.starts_with("-O") => at += 1,
            _ => break,
        }
    }
    let paths: Vec<&String> = args[at.min(args.len())..]
        .iter()
        .take_while(|a| !a.starts_with('-') && *a != "(" && *a != "!")
        .collect();
    let deletes = args.iter().enumerate().any(|(i, a)| {
        a == "-delete"
            || (matches!(a.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir")
                && args.get(i + 1).is_some_and(|p| {
                    let program = p.rsplit('/').next().unwrap_or(p);
                    matches!(program, "rm" | "shred" | "unlink")
                }))
    });
    // `-name '*.o'` narrows what goes; `-type f` or `-name '*'` do not.
    let narrowed = args.windows(2).any(|pair| {
        let narrowing = matches!(
            pair[0].as_str(),
            "-name" | "-iname" | "-path" | "-ipath" | "-wholename" | "-regex" | "-iregex"
        ) && !matches!(pair[1].as_str(), "*" | ".*" | "*/*");
        let bounded = matches!(
            pair[0].as_str(),
            "-mtime" | "-mmin" | "-atime" | "-newer" | "-size" | "-user" | "-group" | "-perm"
        );
        narrowing || bounded
    }) || args.iter().any(|a| a == "-empty");
    deletes && !narrowed && paths.iter().any(|p| subject.is_target(p, targets))
}

fn file_access(subject: &Subject, check: &FileAccess) -> bool {
    let sensitive = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        check.names.iter().any(|n| glob(n, name)) && !check.except.iter().any(|e| glob(e, name))
    };
    // `cat .e*`: a shell glob that could expand to a sensitive name. Sample names are the
    // patterns with `*` filled in; a leading `*` or `?` does not match a leading dot.
    let glob_hits = |arg: &str| {
        let name = arg.rsplit('/').next().unwrap_or(arg);
        name.contains(['*', '?', '['])
            && !name.chars().all(|c| "*?[]".contains(c))
            && check.names.iter().any(|n| {
                let sample = n.replace('*', "x");
                (sample.starts_with('.') == name.starts_with('.') || !name.starts_with(['*', '?']))
                    && shell::glob_matches(name, &sample)
                    && sensitive(&sample)
            })
    };
    // `open('.env')` inside an interpreter's one-liner.
    let code_hits = |code: &str| {
        code.split(|c: char| "'\"()[]{},;+` ".contains(c))
            .any(|token| !token.is_empty() && sensitive(token))
    };
    if subject.paths.iter().any(|p| sensitive(p)) {
        return true;
    }
    subject.commands().any(|c| {
        let interpreter = check.interpreters.iter().any(|i| glob(i, c.program()));
        c.redirects.iter().any(|r| sensitive(r))
            || (!check.ignore_programs.iter().any(|p| p == c.program())
                && c.args().iter().any(|a| {
                    // `--env-file=.env`, `KEY=.env` style arguments name the file too.
                    let value = a.rsplit('=').next().unwrap_or(a);
                    sensitive(a)
                        || sensitive(value)
                        || glob_hits(value)
                        || (interpreter && code_hits(a))
                }))
    })
}
