//! The contract of the event and webhook families (issue #15): an event and
//! its deliveries written once (WeChat's retry writes nothing), the delivery
//! queue by due time with its lease, attempts recorded, the tenant feed.

use super::{Store, NOW};
use wxopen::secret::Secret;
use wxopen::store::{
    Attempt, AttemptRecorded, Delivery, DeliveryClaim, DeliveryRef, DeliveryState, EventRecord,
    FeedQuery, NextStep, StoreError, Webhook, DELIVERY_LEASE_SECS, MAX_RECORDED_ATTEMPTS,
};

/// Expands to one test per event-family contract function (in a module
/// `events`), each on a store from `$fresh().await`.
macro_rules! event_contract_tests {
    ($fresh:path) => {
        mod events {
            use super::*;
            crate::store_contract::events::event_contract_tests!(@each $fresh;
                an_event_is_recorded_once_with_its_deliveries,
                a_recorded_event_expires,
                due_deliveries_are_claimed_once_and_leased,
                a_dead_workers_lease_runs_out_and_the_delivery_is_due_again,
                a_delivery_leased_when_recorded_takes_its_result_without_a_claim,
                a_delivery_leased_when_recorded_is_due_once_its_lease_runs_out,
                attempts_are_recorded_under_the_lease_and_retries_wait,
                recorded_attempts_keep_the_latest,
                a_redelivery_makes_a_finished_delivery_pending_again,
                the_feed_pages_a_tenants_events_in_order_with_filters,
                webhooks_are_created_listed_rotated_and_deleted,
            );
        }
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                crate::store_contract::events::$name($fresh().await).await;
            }
        )*
    };
}
pub(crate) use event_contract_tests;

fn event(id: &str, tenant: Option<&str>, event_type: &str, created_at: u64) -> EventRecord {
    let mut data = serde_json::Map::new();
    data.insert("content".into(), "hello".into());
    EventRecord {
        id: id.into(),
        event_type: event_type.into(),
        appid: "wxa1".into(),
        tenant: tenant.map(Into::into),
        created_at,
        data,
        expires_at: created_at + 7 * 86400,
    }
}

fn webhook(id: &str, tenant: Option<&str>) -> Webhook {
    Webhook {
        id: id.into(),
        tenant: tenant.map(Into::into),
        url: "https://erp.example.com/hook".into(),
        events: vec!["message.*".into()],
        reply: false,
        secret: Secret::new(format!("whsec_{id}")),
        previous_secret: None,
        previous_until: 0,
        created_at: NOW,
        failing_since: None,
        disabled: false,
    }
}

fn dref(event_id: &str, webhook_id: &str) -> DeliveryRef {
    DeliveryRef {
        event_id: event_id.into(),
        webhook_id: webhook_id.into(),
    }
}

fn failed_attempt(at: u64) -> Attempt {
    Attempt {
        at,
        status: Some(500),
        latency_ms: 12,
        error: Some("HTTP 500".into()),
        response: Some("oops".into()),
    }
}

pub async fn an_event_is_recorded_once_with_its_deliveries(store: Store) {
    let e = event("evt_1", Some("acme"), "message.text", NOW);
    let hooks = vec!["wh_a".to_owned(), "wh_b".to_owned()];
    assert!(store.record_event(&e, &hooks).await.unwrap());
    // WeChat's retry: the same id writes nothing, not even deliveries.
    let mut retried = e.clone();
    retried.created_at = NOW + 3;
    assert!(!store
        .record_event(&retried, &["wh_c".to_owned()])
        .await
        .unwrap());
    assert!(!store.record_event(&retried, &[]).await.unwrap());

    assert_eq!(store.get_event("evt_1", NOW + 1).await.unwrap(), Some(e));
    let deliveries = store.list_deliveries("evt_1").await.unwrap();
    let ids: Vec<_> = deliveries.iter().map(|d| d.webhook_id.as_str()).collect();
    assert_eq!(ids, ["wh_a", "wh_b"]);
    for d in &deliveries {
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.due_at, NOW);
        assert_eq!(d.attempt_count, 0);
        assert!(d.attempts.is_empty());
        assert_eq!(d.tenant.as_deref(), Some("acme"));
    }
    // Without subscriptions an event is still stored, with no delivery.
    assert!(store
        .record_event(&event("evt_2", None, "event.click", NOW), &[])
        .await
        .unwrap());
    assert!(store.list_deliveries("evt_2").await.unwrap().is_empty());
    assert!(store.get_event("evt_2", NOW).await.unwrap().is_some());
    assert_eq!(store.get_event("evt_none", NOW).await.unwrap(), None);
}

pub async fn a_recorded_event_expires(store: Store) {
    let e = event("evt_1", Some("acme"), "message.text", NOW);
    store.record_event(&e, &["wh_a".into()]).await.unwrap();
    let later = e.expires_at + 10;
    assert_eq!(store.get_event("evt_1", later).await.unwrap(), None);
    // A purge (SQLite's stand-in for a TTL) never takes a live event.
    store
        .record_event(&event("evt_live", Some("acme"), "message.text", later), &[])
        .await
        .unwrap();
    store.purge_expired_events(later, 100).await.unwrap();
    assert_eq!(store.get_event("evt_1", later).await.unwrap(), None);
    assert!(store.get_event("evt_live", later).await.unwrap().is_some());
    assert!(store.due_deliveries(later, 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .claim_delivery(&dref("evt_1", "wh_a"), "w1", later, later + 60)
            .await
            .unwrap(),
        DeliveryClaim::NotFound
    );
}

pub async fn due_deliveries_are_claimed_once_and_leased(store: Store) {
    store
        .record_event(
            &event("evt_1", Some("acme"), "message.text", NOW),
            &["wh_a".into()],
        )
        .await
        .unwrap();
    store
        .record_event(
            &event("evt_2", Some("acme"), "message.text", NOW + 5),
            &["wh_a".into()],
        )
        .await
        .unwrap();
    assert_eq!(
        store.due_deliveries(NOW + 1, 10).await.unwrap(),
        vec![dref("evt_1", "wh_a")],
        "only what is due, soonest first"
    );
    let claimed = match store
        .claim_delivery(&dref("evt_1", "wh_a"), "w1", NOW + 1, NOW + 61)
        .await
        .unwrap()
    {
        DeliveryClaim::Claimed(d) => d,
        other => panic!("expected a claim, got {other:?}"),
    };
    assert_eq!(claimed.lease_owner.as_deref(), Some("w1"));
    assert_eq!(claimed.due_at, NOW + 61);
    assert_eq!(
        store
            .claim_delivery(&dref("evt_1", "wh_a"), "w2", NOW + 2, NOW + 62)
            .await
            .unwrap(),
        DeliveryClaim::NotDue,
        "leased"
    );
    assert!(!store
        .due_deliveries(NOW + 10, 10)
        .await
        .unwrap()
        .contains(&dref("evt_1", "wh_a")));
    assert_eq!(
        store
            .claim_delivery(&dref("evt_9", "wh_a"), "w2", NOW + 2, NOW + 62)
            .await
            .unwrap(),
        DeliveryClaim::NotFound
    );
}

pub async fn a_dead_workers_lease_runs_out_and_the_delivery_is_due_again(store: Store) {
    store
        .record_event(
            &event("evt_1", Some("acme"), "message.text", NOW),
            &["wh_a".into()],
        )
        .await
        .unwrap();
    let DeliveryClaim::Claimed(first) = store
        .claim_delivery(&dref("evt_1", "wh_a"), "dead", NOW, NOW + 60)
        .await
        .unwrap()
    else {
        panic!("first claim")
    };
    // The worker dies; after its lease the delivery is due again.
    assert_eq!(
        store.due_deliveries(NOW + 61, 10).await.unwrap(),
        vec![dref("evt_1", "wh_a")]
    );
    let DeliveryClaim::Claimed(second) = store
        .claim_delivery(&dref("evt_1", "wh_a"), "alive", NOW + 61, NOW + 121)
        .await
        .unwrap()
    else {
        panic!("second claim")
    };
    // The dead worker's late write is refused; the live one's is kept.
    assert_eq!(
        store
            .record_attempt(&first, "dead", &failed_attempt(NOW), NextStep::Succeeded)
            .await
            .unwrap(),
        AttemptRecorded::LostLease
    );
    let ok = Attempt {
        status: Some(200),
        error: None,
        ..failed_attempt(NOW + 61)
    };
    assert_eq!(
        store
            .record_attempt(&second, "alive", &ok, NextStep::Succeeded)
            .await
            .unwrap(),
        AttemptRecorded::Saved
    );
    let d = &store.list_deliveries("evt_1").await.unwrap()[0];
    assert_eq!(d.state, DeliveryState::Succeeded);
    assert_eq!(d.attempts, vec![ok]);
    assert_eq!(d.lease_owner, None);
    assert!(store
        .due_deliveries(NOW + 1000, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .claim_delivery(&dref("evt_1", "wh_a"), "w3", NOW + 1000, NOW + 1060)
            .await
            .unwrap(),
        DeliveryClaim::Finished
    );
}

pub async fn a_delivery_leased_when_recorded_takes_its_result_without_a_claim(store: Store) {
    let e = event("evt_leased", Some("acme"), "message.text", NOW);
    let hooks = vec!["wh_a".to_owned(), "wh_b".to_owned()];
    assert!(store
        .record_event_leased(&e, &hooks, Some("deliver-1"))
        .await
        .unwrap());
    // Written as the announcement describes them: held by the listener.
    let stored = store.list_deliveries("evt_leased").await.unwrap();
    assert_eq!(
        stored,
        vec![
            Delivery::new(&e, "wh_a", Some("deliver-1")),
            Delivery::new(&e, "wh_b", Some("deliver-1"))
        ]
    );
    assert_eq!(stored[0].due_at, NOW + DELIVERY_LEASE_SECS);
    // Nobody else finds or takes them meanwhile.
    assert!(store.due_deliveries(NOW + 1, 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .claim_delivery(&dref("evt_leased", "wh_a"), "poller", NOW + 1, NOW + 61)
            .await
            .unwrap(),
        DeliveryClaim::NotDue
    );
    // Another worker cannot record an attempt under it; the holder can.
    let announced = Delivery::new(&e, "wh_a", Some("deliver-1"));
    let ok = Attempt {
        at: NOW + 1,
        status: Some(200),
        latency_ms: 3,
        error: None,
        response: None,
    };
    assert_eq!(
        store
            .record_attempt(&announced, "poller", &ok, NextStep::Succeeded)
            .await
            .unwrap(),
        AttemptRecorded::LostLease
    );
    assert_eq!(
        store
            .record_attempt(&announced, "deliver-1", &ok, NextStep::Succeeded)
            .await
            .unwrap(),
        AttemptRecorded::Saved
    );
    let after = store.list_deliveries("evt_leased").await.unwrap();
    assert_eq!(after[0].state, DeliveryState::Succeeded);
    assert_eq!(after[0].attempt_count, 1);
    assert_eq!(after[0].attempts, vec![ok]);
    assert_eq!(after[0].lease_owner, None);
    // The other delivery is untouched, still leased.
    assert_eq!(after[1], Delivery::new(&e, "wh_b", Some("deliver-1")));
}

pub async fn a_delivery_leased_when_recorded_is_due_once_its_lease_runs_out(store: Store) {
    let e = event("evt_orphan", Some("acme"), "message.text", NOW);
    assert!(store
        .record_event_leased(&e, &["wh_a".to_owned()], Some("died"))
        .await
        .unwrap());
    let lease_ends = NOW + DELIVERY_LEASE_SECS;
    assert!(store
        .due_deliveries(lease_ends - 1, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.due_deliveries(lease_ends, 10).await.unwrap(),
        vec![dref("evt_orphan", "wh_a")]
    );
    let DeliveryClaim::Claimed(claimed) = store
        .claim_delivery(
            &dref("evt_orphan", "wh_a"),
            "poller",
            lease_ends,
            lease_ends + 60,
        )
        .await
        .unwrap()
    else {
        panic!("the poller takes it once the lease ran out");
    };
    assert_eq!(claimed.lease_owner.as_deref(), Some("poller"));
    // The worker that was told of it, had it come back, no longer holds it.
    let late = Delivery::new(&e, "wh_a", Some("died"));
    assert_eq!(
        store
            .record_attempt(&late, "died", &failed_attempt(lease_ends), NextStep::Failed)
            .await
            .unwrap(),
        AttemptRecorded::LostLease
    );
}

pub async fn attempts_are_recorded_under_the_lease_and_retries_wait(store: Store) {
    store
        .record_event(
            &event("evt_1", Some("acme"), "message.text", NOW),
            &["wh_a".into()],
        )
        .await
        .unwrap();
    let DeliveryClaim::Claimed(claimed) = store
        .claim_delivery(&dref("evt_1", "wh_a"), "w1", NOW, NOW + 60)
        .await
        .unwrap()
    else {
        panic!("claim")
    };
    assert_eq!(
        store
            .record_attempt(
                &claimed,
                "w1",
                &failed_attempt(NOW),
                NextStep::RetryAt(NOW + 3600)
            )
            .await
            .unwrap(),
        AttemptRecorded::Saved
    );
    let d = &store.list_deliveries("evt_1").await.unwrap()[0];
    assert_eq!(
        (d.state, d.due_at, d.attempt_count),
        (DeliveryState::Pending, NOW + 3600, 1)
    );
    assert_eq!(d.attempts, vec![failed_attempt(NOW)]);
    assert!(store
        .due_deliveries(NOW + 3599, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.due_deliveries(NOW + 3600, 10).await.unwrap().len(), 1);
    // The lease was cleared: a record by the same owner without a new claim is refused.
    assert_eq!(
        store
            .record_attempt(d, "w1", &failed_attempt(NOW + 1), NextStep::Failed)
            .await
            .unwrap(),
        AttemptRecorded::LostLease
    );
    let DeliveryClaim::Claimed(again) = store
        .claim_delivery(&dref("evt_1", "wh_a"), "w2", NOW + 3600, NOW + 3660)
        .await
        .unwrap()
    else {
        panic!("claim after the retry time")
    };
    store
        .record_attempt(&again, "w2", &failed_attempt(NOW + 3600), NextStep::Failed)
        .await
        .unwrap();
    let d = &store.list_deliveries("evt_1").await.unwrap()[0];
    assert_eq!((d.state, d.attempt_count), (DeliveryState::Failed, 2));
    assert!(store
        .due_deliveries(NOW + 99_999, 10)
        .await
        .unwrap()
        .is_empty());
    // A release by another owner changes nothing.
    store
        .release_delivery(&dref("evt_1", "wh_a"), "w9", NOW)
        .await
        .unwrap();
    assert_eq!(
        store.list_deliveries("evt_1").await.unwrap()[0].state,
        DeliveryState::Failed
    );
}

pub async fn recorded_attempts_keep_the_latest(store: Store) {
    store
        .record_event(
            &event("evt_1", Some("acme"), "message.text", NOW),
            &["wh_a".into()],
        )
        .await
        .unwrap();
    let total = MAX_RECORDED_ATTEMPTS as u64 + 3;
    for i in 0..total {
        let now = NOW + i * 100;
        let DeliveryClaim::Claimed(d) = store
            .claim_delivery(&dref("evt_1", "wh_a"), "w", now, now + 60)
            .await
            .unwrap()
        else {
            panic!("claim {i}")
        };
        store
            .record_attempt(&d, "w", &failed_attempt(now), NextStep::RetryAt(now + 50))
            .await
            .unwrap();
    }
    let d = &store.list_deliveries("evt_1").await.unwrap()[0];
    assert_eq!(d.attempt_count as u64, total);
    assert_eq!(d.attempts.len(), MAX_RECORDED_ATTEMPTS);
    assert_eq!(d.attempts.last().unwrap().at, NOW + (total - 1) * 100);
    assert_eq!(d.attempts[0].at, NOW + 3 * 100);
}

pub async fn a_redelivery_makes_a_finished_delivery_pending_again(store: Store) {
    let e = event("evt_1", Some("acme"), "message.text", NOW);
    store.record_event(&e, &["wh_a".into()]).await.unwrap();
    let DeliveryClaim::Claimed(d) = store
        .claim_delivery(&dref("evt_1", "wh_a"), "w", NOW, NOW + 60)
        .await
        .unwrap()
    else {
        panic!("claim")
    };
    store
        .record_attempt(&d, "w", &failed_attempt(NOW), NextStep::Failed)
        .await
        .unwrap();
    store.redeliver(&e, "wh_a", NOW + 500).await.unwrap();
    // A subscription that had no delivery of it gets one.
    store.redeliver(&e, "wh_new", NOW + 500).await.unwrap();
    let ds = store.list_deliveries("evt_1").await.unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(
        (ds[0].state, ds[0].due_at, ds[0].attempt_count),
        (DeliveryState::Pending, NOW + 500, 1)
    );
    assert_eq!(ds[0].attempts.len(), 1, "earlier attempts stay listed");
    assert_eq!(
        (ds[1].webhook_id.as_str(), ds[1].state),
        ("wh_new", DeliveryState::Pending)
    );
    let due = store.due_deliveries(NOW + 500, 10).await.unwrap();
    assert_eq!(due, vec![dref("evt_1", "wh_a"), dref("evt_1", "wh_new")]);
}

pub async fn the_feed_pages_a_tenants_events_in_order_with_filters(store: Store) {
    let types = ["message.text", "event.click", "message.image"];
    for i in 0..9u64 {
        let e = event(
            &format!("evt_{i:02}"),
            Some("acme"),
            types[i as usize % 3],
            NOW + i,
        );
        store.record_event(&e, &[]).await.unwrap();
    }
    store
        .record_event(
            &event("evt_other", Some("globex"), "message.text", NOW),
            &[],
        )
        .await
        .unwrap();
    store
        .record_event(&event("evt_unbound", None, "message.text", NOW), &[])
        .await
        .unwrap();
    let query = |after: Option<String>, limit: u32| FeedQuery {
        tenant: "acme".into(),
        after,
        until: NOW + 100,
        event_type: None,
        appid: None,
        limit,
    };
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = store
            .feed(&query(after.clone(), 4), NOW + 100)
            .await
            .unwrap();
        if page.items.is_empty() {
            break;
        }
        seen.extend(page.items.iter().map(|e| e.id.clone()));
        after = page.next;
    }
    let want: Vec<String> = (0..9).map(|i| format!("evt_{i:02}")).collect();
    assert_eq!(seen, want, "in order, no gap, no repeat, no other tenant");
    // Filters, and `until`: nothing created after it is shown yet.
    let messages = store
        .feed(
            &FeedQuery {
                event_type: Some("message.*".into()),
                until: NOW + 5,
                ..query(None, 100)
            },
            NOW + 100,
        )
        .await
        .unwrap();
    let ids: Vec<_> = messages.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["evt_00", "evt_02", "evt_03", "evt_05"]);
    let clicks = store
        .feed(
            &FeedQuery {
                event_type: Some("event.click".into()),
                appid: Some("wxnone".into()),
                ..query(None, 100)
            },
            NOW + 100,
        )
        .await
        .unwrap();
    assert!(clicks.items.is_empty());
    assert!(matches!(
        store.feed(&query(Some("garbage".into()), 10), NOW).await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn webhooks_are_created_listed_rotated_and_deleted(store: Store) {
    let a = webhook("wh_a", Some("acme"));
    let b = webhook("wh_b", None);
    store.create_webhook(&a).await.unwrap();
    store.create_webhook(&b).await.unwrap();
    assert!(matches!(
        store.create_webhook(&webhook("wh_a", None)).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.get_webhook("wh_a").await.unwrap(), Some(a.clone()));
    let listed: Vec<_> = store
        .list_webhooks()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(listed, ["wh_a", "wh_b"]);

    let rotated = store
        .rotate_webhook_secret("wh_a", &Secret::new("whsec_new"), NOW + 86400)
        .await
        .unwrap()
        .expect("rotated");
    assert_eq!(rotated.secret.expose(), "whsec_new");
    assert_eq!(
        rotated.previous_secret.as_ref().map(|s| s.expose()),
        Some("whsec_wh_a")
    );
    assert_eq!(rotated.previous_until, NOW + 86400);
    assert_eq!(
        store
            .rotate_webhook_secret("wh_none", &Secret::new("x"), 1)
            .await
            .unwrap(),
        None
    );

    store
        .set_webhook_health("wh_a", Some(NOW), false)
        .await
        .unwrap();
    let w = store.get_webhook("wh_a").await.unwrap().unwrap();
    assert_eq!((w.failing_since, w.disabled), (Some(NOW), false));
    store
        .set_webhook_health("wh_a", Some(NOW), true)
        .await
        .unwrap();
    assert!(store.get_webhook("wh_a").await.unwrap().unwrap().disabled);
    store.set_webhook_health("wh_a", None, false).await.unwrap();
    let w = store.get_webhook("wh_a").await.unwrap().unwrap();
    assert_eq!((w.failing_since, w.disabled), (None, false));

    assert!(store.delete_webhook("wh_a").await.unwrap());
    assert!(!store.delete_webhook("wh_a").await.unwrap());
    assert_eq!(store.get_webhook("wh_a").await.unwrap(), None);
    assert_eq!(store.list_webhooks().await.unwrap().len(), 1);
}
