//! The one place that maps low-level failures (I/O error kinds, HTTP client
//! errors, DNS resolver errors) onto the contract's closed `ErrorClass`
//! taxonomy, so every probe kind classifies the same failure the same way.
//! It must not decide outcomes or thresholds.

use std::error::Error as StdError;
use std::io;

use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use vigil_proto::v1::ErrorClass;

/// The class of a transport-level I/O error, when its kind says how the
/// connection failed.
pub fn io_kind(kind: io::ErrorKind) -> Option<ErrorClass> {
    use io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => Some(ErrorClass::ConnectionRefused),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
            Some(ErrorClass::ConnectionReset)
        }
        K::TimedOut => Some(ErrorClass::Timeout),
        K::NetworkUnreachable | K::NetworkDown => Some(ErrorClass::NetworkUnreachable),
        K::HostUnreachable => Some(ErrorClass::HostUnreachable),
        _ => None,
    }
}

/// Walks an error's source chain to the first `io::Error` whose kind names a
/// transport failure. Library wrappers (hyper, reqwest) bury the OS error a
/// few levels down.
pub fn io_in_chain(err: &(dyn StdError + 'static)) -> Option<ErrorClass> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && let Some(class) = io_kind(io.kind())
        {
            return Some(class);
        }
        current = e.source();
    }
    None
}

/// Classifies a failed HTTP request.
pub fn http(err: &reqwest::Error) -> ErrorClass {
    if err.is_timeout() {
        return ErrorClass::Timeout;
    }
    io_in_chain(err).unwrap_or(ErrorClass::HttpProtocol)
}

/// The status a firewall or proxy uses for "denied by policy" in place of
/// the destination's answer (Azure Firewall application rules answer 470).
pub const PROXY_DENY_STATUS: u16 = 470;

/// Whether an HTTP answer is a firewall's deny page rather than the
/// destination speaking: status 470, or a body saying `Action: Deny`.
pub fn proxy_denied(status: u16, body: &str) -> bool {
    status == PROXY_DENY_STATUS || body.to_ascii_lowercase().contains("action: deny")
}

/// Classifies a failed DNS lookup, returning the class and the response code
/// when the resolver got one.
pub fn dns(err: &NetError) -> (ErrorClass, Option<ResponseCode>) {
    match err {
        NetError::Dns(DnsError::ResponseCode(code)) => (rcode(*code), Some(*code)),
        NetError::Dns(DnsError::NoRecordsFound(no)) => {
            let class = match no.response_code {
                ResponseCode::NoError => ErrorClass::DnsNoAnswer,
                code => rcode(code),
            };
            (class, Some(no.response_code))
        }
        // The pool reports "no connections" once every server failed to
        // answer; for a probe that is the resolver not answering.
        NetError::Timeout | NetError::NoConnections => (ErrorClass::DnsTimeout, None),
        NetError::Io(io) => match io_kind(io.kind()) {
            Some(ErrorClass::Timeout) | None => (ErrorClass::DnsTimeout, None),
            Some(class) => (class, None),
        },
        _ => (ErrorClass::DnsOther, None),
    }
}

fn rcode(code: ResponseCode) -> ErrorClass {
    match code {
        ResponseCode::NXDomain => ErrorClass::DnsNxdomain,
        ResponseCode::ServFail => ErrorClass::DnsServfail,
        ResponseCode::Refused => ErrorClass::DnsRefused,
        ResponseCode::NoError => ErrorClass::DnsNoAnswer,
        _ => ErrorClass::DnsOther,
    }
}

/// The error and its causes on one line: reqwest's own message alone
/// ("error sending request") hides what happened.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(io::Error);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn finds_io_kind_below_wrappers() {
        let err = Wrapper(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(io_in_chain(&err), Some(ErrorClass::ConnectionRefused));
        let err = Wrapper(io::Error::other("something"));
        assert_eq!(io_in_chain(&err), None);
    }

    #[test]
    fn recognises_proxy_deny_pages() {
        assert!(proxy_denied(470, ""));
        assert!(proxy_denied(
            403,
            "HTTP request from 10.1.0.4:5000 to x.example:80. Action: Deny. Reason: No rule matched."
        ));
        assert!(!proxy_denied(403, "forbidden"));
        assert!(!proxy_denied(200, "ok"));
    }

    #[test]
    fn maps_resolver_errors() {
        assert_eq!(dns(&NetError::Timeout).0, ErrorClass::DnsTimeout);
        let (class, code) = dns(&NetError::Dns(DnsError::ResponseCode(
            ResponseCode::ServFail,
        )));
        assert_eq!(class, ErrorClass::DnsServfail);
        assert_eq!(code, Some(ResponseCode::ServFail));
        assert_eq!(
            dns(&NetError::Dns(DnsError::ResponseCode(
                ResponseCode::Refused
            )))
            .0,
            ErrorClass::DnsRefused
        );
        assert_eq!(
            io_kind(io::ErrorKind::HostUnreachable),
            Some(ErrorClass::HostUnreachable)
        );
    }
}
