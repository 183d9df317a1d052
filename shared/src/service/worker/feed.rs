//! Where the worker's items come from: the items a DynamoDB stream batch
//! announced, the store's queue of claimable chunks (once, or polled), and in
//! every case the rest of each job the worker has started, by index.
//!
//! A job is worked by whoever starts it: after a chunk, the worker tries the
//! job's other chunks in order. That keeps the authorizer's permits busy from
//! one chunk to the next, and it is how the chunks of a large job get worked
//! at once although the stream announced them before the job was committed
//! (see `store::jobs`).

use super::QueueItem;
use crate::app::App;
use crate::store::{ChunkRef, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

/// A source of queue items for [`super::Worker::run_until`].
pub struct Feed {
    source: Source,
    jobs: JobCursors,
}

enum Source {
    /// These items, then the rest of their jobs; ends when none is left.
    Announced(VecDeque<QueueItem>),
    /// The store's claimable chunks until none is left.
    Backlog,
    /// The store's claimable chunks, looked at again every `every`; never ends.
    Polling { every: Duration },
}

impl Feed {
    /// Items announced by an event (a stream batch).
    pub fn announced(items: impl IntoIterator<Item = QueueItem>) -> Feed {
        Feed::new(Source::Announced(items.into_iter().collect()))
    }

    /// Everything claimable now (new, deferred past its retry time, or
    /// abandoned by a crashed worker), until nothing is.
    pub fn backlog() -> Feed {
        Feed::new(Source::Backlog)
    }

    /// The queue, polled every `every` while the worker runs.
    pub fn polling(every: Duration) -> Feed {
        Feed::new(Source::Polling { every })
    }

    fn new(source: Source) -> Feed {
        Feed {
            source,
            jobs: JobCursors::default(),
        }
    }

    /// How often the worker looks again when nothing else wakes it (`None`: it
    /// ends once nothing is left).
    pub(super) fn poll_every(&self) -> Option<Duration> {
        match self.source {
            Source::Polling { every } => Some(every),
            _ => None,
        }
    }

    /// Up to `want` items to start now, none of them in `held`: announced
    /// items first, then the rest of the jobs already started, then (from
    /// the queue) whatever else is claimable.
    pub(super) async fn next(
        &mut self,
        app: &App,
        want: usize,
        held: &HashSet<&QueueItem>,
    ) -> Result<Vec<QueueItem>, StoreError> {
        let mut items: Vec<QueueItem> = Vec::with_capacity(want);
        if let Source::Announced(queue) = &mut self.source {
            while items.len() < want {
                let Some(item) = queue.pop_front() else { break };
                if !held.contains(&item) && !items.contains(&item) {
                    self.jobs.tried(&item);
                    items.push(item);
                }
            }
        }
        while items.len() < want {
            let Some(item) = self.jobs.next_untried(held) else {
                break;
            };
            items.push(item);
        }
        if items.len() < want && !matches!(self.source, Source::Announced(_)) {
            let asked = want + held.len() + items.len();
            let found = app
                .store
                .claimable_chunks(app.now(), u32::try_from(asked).unwrap_or(u32::MAX))
                .await?;
            for item in found.into_iter().map(QueueItem::Chunk) {
                if items.len() == want {
                    break;
                }
                if !held.contains(&item) && !items.contains(&item) {
                    self.jobs.tried(&item);
                    items.push(item);
                }
            }
        }
        Ok(items)
    }

    /// A run of `item` learnt that its job has `job_chunks` chunks: the rest
    /// of them are offered next.
    pub(super) fn learnt(&mut self, item: &QueueItem, job_chunks: Option<u32>) {
        if let (QueueItem::Chunk(chunk), Some(count)) = (item, job_chunks) {
            self.jobs.start(&chunk.job_id, count);
        }
    }
}

/// Jobs gone through, remembered so one is not started again (a repeat would
/// only cost failed claims, so a bounded memory is enough).
const REMEMBERED_JOBS: usize = 256;

/// Per started job, the chunk indices not yet tried by this worker.
#[derive(Default)]
struct JobCursors {
    jobs: BTreeMap<String, Cursor>,
    /// Tried before their job's size was known.
    early: BTreeMap<String, BTreeSet<u32>>,
    gone_through: VecDeque<String>,
}

struct Cursor {
    next: u32,
    count: u32,
    tried: BTreeSet<u32>,
}

impl JobCursors {
    fn start(&mut self, job_id: &str, count: u32) {
        if !self.jobs.contains_key(job_id) && !self.gone_through.iter().any(|j| j == job_id) {
            let tried = self.early.remove(job_id).unwrap_or_default();
            self.jobs.insert(
                job_id.to_owned(),
                Cursor {
                    next: 0,
                    count,
                    tried,
                },
            );
        }
    }

    fn tried(&mut self, item: &QueueItem) {
        let QueueItem::Chunk(chunk) = item;
        match self.jobs.get_mut(&chunk.job_id) {
            Some(cursor) => {
                cursor.tried.insert(chunk.index);
            }
            None => {
                // Jobs that never start (not ready, gone) would pile up here;
                // forgetting them only means a chunk may be offered once more.
                if self.early.len() >= REMEMBERED_JOBS && !self.early.contains_key(&chunk.job_id) {
                    self.early.clear();
                }
                self.early
                    .entry(chunk.job_id.clone())
                    .or_default()
                    .insert(chunk.index);
            }
        }
    }

    /// The next chunk of a started job this worker has not tried.
    fn next_untried(&mut self, held: &HashSet<&QueueItem>) -> Option<QueueItem> {
        let mut exhausted = Vec::new();
        let mut found = None;
        for (job_id, cursor) in &mut self.jobs {
            while cursor.next < cursor.count {
                let index = cursor.next;
                cursor.next += 1;
                let item = QueueItem::Chunk(ChunkRef {
                    job_id: job_id.clone(),
                    index,
                });
                if cursor.tried.insert(index) && !held.contains(&item) {
                    found = Some(item);
                    break;
                }
            }
            if cursor.next >= cursor.count {
                exhausted.push(job_id.clone());
            }
            if found.is_some() {
                break;
            }
        }
        for job_id in exhausted {
            self.jobs.remove(&job_id);
            self.early.remove(&job_id);
            if self.gone_through.len() == REMEMBERED_JOBS {
                self.gone_through.pop_front();
            }
            self.gone_through.push_back(job_id);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(job: &str, index: u32) -> QueueItem {
        QueueItem::Chunk(ChunkRef {
            job_id: job.into(),
            index,
        })
    }

    #[test]
    fn a_started_job_offers_each_untried_chunk_once_in_order() {
        let mut jobs = JobCursors::default();
        jobs.tried(&item("J", 2));
        jobs.start("J", 4);
        let held = HashSet::new();
        let offered: Vec<QueueItem> = std::iter::from_fn(|| jobs.next_untried(&held)).collect();
        assert_eq!(offered, [item("J", 0), item("J", 1), item("J", 3)]);
        jobs.start("J", 4);
        assert_eq!(jobs.next_untried(&held), None, "a job is gone through once");
    }

    #[test]
    fn chunks_held_elsewhere_are_skipped() {
        let mut jobs = JobCursors::default();
        jobs.start("J", 2);
        let busy = item("J", 0);
        let held = HashSet::from([&busy]);
        assert_eq!(jobs.next_untried(&held), Some(item("J", 1)));
        assert_eq!(jobs.next_untried(&held), None);
    }
}
