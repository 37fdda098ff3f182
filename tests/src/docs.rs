//! Code blocks of the project's Markdown docs, so tests can run every example the docs show.

use std::path::{Path, PathBuf};

/// One fenced code block.
#[derive(Debug, Clone)]
pub struct DocBlock {
    pub file: PathBuf,
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The last non-empty prose line before the block: what the docs say it is.
    pub caption: String,
    pub text: String,
}

impl DocBlock {
    /// `file:line` for messages.
    pub fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// Every block fenced as ```` ```lang ```` in `file`.
pub fn blocks(file: &Path, lang: &str) -> Vec<DocBlock> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut out = Vec::new();
    let mut caption = String::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (index, line) in text.lines().enumerate() {
        match &mut open {
            Some((start, wanted, body)) => {
                if line.trim_start().starts_with("```") {
                    if *wanted {
                        out.push(DocBlock {
                            file: file.to_path_buf(),
                            line: *start,
                            caption: caption.clone(),
                            text: std::mem::take(body),
                        });
                    }
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
            None => {
                if let Some(info) = line.trim_start().strip_prefix("```") {
                    let wanted = info.split_whitespace().next() == Some(lang);
                    open = Some((index + 1, wanted, String::new()));
                } else if !line.trim().is_empty() {
                    caption = line.trim().to_string();
                }
            }
        }
    }
    out
}

/// README.md, ARCHITECTURE.md and every Markdown file under docs/.
pub fn markdown_files() -> Vec<PathBuf> {
    let root = crate::workspace_root();
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}
