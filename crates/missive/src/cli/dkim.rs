//! `missive dkim …`: keys for DKIM signing.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `missive dkim`.
#[derive(Subcommand, Debug)]
pub enum DkimCmd {
    /// Make a private key (mode 0600) and print the DNS TXT record to publish.
    Keygen(DkimKeygenArgs),
    /// Look the key record up in DNS and say whether it matches the private key.
    Check(DkimCheckArgs),
}

/// `--algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DkimAlgorithmArg {
    #[default]
    Ed25519,
    Rsa,
}

#[derive(Args, Debug, Clone)]
pub struct DkimKeygenArgs {
    #[arg(long, value_name = "DOMAIN")]
    pub domain: String,
    #[arg(long, value_name = "S")]
    pub selector: String,
    /// ed25519 (RFC 8463), or rsa (2048 bits; made with openssl(1), which must be installed).
    #[arg(long, value_enum, default_value_t = DkimAlgorithmArg::Ed25519)]
    pub algorithm: DkimAlgorithmArg,
    /// Where to write the private key (default: SELECTOR.DOMAIN.key); an existing file is not overwritten.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct DkimCheckArgs {
    #[arg(long, value_name = "DOMAIN")]
    pub domain: String,
    #[arg(long, value_name = "S")]
    pub selector: String,
    /// The private key to compare with the published record.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Use this DNS server, IP[:PORT], instead of the system's.
    #[arg(long, value_name = "IP[:PORT]")]
    pub dns_server: Option<String>,
}
