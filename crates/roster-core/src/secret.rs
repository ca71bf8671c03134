//! Secrets handed to people or machines (API keys, invitation links): random, shown once,
//! stored only as a SHA-256 digest.

use sha2::{Digest, Sha256};

/// The stored form of a secret: hex SHA-256. Secrets are long and random, so no salt is needed.
pub fn token_digest(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(token_digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
