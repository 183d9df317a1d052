//! Reading stored rows, shared by every family (each converts its own rows
//! beside its operations). Anything that does not read back (an unknown
//! status, bad JSON, a negative time) is `StoreError::Corrupt`, naming the
//! record and column but never the value (it may be a token).

use crate::secret::Secret;
use crate::store::{StoreError, StoreResult, TokenState};
use rusqlite::types::FromSql;
use rusqlite::Row;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A time or counter as SQLite stores it (signed); clamps the far future.
pub(super) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A JSON column value.
pub(super) fn json<T: Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("cannot encode value: {e}")))
}

/// Reads the columns of one record kind, turning failures into `Corrupt`.
pub(super) struct Cols<'a, 'r> {
    row: &'a Row<'r>,
    record: &'static str,
}

impl Cols<'_, '_> {
    pub(super) fn corrupt(&self, attribute: &str, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            record: self.record,
            attribute: attribute.to_owned(),
            reason: reason.into(),
        }
    }

    pub(super) fn get<T: FromSql>(&self, name: &str) -> StoreResult<T> {
        // The error says which type was expected and found, never the value itself.
        self.row
            .get(name)
            .map_err(|e| self.corrupt(name, e.to_string()))
    }

    pub(super) fn text(&self, name: &str) -> StoreResult<String> {
        self.get(name)
    }

    pub(super) fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        self.get(name)
    }

    pub(super) fn secret(&self, name: &str) -> StoreResult<Option<Secret>> {
        Ok(self.opt_text(name)?.map(Secret::new))
    }

    pub(super) fn uint(&self, name: &str) -> StoreResult<u64> {
        let v: i64 = self.get(name)?;
        u64::try_from(v).map_err(|_| self.corrupt(name, "negative number"))
    }

    pub(super) fn u32(&self, name: &str) -> StoreResult<u32> {
        let v: i64 = self.get(name)?;
        u32::try_from(v).map_err(|_| self.corrupt(name, "number out of range"))
    }

    pub(super) fn flag(&self, name: &str) -> StoreResult<bool> {
        match self.get::<i64>(name)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.corrupt(name, "not a 0/1 flag")),
        }
    }

    pub(super) fn json<T: DeserializeOwned>(&self, name: &str) -> StoreResult<T> {
        let raw = self.text(name)?;
        serde_json::from_str(&raw).map_err(|e| self.corrupt(name, format!("bad JSON: {e}")))
    }

    pub(super) fn status<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> StoreResult<T> {
        let raw = self.text(name)?;
        parse(&raw).ok_or_else(|| self.corrupt(name, format!("unknown value `{raw}`")))
    }

    pub(super) fn lease_owner(&self) -> StoreResult<Option<String>> {
        self.opt_text("lease_owner")
    }
}

pub(super) fn cols<'a, 'r>(row: &'a Row<'r>, record: &'static str) -> Cols<'a, 'r> {
    Cols { row, record }
}

/// The token part of a component-token or authorizer row.
pub(super) fn token_state(row: &Row<'_>, record: &'static str) -> StoreResult<TokenState> {
    let c = cols(row, record);
    Ok(TokenState {
        access_token: c.secret("access_token")?,
        expires_at: c.uint("expires_at")?,
        version: c.uint("version")?,
        lease_owner: c.lease_owner()?,
        lease_until: c.uint("lease_until")?,
    })
}

/// A stored token version (SQLite integers are signed).
pub(super) fn stored_version(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        record: "token",
        attribute: "version".into(),
        reason: "negative number".into(),
    })
}
