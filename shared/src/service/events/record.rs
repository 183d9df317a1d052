//! Recording an event: the subscriptions it goes to are chosen now, and the
//! event and one pending delivery per subscription are one store write (also
//! the dedupe of WeChat's retries), done before WeChat gets its answer.

use super::announce::Reservation;
use super::model::pattern_matches;
use crate::app::App;
use crate::store::{EventRecord, StateStore, StoreError, Webhook, MAX_DELIVERIES_PER_EVENT};
use crate::telemetry;
use serde_json::{Map, Value};

/// Whether `webhook` receives `event`: enabled, of the event's tenant (or of
/// every tenant), and subscribed to its type.
pub fn subscribed(webhook: &Webhook, event: &EventRecord) -> bool {
    let tenant_ok = match &webhook.tenant {
        None => true,
        Some(t) => event.tenant.as_deref() == Some(t.as_str()),
    };
    !webhook.disabled
        && tenant_ok
        && webhook
            .events
            .iter()
            .any(|p| pattern_matches(p, &event.event_type))
}

/// Stores `event` with a pending delivery for every subscription it matches,
/// due at once (the poller works it). False when it was already stored
/// (WeChat retried the push).
pub async fn record(store: &dyn StateStore, event: &EventRecord) -> Result<bool, StoreError> {
    record_for(store, event, Reservation::Poll)
        .await
        .map(|(new, _)| new)
}

/// [`record`], the deliveries leased to whoever `reservation` announces them
/// to (and announced once written); also answers the subscriptions the
/// event went to.
pub async fn record_for(
    store: &dyn StateStore,
    event: &EventRecord,
    reservation: Reservation,
) -> Result<(bool, Vec<Webhook>), StoreError> {
    let mut targets: Vec<Webhook> = store
        .list_webhooks()
        .await?
        .into_iter()
        .filter(|w| subscribed(w, event))
        .collect();
    if targets.len() > MAX_DELIVERIES_PER_EVENT {
        // Refused at creation (webhooks::MAX_WEBHOOKS); never lose the event over it.
        tracing::error!(
            event_id = %event.id,
            subscriptions = targets.len(),
            "more matching subscriptions than one event write holds; delivering to the first ones"
        );
        targets.truncate(MAX_DELIVERIES_PER_EVENT);
    }
    let ids: Vec<String> = targets.iter().map(|w| w.id.clone()).collect();
    let new = store
        .record_event_leased(event, &ids, reservation.lease_owner())
        .await?;
    if new {
        reservation.announce(event, &targets);
        telemetry::count("Events", &[("Type", event.event_type.as_str())]);
        tracing::info!(
            event_id = %event.id,
            event_type = %event.event_type,
            appid = %event.appid,
            deliveries = ids.len(),
            "event recorded"
        );
    }
    Ok((new, targets))
}

/// The tenant an event of `appid` belongs to (its authorizer's binding now).
pub async fn tenant_of(app: &App, appid: &str) -> Result<Option<String>, StoreError> {
    Ok(app
        .store
        .get_authorizer(appid)
        .await?
        .and_then(|a| a.tenant))
}

/// A lifecycle event (`authorizer.*`, `job.finished`) wxopen raises itself.
/// Best effort: the change it reports is already stored, and failing the
/// operation now would not bring the event back; a failure is logged loudly.
pub async fn record_lifecycle(
    store: &dyn StateStore,
    event_type: &str,
    appid: &str,
    tenant: Option<String>,
    identity: &str,
    data: Map<String, Value>,
    now: u64,
) {
    let event = super::model::lifecycle(event_type, appid, tenant, identity, data, now);
    if let Err(e) = record(store, &event).await {
        telemetry::count("EventsLost", &[("Type", event_type)]);
        tracing::error!(event_type, appid, error = %e, "lifecycle event could not be recorded");
    }
}

/// `{"authorizer_appid": appid}` plus `extra`.
pub fn appid_data(appid: &str, extra: &[(&str, &str)]) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("authorizer_appid".into(), Value::String(appid.to_owned()));
    for (k, v) in extra {
        data.insert((*k).to_owned(), Value::String((*v).to_owned()));
    }
    data
}
