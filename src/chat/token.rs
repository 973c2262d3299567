//! Signed buyer session tokens.
//!
//! A token is `<conversation id>.<signature>`, the signature being an
//! HMAC-SHA256 of the id under a secret kept in the data folder. A token
//! proves which conversation a client may resume and nothing else: it grants
//! no staff rights.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const SECRET_BYTES: usize = 32;

/// Issues and verifies tokens.
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl TokenSigner {
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    /// Reads the secret from `path`, creating it (mode 0600) if missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        if let Ok(secret) = std::fs::read(path)
            && secret.len() == SECRET_BYTES
        {
            return Ok(Self::new(secret));
        }
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        write_private(path, &secret)?;
        Ok(Self::new(secret))
    }

    pub fn issue(&self, conversation_id: &str) -> String {
        format!("{conversation_id}.{}", self.sign(conversation_id))
    }

    /// Returns the conversation id of a valid token.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (id, signature) = token.rsplit_once('.')?;
        let expected = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(id.as_bytes());
        mac.verify_slice(&expected).ok()?;
        Some(id.to_owned())
    }

    fn sign(&self, conversation_id: &str) -> String {
        let mut mac = self.mac();
        mac.update(conversation_id.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts keys of any length")
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_and_rejects_tampering() {
        let signer = TokenSigner::new(vec![7; 32]);
        let token = signer.issue("abc");
        assert_eq!(signer.verify(&token).as_deref(), Some("abc"));
        assert_eq!(signer.verify(&token.replace("abc", "abd")), None);
        assert_eq!(TokenSigner::new(vec![8; 32]).verify(&token), None);
        assert_eq!(signer.verify("no-dot"), None);
    }
}
