//! Group commit for the one writer connection. With `synchronous = FULL`
//! every commit waits for the disk, so one transaction per store call made
//! the disk, not the work, the limit (a follower push costs three writes).
//! Writes that arrive while another group is committing queue up; whoever
//! takes the writer next runs every queued write in one IMMEDIATE transaction,
//! each inside its own savepoint (a write that fails is rolled back alone),
//! commits once, and only then answers each caller, so nothing is
//! acknowledged before it is durable. When writes arrive one at a time a
//! group is one write, as before.

use super::lock;
use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
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
    jobs: Mutex<Vec<Job>>,
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
        lock_jobs(&self.jobs).push(job);
        rx
    }

    /// Takes the writer and commits every queued write, if any are left
    /// (an earlier caller may already have committed this one's).
    pub(super) fn commit_queued(&self, writer: &Mutex<Connection>, cappid: &str) {
        let mut conn = lock(writer);
        loop {
            let group: Vec<Job> = {
                let mut jobs = lock_jobs(&self.jobs);
                let n = jobs.len().min(MAX_GROUP);
                jobs.drain(..n).collect()
            };
            if group.is_empty() {
                return;
            }
            commit_group(&mut conn, cappid, group);
        }
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

fn lock_jobs(m: &Mutex<Vec<Job>>) -> std::sync::MutexGuard<'_, Vec<Job>> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
        queue.commit_queued(&db, "cappid");

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
        queue.commit_queued(&db, "cappid");

        assert!(kept.try_recv().unwrap().is_err());
        assert!(dangling.try_recv().unwrap().is_err());
        assert_eq!(rows(&db), Vec::<i64>::new());
        // and the writer is usable again
        let mut next = queue.push(insert(5));
        queue.commit_queued(&db, "cappid");
        assert_eq!(next.try_recv().unwrap().unwrap(), 5);
        assert_eq!(rows(&db), vec![5]);
    }

    #[test]
    fn more_writes_than_a_group_holds_are_all_committed_in_order() {
        let db = database();
        let queue = Queue::default();
        let mut answers: Vec<_> = (0..(MAX_GROUP as i64 * 2 + 1))
            .map(|x| queue.push(insert(x)))
            .collect();
        queue.commit_queued(&db, "cappid");
        for (x, answer) in answers.iter_mut().enumerate() {
            assert_eq!(answer.try_recv().unwrap().unwrap(), x as i64);
        }
        assert_eq!(rows(&db).len(), MAX_GROUP * 2 + 1);
    }
}
