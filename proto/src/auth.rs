//! The shared token that lets a sender in (`--token`, `FRAMEWIRE_TOKEN` or
//! `--token-file` on both ends).
//!
//! A receiver with a token lets in only connections whose first message is
//! a [`crate::Frame::hello`] carrying the same token; the comparison takes
//! the same time wherever the tokens differ, so a peer cannot guess the
//! token byte by byte from response times. Without a token, anyone may
//! connect, as with the prototype. Over `--tls` the token and the video are
//! encrypted; without it they travel in clear text.
//!
//! [`certificate_fingerprint`] names a receiver's TLS certificate the way a
//! sender pins it (`--tls-fingerprint`): the SHA-256 of its DER bytes.

use std::path::Path;

use anyhow::{Context, bail};

/// The token from `--token`/`FRAMEWIRE_TOKEN` or, failing that, the first
/// line of `--token-file`; `None` when neither is given.
pub fn load_token(token: Option<&str>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    let token = match (token, file) {
        (Some(token), _) => token.trim().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        (None, None) => return Ok(None),
    };
    if token.is_empty() {
        bail!("the token is empty: give at least one character (e.g. `openssl rand -hex 16`)");
    }
    if token.len() > 1024 {
        bail!("the token is longer than 1024 bytes");
    }
    Ok(Some(token))
}

/// True when `presented` equals `expected`, in a time that depends only on
/// their lengths. The lengths are compared in full (a token followed by
/// junk is not the token), and every byte of `expected` is looked at.
pub fn tokens_match(expected: &str, presented: &str) -> bool {
    let (expected, presented) = (expected.as_bytes(), presented.as_bytes());
    let mut difference = (expected.len() ^ presented.len()) as u64;
    for (index, byte) in expected.iter().enumerate() {
        difference |= u64::from(byte ^ presented.get(index).copied().unwrap_or(!byte));
    }
    std::hint::black_box(difference) == 0
}

/// The SHA-256 of a certificate's DER bytes, as `AB:CD:...` (32 pairs).
pub fn certificate_fingerprint(der: &[u8]) -> String {
    let pairs: Vec<String> = certificate_digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    pairs.join(":")
}

/// Reads a fingerprint written as [`certificate_fingerprint`] prints it, or
/// as 64 hex digits with or without colons, in either case.
pub fn parse_fingerprint(text: &str) -> anyhow::Result<[u8; 32]> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "'{text}' is not a certificate fingerprint: expected 32 hex pairs as the receiver \
             prints them (SHA-256, e.g. 3A:F1:...)"
        );
    }
    let mut bytes = [0u8; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * index..2 * index + 2], 16)?;
    }
    Ok(bytes)
}

/// The raw SHA-256 of a certificate's DER bytes.
pub fn certificate_digest(der: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(der).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_matches() {
        assert!(tokens_match("s3cret-token", "s3cret-token"));
        for other in ["", "s3cret-toke", "s3cret-token!", "S3cret-token", "x"] {
            assert!(!tokens_match("s3cret-token", other), "{other}");
        }
        // Lengths differing by a multiple of 256 (or of 65,536) still differ.
        assert!(!tokens_match(&"a".repeat(300), &"a".repeat(44)));
        let padded = format!("s3cret-token{}", "x".repeat(65_536));
        assert!(!tokens_match("s3cret-token", &padded));
    }

    #[test]
    fn fingerprints_print_and_parse_back() {
        let printed = certificate_fingerprint(b"not really a certificate");
        assert_eq!(printed.len(), 32 * 3 - 1);
        let parsed = parse_fingerprint(&printed).unwrap();
        assert_eq!(parsed, certificate_digest(b"not really a certificate"));
        assert_eq!(
            parse_fingerprint(&printed.replace(':', "").to_lowercase()).unwrap(),
            parsed
        );
        for bad in ["", "AB:CD", &"ZZ".repeat(32)] {
            assert!(parse_fingerprint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_come_from_the_option_or_the_first_line_of_a_file() {
        assert_eq!(load_token(None, None).unwrap(), None);
        assert_eq!(load_token(Some(" abc \n"), None).unwrap().unwrap(), "abc");
        let path = std::env::temp_dir().join(format!("framewire-token-{}", std::process::id()));
        std::fs::write(&path, "from-file\nignored\n").unwrap();
        assert_eq!(load_token(None, Some(&path)).unwrap().unwrap(), "from-file");
        assert_eq!(
            load_token(Some("wins"), Some(&path)).unwrap().unwrap(),
            "wins"
        );
        std::fs::write(&path, "\n").unwrap();
        let error = load_token(None, Some(&path)).unwrap_err().to_string();
        assert!(error.contains("empty"), "{error}");
        std::fs::remove_file(&path).unwrap();
        let error = format!("{:#}", load_token(None, Some(&path)).unwrap_err());
        assert!(error.contains("cannot read the token file"), "{error}");
    }
}
