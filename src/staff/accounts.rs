//! Staff accounts: validation, argon2 password hashes, sign-in with failure
//! limits, and session tokens.
//!
//! A session token is 32 random bytes in URL-safe base64; the store keeps
//! only its SHA-256, so a copy of the database cannot be used to sign in.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::language::Language;
use crate::storage::{NewStaff, StaffAccount, StaffRole, Store, StoreError};

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 128;
pub const MAX_NAME_CHARS: usize = 64;
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// Reasons an account could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("name {0:?} is invalid; use 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-'")]
    InvalidName(String),
    #[error(
        "display name {0:?} is invalid; use 1 to {MAX_DISPLAY_NAME_CHARS} characters without \
         '{{', '}}', '<', '>', control or invisible formatting characters"
    )]
    InvalidDisplayName(String),
    #[error("the password has {0} characters; use {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS}")]
    InvalidPassword(usize),
    #[error("max chats {0} is invalid; use 1 to 100")]
    InvalidMaxChats(i64),
    #[error("an account named {0:?} exists; choose another name")]
    NameTaken(String),
    #[error("no account is named {0:?}; see `crossdesk staff list`")]
    UnknownName(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub display_name: &'a str,
    pub role: StaffRole,
    pub language: Language,
    pub password: &'a str,
    pub max_chats: i64,
}

/// Validates and creates an account.
pub async fn add_account(
    store: &Store,
    account: NewAccount<'_>,
) -> Result<StaffAccount, AccountError> {
    validate_name(account.name)?;
    validate_display_name(account.display_name)?;
    validate_password(account.password)?;
    if !(1..=100).contains(&account.max_chats) {
        return Err(AccountError::InvalidMaxChats(account.max_chats));
    }
    let hash = hash_password(account.password.to_owned()).await?;
    let staff = NewStaff {
        name: account.name,
        display_name: account.display_name.trim(),
        role: account.role,
        language: account.language,
        password_hash: &hash,
        max_chats: account.max_chats,
    };
    store
        .create_staff(&staff)
        .await?
        .ok_or_else(|| AccountError::NameTaken(account.name.to_owned()))
}

/// Sets a new password and ends the account's sessions.
pub async fn set_password(store: &Store, name: &str, password: &str) -> Result<(), AccountError> {
    validate_password(password)?;
    let hash = hash_password(password.to_owned()).await?;
    if store.set_staff_password(name, &hash).await? {
        Ok(())
    } else {
        Err(AccountError::UnknownName(name.to_owned()))
    }
}

fn validate_name(name: &str) -> Result<(), AccountError> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(AccountError::InvalidName(name.to_owned()))
    }
}

/// Display names are inserted into buyer-facing phrases, so they may not
/// contain placeholder braces or markup characters.
fn validate_display_name(display_name: &str) -> Result<(), AccountError> {
    let trimmed = display_name.trim();
    let valid = !trimmed.is_empty()
        && trimmed.chars().count() <= MAX_DISPLAY_NAME_CHARS
        && !trimmed
            .chars()
            .any(|c| c.is_control() || is_format(c) || matches!(c, '{' | '}' | '<' | '>'));
    if valid {
        Ok(())
    } else {
        Err(AccountError::InvalidDisplayName(display_name.to_owned()))
    }
}

/// Invisible formatting characters, such as the bidirectional overrides that
/// could reverse how a buyer's "joined" notice reads.
fn is_format(c: char) -> bool {
    matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF)
}

fn validate_password(password: &str) -> Result<(), AccountError> {
    let chars = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(AccountError::InvalidPassword(chars))
    }
}

/// Hashes a password with argon2id on a blocking thread.
async fn hash_password(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|error| AccountError::Hash(error.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| AccountError::Hash(error.to_string()))
    })
    .await
    .map_err(|error| AccountError::Hash(error.to_string()))?
}

/// Checks a password against a stored hash on a blocking thread.
async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Returns a hash checked when the name is unknown, so a wrong name takes as
/// long as a wrong password.
pub async fn decoy_hash() -> String {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_init(|| async {
            hash_password("decoy password for unknown names".to_owned())
                .await
                .unwrap_or_default()
        })
        .await
        .clone()
}

/// The result of a sign-in attempt.
#[derive(Debug)]
pub enum SignIn {
    /// The account and a new session token for the cookie.
    Accepted(StaffAccount, String),
    Rejected,
    /// Too many failures; retry after this long.
    Limited(Duration),
}

/// Counts failed sign-ins per name and per address in a sliding window.
///
/// NOTE: the counts live in memory, so a restart clears them.
pub struct SignInLimiter {
    per_name: usize,
    per_address: usize,
    window: Duration,
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    by_name: HashMap<String, VecDeque<Instant>>,
    by_address: HashMap<IpAddr, VecDeque<Instant>>,
}

impl SignInLimiter {
    pub fn new(per_name: usize, per_address: usize, window: Duration) -> Self {
        Self {
            per_name,
            per_address,
            window,
            failures: Mutex::default(),
        }
    }

    /// Starts an attempt: counts it as a failure at once, so attempts sent
    /// in parallel cannot all pass the check before any failure is
    /// recorded. Returns the wait when the limit is reached.
    fn begin(&self, name: &str, address: IpAddr) -> Result<Instant, Duration> {
        let mut failures = self
            .failures
            .lock()
            .expect("limiter lock is never poisoned");
        let now = Instant::now();
        let name = name.to_lowercase();
        let by_name = failures
            .by_name
            .get_mut(&name)
            .and_then(|times| wait_for(times, self.per_name, now, self.window));
        let by_address = failures
            .by_address
            .get_mut(&address)
            .and_then(|times| wait_for(times, self.per_address, now, self.window));
        if let Some(wait) = by_name.max(by_address) {
            return Err(wait);
        }
        failures.by_name.entry(name).or_default().push_back(now);
        failures
            .by_address
            .entry(address)
            .or_default()
            .push_back(now);
        // Bound memory under a flood of distinct names.
        if failures.by_name.len() > 10_000 {
            let window = self.window;
            failures.by_name.retain(|_, times| {
                prune(times, now, window);
                !times.is_empty()
            });
        }
        Ok(now)
    }

    /// Removes the failure [`SignInLimiter::begin`] counted for an attempt
    /// that succeeded.
    fn succeeded(&self, name: &str, address: IpAddr, started: Instant) {
        let mut failures = self
            .failures
            .lock()
            .expect("limiter lock is never poisoned");
        let forget = |times: &mut VecDeque<Instant>| {
            if let Some(position) = times.iter().position(|t| *t == started) {
                times.remove(position);
            }
        };
        if let Some(times) = failures.by_name.get_mut(&name.to_lowercase()) {
            forget(times);
        }
        if let Some(times) = failures.by_address.get_mut(&address) {
            forget(times);
        }
    }
}

/// Returns the wait until the oldest failure leaves the window, when `limit`
/// failures are in it.
fn wait_for(
    times: &mut VecDeque<Instant>,
    limit: usize,
    now: Instant,
    window: Duration,
) -> Option<Duration> {
    prune(times, now, window);
    if times.len() < limit {
        return None;
    }
    times
        .front()
        .map(|first| window.saturating_sub(now.duration_since(*first)))
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|first| now.duration_since(*first) >= window)
    {
        times.pop_front();
    }
}

/// Checks a name and password and opens a session.
pub async fn sign_in(
    store: &Store,
    limiter: &SignInLimiter,
    name: &str,
    password: &str,
    address: IpAddr,
    session_seconds: i64,
) -> Result<SignIn, StoreError> {
    let started = match limiter.begin(name, address) {
        Ok(started) => started,
        Err(wait) => return Ok(SignIn::Limited(wait)),
    };
    let credentials = store.staff_credentials(name).await?;
    let (account, hash) = match credentials {
        Some((account, hash)) => (Some(account), hash),
        None => (None, decoy_hash().await),
    };
    let password_ok = verify_password(password.to_owned(), hash).await;
    let account = account.filter(|account| password_ok && !account.disabled);
    let Some(account) = account else {
        return Ok(SignIn::Rejected);
    };
    limiter.succeeded(name, address, started);
    let token = new_session_token();
    store
        .create_staff_session(&token_hash(&token), &account.id, session_seconds)
        .await?;
    Ok(SignIn::Accepted(account, token))
}

fn new_session_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hashes a session token into the form in which it is stored and looked up.
pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("li.wei").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("li wei").is_err());
        assert!(validate_name("a/b").is_err());
    }

    #[test]
    fn display_names_reject_braces_and_markup() {
        assert!(validate_display_name("Li Wei").is_ok());
        assert!(validate_display_name("{name}").is_err());
        assert!(validate_display_name("<b>Li</b>").is_err());
        assert!(validate_display_name("Li\nWei").is_err());
        assert!(validate_display_name("Li\u{202E}Wei").is_err());
        assert!(validate_display_name("  ").is_err());
    }

    #[test]
    fn passwords_need_ten_characters() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough pass").is_ok());
    }

    #[tokio::test]
    async fn password_hash_verifies() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), hash.clone()).await);
        assert!(!verify_password("wrong horse battery".into(), hash).await);
    }

    #[test]
    fn limiter_blocks_after_failures() {
        let limiter = SignInLimiter::new(2, 3, Duration::from_secs(60));
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limiter.begin("ana", address).is_ok());
        assert!(limiter.begin("ANA", address).is_ok());
        assert!(
            limiter.begin("ana", address).is_err(),
            "two attempts count before any result"
        );
        let started = limiter.begin("li", address).unwrap();
        assert!(
            limiter.begin("bo", address).is_err(),
            "three attempts from one address"
        );
        limiter.succeeded("li", address, started);
        assert!(
            limiter.begin("bo", address).is_ok(),
            "a success is not a failure"
        );
    }

    #[test]
    fn session_tokens_are_distinct() {
        let first = new_session_token();
        assert_ne!(first, new_session_token());
        assert_eq!(token_hash(&first).len(), 64);
    }
}
