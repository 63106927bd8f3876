//! Who may connect: `--allow` networks and the `--token` check.
//!
//! The address check happens when a connection is accepted, before anything
//! is read from it. The token check reads only the first message, before
//! the connection becomes a stream, is counted or has a decoder: a peer
//! without the token is logged with its address and closed, and never gets
//! to send a frame.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use framewire_proto::Frame;
use framewire_proto::auth::tokens_match;

/// An address range such as `192.168.1.0/24`, `10.1.2.3` or `fd00::/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Network, String> {
        let invalid = || {
            format!(
                "'{text}' is not an address range: write e.g. 192.168.1.0/24, 10.0.0.7 or fd00::/8"
            )
        };
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let bits: u8 = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse::<u8>().map_err(|_| invalid())?,
            None => bits,
        };
        if prefix > bits {
            return Err(format!("'{text}': the prefix length is at most {bits}"));
        }
        Ok(Network::canonical(address, prefix))
    }
}

impl Network {
    /// The network of `address`/`prefix` in the form peers are compared in:
    /// an IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`, as logs on a
    /// dual-stack listener show IPv4 peers) becomes the IPv4 range it means,
    /// and the host bits are cleared.
    fn canonical(address: IpAddr, prefix: u8) -> Network {
        const MAPPED_PREFIX: u8 = 96;
        let (address, prefix) = match address {
            IpAddr::V6(v6) if prefix >= MAPPED_PREFIX => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - MAPPED_PREFIX),
                None => (address, prefix),
            },
            other => (other, prefix),
        };
        let address = match address {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & mask_v4(prefix)).into()),
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & mask_v6(prefix)).into()),
        };
        Network { address, prefix }
    }
}

/// The network mask of an IPv4 prefix length (0..=32; more counts as 32).
fn mask_v4(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32u32.saturating_sub(prefix.into()))
        .unwrap_or(0)
}

/// The network mask of an IPv6 prefix length (0..=128; more counts as 128).
fn mask_v6(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(prefix.into()))
        .unwrap_or(0)
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl Network {
    pub fn contains(&self, address: IpAddr) -> bool {
        // A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d.
        match (self.address, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                u32::from(network) == u32::from(address) & mask_v4(self.prefix)
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                u128::from(network) == u128::from(address) & mask_v6(self.prefix)
            }
            _ => false,
        }
    }
}

/// The receiver's access rules.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Empty: every address may connect.
    pub allowed: Vec<Network>,
    /// `None`: no token needed.
    pub token: Option<String>,
}

impl Access {
    pub fn allows_address(&self, address: IpAddr) -> bool {
        self.allowed.is_empty() || self.allowed.iter().any(|network| network.contains(address))
    }

    /// Checks a connection's first message; `Err` says why it is refused.
    pub fn check_first_message(&self, first: &Frame) -> Result<(), &'static str> {
        match &self.token {
            None => Ok(()),
            Some(_) if first.auth_token.is_empty() => {
                Err("it presented no token (start the sender with --token)")
            }
            Some(token) if tokens_match(token, &first.auth_token) => Ok(()),
            Some(_) => Err("it presented a wrong token"),
        }
    }

    /// The start-up log line that says who may connect.
    pub fn describe(&self) -> String {
        let addresses = if self.allowed.is_empty() {
            "any address".to_owned()
        } else {
            let list: Vec<String> = self.allowed.iter().map(Network::to_string).collect();
            list.join(", ")
        };
        match self.token {
            Some(_) => format!("senders from {addresses} that present the token may connect"),
            None => format!(
                "no --token: any sender from {addresses} may connect, as with the prototype"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_in_both_families() {
        let lan: Network = "192.168.1.0/24".parse().unwrap();
        assert!(lan.contains(ip("192.168.1.77")));
        assert!(lan.contains(ip("::ffff:192.168.1.77")), "dual-stack form");
        assert!(!lan.contains(ip("192.168.2.1")));
        assert!(!lan.contains(ip("fd00::1")));
        let host: Network = "10.0.0.7".parse().unwrap();
        assert!(host.contains(ip("10.0.0.7")) && !host.contains(ip("10.0.0.8")));
        let everything: Network = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains(ip("8.8.8.8")));
        let ula: Network = "fd00::/8".parse().unwrap();
        assert!(ula.contains(ip("fd12::3")) && !ula.contains(ip("fe80::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "lan",
            "10.0.0.0/x",
            "10.0.0.0/-1",
            "::ffff:1.2.3.4/200",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mapped_ipv6_ranges_admit_exactly_the_ipv4_addresses_they_name() {
        // The form a dual-stack listener logs IPv4 peers in.
        let host: Network = "::ffff:10.9.9.9".parse().unwrap();
        assert_eq!(host.to_string(), "10.9.9.9/32");
        assert!(host.contains(ip("10.9.9.9")) && host.contains(ip("::ffff:10.9.9.9")));
        assert!(!host.contains(ip("10.9.9.8")) && !host.contains(ip("192.168.1.1")));
        let range: Network = "::ffff:10.9.9.0/120".parse().unwrap();
        assert_eq!(range.to_string(), "10.9.9.0/24");
        assert!(range.contains(ip("10.9.9.200")) && !range.contains(ip("10.9.10.1")));
        let all_ipv4: Network = "::ffff:0.0.0.0/96".parse().unwrap();
        assert_eq!(all_ipv4.to_string(), "0.0.0.0/0");
        assert!(all_ipv4.contains(ip("8.8.8.8")) && !all_ipv4.contains(ip("fd00::1")));
        // Host bits are cleared; /0 and full-length prefixes behave.
        assert_eq!(
            "10.1.2.3/8".parse::<Network>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        let everything: Network = "::/0".parse().unwrap();
        assert!(everything.contains(ip("2001:db8::1")));
        let one: Network = "fd00::1/128".parse().unwrap();
        assert!(one.contains(ip("fd00::1")) && !one.contains(ip("fd00::2")));
    }

    #[test]
    fn the_first_message_must_carry_the_token_when_one_is_set() {
        let open = Access::default();
        assert!(open.check_first_message(&Frame::keep_alive("cam")).is_ok());
        assert!(open.describe().contains("no --token"));
        let closed = Access {
            allowed: vec!["127.0.0.0/8".parse().unwrap()],
            token: Some("s3cret".into()),
        };
        assert!(
            closed
                .check_first_message(&Frame::hello("cam", Some("s3cret")))
                .is_ok()
        );
        let missing = closed.check_first_message(&Frame::keep_alive("cam"));
        assert!(missing.unwrap_err().contains("no token"));
        let wrong = closed.check_first_message(&Frame::hello("cam", Some("guess")));
        assert!(wrong.unwrap_err().contains("wrong token"));
        assert!(closed.allows_address(ip("127.0.0.1")));
        assert!(!closed.allows_address(ip("10.1.1.1")));
    }
}
