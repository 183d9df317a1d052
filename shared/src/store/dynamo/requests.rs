//! Counts of the DynamoDB requests a store has sent, for the store bench and
//! the cost table (each transactional item is billed as two writes).

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of request counts by DynamoDB operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub get_item: u64,
    pub put_item: u64,
    pub update_item: u64,
    pub delete_item: u64,
    pub query: u64,
    pub scan: u64,
    pub batch_get_item: u64,
    pub transact_write_items: u64,
    /// Items written inside transactions (each billed ×2).
    pub transact_items: u64,
}

impl RequestCounts {
    /// All requests sent.
    pub fn total(&self) -> u64 {
        self.get_item
            + self.put_item
            + self.update_item
            + self.delete_item
            + self.query
            + self.scan
            + self.batch_get_item
            + self.transact_write_items
    }

    /// The counts since `earlier`.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            get_item: self.get_item - earlier.get_item,
            put_item: self.put_item - earlier.put_item,
            update_item: self.update_item - earlier.update_item,
            delete_item: self.delete_item - earlier.delete_item,
            query: self.query - earlier.query,
            scan: self.scan - earlier.scan,
            batch_get_item: self.batch_get_item - earlier.batch_get_item,
            transact_write_items: self.transact_write_items - earlier.transact_write_items,
            transact_items: self.transact_items - earlier.transact_items,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counter {
    pub(crate) get_item: AtomicU64,
    pub(crate) put_item: AtomicU64,
    pub(crate) update_item: AtomicU64,
    pub(crate) delete_item: AtomicU64,
    pub(crate) query: AtomicU64,
    pub(crate) scan: AtomicU64,
    pub(crate) batch_get_item: AtomicU64,
    pub(crate) transact_write_items: AtomicU64,
    pub(crate) transact_items: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counter {
    pub(crate) fn snapshot(&self) -> RequestCounts {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            get_item: read(&self.get_item),
            put_item: read(&self.put_item),
            update_item: read(&self.update_item),
            delete_item: read(&self.delete_item),
            query: read(&self.query),
            scan: read(&self.scan),
            batch_get_item: read(&self.batch_get_item),
            transact_write_items: read(&self.transact_write_items),
            transact_items: read(&self.transact_items),
        }
    }
}
