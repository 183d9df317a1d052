//! Idempotency records (`IdempotencyStore`).

use super::*;

pub async fn idempotency_inserted_then_existing_with_request_hash(store: Store) {
    let exp = NOW + 86_400;
    assert_eq!(
        store
            .insert_idempotency(&idem("k1", "req-a", exp), NOW)
            .await
            .unwrap(),
        IdempotencyOutcome::Inserted
    );
    let again = store
        .insert_idempotency(&idem("k1", "req-b", exp + 5), NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        again,
        IdempotencyOutcome::Existing(idem("k1", "req-a", exp))
    );
}

pub async fn idempotency_complete_stores_response(store: Store) {
    let exp = NOW + 86_400;
    store
        .insert_idempotency(&idem("k1", "req-a", exp), NOW)
        .await
        .unwrap();
    store
        .complete_idempotency("k1", 202, r#"{"job_id":"J1"}"#)
        .await
        .unwrap();
    let again = store
        .insert_idempotency(&idem("k1", "req-a", exp), NOW + 1)
        .await
        .unwrap();
    let mut done = idem("k1", "req-a", exp);
    done.response = Some((202, r#"{"job_id":"J1"}"#.into()));
    assert_eq!(again, IdempotencyOutcome::Existing(done));
}

pub async fn idempotency_delete_allows_reinsert(store: Store) {
    let exp = NOW + 86_400;
    store
        .insert_idempotency(&idem("k1", "req-a", exp), NOW)
        .await
        .unwrap();
    store.delete_idempotency("k1").await.unwrap();
    assert_eq!(
        store
            .insert_idempotency(&idem("k1", "req-a", exp), NOW + 1)
            .await
            .unwrap(),
        IdempotencyOutcome::Inserted
    );
}

pub async fn idempotency_delete_keeps_a_completed_answer(store: Store) {
    let exp = NOW + 86_400;
    store
        .insert_idempotency(&idem("k1", "req-a", exp), NOW)
        .await
        .unwrap();
    store
        .complete_idempotency("k1", 200, r#"{"ok":true}"#)
        .await
        .unwrap();
    store.delete_idempotency("k1").await.unwrap();
    let mut done = idem("k1", "req-a", exp);
    done.response = Some((200, r#"{"ok":true}"#.into()));
    assert_eq!(
        store
            .insert_idempotency(&idem("k1", "req-b", exp), NOW + 1)
            .await
            .unwrap(),
        IdempotencyOutcome::Existing(done)
    );
}

pub async fn idempotency_expired_record_is_replaced(store: Store) {
    store
        .insert_idempotency(&idem("k1", "req-a", NOW + 100), NOW)
        .await
        .unwrap();
    let later = NOW + 200;
    assert_eq!(
        store
            .insert_idempotency(&idem("k1", "req-b", later + 100), later)
            .await
            .unwrap(),
        IdempotencyOutcome::Inserted
    );
    let again = store
        .insert_idempotency(&idem("k1", "req-c", later + 100), later + 1)
        .await
        .unwrap();
    assert_eq!(
        again,
        IdempotencyOutcome::Existing(idem("k1", "req-b", later + 100))
    );
}

pub async fn racing_idempotency_inserts_insert_once(store: Store) {
    let outcomes = race(|i| {
        let store = Arc::clone(&store);
        async move {
            store
                .insert_idempotency(&idem("k1", &format!("req-{i}"), NOW + 86_400), NOW)
                .await
                .unwrap()
        }
    })
    .await;
    let inserted = outcomes
        .iter()
        .filter(|o| **o == IdempotencyOutcome::Inserted)
        .count();
    assert_eq!(inserted, 1);
    // every loser sees the winner's request hash
    let hashes: HashSet<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            IdempotencyOutcome::Existing(r) => Some(r.request_hash.clone()),
            IdempotencyOutcome::Inserted => None,
        })
        .collect();
    assert_eq!(hashes.len(), 1);
}
