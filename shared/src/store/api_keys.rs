//! Client API keys, stored only as the SHA-256 of the key.

use super::error::StoreResult;
use super::model::ApiKey;
use async_trait::async_trait;

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores the key (a key with the same hash is replaced).
    async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn get_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    /// Every key, oldest first (ties by hash).
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// False if unknown.
    async fn revoke_api_key(&self, hash: &str) -> StoreResult<bool>;
}
