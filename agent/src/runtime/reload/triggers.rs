//! The reload triggers that run on their own: SIGHUP and the `--watch-config` poller.
//! Polling (content hash of every file) rather than inotify: a Kubernetes ConfigMap mount
//! swaps a symlink, which inotify watches on the file miss.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use super::{ReloadHandle, ReloadOptions, Trigger};

/// Starts listening for SIGHUP (which would otherwise end the process) and, with
/// `--watch-config`, the file poller. Both stop when `stop` is cancelled.
pub fn spawn_triggers(handle: &ReloadHandle, options: &ReloadOptions, stop: &CancellationToken) {
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => {
            let handle = handle.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        received = hangups.recv() => match received {
                            Some(()) => {
                                tracing::info!("SIGHUP received: reloading the config.");
                                handle.request(Trigger::Sighup);
                            }
                            None => break,
                        },
                    }
                }
            });
        }
        Err(err) => {
            tracing::warn!(error = %err, "Cannot listen for SIGHUP; reload with POST /-/reload instead.")
        }
    }
    let Some(interval) = options.watch else {
        return;
    };
    if options.configs.is_empty() {
        tracing::warn!("--watch-config has no effect without --config files.");
        return;
    }
    tokio::spawn(watch(
        options.configs.clone(),
        interval,
        handle.clone(),
        stop.clone(),
    ));
}

async fn watch(
    files: Vec<PathBuf>,
    interval: Duration,
    handle: ReloadHandle,
    stop: CancellationToken,
) {
    tracing::info!(interval = ?interval, "Watching the config files for changes.");
    let mut last = fingerprint(&files).await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
        let now = fingerprint(&files).await;
        // A file caught half-written hashes differently again once complete, so the
        // reload of the finished file still follows; a bad file is not retried until it
        // changes again.
        if now != last {
            last = now;
            tracing::info!("Config files changed: reloading.");
            handle.request(Trigger::Watch);
        }
    }
}

/// A hash of every file's content (a missing file hashes as missing).
async fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for file in files {
        match tokio::fs::read(file).await {
            Ok(bytes) => bytes.hash(&mut hasher),
            Err(err) => err.kind().to_string().hash(&mut hasher),
        }
    }
    hasher.finish()
}
