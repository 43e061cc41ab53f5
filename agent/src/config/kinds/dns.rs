//! Fields of a `dns` probe: what to ask, whom, and what the answer must
//! look like. It must not validate common fields.

use std::net::{IpAddr, SocketAddr};

use super::super::error::ConfigError;
use super::super::spec::{DnsChecks, DnsRecordType, DnsSpec};
use super::Fields;

pub(in crate::config) fn dns(f: &Fields<'_>) -> Result<DnsSpec, ConfigError> {
    let p = f.p;
    let name = p.name.as_deref().unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.contains(char::is_whitespace) || name.len() > 253 {
        return Err(f.err(
            "name",
            if name.is_empty() {
                "missing".to_owned()
            } else {
                format!("\"{name}\" is not a DNS name")
            },
            "set the name to resolve, e.g. name: kv.privatelink.vaultcore.azure.net",
        ));
    }
    let record_type = match p.record_type.as_deref().map(str::trim) {
        None => DnsRecordType::A,
        Some(text) => match text.to_ascii_uppercase().as_str() {
            "A" => DnsRecordType::A,
            "AAAA" => DnsRecordType::Aaaa,
            "CNAME" => DnsRecordType::Cname,
            _ => {
                return Err(f.err(
                    "record_type",
                    format!("\"{text}\" is not supported"),
                    "use A, AAAA or CNAME",
                ));
            }
        },
    };
    let server = match p.server.as_deref() {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<SocketAddr>()
                .ok()
                .or_else(|| text.trim().parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
                .ok_or_else(|| {
                    f.err(
                        "server",
                        format!("\"{text}\" is not an IP address or IP:port"),
                        "write e.g. \"10.0.0.4\" or \"10.0.0.4:53\", or remove it to use the system resolver",
                    )
                })?,
        ),
    };
    let expect_addresses = f.ip_set("expect_addresses", p.expect_addresses.as_ref())?;
    let must_be_private = p.must_be_private.unwrap_or(false);
    if !record_type.has_addresses() {
        let field = if expect_addresses.is_some() {
            Some("expect_addresses")
        } else if must_be_private {
            Some("must_be_private")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(f.err(
                field,
                format!(
                    "does not apply to {} answers, which carry no addresses",
                    record_type.as_str()
                ),
                "ask for record_type A or AAAA, or check the chain with expect_cname_contains",
            ));
        }
    }
    let expect_cname_contains = match p.expect_cname_contains.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            return Err(f.err(
                "expect_cname_contains",
                "is empty",
                "give the text a name in the chain must contain, e.g. privatelink",
            ));
        }
        Some(text) => Some(text.to_ascii_lowercase()),
    };
    Ok(DnsSpec {
        name,
        record_type,
        server,
        checks: DnsChecks {
            expect_addresses,
            must_be_private,
            expect_cname_contains,
        },
    })
}
