//! The token on the web side (`--token`): who has shown it, and the cookie
//! a browser keeps it in.
//!
//! Tools pass the token as `Authorization: Bearer TOKEN` or as a `token`
//! query parameter (`/streams/porch.mjpg?token=TOKEN`, for players that take
//! only a URL). A browser is asked for it once, on the login form, and then
//! keeps it in a cookie that scripts cannot read (HttpOnly) and other sites
//! cannot make it send (SameSite=Strict; Secure under `--tls`). The cookie
//! holds the token hex-encoded, so any token fits in a cookie value. Tokens
//! are compared in constant time; the caller slows down wrong ones through
//! the same gate as senders' wrong tokens. A request is one guess: one that
//! carries two different candidates (a bearer and a query parameter, two
//! cookies, repeated `token=` fields) is wrong whatever they are, so that
//! the gate's delay is paid per candidate.

use framewire_proto::auth::tokens_match;
use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, COOKIE};

/// The cookie's name.
pub const COOKIE_NAME: &str = "framewire_token";

/// What a request showed of the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No token is set: everyone may watch.
    Open,
    /// It showed the right token.
    Passed,
    /// It showed none.
    Missing,
    /// It showed a wrong one.
    Wrong,
}

impl Verdict {
    pub fn lets_in(self) -> bool {
        matches!(self, Verdict::Open | Verdict::Passed)
    }
}

/// Checks a request's headers and query string against `token`.
pub fn check(token: Option<&str>, headers: &HeaderMap, query: Option<&str>) -> Verdict {
    let Some(token) = token else {
        return Verdict::Open;
    };
    let bearer = headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| {
            let (scheme, credentials) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim().to_owned())
        });
    let cookies = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .filter_map(|(_, value)| from_hex(value));
    let queried = query
        .into_iter()
        .flat_map(|query| form_urlencoded::parse(query.as_bytes()))
        .filter(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned());
    verdict_of(token, bearer.chain(cookies).chain(queried))
}

/// The token of a login form's body (`token=...`), checked.
pub fn check_form(token: Option<&str>, body: &[u8]) -> Verdict {
    let Some(token) = token else {
        return Verdict::Open;
    };
    let given = form_urlencoded::parse(body)
        .filter(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned());
    verdict_of(token, given)
}

/// The verdict on the candidates a request presented: the same one any
/// number of times is one guess; two different ones are wrong, unchecked.
fn verdict_of(token: &str, mut presented: impl Iterator<Item = String>) -> Verdict {
    let Some(given) = presented.next() else {
        return Verdict::Missing;
    };
    if presented.any(|other| other != given) {
        return Verdict::Wrong;
    }
    if tokens_match(token, &given) {
        Verdict::Passed
    } else {
        Verdict::Wrong
    }
}

/// The `Set-Cookie` value that keeps `token` in the browser.
pub fn cookie(token: &str, secure: bool) -> String {
    let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={hex}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

fn from_hex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(hyper::header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_token_passes_as_a_bearer_a_cookie_or_a_query_parameter() {
        let token = Some("s3cret; =x");
        let none = HeaderMap::new();
        assert_eq!(check(None, &none, None), Verdict::Open);
        assert_eq!(check(token, &none, None), Verdict::Missing);
        let bearer = headers(&[(AUTHORIZATION, "bearer s3cret; =x")]);
        assert_eq!(check(token, &bearer, None), Verdict::Passed);
        let set = cookie("s3cret; =x", false);
        let value = set.split(';').next().unwrap();
        let cookies = headers(&[(COOKIE, &format!("other=1; {value}"))]);
        assert_eq!(check(token, &cookies, None), Verdict::Passed);
        assert_eq!(
            check(token, &none, Some("a=1&token=s3cret%3B%20%3Dx")),
            Verdict::Passed
        );
        assert_eq!(check(token, &none, Some("token=guess")), Verdict::Wrong);
        let wrong = headers(&[(COOKIE, "framewire_token=zz"), (AUTHORIZATION, "Bearer no")]);
        assert_eq!(check(token, &wrong, None), Verdict::Wrong);
        assert_eq!(check_form(token, b"token=s3cret%3B+%3Dx"), Verdict::Passed);
        assert_eq!(check_form(token, b"token="), Verdict::Wrong);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    }

    #[test]
    fn a_request_with_several_different_candidates_is_one_wrong_guess() {
        let token = Some("right");
        let none = HeaderMap::new();
        assert_eq!(
            check(token, &none, Some("token=a&token=b&token=right")),
            Verdict::Wrong
        );
        assert_eq!(
            check(token, &none, Some("token=right&token=right")),
            Verdict::Passed
        );
        let bearers = headers(&[
            (AUTHORIZATION, "Bearer wrong"),
            (AUTHORIZATION, "Bearer right"),
        ]);
        assert_eq!(check(token, &bearers, None), Verdict::Wrong);
        let bearer = headers(&[(AUTHORIZATION, "Bearer right")]);
        assert_eq!(check(token, &bearer, Some("token=x")), Verdict::Wrong);
        assert_eq!(check(token, &bearer, Some("token=right")), Verdict::Passed);
        assert_eq!(check_form(token, b"token=a&token=right"), Verdict::Wrong);
        assert!(cookie("t", true).ends_with("; Secure"));
    }
}
