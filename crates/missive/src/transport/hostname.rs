//! The name missive gives itself in EHLO (RFC 5321 §4.1.4).

use std::net::{IpAddr, SocketAddr};

/// The machine's host name when it is fully qualified, else an address
/// literal of the local end of the connection. Strict servers answer a
/// bare word (`vm`) with `501 5.5.4`, and an empty name is never valid.
pub fn ehlo_name(local: Option<SocketAddr>) -> String {
    if let Some(name) = fqdn() {
        return name;
    }
    match local.map(|a| a.ip()) {
        Some(IpAddr::V4(ip)) => format!("[{ip}]"),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => format!("[{v4}]"),
            None => format!("[IPv6:{ip}]"),
        },
        None => "[127.0.0.1]".into(),
    }
}

/// The kernel's host name (Linux), or `HOSTNAME`.
pub fn system_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The machine's fully qualified name: the host name when it has a dot,
/// else the canonical name `/etc/hosts` gives it (the first name of the
/// line that lists the short name, as `hostname -f` finds it), else `None`.
pub fn fqdn() -> Option<String> {
    let short = system_hostname()?;
    if is_fqdn(&short) {
        return Some(short);
    }
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    canonical_in_hosts(&hosts, &short)
}

fn canonical_in_hosts(hosts: &str, short: &str) -> Option<String> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        let lists_it = names.iter().any(|n| {
            n.eq_ignore_ascii_case(short)
                || n.split('.')
                    .next()
                    .is_some_and(|l| l.eq_ignore_ascii_case(short))
        });
        names
            .iter()
            .find(|n| is_fqdn(n))
            .filter(|_| lists_it)
            .map(|n| n.trim_end_matches('.').to_string())
    })
}

fn is_fqdn(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    name.contains('.')
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_rules() {
        assert!(is_fqdn("mail.example.com"));
        assert!(!is_fqdn("vm"));
        assert!(!is_fqdn("a..b"));
        assert!(!is_fqdn("-a.b"));
    }

    #[test]
    fn canonical_name_from_etc_hosts() {
        let hosts =
            "127.0.0.1 localhost\n# 10.0.0.1 vm.commented.test vm\n127.0.1.1 vm.example.org vm\n";
        assert_eq!(
            canonical_in_hosts(hosts, "vm").as_deref(),
            Some("vm.example.org")
        );
        assert_eq!(canonical_in_hosts("127.0.0.1 localhost vm\n", "vm"), None);
        assert_eq!(canonical_in_hosts(hosts, "other"), None);
    }

    #[test]
    fn literal_fallback_is_never_empty() {
        let v6: SocketAddr = "[::1]:1234".parse().unwrap();
        let name = ehlo_name(Some(v6));
        assert!(!name.is_empty());
        if fqdn().is_none() {
            assert_eq!(name, "[IPv6:::1]");
            assert_eq!(
                ehlo_name(Some("127.0.0.1:5".parse().unwrap())),
                "[127.0.0.1]"
            );
        }
    }
}
