//! Jobs and chunks: creation, claims, checkpoints, completion (`JobStore`).

use super::*;

pub async fn job_created_with_chunks_and_state_updated(store: Store) {
    let chunks: Vec<Chunk> = (0..3).map(|i| chunk("J1", i)).collect();
    store.create_job(&job("J1", 3), &chunks).await.unwrap();
    assert_eq!(store.get_job("J1", NOW).await.unwrap(), Some(job("J1", 3)));
    assert_eq!(store.list_chunks("J1").await.unwrap(), chunks);
    let reason = StopReason::InvalidTemplate {
        errcode: Some(40037),
    };
    store
        .set_job_state("J1", JobState::Stopped, Some(&reason))
        .await
        .unwrap();
    let j = store.get_job("J1", NOW).await.unwrap().unwrap();
    assert_eq!((j.state, j.stop_reason), (JobState::Stopped, Some(reason)));
    assert_eq!(store.get_job("J2", NOW).await.unwrap(), None);
    assert!(store.list_chunks("J2").await.unwrap().is_empty());
}

pub async fn job_reads_none_after_expiry(store: Store) {
    stored_job(&store, "J1", 1).await;
    assert_eq!(store.get_job("J1", NOW + 86_400 + 60).await.unwrap(), None);
}

/// More chunks than one write holds: begun, added in several writes, committed.
pub async fn a_job_of_many_writes_is_created_whole(store: Store) {
    let n = 2 * MAX_CHUNKS_PER_WRITE as u32 + 3;
    assert!(write_batches(&(0..n).map(|i| chunk("J1", i)).collect::<Vec<_>>()).len() >= 3);
    let refs = stored_job(&store, "J1", n).await;
    let j = store.get_job("J1", NOW).await.unwrap().expect("job");
    assert_eq!(
        (j.state, j.chunk_count, j.chunks_done),
        (JobState::Queued, n, 0)
    );
    let listed = store.list_chunks("J1").await.unwrap();
    assert_eq!(
        listed.iter().map(|c| c.index).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    assert_eq!(listed[(n - 1) as usize], chunk("J1", n - 1));
    // every chunk can be claimed at once, whichever write stored it
    for c in [
        &refs[0],
        &refs[MAX_CHUNKS_PER_WRITE],
        &refs[(n - 1) as usize],
    ] {
        assert!(matches!(
            store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap(),
            ClaimOutcome::Claimed(_)
        ));
    }
}

pub async fn a_job_id_already_used_is_refused_and_the_first_job_is_unchanged(store: Store) {
    let n = MAX_CHUNKS_PER_WRITE as u32 + 1;
    stored_job(&store, "J1", n).await;
    let again: Vec<Chunk> = (0..2)
        .map(|i| {
            let mut c = chunk("J1", i);
            c.recipients = vec!["someone-else".into()];
            c
        })
        .collect();
    let err = store.create_job(&job("J1", 2), &again).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(store.get_job("J1", NOW).await.unwrap(), Some(job("J1", n)));
    let listed = store.list_chunks("J1").await.unwrap();
    assert_eq!(listed.len(), n as usize);
    assert_eq!(listed[0], chunk("J1", 0));
    // a job whose chunks do not match it is refused before anything is written
    let err = store
        .create_job(&job("J2", 3), &[chunk("J2", 0)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(store.get_job("J2", NOW).await.unwrap(), None);
}

/// A creation that stopped before its commit: the job reads `Creating` (the
/// service shows and works no such job) and pollers are not handed its chunks
/// until the creation deadline, when they are an abandoned creation's.
pub async fn a_job_being_created_is_creating_and_its_chunks_wait_for_the_deadline(store: Store) {
    let j = job("J1", 3);
    store.begin_job(&j).await.unwrap();
    store
        .add_chunks(&j, &[chunk("J1", 0), chunk("J1", 1)])
        .await
        .unwrap();
    let read = store.get_job("J1", NOW).await.unwrap().expect("job");
    assert_eq!(read.state, JobState::Creating);
    assert!(!workable(&read));
    assert!(store
        .claimable_chunks(NOW + 1, 10)
        .await
        .unwrap()
        .is_empty());
    let past = j.created_at + CREATION_DEADLINE_SECS + 1;
    assert_eq!(store.claimable_chunks(past, 10).await.unwrap().len(), 2);
    // once committed, the job is queued with every chunk
    store.commit_job(&j, &[chunk("J1", 2)]).await.unwrap();
    assert_eq!(store.get_job("J1", NOW).await.unwrap(), Some(job("J1", 3)));
    assert_eq!(store.list_chunks("J1").await.unwrap().len(), 3);
}

pub async fn chunks_are_added_only_while_the_job_is_creating_and_never_overwritten(store: Store) {
    let j = job("J1", 5);
    let refused = |result: StoreResult<()>| matches!(result, Err(StoreError::Invalid(_)));
    // not begun
    assert!(refused(store.add_chunks(&j, &[chunk("J1", 0)]).await));
    assert!(refused(store.commit_job(&j, &[chunk("J1", 0)]).await));
    assert_eq!(store.get_job("J1", NOW).await.unwrap(), None);
    store.begin_job(&j).await.unwrap();
    assert!(refused(store.begin_job(&j).await), "an id is begun once");
    store
        .add_chunks(&j, &[chunk("J1", 0), chunk("J1", 1)])
        .await
        .unwrap();
    // a chunk already stored is refused and left as it was
    let mut again = chunk("J1", 1);
    again.recipients = vec!["someone-else".into()];
    assert!(refused(store.add_chunks(&j, &[again]).await));
    // so is another job's chunk
    assert!(refused(store.add_chunks(&j, &[chunk("J2", 2)]).await));
    let listed = store.list_chunks("J1").await.unwrap();
    assert_eq!(listed, [chunk("J1", 0), chunk("J1", 1)]);
    store
        .commit_job(&j, &[chunk("J1", 2), chunk("J1", 3)])
        .await
        .unwrap();
    // committed: nothing more is added, and it is not committed twice
    assert!(refused(store.add_chunks(&j, &[chunk("J1", 4)]).await));
    assert!(refused(store.commit_job(&j, &[chunk("J1", 4)]).await));
    assert_eq!(store.list_chunks("J1").await.unwrap().len(), 4);
}

pub async fn a_job_is_done_once_its_last_chunk_finishes_done(store: Store) {
    let refs = stored_job(&store, "J1", 2).await;
    let finish = |c: ChunkRef, state: ChunkState| {
        let store = store.clone();
        async move {
            store.claim_chunk(&c, "w1", NOW, NOW + 60).await.unwrap();
            store.finish_chunk(&c, "w1", &[], state).await.unwrap()
        }
    };
    let job_now = |id: &'static str| {
        let store = store.clone();
        async move { store.get_job(id, NOW).await.unwrap().expect("job") }
    };
    assert_eq!(
        finish(refs[0].clone(), ChunkState::Done).await,
        CheckpointOutcome::Saved
    );
    // a repeated finish by the same worker is refused and not counted again
    assert_eq!(
        store
            .finish_chunk(&refs[0], "w1", &[], ChunkState::Done)
            .await
            .unwrap(),
        CheckpointOutcome::LostLease
    );
    let j = job_now("J1").await;
    assert_eq!((j.chunks_done, j.state), (1, JobState::Queued));
    finish(refs[1].clone(), ChunkState::Done).await;
    let j = job_now("J1").await;
    assert_eq!((j.chunks_done, j.state), (2, JobState::Done));

    // a stopped chunk does not count, and a stopped job is never marked done
    let refs = stored_job(&store, "J2", 2).await;
    finish(refs[0].clone(), ChunkState::Stopped).await;
    finish(refs[1].clone(), ChunkState::Done).await;
    let j = job_now("J2").await;
    assert_eq!((j.chunks_done, j.state), (1, JobState::Queued));
    let refs = stored_job(&store, "J3", 1).await;
    store
        .set_job_state(
            "J3",
            JobState::Stopped,
            Some(&StopReason::AuthorizerRevoked),
        )
        .await
        .unwrap();
    finish(refs[0].clone(), ChunkState::Done).await;
    assert_eq!(job_now("J3").await.state, JobState::Stopped);
}

/// A chunk that finishes stopped is counted on its job as a done one is, once,
/// so whether every chunk has ended is read from the job alone.
pub async fn finished_chunks_are_counted_on_the_job_done_and_stopped_apart(store: Store) {
    let refs = stored_job(&store, "J1", 3).await;
    for c in &refs {
        store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    }
    let finish = |c: &ChunkRef, owner: &'static str, state: ChunkState| {
        let (store, c) = (store.clone(), c.clone());
        async move { store.finish_chunk(&c, owner, &[], state).await.unwrap() }
    };
    let counts = || {
        let store = store.clone();
        async move {
            let j = store.get_job("J1", NOW).await.unwrap().expect("job");
            (j.chunks_done, j.chunks_stopped, j.state)
        }
    };
    assert_eq!(
        finish(&refs[0], "w1", ChunkState::Done).await,
        CheckpointOutcome::Saved
    );
    // a finish that lost its lease counts nothing
    assert_eq!(
        finish(&refs[1], "w2", ChunkState::Stopped).await,
        CheckpointOutcome::LostLease
    );
    assert_eq!(counts().await, (1, 0, JobState::Queued));
    assert_eq!(
        finish(&refs[1], "w1", ChunkState::Stopped).await,
        CheckpointOutcome::Saved
    );
    // finishing it again is refused (its lease is cleared) and not counted again
    assert_eq!(
        finish(&refs[1], "w1", ChunkState::Stopped).await,
        CheckpointOutcome::LostLease
    );
    assert_eq!(counts().await, (1, 1, JobState::Queued));
    finish(&refs[2], "w1", ChunkState::Stopped).await;
    // every chunk has ended, and the job says so; stopped chunks never mark it done
    assert_eq!(counts().await, (1, 2, JobState::Queued));
}

pub async fn claim_outcomes(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    let claimed = match store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap() {
        ClaimOutcome::Claimed(chunk) => chunk,
        other => panic!("expected Claimed, got {other:?}"),
    };
    assert_eq!(claimed.lease_owner.as_deref(), Some("w1"));
    assert_eq!((claimed.lease_until, claimed.attempts), (NOW + 60, 1));
    assert_eq!(claimed.recipients, chunk("J1", 0).recipients);
    assert_eq!(
        store.claim_chunk(c, "w2", NOW + 1, NOW + 61).await.unwrap(),
        ClaimOutcome::Held
    );
    let missing = ChunkRef {
        job_id: "J1".into(),
        index: 7,
    };
    assert_eq!(
        store
            .claim_chunk(&missing, "w2", NOW, NOW + 60)
            .await
            .unwrap(),
        ClaimOutcome::NotFound
    );
    assert_eq!(
        store
            .finish_chunk(c, "w1", &[], ChunkState::Done)
            .await
            .unwrap(),
        CheckpointOutcome::Saved
    );
    assert_eq!(
        store.claim_chunk(c, "w2", NOW + 2, NOW + 62).await.unwrap(),
        ClaimOutcome::Finished
    );
}

pub async fn checkpoint_saves_results_and_extends_lease(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    let results = vec![sent("openid-0-a", 1001)];
    assert_eq!(
        store
            .checkpoint_chunk(c, "w1", &results, NOW + 120)
            .await
            .unwrap(),
        CheckpointOutcome::Saved
    );
    let now = chunk_now(&store, c).await;
    assert_eq!(now.results, results);
    assert_eq!(now.lease_until, NOW + 120);
    assert_eq!(now.state, ChunkState::Pending);
    // past the first lease but inside the extended one, the chunk is still held
    assert_eq!(
        store
            .claim_chunk(c, "w2", NOW + 90, NOW + 150)
            .await
            .unwrap(),
        ClaimOutcome::Held
    );
}

pub async fn checkpoint_and_finish_refused_for_non_owner(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    let results = vec![sent("openid-0-a", 1)];
    assert_eq!(
        store
            .checkpoint_chunk(c, "w2", &results, NOW + 120)
            .await
            .unwrap(),
        CheckpointOutcome::LostLease
    );
    assert_eq!(
        store
            .finish_chunk(c, "w2", &results, ChunkState::Done)
            .await
            .unwrap(),
        CheckpointOutcome::LostLease
    );
    let now = chunk_now(&store, c).await;
    assert!(now.results.is_empty());
    assert_eq!(
        (now.state, now.lease_owner.as_deref()),
        (ChunkState::Pending, Some("w1"))
    );
}

pub async fn finish_stopped_keeps_results_and_frees_lease(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    let results = vec![
        sent("openid-0-a", 1),
        RecipientResult {
            openid: "openid-0-b".into(),
            status: RecipientStatus::Unsent,
            msgid: None,
            errcode: Some(45009),
        },
    ];
    assert_eq!(
        store
            .finish_chunk(c, "w1", &results, ChunkState::Stopped)
            .await
            .unwrap(),
        CheckpointOutcome::Saved
    );
    let now = chunk_now(&store, c).await;
    assert_eq!((now.state, now.results), (ChunkState::Stopped, results));
    assert!(
        !(now.lease_owner.is_some() && now.lease_until > NOW),
        "lease freed"
    );
    assert!(store
        .claimable_chunks(NOW + 1000, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn release_chunk_lets_another_claim(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    store.release_chunk(c, "w2").await.unwrap();
    assert_eq!(
        store.claim_chunk(c, "w2", NOW + 1, NOW + 61).await.unwrap(),
        ClaimOutcome::Held,
        "only the holder releases"
    );
    store.release_chunk(c, "w1").await.unwrap();
    assert_eq!(
        store.claimable_chunks(NOW + 1, 10).await.unwrap(),
        vec![c.clone()]
    );
    assert!(matches!(
        store.claim_chunk(c, "w2", NOW + 1, NOW + 61).await.unwrap(),
        ClaimOutcome::Claimed(_)
    ));
}

pub async fn claimable_chunks_skip_leased_and_finished_and_include_expired_leases(store: Store) {
    let refs = stored_job(&store, "J1", 3).await;
    store
        .claim_chunk(&refs[0], "w1", NOW, NOW + 60)
        .await
        .unwrap();
    store
        .claim_chunk(&refs[1], "w1", NOW, NOW + 60)
        .await
        .unwrap();
    store
        .finish_chunk(&refs[1], "w1", &[], ChunkState::Done)
        .await
        .unwrap();

    let free_now: HashSet<ChunkRef> = store
        .claimable_chunks(NOW + 1, 10)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(free_now, HashSet::from([refs[2].clone()]));
    let after_lease: HashSet<ChunkRef> = store
        .claimable_chunks(NOW + 61, 10)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        after_lease,
        HashSet::from([refs[0].clone(), refs[2].clone()])
    );
    assert_eq!(
        store.claimable_chunks(NOW + 61, 1).await.unwrap().len(),
        1,
        "limit honoured"
    );
}

pub async fn crashed_holder_chunk_is_resumed_from_checkpoint(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    // given a worker that checkpointed one result and then crashed
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    let partial = vec![sent("openid-0-a", 1)];
    store
        .checkpoint_chunk(c, "w1", &partial, NOW + 60)
        .await
        .unwrap();
    // when another worker claims it after the lease ran out
    let taken = match store
        .claim_chunk(c, "w2", NOW + 61, NOW + 121)
        .await
        .unwrap()
    {
        ClaimOutcome::Claimed(chunk) => chunk,
        other => panic!("expected Claimed, got {other:?}"),
    };
    // then it resumes from the checkpoint, and the crashed worker is locked out
    assert_eq!(taken.results, partial);
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.lease_owner.as_deref(), Some("w2"));
    assert_eq!(
        store
            .checkpoint_chunk(c, "w1", &[], NOW + 200)
            .await
            .unwrap(),
        CheckpointOutcome::LostLease
    );
}

pub async fn chunks_past_expiry_are_not_claimable(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let later = NOW + 86_400 + 60;
    assert!(store.claimable_chunks(later, 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .claim_chunk(&refs[0], "w1", later, later + 60)
            .await
            .unwrap(),
        ClaimOutcome::NotFound
    );
}

pub async fn racing_chunk_claims_claim_once(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = refs[0].clone();
    let outcomes = race(|i| {
        let store = Arc::clone(&store);
        let c = c.clone();
        async move {
            store
                .claim_chunk(&c, &format!("worker-{i}"), NOW, NOW + 60)
                .await
                .unwrap()
        }
    })
    .await;
    let claimed = outcomes
        .iter()
        .filter(|o| matches!(o, ClaimOutcome::Claimed(_)))
        .count();
    assert_eq!(claimed, 1);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, ClaimOutcome::Claimed(_) | ClaimOutcome::Held)));
    assert_eq!(chunk_now(&store, &c).await.attempts, 1);
}
