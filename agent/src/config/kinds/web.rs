//! Fields of the kinds that speak HTTP through the HTTP client: `http` and
//! `egress`. It must not validate common fields.

use super::super::error::ConfigError;
use super::super::fields::first_line;
use super::super::spec::{EgressSpec, HttpSpec, StatusExpectation};
use super::Fields;

pub(in crate::config) fn http(f: &Fields<'_>) -> Result<HttpSpec, ConfigError> {
    let url = url(f, "http://checkout:8080/health")?;
    let expect_status = match &f.p.expect_status {
        None => StatusExpectation::AnySuccess,
        Some(list) if list.is_empty() => {
            return Err(f.err(
                "expect_status",
                "is empty",
                "list the accepted statuses, e.g. [200, 204], or remove it to accept any 2xx",
            ));
        }
        Some(list) => {
            if let Some(bad) = list.iter().find(|s| !(100..=599).contains(*s)) {
                return Err(f.err(
                    "expect_status",
                    format!("{bad} is not an HTTP status"),
                    "use statuses between 100 and 599",
                ));
            }
            StatusExpectation::OneOf(list.clone())
        }
    };
    let body_match = match f.p.body_match.as_deref() {
        Some(pattern) => Some(regex::Regex::new(pattern).map_err(|e| {
            f.err(
                "body_match",
                format!(
                    "\"{pattern}\" is not a valid regex ({})",
                    first_line(&e.to_string())
                ),
                "escape special characters, e.g. \"status: ok\\\\.\"",
            )
        })?),
        None => None,
    };
    Ok(HttpSpec {
        url,
        expect_status,
        body_match,
    })
}

pub(in crate::config) fn egress(f: &Fields<'_>) -> Result<EgressSpec, ConfigError> {
    let url = url(f, "https://ifconfig.me/ip")?;
    let expected_ips = f
        .ip_set("expected_ips", f.p.expected_ips.as_ref())?
        .ok_or_else(|| {
            f.err(
                "expected_ips",
                "missing",
                "list the hub firewall's public egress IPs or prefix, e.g. expected_ips: [\"20.50.1.10\", \"20.50.2.0/28\"]",
            )
        })?;
    Ok(EgressSpec { url, expected_ips })
}

fn url(f: &Fields<'_>, example: &str) -> Result<reqwest::Url, ConfigError> {
    let text = f.p.url.as_deref().ok_or_else(|| {
        f.err(
            "url",
            "missing",
            format!("set the URL to request, e.g. url: {example}"),
        )
    })?;
    reqwest::Url::parse(text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            f.err(
                "url",
                format!("\"{text}\" is not an http(s) URL"),
                format!("write e.g. \"{example}\""),
            )
        })
}
