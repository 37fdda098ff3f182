//! Differential test: random damage to rich requests must never leave bytes forwardable
//! that prost or `reject_invalid` refuse.
//!
//! With this seed, of 20 000 mutants per signal the walk takes 8 900 (traces), 9 393
//! (metrics) and 8 150 (logs); of those 5 131, 6 874 and 4 640 are forwardable, 3 769,
//! 2 518 and 3 510 are refused by prost or `reject_invalid`, and 0, 1 and 0 are accepted
//! by them but not vouched for by the walk. Making the walk skip the UTF-8, id or wire type
//! checks fails this test.

use super::super::prescan;
use super::{accepted_items, rich, LIMITS};

const MUTANTS: usize = 20_000;

/// xorshift64: deterministic, and no RNG crate among the agent's dev-dependencies.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut XorShift, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    let at = rng.below(bytes.len());
    match rng.below(7) {
        0 => bytes[at] ^= 1 << rng.below(8),
        1 => bytes[at] = 0xff,
        2 => bytes[at] = 0x80,
        3 => bytes[at] = 0x00,
        4 => bytes.truncate(at),
        5 => bytes.insert(at, rng.next() as u8),
        _ => bytes[at] = rng.next() as u8,
    }
}

#[test]
fn random_mutants_are_forwardable_only_if_prost_and_reject_invalid_take_them() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for (signal, original) in rich() {
        // Of the mutants the walk takes: forwardable ones, ones prost or reject_invalid
        // refuse, and ones they take that the walk does not vouch for (allowed).
        let (mut walked, mut forwardable, mut refused, mut conservative) = (0, 0, 0, 0);
        for _ in 0..MUTANTS {
            let mut bytes = original.clone();
            // Mostly one mutation: more mutants survive the walk.
            for _ in 0..=rng.below(4).saturating_sub(2) {
                mutate(&mut rng, &mut bytes);
            }
            let Ok(shape) = prescan(signal, &bytes, &LIMITS) else {
                continue;
            };
            walked += 1;
            let accepted = accepted_items(signal, &bytes);
            if shape.forwardable {
                let case = format!("{signal:?}: forwardable mutant {bytes:02x?}");
                assert_eq!(accepted, Some(shape.items), "{case}");
                forwardable += 1;
            } else if accepted.is_some() {
                conservative += 1;
            } else {
                refused += 1;
            }
        }
        eprintln!(
            "{signal:?}: {walked} walked: {forwardable} forwardable, {refused} refused, \
             {conservative} accepted but not forwardable"
        );
        assert!(forwardable * 5 >= MUTANTS, "{signal:?}: {forwardable}");
        assert!(refused * 10 >= MUTANTS, "{signal:?}: {refused}");
    }
}
