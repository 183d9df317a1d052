//! Follower tags: create, list, rename, delete, tag and untag followers
//! (wechat-api.md §8), with WeChat's limits and errcodes.

use serde_json::{json, Map, Value};

use super::{format_error, ok, u, ApiError, Ctx};
use crate::config::TagConfig;
use crate::world::Account;

/// Tags an account may have.
const MAX_TAGS: usize = 100;
/// Characters of a tag name.
const MAX_NAME_CHARS: usize = 30;
/// Tags one follower may carry.
const MAX_TAGS_PER_FOLLOWER: usize = 20;
/// Openids per batchtagging/batchuntagging call.
const MAX_OPENIDS_PER_CALL: usize = 50;
/// The system's tags (0 unassigned, 1 blacklist, 2 starred) cannot be edited.
const SYSTEM_TAGS: u64 = 2;

fn invalid_tag() -> ApiError {
    ApiError::new(45159, "invalid tag id")
}

fn tag_object(ctx: &Ctx<'_>) -> Result<Map<String, Value>, ApiError> {
    ctx.body()?
        .get("tag")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(format_error)
}

fn checked_name(
    account: &Account,
    tag: &Map<String, Value>,
    except: Option<u64>,
) -> Result<String, ApiError> {
    let name = tag
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(format_error)?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::new(45158, "tag name too long"));
    }
    if account
        .tags
        .iter()
        .any(|t| t.name == name && Some(t.id) != except)
    {
        return Err(ApiError::new(45157, "tag name duplicated"));
    }
    Ok(name.to_owned())
}

fn checked_id(account: &Account, tag: &Map<String, Value>) -> Result<u64, ApiError> {
    let id = u(tag, "id").ok_or_else(format_error)?;
    if id <= SYSTEM_TAGS {
        return Err(ApiError::new(45058, "can't modify sys tag"));
    }
    if !account.tags.iter().any(|t| t.id == id) {
        return Err(invalid_tag());
    }
    Ok(id)
}

pub(super) fn create(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let tag = tag_object(ctx)?;
    let account = ctx.account()?;
    let name = checked_name(account, &tag, None)?;
    if account.tags.len() >= MAX_TAGS {
        return Err(ApiError::new(45056, "too many tags"));
    }
    let id = account
        .tags
        .iter()
        .map(|t| t.id)
        .max()
        .unwrap_or(99)
        .max(99)
        + 1;
    account.tags.push(TagConfig {
        id,
        name: name.clone(),
        members: Vec::new(),
    });
    Ok(json!({"tag": {"id": id, "name": name}}))
}

pub(super) fn get(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let account = ctx.account()?;
    let tags: Vec<Value> = account
        .tags
        .iter()
        .map(|t| json!({"id": t.id, "name": t.name, "count": t.members.len()}))
        .collect();
    Ok(json!({ "tags": tags }))
}

pub(super) fn update(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let tag = tag_object(ctx)?;
    let account = ctx.account()?;
    let id = checked_id(account, &tag)?;
    let name = checked_name(account, &tag, Some(id))?;
    if let Some(t) = account.tags.iter_mut().find(|t| t.id == id) {
        t.name = name;
    }
    Ok(ok())
}

pub(super) fn delete(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let tag = tag_object(ctx)?;
    let account = ctx.account()?;
    let id = checked_id(account, &tag)?;
    account.tags.retain(|t| t.id != id);
    Ok(ok())
}

/// The openids and tag of a members call, checked as WeChat does.
fn members_call(ctx: &mut Ctx<'_>) -> Result<(u64, Vec<String>), ApiError> {
    let body = ctx.body()?;
    let openids: Vec<String> = body
        .get("openid_list")
        .and_then(Value::as_array)
        .ok_or_else(format_error)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(format_error))
        .collect::<Result<_, _>>()?;
    let tagid = u(body, "tagid").ok_or_else(format_error)?;
    if openids.is_empty() {
        return Err(ApiError::new(49003, "openid_list is empty"));
    }
    if openids.len() > MAX_OPENIDS_PER_CALL {
        return Err(ApiError::new(40032, "invalid openid_list size"));
    }
    let account = ctx.account()?;
    if !account.tags.iter().any(|t| t.id == tagid) {
        return Err(invalid_tag());
    }
    for openid in &openids {
        account.check_follower(openid)?;
    }
    Ok((tagid, openids))
}

pub(super) fn batch_tagging(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let (tagid, openids) = members_call(ctx)?;
    let account = ctx.account()?;
    for openid in &openids {
        let carried = account
            .tags
            .iter()
            .filter(|t| t.id != tagid && t.members.contains(openid))
            .count();
        if carried >= MAX_TAGS_PER_FOLLOWER {
            return Err(ApiError::new(45059, "user tag count exceeds limit"));
        }
    }
    if let Some(tag) = account.tags.iter_mut().find(|t| t.id == tagid) {
        for openid in openids {
            if !tag.members.contains(&openid) {
                tag.members.push(openid);
            }
        }
    }
    Ok(ok())
}

pub(super) fn batch_untagging(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let (tagid, openids) = members_call(ctx)?;
    let account = ctx.account()?;
    if let Some(tag) = account.tags.iter_mut().find(|t| t.id == tagid) {
        tag.members.retain(|m| !openids.contains(m));
    }
    Ok(ok())
}
