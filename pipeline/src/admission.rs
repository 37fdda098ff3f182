//! Byte budgets (`memory_limiter`) charged for data from the moment it enters a pipeline
//! until the exporter queues take it. A receiver may charge a request before decoding it
//! ([`crate::Output::admit`]); whatever enters unpaid is charged by [`crate::Output::send`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::ack::Refusal;

mod decoded;

pub use decoded::decoded_size;

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

    pub(crate) fn refusal(&self, bytes: usize) -> Refusal {
        Refusal::capacity(format!(
            "{}: memory limit of {} bytes reached ({} in use, request of {bytes})",
            self.name,
            self.limit,
            self.used()
        ))
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
                return Err(budget.refusal(bytes));
            }
            admission.charged.push(budget.clone());
        }
        Ok(admission)
    }

    /// Bytes charged to each budget.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The smallest limit among the budgets charged: a request whose charge would exceed
    /// it can never be admitted, however long the client waits.
    pub fn smallest_limit(&self) -> Option<usize> {
        self.charged.iter().map(|b| b.limit).min()
    }

    /// Charges (or gives back) the difference so that `total` bytes are charged to every
    /// budget. Growing is all or nothing: on refusal the charge stays as it was. Used to
    /// charge a body as it arrives, then its decoded size before decoding.
    pub fn grow_to(&mut self, total: usize) -> Result<(), Refusal> {
        if total <= self.bytes {
            for budget in &self.charged {
                budget.release(self.bytes - total);
            }
            self.bytes = total;
            return Ok(());
        }
        let more = total - self.bytes;
        for (n, budget) in self.charged.iter().enumerate() {
            if !budget.try_charge(more) {
                for charged in &self.charged[..n] {
                    charged.release(more);
                }
                return Err(budget.refusal(total));
            }
        }
        self.bytes = total;
        Ok(())
    }

    /// Moves the charge out, leaving `self` charging the same budgets with nothing:
    /// whoever shares `self` (a body still being read) keeps charging from zero.
    pub fn take(&mut self) -> Admission {
        let empty = Admission {
            charged: self.charged.clone(),
            bytes: 0,
        };
        std::mem::replace(self, empty)
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
    fn grows_all_or_nothing_and_shrinks() {
        let big = MemoryBudget::new("a", 1000);
        let small = MemoryBudget::new("b", 100);
        let budgets = [big.clone(), small.clone()];
        let mut admission = Admission::charge(&budgets, 10).unwrap();
        admission.grow_to(90).unwrap();
        assert_eq!((big.used(), small.used()), (90, 90));
        assert!(admission.grow_to(101).is_err());
        assert_eq!(
            (big.used(), small.used()),
            (90, 90),
            "nothing kept of a refused growth"
        );
        assert_eq!(admission.smallest_limit(), Some(100));
        admission.grow_to(40).unwrap();
        assert_eq!((big.used(), small.used()), (40, 40));
        let taken = admission.take();
        assert_eq!(admission.bytes(), 0);
        drop(admission);
        assert_eq!(small.used(), 40, "the charge moved with take");
        drop(taken);
        assert_eq!(small.used(), 0);
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
