//! The otpauth:// URI that authenticator apps read from the QR code
//! (Google Authenticator's Key Uri Format).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::totp::{DIGITS, PERIOD};

/// Everything but RFC 3986's unreserved characters is encoded; `+` must not pass as a space.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let issuer = utf8_percent_encode(issuer, COMPONENT).to_string();
    let account = utf8_percent_encode(account, COMPONENT);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret_base32}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={PERIOD}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_label_and_issuer() {
        assert_eq!(
            otpauth_uri("nidan", "xxx@co.jp", "GEZDGNBV"),
            "otpauth://totp/nidan:xxx%40co.jp?secret=GEZDGNBV&issuer=nidan&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(
            otpauth_uri("ギガらく カメラ", "a+b@example.jp", "GEZDGNBV"),
            "otpauth://totp/%E3%82%AE%E3%82%AC%E3%82%89%E3%81%8F%20%E3%82%AB%E3%83%A1%E3%83%A9:\
             a%2Bb%40example.jp?secret=GEZDGNBV&issuer=%E3%82%AE%E3%82%AC%E3%82%89%E3%81%8F%20\
             %E3%82%AB%E3%83%A1%E3%83%A9&algorithm=SHA1&digits=6&period=30"
        );
        assert!(otpauth_uri("a:b&c", "x", "S").starts_with("otpauth://totp/a%3Ab%26c:x?"));
    }
}
