//! The web side's own parsing of what a browser or tool sends: request
//! headers (bearer tokens, cookies with hex-encoded tokens), query strings,
//! login forms, and stream names turned into URL keys. Nothing panics, a
//! key is always a non-empty path segment of safe characters, and nothing
//! but the right token lets a request in.
#![no_main]

use framewire_receiver::web::auth::{Verdict, check, check_form, cookie};
use framewire_receiver::web::streams::key_of;
use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "s3cret token";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let key = key_of(&text);
    assert!(!key.is_empty() && key != "." && key != "..");
    assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "{key}");

    // Each line "name: value" is a header; a line starting '?' the query;
    // a line starting '=' the login form's body.
    let mut headers = HeaderMap::new();
    let mut query = None;
    let mut form: &[u8] = b"";
    for line in data.split(|&b| b == b'\n') {
        match line.first() {
            Some(b'?') => query = std::str::from_utf8(&line[1..]).ok(),
            Some(b'=') => form = &line[1..],
            _ => {
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    continue;
                };
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(&line[..colon]),
                    HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
                ) else {
                    continue;
                };
                headers.append(name, value);
            }
        }
    }
    let verdict = check(Some(TOKEN), &headers, query);
    if verdict == Verdict::Passed {
        let shown = format!("{headers:?} {query:?}");
        let hex: String = TOKEN.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            shown.contains("s3cret") || shown.contains(&hex) || shown.contains('%') || shown.contains('+'),
            "let in without the token: {shown}"
        );
    }
    assert_eq!(check(None, &headers, query), Verdict::Open);
    let _ = check_form(Some(TOKEN), form);
    let _ = cookie(&text, true);
});
