//! `WebhookStore` on the one table: every subscription of a platform is an
//! item of partition `{cappid}#webhooks` (sort key `wh#{id}`), so recording an
//! event reads them all with one Query.

use super::error::WriteError;
use super::items::{key, n, s, Item, Reader};
use super::table::KIND_ATTRIBUTE;
use super::{written_by, DynamoStore, Values};
use crate::secret::Secret;
use crate::store::{StoreError, StoreResult, Webhook, WebhookStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

const KIND_WEBHOOK: &str = "webhook";
const SK_PREFIX: &str = "wh#";

mod attr {
    pub const ID: &str = "id";
    pub const TENANT: &str = "tenant";
    pub const URL: &str = "url";
    pub const EVENTS: &str = "events";
    pub const REPLY: &str = "reply";
    pub const SECRET: &str = "secret";
    pub const PREVIOUS_SECRET: &str = "previous_secret";
    pub const PREVIOUS_UNTIL: &str = "previous_until";
    pub const CREATED_AT: &str = "created_at";
    pub const FAILING_SINCE: &str = "failing_since";
    pub const DISABLED: &str = "disabled";
}

impl DynamoStore {
    fn webhooks_partition(&self) -> String {
        format!("{}#webhooks", self.component_appid)
    }

    fn webhook_key(&self, id: &str) -> Item {
        key(self.webhooks_partition(), format!("{SK_PREFIX}{id}"))
    }
}

fn corrupt(attribute: &str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        record: "webhook",
        attribute: attribute.to_owned(),
        reason: reason.to_owned(),
    }
}

fn flag(item: &Item, name: &str) -> StoreResult<bool> {
    match item.get(name) {
        None => Ok(false),
        Some(AttributeValue::Bool(b)) => Ok(*b),
        Some(_) => Err(corrupt(name, "expected a boolean")),
    }
}

fn to_item(store: &DynamoStore, w: &Webhook) -> StoreResult<Item> {
    let mut item = store.webhook_key(&w.id);
    item.insert(KIND_ATTRIBUTE.into(), s(KIND_WEBHOOK));
    item.insert(attr::ID.into(), s(&w.id));
    if let Some(tenant) = &w.tenant {
        item.insert(attr::TENANT.into(), s(tenant));
    }
    item.insert(attr::URL.into(), s(&w.url));
    let events = serde_json::to_string(&w.events)
        .map_err(|e| StoreError::Invalid(format!("cannot encode events: {e}")))?;
    item.insert(attr::EVENTS.into(), s(events));
    item.insert(attr::REPLY.into(), AttributeValue::Bool(w.reply));
    item.insert(attr::SECRET.into(), s(w.secret.expose()));
    if let Some(previous) = &w.previous_secret {
        item.insert(attr::PREVIOUS_SECRET.into(), s(previous.expose()));
    }
    item.insert(attr::PREVIOUS_UNTIL.into(), n(w.previous_until));
    item.insert(attr::CREATED_AT.into(), n(w.created_at));
    if let Some(since) = w.failing_since {
        item.insert(attr::FAILING_SINCE.into(), n(since));
    }
    item.insert(attr::DISABLED.into(), AttributeValue::Bool(w.disabled));
    Ok(item)
}

fn from_item(item: &Item) -> StoreResult<Webhook> {
    let r = Reader::new("webhook", item);
    let events = serde_json::from_str(&r.string(attr::EVENTS)?)
        .map_err(|_| corrupt(attr::EVENTS, "invalid JSON"))?;
    let failing_since = match item.get(attr::FAILING_SINCE) {
        None | Some(AttributeValue::Null(_)) => None,
        Some(_) => Some(r.u64(attr::FAILING_SINCE)?),
    };
    Ok(Webhook {
        id: r.string(attr::ID)?,
        tenant: r.opt_string(attr::TENANT)?,
        url: r.string(attr::URL)?,
        events,
        reply: flag(item, attr::REPLY)?,
        secret: Secret::new(r.string(attr::SECRET)?),
        previous_secret: r.opt_string(attr::PREVIOUS_SECRET)?.map(Secret::new),
        previous_until: r.u64_or_zero(attr::PREVIOUS_UNTIL)?,
        created_at: r.u64(attr::CREATED_AT)?,
        failing_since,
        disabled: flag(item, attr::DISABLED)?,
    })
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let item = to_item(self, &self.sealer.seal_webhook(webhook.clone()))?;
        match self
            .put(item, Some("attribute_not_exists(#pk)"), Values::new())
            .await
        {
            Ok(()) => Ok(()),
            Err(WriteError::ConditionFailed(Some(old)))
                if from_item(&old)
                    .and_then(|w| self.sealer.open_webhook(w))
                    .ok()
                    .as_ref()
                    == Some(webhook) =>
            {
                // Our own put whose answer was lost, sent again by the SDK.
                Ok(())
            }
            Err(WriteError::ConditionFailed(_)) => Err(StoreError::Invalid(
                "a webhook with this id already exists".into(),
            )),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        self.get(self.webhooks_partition(), &format!("{SK_PREFIX}{id}"))
            .await?
            .map(|item| from_item(&item).and_then(|w| self.sealer.open_webhook(w)))
            .transpose()
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        self.partition_items(self.webhooks_partition(), SK_PREFIX)
            .await?
            .iter()
            .map(|item| from_item(item).and_then(|w| self.sealer.open_webhook(w)))
            .collect()
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        self.delete_if(self.webhook_key(id), "attribute_exists(#pk)", Values::new())
            .await
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret: &Secret,
        previous_until: u64,
    ) -> StoreResult<Option<Webhook>> {
        // The rotation is stamped and refused if it already happened: the
        // SDK re-sending a rotation whose answer was lost would otherwise
        // rotate again and push the old secret out while receivers still
        // verify with it.
        let write_id = uuid::Uuid::new_v4().to_string();
        let values = Values::new()
            .with(
                ":secret",
                s(self.sealer.seal_webhook_secret(id, secret).expose()),
            )
            .with(":until", n(previous_until))
            .with(":write_id", s(write_id.clone()));
        let rotated = match self
            .update(
                self.webhook_key(id),
                "SET #previous_secret = #secret, #secret = :secret, #previous_until = :until, \
                 #write_id = :write_id",
                "attribute_exists(#pk) AND (attribute_not_exists(#write_id) OR #write_id <> :write_id)",
                values,
                ReturnValue::AllNew,
            )
            .await
        {
            Ok(Some(item)) => item,
            Ok(None) => {
                return Err(StoreError::Backend {
                    message: "DynamoDB UpdateItem returned no attributes for ALL_NEW".into(),
                    source: None,
                })
            }
            // Our own rotation, whose answer was lost: the item is as it left it.
            Err(WriteError::ConditionFailed(Some(old))) if written_by(&old, &write_id) => old,
            Err(WriteError::ConditionFailed(_)) => return Ok(None),
            Err(WriteError::Store(e)) => return Err(e),
        };
        from_item(&rotated)
            .and_then(|w| self.sealer.open_webhook(w))
            .map(Some)
    }

    async fn set_webhook_health(
        &self,
        id: &str,
        failing_since: Option<u64>,
        disabled: bool,
    ) -> StoreResult<()> {
        let mut values = Values::new().with(":disabled", AttributeValue::Bool(disabled));
        let update = match failing_since {
            Some(since) => {
                values = values.with(":since", n(since));
                "SET #failing_since = :since, #disabled = :disabled"
            }
            None => "SET #disabled = :disabled REMOVE #failing_since",
        };
        self.update_if(
            self.webhook_key(id),
            update,
            "attribute_exists(#pk)",
            values,
        )
        .await
        .map(|_| ())
    }
}
