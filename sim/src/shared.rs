//! The state every part of a running simulator shares.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::calls::{lock, CallLog};
use crate::clock::Clock;
use crate::config::SimConfig;
use crate::faults::Faults;
use crate::push::{PushEvent, PushOutcome, PushRecord, Pusher};
use crate::world::World;

pub(crate) struct Shared {
    pub cfg: Arc<SimConfig>,
    pub clock: Clock,
    pub world: Mutex<World>,
    pub calls: CallLog,
    pub faults: Faults,
    pub pusher: Pusher,
    pub base_url: String,
    /// Wakes the ticket timer when the clock is advanced.
    pub clock_moved: Notify,
}

impl Shared {
    /// Issue a fresh ticket and push it, waiting for the outcome.
    pub(crate) async fn push_ticket(self: &Arc<Self>) -> PushOutcome {
        let now = self.clock.now();
        let ticket = lock(&self.world).issue_ticket(now);
        self.push_and_wait(
            &PushEvent::Ticket { ticket },
            now,
            "component_verify_ticket",
        )
        .await
    }

    /// Push an event and wait until it is delivered or has failed every attempt.
    pub(crate) async fn push_and_wait(
        &self,
        event: &PushEvent,
        now: u64,
        kind: &str,
    ) -> PushOutcome {
        match self.pusher.enqueue(event, now) {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| not_pushed(kind, "push worker stopped")),
            None => not_pushed(kind, "no push URL configured"),
        }
    }
}

/// The outcome of a push that never left.
pub(crate) fn not_pushed(kind: &str, why: &str) -> PushRecord {
    PushRecord {
        seq: 0,
        kind: kind.to_owned(),
        target_url: String::new(),
        appid: None,
        attempts: 0,
        delivered: false,
        pending: false,
        status: None,
        response_body: None,
        last_error: Some(why.to_owned()),
    }
}

/// Push a ticket whenever `ticket_interval` of virtual time has passed since the last one.
pub(crate) async fn ticket_timer(sim: Arc<Shared>) {
    let interval = sim.cfg.ticket_interval.as_secs().max(1);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            _ = sim.clock_moved.notified() => {}
        }
        let now = sim.clock.now();
        let due = now >= lock(&sim.world).last_ticket_at + interval;
        if due {
            sim.push_ticket().await;
        }
    }
}
