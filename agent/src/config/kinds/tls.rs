//! Fields of a `tls` probe: where to connect, which name to verify, which
//! roots to trust and when expiry becomes a warning or a failure. Reads the
//! `ca_file` so a bad file is a config error, not a failing probe. It must
//! not validate common fields.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::super::error::ConfigError;
use super::super::spec::{TlsRoots, TlsSpec};
use super::Fields;

const DEFAULT_WARN_DAYS: u32 = 30;
const DEFAULT_CRITICAL_DAYS: u32 = 7;
const MAX_DAYS: u64 = 3650;

pub(in crate::config) fn tls(f: &Fields<'_>) -> Result<TlsSpec, ConfigError> {
    let p = f.p;
    let target = f.address("checkout.example.com:443")?;
    let server_name = match p.sni.as_deref() {
        Some(text) => f.server_name("sni", text)?,
        None => f.server_name("address", &target.host)?,
    };
    let roots = match p.ca_file.as_deref().map(str::trim) {
        None => TlsRoots::WebPki,
        Some(path) => TlsRoots::CaFile {
            path: path.to_owned(),
            certs: read_ca_file(f, path)?,
        },
    };
    let warn_days = days(f, "warn_days", p.warn_days, DEFAULT_WARN_DAYS)?;
    let critical_days = days(f, "critical_days", p.critical_days, DEFAULT_CRITICAL_DAYS)?;
    if critical_days > warn_days {
        return Err(f.err(
            "critical_days",
            format!("{critical_days} is more than warn_days ({warn_days})"),
            "the critical threshold comes closer to expiry: e.g. warn_days: 30, critical_days: 7",
        ));
    }
    Ok(TlsSpec {
        target,
        server_name,
        roots,
        warn_days,
        critical_days,
    })
}

fn days(f: &Fields<'_>, field: &str, value: Option<u64>, default: u32) -> Result<u32, ConfigError> {
    match value {
        None => Ok(default),
        Some(n) if n <= MAX_DAYS => Ok(u32::try_from(n).unwrap_or(default)),
        Some(n) => Err(f.err(
            field,
            format!("{n} is more than {MAX_DAYS} days"),
            "give a number of days, e.g. 30",
        )),
    }
}

fn read_ca_file(f: &Fields<'_>, path: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let fix = "point ca_file at a readable PEM file of CA certificates, or remove it to trust the public web PKI";
    let text = std::fs::read(path)
        .map_err(|e| f.err("ca_file", format!("cannot read \"{path}\": {e}"), fix))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| f.err("ca_file", format!("\"{path}\" is not valid PEM: {e}"), fix))?;
    if certs.is_empty() {
        return Err(f.err(
            "ca_file",
            format!("\"{path}\" holds no CERTIFICATE block"),
            fix,
        ));
    }
    Ok(certs)
}
