//! Downstream stand-ins for connector tests.

use std::sync::{Arc, Mutex};

use sentinel_pipeline::{Consumer, Fanout, Message, Output, Outputs, Refusal, Signal};

/// Records what reaches a downstream pipeline; refuses when asked to.
#[derive(Default)]
pub struct Recorder {
    pub seen: Mutex<Vec<Message>>,
    pub refuse: bool,
}

impl Consumer for Recorder {
    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        if self.refuse {
            return Err(Refusal::capacity("downstream full"));
        }
        self.seen.lock().unwrap().push(msg);
        Ok(())
    }
}

pub fn outputs(signal: Signal, recorder: Arc<Recorder>) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert(
        signal,
        Output {
            fanout: Fanout::new(vec![recorder]),
            budgets: vec![],
        },
    );
    outputs
}
