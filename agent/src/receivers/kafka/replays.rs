//! Counting replays: the highest offset handed on per partition is kept under the data
//! directory (written every 250 ms), so records read again after a crash, a restart or
//! a rebalance are counted as possible duplicates. The file lags by up to 250 ms, so
//! the count is a lower bound.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use super::offsets::Partition;

pub struct Replays {
    path: PathBuf,
    high: BTreeMap<Partition, i64>,
    dirty: bool,
}

impl Replays {
    /// Loads the marks of an earlier run; a missing or unreadable file counts nothing.
    pub fn load(dir: PathBuf) -> Replays {
        let path = dir.join("handed-on.json");
        let high = fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Vec<(String, i32, i64)>>(&bytes).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(topic, partition, offset)| ((topic, partition), offset))
            .collect();
        Replays {
            path,
            high,
            dirty: false,
        }
    }

    /// Records that `offset` arrives; true if it was handed on before.
    pub fn arrives(&mut self, partition: &Partition, offset: i64) -> bool {
        match self.high.get_mut(partition) {
            Some(high) if offset <= *high => true,
            Some(high) => {
                *high = offset;
                self.dirty = true;
                false
            }
            None => {
                self.high.insert(partition.clone(), offset);
                self.dirty = true;
                false
            }
        }
    }

    /// Writes the marks if they moved (atomically: temporary file, then rename).
    pub fn save(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            sentinel_pipeline::private_fs::create_private_dir_all(dir)?;
        }
        let rows: Vec<(&str, i32, i64)> = self
            .high
            .iter()
            .map(|((topic, partition), offset)| (topic.as_str(), *partition, *offset))
            .collect();
        let tmp = self.path.with_extension("json.tmp");
        {
            use std::io::Write;
            sentinel_pipeline::private_fs::create_private_file(&tmp)?
                .write_all(&serde_json::to_vec(&rows)?)?;
        }
        fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_handed_on_by_an_earlier_run_count_as_replays() {
        let dir = tempfile::tempdir().unwrap();
        let p = ("otlp_logs".to_string(), 0);
        let mut first = Replays::load(dir.path().to_path_buf());
        for offset in 0..5 {
            assert!(!first.arrives(&p, offset));
        }
        first.save().unwrap();
        let mut second = Replays::load(dir.path().to_path_buf());
        let replays = (2..8).filter(|&o| second.arrives(&p, o)).count();
        assert_eq!(replays, 3, "offsets 2, 3 and 4 were handed on before");
    }
}
