//! Staff accounts and their sign-in sessions.
//!
//! Passwords arrive here already hashed, and sessions are stored by the
//! SHA-256 of their token, so the database contains no secret a thief could
//! use directly.

use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError};
use crate::language::Language;

/// Permission level of a staff account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StaffRole {
    Staff,
    Admin,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Staff => "staff",
            StaffRole::Admin => "admin",
        }
    }
}

impl std::str::FromStr for StaffRole {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "staff" => Ok(StaffRole::Staff),
            "admin" => Ok(StaffRole::Admin),
            other => Err(format!("role {other:?} is invalid; use staff or admin")),
        }
    }
}

/// A staff account, without its password hash.
#[derive(Debug, Clone, Serialize)]
pub struct StaffAccount {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub role: StaffRole,
    pub language: Language,
    pub max_chats: i64,
    #[serde(skip)]
    pub disabled: bool,
}

/// A new account, its password already hashed.
#[derive(Debug, Clone)]
pub struct NewStaff<'a> {
    pub name: &'a str,
    pub display_name: &'a str,
    pub role: StaffRole,
    pub language: Language,
    pub password_hash: &'a str,
    pub max_chats: i64,
}

const SELECT_STAFF: &str =
    "SELECT id, name, display_name, role, language, max_chats, disabled FROM staff";

impl Store {
    /// Creates an account; `None` when the name is taken.
    pub async fn create_staff(
        &self,
        staff: &NewStaff<'_>,
    ) -> Result<Option<StaffAccount>, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let inserted = sqlx::query(
            "INSERT INTO staff (id, name, display_name, role, language, password_hash, max_chats) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&id)
        .bind(staff.name)
        .bind(staff.display_name)
        .bind(staff.role.as_str())
        .bind(staff.language.code())
        .bind(staff.password_hash)
        .bind(staff.max_chats)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        self.staff_by_id(&id).await
    }

    /// Loads an account by id.
    pub async fn staff_by_id(&self, id: &str) -> Result<Option<StaffAccount>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("{SELECT_STAFF} WHERE id = ?")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    /// Loads an account and its password hash by sign-in name.
    pub async fn staff_credentials(
        &self,
        name: &str,
    ) -> Result<Option<(StaffAccount, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, display_name, role, language, max_chats, disabled, password_hash \
             FROM staff WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some((staff_from_row(&row)?, row.try_get("password_hash")?))),
            None => Ok(None),
        }
    }

    /// Returns every account, by name.
    pub async fn staff_accounts(&self) -> Result<Vec<StaffAccount>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!("{SELECT_STAFF} ORDER BY name")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(staff_from_row).collect()
    }

    /// Replaces a password hash and ends the account's sessions; `false` when
    /// no account has this name.
    pub async fn set_staff_password(
        &self,
        name: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: Option<String> =
            sqlx::query_scalar("UPDATE staff SET password_hash = ? WHERE name = ? RETURNING id")
                .bind(password_hash)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM staff_sessions WHERE staff_id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Disables or enables an account; disabling ends its sessions. The
    /// running server returns a disabled account's chats to the queue (see
    /// [`Store::requeue_chats_of_disabled`]). `false` when no account has
    /// this name.
    pub async fn set_staff_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: Option<String> =
            sqlx::query_scalar("UPDATE staff SET disabled = ? WHERE name = ? RETURNING id")
                .bind(disabled)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        if disabled {
            sqlx::query("DELETE FROM staff_sessions WHERE staff_id = ?")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a session by the hash of its token.
    pub async fn create_staff_session(
        &self,
        token_hash: &str,
        staff_id: &str,
        lifetime_seconds: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, staff_id, expires_at) VALUES (?, ?, \
             strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || ? || ' seconds'))",
        )
        .bind(token_hash)
        .bind(staff_id)
        .bind(lifetime_seconds)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Returns the enabled account behind an unexpired session.
    pub async fn staff_for_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<StaffAccount>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.name, s.display_name, s.role, s.language, s.max_chats, s.disabled \
             FROM staff_sessions x JOIN staff s ON s.id = x.staff_id \
             WHERE x.token_hash = ? AND s.disabled = 0 \
             AND x.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    /// Deletes a session, and every expired one.
    pub async fn delete_staff_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM staff_sessions WHERE token_hash = ? \
             OR expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn staff_from_row(row: &SqliteRow) -> Result<StaffAccount, StoreError> {
    let role: String = row.try_get("role")?;
    let language: String = row.try_get("language")?;
    Ok(StaffAccount {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        role: role.parse().map_err(|_| StoreError::Corrupt {
            column: "role",
            value: role.clone(),
        })?,
        language: language.parse().map_err(|_| StoreError::Corrupt {
            column: "language",
            value: language.clone(),
        })?,
        max_chats: row.try_get("max_chats")?,
        disabled: row.try_get("disabled")?,
    })
}
