//! Where mail for a domain goes (RFC 5321 §5.1, RFC 7505): MX records
//! sorted by preference, hosts of equal preference shuffled, the implicit
//! MX when there are none, and the null MX that refuses all mail.

use super::dns::LookupError;

/// One mail exchanger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    pub preference: u16,
    /// The host name, without the trailing dot.
    pub name: String,
}

/// The delivery plan for a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// MX hosts in the order to try.
    Hosts(Vec<MxHost>),
    /// No MX records: the domain itself is the host (RFC 5321 §5.1).
    Implicit(String),
    /// `MX 0 .`: the domain accepts no mail (RFC 7505).
    Null,
}

/// Turns the answer to an MX query into a route. `shuffle_seed` orders
/// hosts of equal preference (RFC 5321 §5.1 asks for randomness).
pub fn route(
    domain: &str,
    answer: Result<Vec<(u16, String)>, LookupError>,
    shuffle_seed: u64,
) -> Result<Route, LookupError> {
    let records = match answer {
        Ok(r) if !r.is_empty() => r,
        Ok(_) | Err(LookupError::NoData(_)) => return Ok(Route::Implicit(domain.to_string())),
        Err(e) => return Err(e),
    };
    let is_null = |name: &str| name == "." || name.is_empty();
    // RFC 7505 §3: a domain with a null MX has only that one record.
    if records.len() == 1 && is_null(&records[0].1) {
        return Ok(Route::Null);
    }
    let mut hosts: Vec<MxHost> = records
        .into_iter()
        .filter(|(_, n)| !is_null(n))
        .map(|(preference, name)| MxHost {
            preference,
            name: name.trim_end_matches('.').to_ascii_lowercase(),
        })
        .collect();
    hosts.sort_by_key(|h| h.preference);
    hosts.dedup();
    let mut rng = XorShift(shuffle_seed | 1);
    let mut i = 0;
    while i < hosts.len() {
        let j = i + hosts[i..]
            .iter()
            .take_while(|h| h.preference == hosts[i].preference)
            .count();
        // Fisher–Yates within the run of equal preference
        for k in (i + 1..j).rev() {
            let r = i + (rng.next() as usize) % (k - i + 1);
            hosts.swap(k, r);
        }
        i = j;
    }
    Ok(Route::Hosts(hosts))
}

/// A tiny deterministic generator, enough for shuffling; seeded from
/// getrandom in use and fixed in tests.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A random seed for [`route`].
pub fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap_or_default();
    u64::from_le_bytes(b)
}

/// Recipients grouped by domain (case-insensitive), in first-seen order.
pub fn group_by_domain(addrs: &[String]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for a in addrs {
        let domain = a.rsplit_once('@').map_or("", |(_, d)| d).to_lowercase();
        match groups.iter_mut().find(|(d, _)| *d == domain) {
            Some((_, list)) => {
                if !list.contains(a) {
                    list.push(a.clone())
                }
            }
            None => groups.push((domain, vec![a.clone()])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(r: Route) -> Vec<String> {
        match r {
            Route::Hosts(h) => h
                .into_iter()
                .map(|h| format!("{} {}", h.preference, h.name))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sorted_by_preference() {
        let r = route(
            "x",
            Ok(vec![
                (20, "b.x.".into()),
                (10, "A.x.".into()),
                (30, "c.x".into()),
            ]),
            7,
        )
        .unwrap();
        assert_eq!(hosts(r), vec!["10 a.x", "20 b.x", "30 c.x"]);
    }

    #[test]
    fn equal_preference_is_shuffled_deterministically_per_seed() {
        let recs: Vec<(u16, String)> = (0..6)
            .map(|i| (10, format!("h{i}.x")))
            .chain([(5, "first.x".into())])
            .collect();
        let orders: std::collections::HashSet<Vec<String>> = (0..40)
            .map(|seed| hosts(route("x", Ok(recs.clone()), seed).unwrap()))
            .collect();
        assert!(orders.len() > 5, "equal-preference hosts are not shuffled");
        for o in &orders {
            assert_eq!(o[0], "5 first.x");
            assert_eq!(o.len(), 7);
        }
        let a = hosts(route("x", Ok(recs.clone()), 42).unwrap());
        assert_eq!(a, hosts(route("x", Ok(recs), 42).unwrap()));
    }

    #[test]
    fn implicit_and_null_mx() {
        assert_eq!(
            route("nomx.test", Ok(vec![]), 1).unwrap(),
            Route::Implicit("nomx.test".into())
        );
        assert_eq!(
            route("nomx.test", Err(LookupError::NoData("nomx.test".into())), 1).unwrap(),
            Route::Implicit("nomx.test".into())
        );
        assert_eq!(
            route("n", Ok(vec![(0, ".".into())]), 1).unwrap(),
            Route::Null
        );
        assert!(matches!(
            route(
                "gone.test",
                Err(LookupError::NxDomain("gone.test".into())),
                1
            ),
            Err(LookupError::NxDomain(_))
        ));
        // a null record among real ones is ignored
        assert_eq!(
            hosts(route("x", Ok(vec![(0, ".".into()), (10, "mx.x".into())]), 1).unwrap()),
            vec!["10 mx.x"]
        );
    }

    #[test]
    fn grouping() {
        let g = group_by_domain(&[
            "a@X.test".into(),
            "b@y.test".into(),
            "c@x.TEST".into(),
            "a@X.test".into(),
        ]);
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0],
            (
                "x.test".to_string(),
                vec!["a@X.test".to_string(), "c@x.TEST".to_string()]
            )
        );
        assert_eq!(g[1].1, vec!["b@y.test".to_string()]);
    }
}
