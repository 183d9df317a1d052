//! Group commit for the one writer connection, on its own thread. With
//! `synchronous = FULL` every commit waits for the disk, so one transaction
//! per store call made the disk, not the work, the limit. Writes that arrive
//! while a group is committing queue up; the writer thread then runs every
//! queued write in one IMMEDIATE transaction, each inside its own savepoint (a
//! write that fails is rolled back alone), commits once, and only then
//! answers each caller, so nothing is acknowledged before it is durable. When
//! writes arrive one at a time a group is one write. One thread woken once per
//! group (instead of a blocking task per write, all but one of them waking
//! only to find their write committed) took a third off the events bench's
//! p99.

use super::lock;
use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex};
use tokio::sync::oneshot;

/// Most writes committed together: bounds how long the first one waits.
const MAX_GROUP: usize = 64;

/// A queued write: given the group's transaction it runs and hands back what
/// to tell its caller once the commit's outcome is known; given the reason
/// there is no transaction, it tells its caller that.
type Job = Box<dyn for<'a, 't> FnOnce(Result<Run<'a, 't>, &'a StoreError>) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// Where a queued write runs.
struct Run<'a, 't> {
    transaction: &'a Transaction<'t>,
    cappid: &'a str,
}

/// Writes waiting for the writer.
#[derive(Default)]
pub(super) struct Queue {
    pending: Mutex<Pending>,
    /// Wakes the writer thread when writes arrive while it waits.
    arrived: Condvar,
}

#[derive(Default)]
struct Pending {
    jobs: Vec<Job>,
    /// The writer thread is waiting for writes (so a new one must wake it).
    idle: bool,
    /// The store is gone: the writer thread commits what is left and ends.
    closed: bool,
}

impl Queue {
    /// Queues `f`; the receiver answers its result once its group committed.
    pub(super) fn push<T, F>(&self, f: F) -> oneshot::Receiver<StoreResult<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &str) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |at: Result<Run<'_, '_>, &StoreError>| {
            let out = match at {
                Ok(run) => run_in_savepoint(run.transaction, run.cappid, f),
                Err(e) => Err(copy_of(e)),
            };
            Box::new(move |commit_failed: Option<&StoreError>| {
                let answer = match (out, commit_failed) {
                    (Ok(_), Some(e)) => Err(copy_of(e)),
                    (out, _) => out,
                };
                // The caller may have gone; what was written stays written.
                let _ = tx.send(answer);
            })
        });
        let mut pending = lock(&self.pending);
        pending.jobs.push(job);
        // One wake per group, not per write: a busy writer finds it queued.
        if std::mem::take(&mut pending.idle) {
            self.arrived.notify_one();
        }
        rx
    }

    /// The writer thread: commits queued writes in groups as they arrive,
    /// until [`Queue::close`] and nothing is left.
    pub(super) fn run_writer(&self, writer: &Mutex<Connection>, cappid: &str) {
        loop {
            let group: Vec<Job> = {
                let mut pending = lock(&self.pending);
                while pending.jobs.is_empty() {
                    if pending.closed {
                        return;
                    }
                    pending.idle = true;
                    pending = self
                        .arrived
                        .wait(pending)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                let n = pending.jobs.len().min(MAX_GROUP);
                pending.jobs.drain(..n).collect()
            };
            commit_group(&mut lock(writer), cappid, group);
        }
    }

    /// Ends the writer thread once what is queued is committed.
    pub(super) fn close(&self) {
        let mut pending = lock(&self.pending);
        pending.closed = true;
        self.arrived.notify_one();
    }
}

fn commit_group(conn: &mut Connection, cappid: &str, group: Vec<Job>) {
    let transaction = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(t) => t,
        Err(e) => {
            let failed = StoreError::from(e);
            for job in group {
                job(Err(&failed))(None);
            }
            return;
        }
    };
    let finishes: Vec<Finish> = group
        .into_iter()
        .map(|job| {
            job(Ok(Run {
                transaction: &transaction,
                cappid,
            }))
        })
        .collect();
    let committed = transaction.commit().map_err(StoreError::from);
    for finish in finishes {
        finish(committed.as_ref().err());
    }
}

/// The group's failure, for each of its callers (the error is not `Clone`:
/// its source is boxed).
fn copy_of(e: &StoreError) -> StoreError {
    StoreError::Backend {
        message: e.to_string(),
        source: None,
    }
}

/// Runs `f` in a savepoint of the group's transaction: rolled back alone if
/// it fails or panics, kept (until the group commits) if it succeeds.
fn run_in_savepoint<T, F>(transaction: &Transaction<'_>, cappid: &str, f: F) -> StoreResult<T>
where
    F: FnOnce(&Transaction<'_>, &str) -> StoreResult<T>,
{
    transaction.execute_batch("SAVEPOINT write_op")?;
    let out = catch_unwind(AssertUnwindSafe(|| f(transaction, cappid))).unwrap_or_else(|_| {
        Err(StoreError::Backend {
            message: "write panicked".into(),
            source: None,
        })
    });
    let end = if out.is_ok() {
        "RELEASE write_op"
    } else {
        "ROLLBACK TO write_op; RELEASE write_op"
    };
    transaction.execute_batch(end)?;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Mutex<Connection> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE t (x INTEGER);
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        Mutex::new(conn)
    }

    fn insert(x: i64) -> impl FnOnce(&Transaction<'_>, &str) -> StoreResult<i64> + Send {
        move |t, _| {
            t.execute("INSERT INTO t (x) VALUES (?1)", [x])?;
            Ok(x)
        }
    }

    /// Commits everything queued, on this thread, as the writer thread does
    /// before it ends.
    fn commit_all(queue: &Queue, db: &Mutex<Connection>) {
        queue.close();
        queue.run_writer(db, "cappid");
    }

    fn rows(db: &Mutex<Connection>) -> Vec<i64> {
        let conn = lock(db);
        let mut stmt = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
        let xs = stmt.query_map([], |r| r.get(0)).unwrap();
        xs.map(Result::unwrap).collect()
    }

    #[test]
    fn writes_queued_together_commit_together_and_a_failing_one_is_undone_alone() {
        let db = database();
        let queue = Queue::default();
        let first = queue.push(insert(1));
        let failing = queue.push(|t: &Transaction<'_>, _: &str| -> StoreResult<i64> {
            t.execute("INSERT INTO t (x) VALUES (2)", [])?;
            Err(StoreError::Invalid("refused after writing".into()))
        });
        let panicking = queue.push(|t: &Transaction<'_>, _: &str| -> StoreResult<i64> {
            t.execute("INSERT INTO t (x) VALUES (4)", []).unwrap();
            panic!("a bug in one write")
        });
        let last = queue.push(insert(3));
        commit_all(&queue, &db);

        let mut first = first;
        let mut failing = failing;
        let mut panicking = panicking;
        let mut last = last;
        assert_eq!(first.try_recv().unwrap().unwrap(), 1);
        assert!(matches!(
            failing.try_recv().unwrap(),
            Err(StoreError::Invalid(_))
        ));
        assert!(panicking.try_recv().unwrap().is_err());
        assert_eq!(last.try_recv().unwrap().unwrap(), 3);
        assert_eq!(rows(&db), vec![1, 3]);
    }

    #[test]
    fn a_failed_commit_fails_every_write_of_its_group_and_keeps_none() {
        let db = database();
        let queue = Queue::default();
        let mut kept = queue.push(insert(1));
        // Accepted by its statement, refused at commit (a deferred foreign key).
        let mut dangling = queue.push(|t: &Transaction<'_>, _: &str| -> StoreResult<i64> {
            t.execute("INSERT INTO child (pid) VALUES (9)", [])?;
            Ok(9)
        });
        commit_all(&queue, &db);

        assert!(kept.try_recv().unwrap().is_err());
        assert!(dangling.try_recv().unwrap().is_err());
        assert_eq!(rows(&db), Vec::<i64>::new());
        // and the writer is usable again
        let mut next = queue.push(insert(5));
        commit_all(&queue, &db);
        assert_eq!(next.try_recv().unwrap().unwrap(), 5);
        assert_eq!(rows(&db), vec![5]);
    }

    #[test]
    fn the_writer_thread_commits_what_arrives_and_what_is_left_when_closed() {
        let db = std::sync::Arc::new(database());
        let queue = std::sync::Arc::new(Queue::default());
        let writer = {
            let (db, queue) = (db.clone(), queue.clone());
            std::thread::spawn(move || queue.run_writer(&db, "cappid"))
        };
        // Each answer comes once its write is committed, by the thread alone.
        for x in 1..=3 {
            assert_eq!(queue.push(insert(x)).blocking_recv().unwrap().unwrap(), x);
        }
        let queued: Vec<_> = (4..=6).map(|x| queue.push(insert(x))).collect();
        queue.close();
        writer.join().unwrap();
        for (x, answer) in (4..=6).zip(queued) {
            assert_eq!(answer.blocking_recv().unwrap().unwrap(), x);
        }
        assert_eq!(rows(&db), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn more_writes_than_a_group_holds_are_all_committed_in_order() {
        let db = database();
        let queue = Queue::default();
        let mut answers: Vec<_> = (0..(MAX_GROUP as i64 * 2 + 1))
            .map(|x| queue.push(insert(x)))
            .collect();
        commit_all(&queue, &db);
        for (x, answer) in answers.iter_mut().enumerate() {
            assert_eq!(answer.try_recv().unwrap().unwrap(), x as i64);
        }
        assert_eq!(rows(&db).len(), MAX_GROUP * 2 + 1);
    }
}
