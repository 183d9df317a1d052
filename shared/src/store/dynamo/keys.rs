//! Item keys of design.md §4, every partition key prefixed with the component
//! appid so several platforms can share one table. Built and parsed here only:
//! the send worker's stream adapter reads a chunk's keys through
//! [`chunk_of_stream_keys`].

use crate::store::ChunkRef;

pub(crate) const SK_TICKET: &str = "ticket";
pub(crate) const SK_TOKEN: &str = "token";
pub(crate) const SK_PROFILE: &str = "profile";
pub(crate) const SK_LINK: &str = "link";
pub(crate) const SK_PREAUTH: &str = "preauth";
pub(crate) const SK_KEY: &str = "key";
pub(crate) const SK_JOB: &str = "job";
pub(crate) const SK_CHUNK_PREFIX: &str = "chunk#";
pub(crate) const SK_IDEM: &str = "idem";
pub(crate) const SK_EVENT: &str = "event";
pub(crate) const SK_SEEN: &str = "seen";
pub(crate) const SK_JSAPI_TICKET: &str = "jsapi_ticket";
pub(crate) const SK_OAUTH_LINK: &str = "oauth_link";
pub(crate) const SK_OAUTH_ATTEMPT: &str = "oauth_attempt";
pub(crate) const SK_OAUTH_RESULT: &str = "oauth_result";

/// Builds and parses the keys of one component's records.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    component_appid: String,
}

impl Keys {
    pub(crate) fn new(component_appid: &str) -> Self {
        Keys {
            component_appid: component_appid.to_owned(),
        }
    }

    pub(crate) fn component(&self) -> String {
        format!("{}#component", self.component_appid)
    }

    pub(crate) fn authorizer(&self, appid: &str) -> String {
        format!("{}{appid}", self.authorizer_prefix())
    }

    pub(crate) fn authorizer_prefix(&self) -> String {
        format!("{}#authorizer#", self.component_appid)
    }

    pub(crate) fn link(&self, id: &str) -> String {
        format!("{}#link#{id}", self.component_appid)
    }

    pub(crate) fn preauth(&self, code_hash: &str) -> String {
        format!("{}#preauth#{code_hash}", self.component_appid)
    }

    pub(crate) fn api_key(&self, hash: &str) -> String {
        format!("{}{hash}", self.api_key_prefix())
    }

    pub(crate) fn api_key_prefix(&self) -> String {
        format!("{}#key#", self.component_appid)
    }

    pub(crate) fn job(&self, id: &str) -> String {
        format!("{}{id}", self.job_prefix())
    }

    fn job_prefix(&self) -> String {
        format!("{}#job#", self.component_appid)
    }

    /// Zero-padded so a job's chunks sort by index.
    pub(crate) fn chunk_sk(index: u32) -> String {
        format!("{SK_CHUNK_PREFIX}{index:05}")
    }

    /// The chunk a (pk, sk) pair of this component names (a job id is never empty).
    pub(crate) fn chunk_ref(&self, pk: &str, sk: &str) -> Option<ChunkRef> {
        let job_id = pk.strip_prefix(&self.job_prefix())?;
        let index = sk.strip_prefix(SK_CHUNK_PREFIX)?.parse().ok()?;
        (!job_id.is_empty()).then(|| ChunkRef {
            job_id: job_id.to_owned(),
            index,
        })
    }

    pub(crate) fn idempotency(&self, key_hash: &str) -> String {
        format!("{}#idem#{key_hash}", self.component_appid)
    }

    pub(crate) fn event(&self, appid: &str, msg_id: u64) -> String {
        format!("{}#event#{appid}#{msg_id}", self.component_appid)
    }

    pub(crate) fn seen(&self, key: &str) -> String {
        format!("{}#seen#{key}", self.component_appid)
    }

    /// An authorizer's jsapi_ticket: a partition of its own, so nothing that
    /// reads the authorizer's partition meets it.
    pub(crate) fn jsapi_ticket(&self, appid: &str) -> String {
        format!("{}#jsapi#{appid}", self.component_appid)
    }

    /// Web OAuth records (store/oauth.rs), each a partition of its own.
    pub(crate) fn oauth_link(&self, id: &str) -> String {
        format!("{}#oauth_link#{id}", self.component_appid)
    }

    pub(crate) fn oauth_attempt(&self, state_hash: &str) -> String {
        format!("{}#oauth_attempt#{state_hash}", self.component_appid)
    }

    pub(crate) fn oauth_result(&self, id: &str) -> String {
        format!("{}#oauth_result#{id}", self.component_appid)
    }

    /// `gsi1` partition of active authorizers with a refresh token.
    pub(crate) fn due_partition(&self) -> String {
        format!("{}#due", self.component_appid)
    }

    /// `gsi2` partition of the authorizers bound to `tenant`.
    pub(crate) fn tenant_partition(&self, tenant: &str) -> String {
        format!("{}#tenant#{tenant}", self.component_appid)
    }

    /// `gsi1` partition of pending chunks.
    pub(crate) fn chunks_partition(&self) -> String {
        format!("{}#chunks", self.component_appid)
    }
}

/// The chunk named by a stream record's keys (`pk`, `sk`), if it is a chunk of
/// `component_appid`; anything else (another record, another component's
/// chunk, a malformed key) is `None`.
pub fn chunk_of_stream_keys(component_appid: &str, pk: &str, sk: &str) -> Option<ChunkRef> {
    Keys::new(component_appid).chunk_ref(pk, sk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_sort_by_index_and_parse_back() {
        let keys = Keys::new("wxc");
        assert!(Keys::chunk_sk(2) < Keys::chunk_sk(10));
        let pk = keys.job("j#1");
        assert_eq!(
            keys.chunk_ref(&pk, &Keys::chunk_sk(12)),
            Some(ChunkRef {
                job_id: "j#1".into(),
                index: 12
            })
        );
    }

    #[test]
    fn stream_keys_name_only_chunks_of_this_component() {
        let keys = Keys::new("wxc");
        let pk = keys.job("job_ab12");
        assert_eq!(
            chunk_of_stream_keys("wxc", &pk, &Keys::chunk_sk(12)),
            Some(ChunkRef {
                job_id: "job_ab12".into(),
                index: 12
            })
        );
        assert_eq!(chunk_of_stream_keys("wxc", &pk, SK_JOB), None);
        assert_eq!(chunk_of_stream_keys("wxd", &pk, &Keys::chunk_sk(1)), None);
        assert_eq!(
            chunk_of_stream_keys("wxc", &keys.authorizer("wx1"), SK_PROFILE),
            None
        );
        assert_eq!(
            chunk_of_stream_keys("wxc", &keys.job(""), &Keys::chunk_sk(1)),
            None,
            "a job id is never empty"
        );
        assert_eq!(chunk_of_stream_keys("wxc", &pk, "chunk#x"), None);
    }
}
