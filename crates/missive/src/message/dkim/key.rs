//! DKIM private keys: loaded from PEM (RSA as PKCS#1 or PKCS#8, Ed25519 as
//! PKCS#8), checked to be private to their owner, generated, and their
//! public half written as the DNS record's `p=`.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;

use crate::error::{AppError, Result};

/// `rsa-sha256` or `ed25519-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RsaSha256,
    Ed25519Sha256,
}

impl Algorithm {
    /// The `a=` tag.
    pub fn tag(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The key record's `k=`.
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa",
            Algorithm::Ed25519Sha256 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa-sha256" => Some(Algorithm::RsaSha256),
            "ed25519" | "ed25519-sha256" => Some(Algorithm::Ed25519Sha256),
            _ => None,
        }
    }
}

/// A loaded signing key.
pub enum SigningKey {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.algorithm().tag())
    }
}

impl SigningKey {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Rsa(_) => Algorithm::RsaSha256,
            SigningKey::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// Reads `path`; a file others may read is refused (exit 78), as the
    /// configuration file with a password is.
    pub fn load(path: &Path) -> Result<SigningKey> {
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| AppError::Config(format!("DKIM key {shown}: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(AppError::Config(format!(
                    "DKIM key {shown} is readable by others (mode {:o}): chmod 600 {shown}",
                    mode & 0o777
                )));
            }
        }
        let _ = meta;
        let pem =
            std::fs::read(path).map_err(|e| AppError::Config(format!("DKIM key {shown}: {e}")))?;
        SigningKey::from_pem(&pem).map_err(|e| AppError::Config(format!("DKIM key {shown}: {e}")))
    }

    pub fn from_pem(pem: &[u8]) -> std::result::Result<SigningKey, String> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| format!("not a PEM private key ({e})"))?;
        let rsa_size = |k: RsaKeyPair| match k.public().modulus_len() * 8 {
            bits if bits < 2048 => Err(format!(
                "an RSA key of {bits} bits is too short (RFC 8301: 2048 or more)"
            )),
            _ => Ok(SigningKey::Rsa(k)),
        };
        match der {
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der())
                .map_err(|e| format!("unusable RSA key ({e})"))
                .and_then(rsa_size),
            PrivateKeyDer::Pkcs8(k) => {
                let der = k.secret_pkcs8_der();
                if let Ok(rsa) = RsaKeyPair::from_pkcs8(der) {
                    return rsa_size(rsa);
                }
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map(SigningKey::Ed25519)
                    .map_err(|e| format!("neither an RSA nor an Ed25519 key ({e})"))
            }
            _ => Err("an EC key: DKIM signs with RSA or Ed25519".into()),
        }
    }

    /// Signs the canonical header data (RFC 6376 §3.7; RFC 8463 §3: Ed25519
    /// signs the SHA-256 hash of it).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            SigningKey::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|_| AppError::Config("RSA signing failed".into()))?;
                Ok(sig)
            }
            SigningKey::Ed25519(k) => {
                let hash = ring::digest::digest(&ring::digest::SHA256, data);
                Ok(k.sign(hash.as_ref()).as_ref().to_vec())
            }
        }
    }

    /// The public key as the DNS record's `p=` wants it: RSA as a
    /// SubjectPublicKeyInfo, Ed25519 as its 32 octets (RFC 8463 §4.2).
    pub fn public_record_key(&self) -> Vec<u8> {
        match self {
            SigningKey::Rsa(k) => rsa_spki(k.public().as_ref()),
            SigningKey::Ed25519(k) => k.public_key().as_ref().to_vec(),
        }
    }

    /// The TXT record to publish at `SELECTOR._domainkey.DOMAIN`.
    pub fn record(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm().key_type(),
            B64.encode(self.public_record_key())
        )
    }

    /// Whether a published `p=` (base64) is this key's public half (RSA:
    /// SubjectPublicKeyInfo or a bare RSAPublicKey).
    pub fn matches(&self, p: &str) -> bool {
        let cleaned: String = p.chars().filter(|c| !c.is_whitespace()).collect();
        let Ok(published) = B64.decode(cleaned) else {
            return false;
        };
        match self {
            SigningKey::Rsa(k) => {
                published == self.public_record_key() || published == k.public().as_ref()
            }
            SigningKey::Ed25519(_) => published == self.public_record_key(),
        }
    }
}

/// A new Ed25519 key as PKCS#8 PEM.
pub fn generate_ed25519() -> Result<String> {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| AppError::Config("cannot generate an Ed25519 key".into()))?;
    Ok(pem("PRIVATE KEY", doc.as_ref()))
}

/// PEM armour, 64 characters a line.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// SubjectPublicKeyInfo { rsaEncryption, NULL } around an RSAPublicKey.
fn rsa_spki(rsa_public_key: &[u8]) -> Vec<u8> {
    // OID 1.2.840.113549.1.1.1, NULL
    let alg: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(rsa_public_key);
    let mut content = alg.to_vec();
    content.extend(der(0x03, &bits));
    der(0x30, &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_round_trip() {
        let pem = generate_ed25519().unwrap();
        let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), Algorithm::Ed25519Sha256);
        assert_eq!(key.public_record_key().len(), 32);
        let record = key.record();
        let p = record.split("p=").nth(1).unwrap();
        assert!(key.matches(p));
        let other = SigningKey::from_pem(generate_ed25519().unwrap().as_bytes()).unwrap();
        assert!(!other.matches(p));
        let sig = key.sign(b"data").unwrap();
        assert_eq!(sig.len(), 64);
    }

    #[test]
    fn not_a_key() {
        assert!(SigningKey::from_pem(b"hello").is_err());
    }
}
