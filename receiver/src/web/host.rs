//! Which `Host` the web view answers to: an IP literal (the address a user
//! types), `localhost`, or a name given with `--web-host`. Anything else
//! gets 403, so a page the user visits on another site cannot read this
//! receiver by pointing its own name at the receiver's address (DNS
//! rebinding). A request without a `Host` (HTTP/1.0 tools) is answered:
//! a browser always sends one. This module only decides; the routes answer.

/// The names the web view answers to besides IP literals and `localhost`.
#[derive(Clone, Debug, Default)]
pub struct HostNames {
    names: Vec<String>,
}

impl HostNames {
    /// `names` as given with `--web-host` (any case; a trailing dot is the
    /// same name).
    pub fn new(names: &[String]) -> HostNames {
        HostNames {
            names: names.iter().map(|name| normalised(name)).collect(),
        }
    }

    /// Whether a request whose `Host` header is `host` is answered.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            return true;
        };
        let name = normalised(strip_port(host.trim()));
        if name.is_empty() {
            return false;
        }
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        literal.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.names.contains(&name)
    }
}

fn normalised(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `host` without its `:port`; an IPv6 literal keeps its brackets.
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.find(']') {
        return &host[..=end];
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_given_names_are_answered_others_not() {
        let hosts = HostNames::new(&["Cams.Example.org".to_owned()]);
        for good in [
            "127.0.0.1:8080",
            "192.168.1.20",
            "[::1]:8080",
            "[fe80::1]",
            "localhost:8080",
            "LOCALHOST",
            "cams.example.org:8080",
            "cams.example.org.",
        ] {
            assert!(hosts.allows(Some(good)), "{good}");
        }
        assert!(hosts.allows(None));
        for bad in [
            "attacker.example.com",
            "attacker.example.com:8080",
            "127.0.0.1.evil.net",
            "",
            ":8080",
            "cams.example.org.evil.net",
        ] {
            assert!(!hosts.allows(Some(bad)), "{bad}");
        }
        assert!(!HostNames::default().allows(Some("cams.example.org")));
    }
}
