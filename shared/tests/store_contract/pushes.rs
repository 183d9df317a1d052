//! Finish events and seen pushes (`PushStore`).

use super::*;

pub async fn finish_events_by_appid_and_msg_id(store: Store) {
    let exp = NOW + 30 * 86_400;
    store
        .put_finish_event(&event("wxa1", 1, "sendsuccess", exp))
        .await
        .unwrap();
    store
        .put_finish_event(&event("wxa1", 2, "sendsuccess", exp))
        .await
        .unwrap();
    store
        .put_finish_event(&event("wxa2", 3, "sendsuccess", exp))
        .await
        .unwrap();
    // a repeat overwrites
    store
        .put_finish_event(&event("wxa1", 2, "err(10001)", exp))
        .await
        .unwrap();
    // a large WeChat msg id survives the round trip
    store
        .put_finish_event(&event("wxa1", u64::MAX - 7, "sendsuccess", exp))
        .await
        .unwrap();

    let mut got = store
        .get_finish_events("wxa1", &[1, 2, 3, 4, u64::MAX - 7], NOW)
        .await
        .unwrap();
    got.sort_by_key(|e| e.msg_id);
    assert_eq!(
        got,
        vec![
            event("wxa1", 1, "sendsuccess", exp),
            event("wxa1", 2, "err(10001)", exp),
            event("wxa1", u64::MAX - 7, "sendsuccess", exp)
        ]
    );
    assert!(store
        .get_finish_events("wxa1", &[], NOW)
        .await
        .unwrap()
        .is_empty());
}

pub async fn finish_events_expire(store: Store) {
    store
        .put_finish_event(&event("wxa1", 1, "sendsuccess", NOW + 100))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_finish_events("wxa1", &[1], NOW)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .get_finish_events("wxa1", &[1], NOW + 200)
        .await
        .unwrap()
        .is_empty());
}

pub async fn push_seen_once_until_expiry(store: Store) {
    assert!(store
        .mark_push_seen("push-1", NOW, NOW + 3600)
        .await
        .unwrap());
    assert!(!store
        .mark_push_seen("push-1", NOW + 10, NOW + 3610)
        .await
        .unwrap());
    assert!(
        store
            .mark_push_seen("push-2", NOW + 10, NOW + 3610)
            .await
            .unwrap(),
        "another key is independent"
    );
    assert!(
        store
            .mark_push_seen("push-1", NOW + 3700, NOW + 7300)
            .await
            .unwrap(),
        "seen again after expiry"
    );
    assert!(!store
        .mark_push_seen("push-1", NOW + 3710, NOW + 7310)
        .await
        .unwrap());
}
