//! Byte budgets (`memory_limiter`) charged for data from the moment it enters a pipeline
//! until the exporter queues take it. A receiver may charge a request before decoding it
//! ([`crate::Output::admit`]); whatever enters unpaid is charged by [`crate::Output::send`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::ack::Refusal;

/// A fixed budget of bytes in flight between a receiver and the exporter queues.
#[derive(Debug)]
pub struct MemoryBudget {
    name: String,
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(name: impl Into<String>, limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            name: name.into(),
            limit,
            used: AtomicUsize::new(0),
        })
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn try_charge(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let next = used.checked_add(bytes)?;
                (next <= self.limit).then_some(next)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Bytes charged against some budgets; released on drop.
#[derive(Debug)]
pub struct Admission {
    charged: Vec<Arc<MemoryBudget>>,
    bytes: usize,
}

impl Admission {
    /// Charges every budget or none: on refusal, what was charged is given back.
    pub fn charge(budgets: &[Arc<MemoryBudget>], bytes: usize) -> Result<Admission, Refusal> {
        let mut admission = Admission {
            charged: Vec::with_capacity(budgets.len()),
            bytes,
        };
        for budget in budgets {
            if !budget.try_charge(bytes) {
                return Err(Refusal::capacity(format!(
                    "{}: memory limit of {} bytes reached ({} in use, request of {bytes})",
                    budget.name,
                    budget.limit,
                    budget.used()
                )));
            }
            admission.charged.push(budget.clone());
        }
        Ok(admission)
    }

    /// True when this admission charged `budget`.
    pub fn covers(&self, budget: &Arc<MemoryBudget>) -> bool {
        self.charged.iter().any(|c| Arc::ptr_eq(c, budget))
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        for budget in &self.charged {
            budget.release(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_limit_and_releases_on_drop() {
        let budget = MemoryBudget::new("memory_limiter", 100);
        let first = Admission::charge(std::slice::from_ref(&budget), 60).unwrap();
        assert!(Admission::charge(std::slice::from_ref(&budget), 50).is_err());
        assert_eq!(budget.used(), 60);
        drop(first);
        assert_eq!(budget.used(), 0);
        assert!(Admission::charge(std::slice::from_ref(&budget), 100).is_ok());
    }

    #[test]
    fn all_or_nothing_across_budgets() {
        let big = MemoryBudget::new("a", 1000);
        let small = MemoryBudget::new("b", 10);
        let budgets = [big.clone(), small.clone()];
        assert!(Admission::charge(&budgets, 50).is_err());
        assert_eq!(big.used(), 0, "the partial charge was given back");
    }
}
