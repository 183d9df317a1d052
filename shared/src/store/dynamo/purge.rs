//! DynamoDB deletes expired records itself: its TTL on `expires_at`.

use super::DynamoStore;
use crate::store::PurgeStore;

impl PurgeStore for DynamoStore {}
