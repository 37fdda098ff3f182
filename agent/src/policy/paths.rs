//! Lexical path normalisation for policy checks, so that spelling cannot hide a target:
//! `/tmp/../`, `//etc/./`, `~/`, `$HOME/..` and `"${HOME}"` all name what they resolve to.
//! Quotes are already gone: the shell lexer removed them. Nothing touches the filesystem
//! (a symlink can still point anywhere; the policy judges what the command says).

/// `path` with `~`, `$HOME` and `${HOME}` expanded to `home` (when known), repeated
/// slashes and `.` removed, and `..` resolved against what precedes it. `..` above the
/// root stays at the root. A relative path that climbs (`../..`) is reduced to `..`,
/// since the parent of the parent is no safer than the parent. Without a known home,
/// `~` stays as written and `..` above it becomes `/` (the parent of a home directory is
/// a system directory).
pub fn normalise(path: &str, home: Option<&str>) -> String {
    if path.is_empty() {
        return String::new();
    }
    let (root, rest) = split_root(path, home);
    let mut parts: Vec<&str> = Vec::new();
    let mut root = root;
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ => match root {
                    Root::Relative => {
                        if parts.is_empty() {
                            parts.push("..");
                        }
                    }
                    Root::Absolute => {}
                    Root::UnknownHome => root = Root::Absolute,
                },
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match root {
        Root::Absolute => format!("/{joined}"),
        Root::UnknownHome if joined.is_empty() => "~".to_string(),
        Root::UnknownHome => format!("~/{joined}"),
        Root::Relative if joined.is_empty() => ".".to_string(),
        Root::Relative => joined,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Root {
    Absolute,
    Relative,
    /// `~` when the home directory is not known.
    UnknownHome,
}

/// The path's anchor and the rest, with a home reference replaced by `home`'s path.
fn split_root<'a>(path: &'a str, home: Option<&'a str>) -> (Root, std::borrow::Cow<'a, str>) {
    for prefix in ["~", "$HOME", "${HOME}"] {
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            continue;
        }
        return match home.filter(|h| h.starts_with('/')) {
            Some(home) => (Root::Absolute, format!("{home}{rest}").into()),
            None => (Root::UnknownHome, rest.into()),
        };
    }
    if path.starts_with('/') {
        (Root::Absolute, path.into())
    } else {
        (Root::Relative, path.into())
    }
}

/// The home directory of whoever runs the command: `$HOME` when it is an absolute path.
pub fn home() -> Option<String> {
    std::env::var("HOME").ok().filter(|h| h.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn spellings_of_one_path_normalise_alike() {
        let home = Some("/home/ann");
        let cases = [
            ("/", "/"),
            ("//", "/"),
            ("/tmp/../", "/"),
            ("/tmp/..", "/"),
            ("/../..", "/"),
            ("///etc/./", "/etc"),
            ("/usr/local/../../etc", "/etc"),
            ("/*", "/*"),
            ("/tmp/../*", "/*"),
            (".", "."),
            ("./", "."),
            ("foo/..", "."),
            ("./*", "*"),
            ("..", ".."),
            ("../..", ".."),
            ("foo/../../..", ".."),
            ("../*", "../*"),
            ("~", "/home/ann"),
            ("~/", "/home/ann"),
            ("~/..", "/home"),
            ("$HOME/.", "/home/ann"),
            ("${HOME}/x/..", "/home/ann"),
            ("~/projects/old", "/home/ann/projects/old"),
            ("~user", "~user"),
            ("$HOMEDIR", "$HOMEDIR"),
            ("target/", "target"),
        ];
        for (path, want) in cases {
            assert_eq!(normalise(path, home), want, "{path}");
        }
    }

    #[test]
    fn an_unknown_home_stays_symbolic_and_its_parent_is_the_root() {
        assert_eq!(normalise("~/", None), "~");
        assert_eq!(normalise("$HOME//", None), "~");
        assert_eq!(normalise("${HOME}/a/../*", None), "~/*");
        assert_eq!(normalise("~/..", None), "/");
        assert_eq!(normalise("~/../../etc", None), "/etc");
    }
}
