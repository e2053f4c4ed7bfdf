//! DNSSEC trust anchors for direct delivery (DANE needs validated answers).
//!
//! The `--dnssec-trust-anchor` file holds DNSKEY and DS records in zone-file
//! form, one record per line, `;` comments:
//!
//! ```text
//! .      IN DNSKEY 257 3 13 12cKRUuR…q+og==
//! test.  IN DS 13230 13 2 39DDFB0E…2272146
//! ```
//!
//! A DNSKEY is trusted as it is. A DS (RFC 4034 §5) is turned into the
//! DNSKEY it digests: the zone's DNSKEY set is fetched (unvalidated) from
//! the same DNS, and the keys whose digest matches are trusted. hickory's
//! own parser reads DNSKEY lines only.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_resolver::proto::dnssec::rdata::{DNSSECRData, DS};
use hickory_resolver::proto::dnssec::{Algorithm, DigestType, TrustAnchors};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;

use crate::error::{AppError, Result};

/// Which DNSSEC keys are trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchors {
    /// No validation: every answer is insecure.
    Off,
    /// The default with the system's DNS: the IANA root keys when that DNS
    /// passes DNSSEC records through (checked once, on the root's DNSKEY
    /// set), else no validation, said in the report.
    Auto,
    /// The IANA root keys built into hickory, whatever the DNS does.
    Iana,
    /// DNSKEY and DS records from this file.
    File(PathBuf),
}

impl Anchors {
    /// The setting's value: `none`, `iana`, `auto`, a file, or unset ([`Anchors::Auto`]
    /// with the system's resolver; off with `--dns-server`, usually a test
    /// server whose zones are not under the real root).
    pub fn from_setting(value: Option<&Path>, dns_server: Option<&str>) -> Anchors {
        match value {
            Some(p) if p.as_os_str() == "none" => Anchors::Off,
            Some(p) if p.as_os_str() == "iana" => Anchors::Iana,
            Some(p) if p.as_os_str() == "auto" => Anchors::Auto,
            Some(p) => Anchors::File(p.to_path_buf()),
            None if dns_server.is_some() => Anchors::Off,
            None => Anchors::Auto,
        }
    }
}

/// A trust anchor file, read.
pub struct AnchorFile {
    path: PathBuf,
    /// The DNSKEY lines' keys.
    pub keys: TrustAnchors,
    /// The DS lines, to be matched against their zones' keys.
    pub ds: Vec<(Name, DS)>,
}

fn bad(path: &Path, why: &str) -> AppError {
    AppError::Config(format!(
        "{}: not a DNSSEC trust anchor file ({why}); it holds DNSKEY or DS records in zone-file form, one a line, e.g. \". IN DNSKEY 257 3 13 <key>\"",
        path.display()
    ))
}

/// Reads and parses the file.
pub fn read(path: &Path) -> Result<AnchorFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        AppError::Config(format!(
            "cannot read the DNSSEC trust anchor file {}: {e}",
            path.display()
        ))
    })?;
    let mut dnskeys = String::new();
    let mut ds = Vec::new();
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("");
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        let kind = tokens
            .iter()
            .take(4)
            .position(|t| t.eq_ignore_ascii_case("DNSKEY") || t.eq_ignore_ascii_case("DS"));
        match kind {
            Some(i) if tokens[i].eq_ignore_ascii_case("DNSKEY") => {
                dnskeys.push_str(line);
                dnskeys.push('\n');
            }
            Some(i) => ds.push(parse_ds(tokens[0], &tokens[i + 1..]).map_err(|w| bad(path, &w))?),
            None => return Err(bad(path, &format!("a line that is neither: {line:?}"))),
        }
    }
    if dnskeys.is_empty() && ds.is_empty() {
        return Err(bad(path, "no record"));
    }
    let keys = TrustAnchors::from_str(&dnskeys).map_err(|e| bad(path, &e.to_string()))?;
    Ok(AnchorFile {
        path: path.to_path_buf(),
        keys,
        ds,
    })
}

/// `owner`, then `KEYTAG ALGORITHM DIGESTTYPE HEX…` (RFC 4034 §5.3).
fn parse_ds(owner: &str, fields: &[&str]) -> std::result::Result<(Name, DS), String> {
    let name = Name::from_ascii(owner).map_err(|e| format!("owner {owner:?}: {e}"))?;
    let [tag, alg, digest_type, hex @ ..] = fields else {
        return Err("a DS record needs key tag, algorithm, digest type and digest".into());
    };
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("{s:?} is not a number"))
    };
    let hex: String = hex.concat();
    let digest = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("x"), 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|_| "the digest is not hexadecimal".to_string())?;
    if digest.is_empty() {
        return Err("a DS record without a digest".into());
    }
    let alg = u8::try_from(num(alg)?).map_err(|_| "algorithm out of range".to_string())?;
    let dt = u8::try_from(num(digest_type)?).map_err(|_| "digest type out of range".to_string())?;
    let ds = DS::new(
        num(tag)?,
        Algorithm::from_u8(alg),
        DigestType::from(dt),
        digest,
    );
    Ok((name.to_lowercase(), ds))
}

impl AnchorFile {
    /// The trusted keys: the file's DNSKEYs, and for each DS the zone's
    /// DNSKEYs it matches, fetched through `resolver` (not validating).
    pub async fn resolve(mut self, resolver: &TokioResolver) -> Result<TrustAnchors> {
        for (zone, ds) in &self.ds {
            let lookup = resolver
                .lookup(zone.clone(), RecordType::DNSKEY)
                .await
                .map_err(|e| {
                    // the DNS, not the file: a temporary failure
                    AppError::Network(format!(
                        "cannot fetch the DNSKEY records of {zone} to match the DS record in {}: {e}",
                        self.path.display()
                    ))
                })?;
            let mut found = false;
            for record in lookup.answers() {
                if let RData::DNSSEC(DNSSECRData::DNSKEY(key)) = &record.data {
                    if ds.covers(zone, key).unwrap_or(false) {
                        self.keys
                            .insert_with_name(key.public_key(), zone.clone().into());
                        found = true;
                    }
                }
            }
            if !found {
                return Err(AppError::Config(format!(
                    "{}: no DNSKEY of {zone} matches its DS record (key tag {})",
                    self.path.display(),
                    ds.key_tag()
                )));
            }
        }
        Ok(self.keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (Tmp, PathBuf) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("missive-anchors-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("anchor");
        std::fs::write(&path, text).unwrap();
        (Tmp(dir), path)
    }

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const ROOT_DNSKEY: &str = ".\tIN\tDNSKEY\t257 3 13 12cKRUuRuqMZQ6/+05fKW7zxGCujyPzPIHCbePfJxz9ayIVxLOI8AprtMsOQbUToaODQ1aEoG1JzpOQ7sIq+og== ;{id = 60720 (ksk), size = 256b}\n";

    #[test]
    fn dnskey_and_ds_lines_are_read() {
        let text = format!(
            "; the root\n{ROOT_DNSKEY}test.\t300\tIN\tDS\t13230 13 2 39DDFB0E4550AC016CA2062AA04E9BD6FA3247ACE5502D55079BAADF D2272146\n"
        );
        let (_t, path) = file(&text);
        let f = read(&path).unwrap();
        assert_eq!(f.keys.len(), 1);
        assert_eq!(f.ds.len(), 1);
        let (name, ds) = &f.ds[0];
        assert_eq!(name.to_ascii(), "test.");
        assert_eq!(ds.key_tag(), 13230);
        assert_eq!(ds.digest().len(), 32);
        assert_eq!(ds.digest_type(), DigestType::SHA256);
    }

    #[test]
    fn anything_else_is_refused_with_the_format() {
        for text in [
            "",
            "; nothing\n",
            "this is not a key\n",
            "test. IN DS 1 13 2 zz\n",
            "test. IN DS 1 13\n",
        ] {
            let (_t, path) = file(text);
            let err = read(&path)
                .err()
                .unwrap_or_else(|| panic!("{text:?} accepted"));
            assert!(err.to_string().contains("DNSKEY or DS"), "{err}");
        }
    }

    #[test]
    fn unset_means_iana_keys_if_the_system_dns_can_and_none_with_a_given_server() {
        assert_eq!(Anchors::from_setting(None, None), Anchors::Auto);
        assert_eq!(
            Anchors::from_setting(Some(Path::new("auto")), Some("127.0.0.1")),
            Anchors::Auto
        );
        assert_eq!(
            Anchors::from_setting(Some(Path::new("iana")), Some("127.0.0.1")),
            Anchors::Iana
        );
        assert_eq!(
            Anchors::from_setting(None, Some("127.0.0.1:53")),
            Anchors::Off
        );
        assert_eq!(
            Anchors::from_setting(Some(Path::new("none")), None),
            Anchors::Off
        );
        assert_eq!(
            Anchors::from_setting(Some(Path::new("k.key")), Some("127.0.0.1")),
            Anchors::File("k.key".into())
        );
    }
}
