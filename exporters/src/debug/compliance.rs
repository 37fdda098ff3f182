use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sentinel_pipeline::testing::{compliance_id, ExporterCompliance};
use sentinel_pipeline::Signal;
use tracing::field::{Field, Visit};
use tracing::{span, Event, Metadata, Subscriber};

use super::DebugFactory;
use crate::sending::compliance::{counted_by, start_for_compliance};

/// Adds up the items the debug exporter `id` reports in the log: the `items` field of its
/// events (`basic`, `detailed`), or one per event without one (`normal` logs a line per
/// item). Set as this thread's default, it sees the exporter run by the current-thread
/// test runtime.
struct Reported {
    id: String,
    items: Arc<AtomicU64>,
}

#[derive(Default)]
struct Fields {
    exporter: Option<String>,
    items: Option<u64>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "items" {
            self.items = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "exporter" {
            self.exporter = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for Reported {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() != module_path!().trim_end_matches("::compliance") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.exporter.as_deref() == Some(self.id.as_str()) {
            self.items
                .fetch_add(fields.items.unwrap_or(1), Ordering::SeqCst);
        }
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

#[tokio::test]
async fn debug_meets_the_exporter_contract() {
    for verbosity in ["basic", "normal", "detailed"] {
        for signal in Signal::ALL {
            let items = Arc::new(AtomicU64::new(0));
            let _reporting = tracing::subscriber::set_default(Reported {
                id: compliance_id("debug"),
                items: items.clone(),
            });
            let config = format!("verbosity: {verbosity}\n");
            ExporterCompliance::new(&DebugFactory, &config, signal, start_for_compliance)
                .delivered_items(counted_by(items))
                .run()
                .await;
        }
    }
}
