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
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| invalid())?,
            None => bits,
        };
        if prefix > bits {
            return Err(format!("'{text}': the prefix length is at most {bits}"));
        }
        Ok(Network {
            address: address.to_canonical(),
            prefix,
        })
    }
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
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
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
        for bad in ["", "10.0.0.0/33", "::/129", "lan", "10.0.0.0/x"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
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
                .check_first_message(&Frame::hello("cam", "s3cret"))
                .is_ok()
        );
        let missing = closed.check_first_message(&Frame::keep_alive("cam"));
        assert!(missing.unwrap_err().contains("no token"));
        let wrong = closed.check_first_message(&Frame::hello("cam", "guess"));
        assert!(wrong.unwrap_err().contains("wrong token"));
        assert!(closed.allows_address(ip("127.0.0.1")));
        assert!(!closed.allows_address(ip("10.1.1.1")));
    }
}
