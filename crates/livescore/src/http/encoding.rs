//! Which content coding a stream request accepts (RFC 9110 section
//! 12.5.3): gzip or nothing. The events are deflated once for every gzip
//! client (`hub::deflate`), so gzip costs no compressor per client; other
//! codings are not offered.

use axum::http::{header, HeaderMap};

/// What the `Accept-Encoding` headers of a request said about gzip, added
/// up over every header (a list may be split over several).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AcceptEncoding {
    /// `gzip` (or `x-gzip`) was named: whether with a q above 0.
    gzip: Option<bool>,
    /// `*` was named: whether with a q above 0.
    any: Option<bool>,
}

impl AcceptEncoding {
    /// Of a request's headers.
    pub fn of(headers: &HeaderMap) -> Self {
        let mut a = Self::default();
        for v in headers.get_all(header::ACCEPT_ENCODING) {
            a.add(v.as_bytes());
        }
        a
    }

    /// Adds one `Accept-Encoding` value: `coding[;q=v]` elements, commas
    /// between them. An element whose q does not parse counts as not
    /// acceptable.
    pub fn add(&mut self, value: &[u8]) {
        for element in value.split(|&b| b == b',') {
            let mut parts = element.split(|&b| b == b';');
            let coding = parts.next().unwrap_or_default().trim_ascii();
            let mut ok = true;
            for param in parts {
                let param = param.trim_ascii();
                if let Some((k, v)) = param.split_first_chunk::<2>() {
                    if k.eq_ignore_ascii_case(b"q=") {
                        ok = q_above_zero(v).unwrap_or(false);
                    }
                }
            }
            if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
                // Named twice: either naming allowing it is enough.
                self.gzip = Some(self.gzip.unwrap_or(false) || ok);
            } else if coding == b"*" {
                self.any = Some(self.any.unwrap_or(false) || ok);
            }
        }
    }

    /// Whether the response may be gzip: named with q above 0, or not
    /// named and `*` with q above 0.
    pub fn gzip(&self) -> bool {
        self.gzip.or(self.any).unwrap_or(false)
    }
}

/// A qvalue (`0`, `0.5`, `1.000`…) above zero; `None` when it is not one.
fn q_above_zero(v: &[u8]) -> Option<bool> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if !matches!(int, b"0" | b"1") || frac.len() > 3 || !digits(frac) {
        return None;
    }
    if int == b"1" {
        return frac.iter().all(|&b| b == b'0').then_some(true);
    }
    Some(frac.iter().any(|&b| b != b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(values: &[&str]) -> bool {
        let mut a = AcceptEncoding::default();
        for v in values {
            a.add(v.as_bytes());
        }
        a.gzip()
    }

    #[test]
    fn gzip_is_taken_when_allowed_and_never_when_refused() {
        for yes in [
            &["gzip"][..],
            &["gzip, deflate, br"],
            &["br;q=1.0, GZIP;q=0.5"],
            &["x-gzip"],
            &["*"],
            &["identity", "gzip;q=0.001"],
            &["deflate, *;q=0.1"],
            &["gzip ; q=1"],
        ] {
            assert!(gzip(yes), "{yes:?}");
        }
        for no in [
            &[][..],
            &[""],
            &["identity"],
            &["deflate, br"],
            &["gzip;q=0"],
            &["gzip;q=0.000, *"],
            &["*;q=0"],
            &["gzip;q=2"],
            &["gzip;q=abc"],
            &["gzip;q=1.5"],
            &["gzipped"],
        ] {
            assert!(!gzip(no), "{no:?}");
        }
    }
}
