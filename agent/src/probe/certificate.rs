//! Facts read from a server's leaf certificate (x509-parser): subject,
//! issuer and expiry, as evidence for TLS signals. It must not decide
//! whether the certificate is acceptable (see `verdict` and `tls`).

use std::time::{SystemTime, UNIX_EPOCH};

const DAY_SECS: i64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub subject: String,
    pub issuer: String,
    /// Unix seconds of notAfter.
    pub not_after: i64,
}

impl Leaf {
    pub fn parse(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("the server's certificate cannot be parsed: {e}"))?;
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Whole days until expiry, rounded down; negative once expired.
    pub fn days_to_expiry(&self, now_unix: i64) -> i32 {
        let days = (self.not_after - now_unix).div_euclid(DAY_SECS);
        i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX })
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_down_and_go_negative() {
        let leaf = Leaf {
            subject: String::new(),
            issuer: String::new(),
            not_after: 10 * DAY_SECS,
        };
        assert_eq!(leaf.days_to_expiry(0), 10);
        assert_eq!(leaf.days_to_expiry(1), 9);
        assert_eq!(leaf.days_to_expiry(10 * DAY_SECS + 1), -1);
    }
}
