//! How many of a worker's chunks still have recipients to start: a chunk
//! gives its slot back as soon as its last sends are under way, so the worker
//! claims the next one while this one's answers come in and the authorizer's
//! permits never run dry at a chunk boundary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Counts a worker's chunks that still have recipients to start, and wakes
/// the worker when one no longer does: it may then claim another.
#[derive(Clone, Default)]
pub(crate) struct ChunkSlots(Arc<SlotsState>);

#[derive(Default)]
struct SlotsState {
    taken: AtomicUsize,
    freed: Notify,
}

impl ChunkSlots {
    /// Slots of `limit` not taken.
    pub(crate) fn free(&self, limit: usize) -> usize {
        limit.saturating_sub(self.0.taken.load(Ordering::Acquire))
    }

    /// Takes a slot for a chunk about to run.
    pub(crate) fn take(&self) -> Slot {
        self.0.taken.fetch_add(1, Ordering::AcqRel);
        Slot(Some(self.clone()))
    }

    /// Returns once a slot was given back (at once if one was since the last call).
    pub(crate) async fn freed(&self) {
        self.0.freed.notified().await;
    }
}

/// One chunk's hold on a [`ChunkSlots`]; given back once, early or on drop.
pub(crate) struct Slot(Option<ChunkSlots>);

impl Slot {
    pub(crate) fn release(&mut self) {
        if let Some(slots) = self.0.take() {
            slots.0.taken.fetch_sub(1, Ordering::AcqRel);
            slots.0.freed.notify_one();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}
