//! Follower tags: the account's tags and who carries them (wechat-api.md §8).

use serde::{Deserialize, Serialize};

use super::call::{Empty, Token};
use super::de::u64_lenient;
use super::{paths, WechatClient, WechatError};
use crate::secret::Secret;

/// Openids per batchtagging/batchuntagging call (WeChat's limit).
pub const TAG_MEMBERS_PER_CALL: usize = 50;

/// One of the account's tags.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tag {
    #[serde(deserialize_with = "u64_lenient")]
    pub id: u64,
    pub name: String,
    /// Followers carrying it (absent on a freshly created tag).
    #[serde(default, deserialize_with = "u64_lenient")]
    pub count: u64,
}

#[derive(Deserialize)]
struct TagReply {
    tag: Tag,
}

#[derive(Deserialize)]
struct TagsReply {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct IdListReply {
    #[serde(default)]
    tagid_list: Vec<u64>,
}

#[derive(Serialize)]
struct TagBody<'a> {
    tag: TagFields<'a>,
}

#[derive(Serialize)]
struct TagFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

impl WechatClient {
    /// `tags/create`: a new tag (≤ 30 characters; ≤ 100 tags an account).
    pub async fn tags_create(&self, access_token: &Secret, name: &str) -> Result<Tag, WechatError> {
        let body = TagBody {
            tag: TagFields {
                id: None,
                name: Some(name),
            },
        };
        let reply: TagReply = self
            .post_json(paths::TAGS_CREATE, Token::Access(access_token), &body)
            .await?;
        Ok(reply.tag)
    }

    /// `tags/get`: every tag of the account, with its follower count.
    pub async fn tags_get(&self, access_token: &Secret) -> Result<Vec<Tag>, WechatError> {
        let reply: TagsReply = self
            .get(paths::TAGS_GET, Token::Access(access_token), &[])
            .await?;
        Ok(reply.tags)
    }

    /// `tags/update`: renames a tag.
    pub async fn tags_update(
        &self,
        access_token: &Secret,
        id: u64,
        name: &str,
    ) -> Result<(), WechatError> {
        let body = TagBody {
            tag: TagFields {
                id: Some(id),
                name: Some(name),
            },
        };
        let _: Empty = self
            .post_json(paths::TAGS_UPDATE, Token::Access(access_token), &body)
            .await?;
        Ok(())
    }

    /// `tags/delete` (the system's tags 0, 1 and 2 cannot be: 45058).
    pub async fn tags_delete(&self, access_token: &Secret, id: u64) -> Result<(), WechatError> {
        let body = TagBody {
            tag: TagFields {
                id: Some(id),
                name: None,
            },
        };
        let _: Empty = self
            .post_json(paths::TAGS_DELETE, Token::Access(access_token), &body)
            .await?;
        Ok(())
    }

    /// `tags/members/batchtagging` (`tag`) or `…/batchuntagging`: at most
    /// [`TAG_MEMBERS_PER_CALL`] openids.
    pub async fn tags_members(
        &self,
        access_token: &Secret,
        tagid: u64,
        openids: &[String],
        tag: bool,
    ) -> Result<(), WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            openid_list: &'a [String],
            tagid: u64,
        }
        let endpoint = if tag {
            paths::TAGS_BATCHTAGGING
        } else {
            paths::TAGS_BATCHUNTAGGING
        };
        let _: Empty = self
            .post_json(
                endpoint,
                Token::Access(access_token),
                &Body {
                    openid_list: openids,
                    tagid,
                },
            )
            .await?;
        Ok(())
    }

    /// `tags/getidlist`: the tags one follower carries.
    pub async fn tags_of(
        &self,
        access_token: &Secret,
        openid: &str,
    ) -> Result<Vec<u64>, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            openid: &'a str,
        }
        let reply: IdListReply = self
            .post_json(
                paths::TAGS_GETIDLIST,
                Token::Access(access_token),
                &Body { openid },
            )
            .await?;
        Ok(reply.tagid_list)
    }
}
