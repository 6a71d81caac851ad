//! Build slots granted by priority to claims made in dispatch order.
//!
//! `--jobs N` bounds the builds whose work runs at once. The bookkeeping around the work
//! (computing the key, recording events, storing outputs) runs outside a slot, so a slot
//! never idles while a build waits for an fsync. For the longest chain still to go first,
//! a slot does not go to whoever asks first: every dispatched build claims a slot up front
//! with its priority, and a free slot belongs to the highest claim. When that claim is not
//! asking yet (it is still computing its key) one free slot waits for it rather than going
//! to a lower claim; the other free slots still go to lower claims that are asking. A build that turns out not to need a slot (its key was reused) drops its
//! claim, which passes the slot on.
//!
//! Written here because tokio's semaphore grants strictly first come, first served.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Higher goes first; among equals, the earlier claim.
pub type Priority = (usize, std::cmp::Reverse<String>);

type ClaimKey = (std::cmp::Reverse<Priority>, u64);

/// The slots and the claims on them. Cheap to clone.
#[derive(Clone)]
pub struct Slots {
    state: Arc<Mutex<State>>,
}

struct State {
    free: usize,
    next_claim: u64,
    /// Claims not yet granted, best first.
    claims: BTreeMap<ClaimKey, Waiter>,
}

enum Waiter {
    /// Claimed, not asking yet.
    Pending,
    /// Asking: wake it with the slot.
    Asking(oneshot::Sender<Slot>),
}

/// A claim on a slot, made when a build is dispatched.
pub struct Claim {
    slots: Slots,
    key: Option<ClaimKey>,
}

/// A granted slot; dropping it frees the slot for the best claim.
pub struct Slot {
    slots: Option<Slots>,
}

impl Slots {
    pub fn new(count: usize) -> Slots {
        Slots {
            state: Arc::new(Mutex::new(State {
                free: count.max(1),
                next_claim: 0,
                claims: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn claim(&self, priority: Priority) -> Claim {
        let mut state = self.lock();
        let key = (std::cmp::Reverse(priority), state.next_claim);
        state.next_claim += 1;
        state.claims.insert(key.clone(), Waiter::Pending);
        Claim {
            slots: self.clone(),
            key: Some(key),
        }
    }

    /// Hands free slots to the best claims that are asking, keeping one free slot for every
    /// better claim that is not asking yet.
    fn grant(&self, state: &mut State) {
        while let Some(key) = next_grantee(state) {
            let Some(Waiter::Asking(sender)) = state.claims.remove(&key) else {
                unreachable!("next_grantee returns an asking claim")
            };
            state.free -= 1;
            let slot = Slot {
                slots: Some(self.clone()),
            };
            // A claim that stopped waiting (its build was cancelled) returns the slot.
            if let Err(mut unused) = sender.send(slot) {
                unused.slots = None;
                state.free += 1;
            }
        }
    }

    #[cfg(test)]
    fn free(&self) -> usize {
        self.lock().free
    }
}

/// The best asking claim a free slot may go to, after one free slot is set aside for each
/// better claim that is not asking yet.
fn next_grantee(state: &State) -> Option<ClaimKey> {
    let mut kept = 0;
    for (key, waiter) in &state.claims {
        if kept >= state.free {
            return None;
        }
        match waiter {
            Waiter::Pending => kept += 1,
            Waiter::Asking(_) => return Some(key.clone()),
        }
    }
    None
}

impl Claim {
    /// Waits for a slot. Cancel-safe: dropping the future gives up the claim.
    pub async fn acquire(mut self) -> Slot {
        let receiver = {
            let mut state = self.slots.lock();
            let key = self.key.take().expect("a claim is acquired once");
            let (sender, receiver) = oneshot::channel();
            state.claims.insert(key, Waiter::Asking(sender));
            self.slots.grant(&mut state);
            receiver
        };
        // The sender is only dropped by `grant`, after sending: the claim stays in the map
        // until then, and the map lives as long as `self.slots`.
        receiver.await.expect("a claim is answered with a slot")
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.slots.lock();
            state.claims.remove(&key);
            self.slots.grant(&mut state);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            let mut state = slots.lock();
            state.free += 1;
            slots.grant(&mut state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::time::Duration;

    fn prio(height: usize, name: &str) -> Priority {
        (height, Reverse(name.to_owned()))
    }

    #[tokio::test]
    async fn a_free_slot_waits_for_a_better_claim_that_is_not_asking_yet() {
        let slots = Slots::new(1);
        let first = slots.claim(prio(5, "a")).acquire().await;
        let better = slots.claim(prio(3, "b"));
        let worse = slots.claim(prio(1, "c"));
        let worse = tokio::spawn(worse.acquire());
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !worse.is_finished(),
            "the slot is kept for the better claim"
        );
        assert_eq!(slots.free(), 1);
        let slot = better.acquire().await;
        assert_eq!(slots.free(), 0);
        drop(slot);
        let _slot = worse.await.unwrap();
        assert_eq!(slots.free(), 0);
    }

    #[tokio::test]
    async fn a_better_claim_not_asking_keeps_one_slot_not_all() {
        let slots = Slots::new(3);
        let _better = slots.claim(prio(9, "a"));
        let worse: Vec<_> = (0..3)
            .map(|i| tokio::spawn(slots.claim(prio(1, &format!("w{i}"))).acquire()))
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let granted = worse.iter().filter(|w| w.is_finished()).count();
        assert_eq!(granted, 2, "two of three slots go to the asking claims");
        assert_eq!(slots.free(), 1);
    }

    #[tokio::test]
    async fn dropping_a_claim_passes_the_slot_on() {
        let slots = Slots::new(1);
        let held = slots.claim(prio(9, "a")).acquire().await;
        let reused = slots.claim(prio(5, "b"));
        let waiting = tokio::spawn(slots.claim(prio(1, "c")).acquire());
        drop(held);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(reused);
        let _slot = waiting.await.unwrap();
    }

    #[tokio::test]
    async fn equal_priorities_go_in_claim_order_and_slots_are_never_exceeded() {
        let slots = Slots::new(2);
        let claims: Vec<Claim> = (0..6).map(|_| slots.claim(prio(1, "x"))).collect();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, claim) in claims.into_iter().enumerate().rev() {
            let order = order.clone();
            let slots = slots.clone();
            tasks.push(tokio::spawn(async move {
                let slot = claim.acquire().await;
                assert!(slots.free() <= 1);
                order.lock().unwrap().push(i);
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(slot);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // The two slots were kept for claims 0 and 1, whichever asked first.
        let order = order.lock().unwrap().clone();
        let mut first_two = order[..2].to_vec();
        first_two.sort_unstable();
        assert_eq!(first_two, vec![0, 1]);
        assert_eq!(order[2..], [2, 3, 4, 5]);
        assert_eq!(slots.free(), 2);
    }

    #[tokio::test]
    async fn a_cancelled_wait_gives_its_slot_back() {
        let slots = Slots::new(1);
        let held = slots.claim(prio(2, "a")).acquire().await;
        let cancelled = tokio::spawn(slots.claim(prio(1, "b")).acquire());
        tokio::time::sleep(Duration::from_millis(10)).await;
        cancelled.abort();
        let _ = cancelled.await;
        drop(held);
        assert_eq!(slots.free(), 1);
        let _again = slots.claim(prio(1, "c")).acquire().await;
        assert_eq!(slots.free(), 0);
    }
}
