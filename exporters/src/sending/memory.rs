//! The memory queue: bounded by request count (`queue_size`) and bytes (`max_size`).
//! Lost if the agent crashes; accepted data is acknowledged at once.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use sentinel_pipeline::sending::WhenFull;
use sentinel_pipeline::{Acks, Consumer, EncodedMessage, Held, Message, Refusal, Signal};
use tokio::sync::Notify;

use super::metrics::{now_ms, QueueMetrics};
use super::worker::{Batch, Piece, Settlement, Source};

pub(crate) const DROPPED_WHEN_FULL: &str = "queue full, drop_oldest";
pub(crate) const DROPPED_AT_SHUTDOWN: &str = "shutdown deadline reached before delivery";

struct Entry {
    seq: u64,
    data: Held,
    items: usize,
    /// Bytes held in memory ([`Held::memory_size`]): what `max_size` counts, and, as an
    /// upper bound of the encoded size, what merging into export requests counts (no
    /// second walk to encode-size it).
    bytes: usize,
    appended_ms: u64,
}

#[derive(Default)]
struct State {
    entries: VecDeque<Entry>,
    bytes: usize,
    next_seq: u64,
    /// Draining: refuse new data, hand out what is left.
    closed: bool,
    /// Deadline passed or queue dropped: hand out nothing more.
    stopped: bool,
    /// Taken by consumers, not settled: sequence → append time.
    in_flight: BTreeMap<u64, u64>,
}

pub(crate) struct MemoryQueue {
    /// Random per process: memory records do not outlive it.
    id: u128,
    max_requests: usize,
    max_bytes: usize,
    when_full: WhenFull,
    state: Mutex<State>,
    changed: Notify,
    metrics: Arc<QueueMetrics>,
    /// The exporter sends requests still encoded as they are ([`Held::Encoded`]).
    takes_encoded: bool,
}

impl MemoryQueue {
    pub fn new(
        max_requests: usize,
        max_bytes: usize,
        when_full: WhenFull,
        metrics: Arc<QueueMetrics>,
        takes_encoded: bool,
    ) -> Self {
        MemoryQueue {
            id: rand::random(),
            max_requests: max_requests.max(1),
            max_bytes: max_bytes.max(1),
            when_full,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            metrics,
            takes_encoded,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the queue half-updated in a way that
        // matters more than losing the process; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a refusal and tells the client, whoever else holds its acks.
    fn refuse(
        &self,
        signal: Signal,
        items: usize,
        acks: &Acks,
        refusal: Refusal,
    ) -> Result<(), Refusal> {
        self.metrics.signal(signal).refused(items);
        acks.refuse(&refusal);
        Err(refusal)
    }

    /// Stops accepting; consumers still get what is queued.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_waiters();
    }

    /// Stops handing out records and counts what is left as dropped.
    pub fn stop(&self) {
        let left: Vec<Entry> = {
            let mut state = self.lock();
            state.closed = true;
            state.stopped = true;
            state.bytes = 0;
            state.entries.drain(..).collect()
        };
        self.changed.notify_waiters();
        for entry in left {
            let signal = entry.data.signal();
            self.metrics
                .signal(signal)
                .dropped(entry.items, DROPPED_AT_SHUTDOWN);
            self.metrics.settled(signal, entry.items);
        }
        self.metrics.bytes.set(0);
    }

    pub fn refresh_gauges(&self) {
        let state = self.lock();
        let oldest = state
            .entries
            .front()
            .map(|e| e.appended_ms)
            .into_iter()
            .chain(state.in_flight.values().min().copied())
            .min();
        self.metrics.set_oldest(oldest);
        self.metrics.bytes.set(state.bytes as i64);
    }

    fn take_batch(&self, state: &mut State) -> Option<Batch> {
        let first = state.entries.pop_front()?;
        let signal = first.data.signal();
        let mut batch = Batch::default();
        let mut next = Some(first);
        while let Some(entry) = next.take() {
            state.bytes -= entry.bytes;
            state.in_flight.insert(entry.seq, entry.appended_ms);
            let bytes = entry.bytes;
            let piece = Piece {
                data: Arc::new(entry.data),
                items: entry.items,
                seq: entry.seq,
            };
            batch.push(piece, bytes);
            let joins = state
                .entries
                .front()
                .is_some_and(|e| batch.fits(signal, e.items, e.bytes));
            if joins {
                next = state.entries.pop_front();
            }
        }
        self.metrics.bytes.set(state.bytes as i64);
        Some(batch)
    }
}

impl Consumer for MemoryQueue {
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        let state = self.lock();
        if state.closed {
            let id = self.metrics.id();
            return Err(Refusal::unavailable(format!(
                "exporter {id} is shutting down"
            )));
        }
        // Only what is queued now: a request too large for an empty queue is refused,
        // with its own message, when it is handed over. The last part of the queue is kept
        // for data already admitted (see `ADMISSION_HEADROOM`).
        let full = state.entries.len() >= super::below_headroom(self.max_requests)
            || (state.bytes > 0 && state.bytes + bytes > super::below_headroom(self.max_bytes));
        if full && self.when_full == WhenFull::Refuse {
            let (queued, queued_bytes) = (state.entries.len(), state.bytes);
            return Err(Refusal::capacity(format!(
                "exporter {}: sending queue full ({queued} requests, {queued_bytes} bytes)",
                self.metrics.id()
            )));
        }
        Ok(())
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        self.append(Held::Decoded(msg.payload), msg.acks)
    }

    fn takes_encoded(&self, _signal: Signal) -> bool {
        self.takes_encoded
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        if !self.takes_encoded {
            return self.consume(sentinel_pipeline::decode_for_consumer(msg)?);
        }
        self.append(Held::Encoded(msg.request), msg.acks)
    }
}

impl MemoryQueue {
    fn append(&self, data: Held, acks: Acks) -> Result<(), Refusal> {
        let signal = data.signal();
        let items = data.item_count();
        // What the queue really holds in memory.
        let bytes = data.memory_size();
        let mut evicted = Vec::new();
        {
            let mut state = self.lock();
            if state.closed {
                drop(state);
                let refusal = Refusal::unavailable(format!(
                    "exporter {} is shutting down",
                    self.metrics.id()
                ));
                return self.refuse(signal, items, &acks, refusal);
            }
            if bytes > self.max_bytes {
                drop(state);
                let refusal = Refusal::capacity(format!(
                    "exporter {}: a request of {bytes} bytes exceeds the queue's max_size of {} bytes",
                    self.metrics.id(),
                    self.max_bytes
                ));
                return self.refuse(signal, items, &acks, refusal);
            }
            let full = |s: &State| {
                s.entries.len() >= self.max_requests || s.bytes + bytes > self.max_bytes
            };
            if full(&state) {
                match self.when_full {
                    WhenFull::Refuse => {
                        let (queued, queued_bytes) = (state.entries.len(), state.bytes);
                        drop(state);
                        let refusal = Refusal::capacity(format!(
                            "exporter {}: sending queue full ({queued} requests, {queued_bytes} bytes)",
                            self.metrics.id()
                        ));
                        return self.refuse(signal, items, &acks, refusal);
                    }
                    WhenFull::DropOldest => {
                        while full(&state) {
                            let Some(oldest) = state.entries.pop_front() else {
                                break;
                            };
                            state.bytes -= oldest.bytes;
                            evicted.push(oldest);
                        }
                    }
                }
            }
            let seq = state.next_seq;
            state.next_seq += 1;
            state.bytes += bytes;
            state.entries.push_back(Entry {
                seq,
                data,
                items,
                bytes,
                appended_ms: now_ms(),
            });
            self.metrics.bytes.set(state.bytes as i64);
        }
        for entry in evicted {
            let evicted_signal = entry.data.signal();
            self.metrics
                .signal(evicted_signal)
                .dropped(entry.items, DROPPED_WHEN_FULL);
            self.metrics.settled(evicted_signal, entry.items);
        }
        self.metrics.accepted(signal, items);
        self.changed.notify_waiters();
        // Accepted: the client may be told so.
        drop(acks);
        Ok(())
    }
}

#[async_trait]
impl Source for MemoryQueue {
    fn queue_id(&self) -> u128 {
        self.id
    }

    async fn next_batch(&self) -> Option<Batch> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.lock();
                if state.stopped {
                    return None;
                }
                if let Some(batch) = self.take_batch(&mut state) {
                    return Some(batch);
                }
                if state.closed {
                    return None;
                }
            }
            changed.await;
        }
    }

    fn settle(&self, piece: &Piece, settlement: Settlement) -> bool {
        self.lock().in_flight.remove(&piece.seq);
        let signal = piece.data.signal();
        if settlement == Settlement::Interrupted {
            self.metrics
                .signal(signal)
                .dropped(piece.items, DROPPED_AT_SHUTDOWN);
        }
        self.metrics.settled(signal, piece.items);
        true
    }
}
