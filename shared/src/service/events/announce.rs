//! Who makes a new delivery's first attempt. Without a listener, deliveries
//! are written due at once and a poller claims each one (a claim, then the
//! result: two writes per attempt). When something is told of every new
//! delivery — `serve`'s delivery loop through an in-process queue, or the
//! table's stream on AWS — they are written leased to it instead, in the
//! event's own write, so the first attempt costs one write (its result). If
//! the announcement is lost (the process dies, the queue is full, the stream
//! gives up), the lease simply runs out and the poller takes the delivery.

use crate::store::{Delivery, EventRecord, Webhook};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The lease owner of deliveries the stream announces (`send-worker` on AWS).
/// One name for every invocation: a shard's records are worked one batch at a
/// time, and a batch offered again finds the first attempt recorded already.
pub const STREAM_OWNER: &str = "stream";

/// Announced events waiting in `serve`'s queue at most; past that, new
/// deliveries are written due at once for the poller. Each holds its event
/// (under 64 KiB: WeChat's push limit), so the queue holds at most 64 MiB.
pub const QUEUE_CAPACITY: usize = 1024;

/// A recorded event and its new deliveries, each leased to the listener.
#[derive(Debug)]
pub struct Announced {
    /// Shared by the event's deliveries.
    pub event: Arc<EventRecord>,
    pub deliveries: Vec<(Delivery, Webhook)>,
}

#[derive(Default)]
enum Route {
    /// Nobody is told: deliveries are due at once and polled.
    #[default]
    Poll,
    /// The table's stream tells the worker function.
    Stream,
    /// This process's delivery loop, through its queue.
    Queue {
        owner: String,
        queue: mpsc::Sender<Announced>,
        /// Full at the last reservation (logged once per overflow, not per event).
        overflowing: bool,
    },
}

/// Where this process's new deliveries are announced (shared by the app's clones).
#[derive(Clone, Default)]
pub struct Announcer {
    route: Arc<Mutex<Route>>,
}

impl std::fmt::Debug for Announcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Announcer")
    }
}

impl Announcer {
    /// Deliveries are announced by the table's stream (the Lambda functions).
    pub fn stream() -> Announcer {
        Announcer {
            route: Arc::new(Mutex::new(Route::Stream)),
        }
    }

    /// From now on, deliveries recorded through this app are leased to
    /// `owner` and announced on the returned queue, until it is dropped.
    pub fn listen(&self, owner: &str) -> mpsc::Receiver<Announced> {
        let (queue, announced) = mpsc::channel(QUEUE_CAPACITY);
        *self.lock() = Route::Queue {
            owner: owner.to_owned(),
            queue,
            overflowing: false,
        };
        announced
    }

    /// A place for one event's announcement, taken before its write so that
    /// what is written leased is sure to be announced (a full or closed
    /// queue means the deliveries are written due at once instead).
    pub fn reserve(&self) -> Reservation {
        match &mut *self.lock() {
            Route::Poll => Reservation::Poll,
            Route::Stream => Reservation::Stream,
            Route::Queue {
                owner,
                queue,
                overflowing,
            } => match queue.clone().try_reserve_owned() {
                Ok(permit) => {
                    if std::mem::take(overflowing) {
                        tracing::info!("delivery queue has room again");
                    }
                    Reservation::Queue {
                        owner: owner.clone(),
                        permit,
                    }
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if !std::mem::replace(overflowing, true) {
                        tracing::warn!(
                            capacity = QUEUE_CAPACITY,
                            "delivery queue full; new deliveries are polled until it has room"
                        );
                    }
                    Reservation::Poll
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Reservation::Poll,
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Route> {
        self.route
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A place for one announcement (see [`Announcer::reserve`]).
pub enum Reservation {
    Poll,
    Stream,
    Queue {
        owner: String,
        permit: mpsc::OwnedPermit<Announced>,
    },
}

impl Reservation {
    /// Whom the event's deliveries are written leased to.
    pub fn lease_owner(&self) -> Option<&str> {
        match self {
            Reservation::Poll => None,
            Reservation::Stream => Some(STREAM_OWNER),
            Reservation::Queue { owner, .. } => Some(owner),
        }
    }

    /// Announces the deliveries just written for `event` (the stream does
    /// that by itself).
    pub fn announce(self, event: &EventRecord, targets: &[Webhook]) {
        if let Reservation::Queue { owner, permit } = self {
            let deliveries = targets
                .iter()
                .map(|w| (Delivery::new(event, &w.id, Some(&owner)), w.clone()))
                .collect();
            permit.send(Announced {
                event: Arc::new(event.clone()),
                deliveries,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventRecord {
        EventRecord {
            id: "evt_1".into(),
            event_type: "message.text".into(),
            appid: "wx0".into(),
            tenant: None,
            created_at: 100,
            data: serde_json::Map::new(),
            expires_at: 1000,
        }
    }

    #[test]
    fn without_a_listener_deliveries_are_polled_and_the_stream_leases_to_itself() {
        assert_eq!(Announcer::default().reserve().lease_owner(), None);
        assert_eq!(
            Announcer::stream().reserve().lease_owner(),
            Some(STREAM_OWNER)
        );
    }

    #[tokio::test]
    async fn a_listener_gets_what_was_leased_to_it_and_a_closed_queue_falls_back_to_polling() {
        let announcer = Announcer::default();
        let mut announced = announcer.listen("deliver-1");
        let reservation = announcer.reserve();
        assert_eq!(reservation.lease_owner(), Some("deliver-1"));
        reservation.announce(&event(), &[]);
        let got = announced.recv().await.unwrap();
        assert_eq!(got.event.id, "evt_1");

        drop(announced);
        assert_eq!(announcer.reserve().lease_owner(), None);
    }

    #[test]
    fn a_full_queue_falls_back_to_polling() {
        let announcer = Announcer::default();
        let _announced = announcer.listen("deliver-1");
        let held: Vec<Reservation> = (0..QUEUE_CAPACITY).map(|_| announcer.reserve()).collect();
        assert!(held.iter().all(|r| r.lease_owner() == Some("deliver-1")));
        assert_eq!(announcer.reserve().lease_owner(), None);
    }
}
