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

/// Whether an OS error is one a route lookup answers with, so a connect
/// that failed this way may have been refused by this host's own routing
/// table: `ENETUNREACH` (no route), `EHOSTUNREACH` (an `unreachable` route,
/// or an ICMP unreachable from a router further on), `EINVAL` (a `blackhole`
/// route) or `EACCES` (a `prohibit` route). Only the route lookup itself
/// (`connect::route_refused`) tells which.
pub fn is_route_error(err: &io::Error) -> bool {
    use io::ErrorKind as K;
    err.raw_os_error().is_some()
        && matches!(
            err.kind(),
            K::NetworkUnreachable | K::HostUnreachable | K::InvalidInput | K::PermissionDenied
        )
}

/// The class of a failed connect. `refused_here` says whether this host's
/// routing table refuses the destination: then a route error is
/// `network_unreachable` whatever the route type made the kernel answer.
/// Otherwise an unreachable answer came from a router on the path
/// (`host_unreachable`), and an `EINVAL` or `EACCES` was not about routes
/// at all (`None`: the caller's own fallback).
pub fn connect_error(err: &io::Error, refused_here: bool) -> Option<ErrorClass> {
    use io::ErrorKind as K;
    if !is_route_error(err) {
        return io_kind(err.kind());
    }
    if refused_here {
        return Some(ErrorClass::NetworkUnreachable);
    }
    match err.kind() {
        K::NetworkUnreachable | K::HostUnreachable => Some(ErrorClass::HostUnreachable),
        _ => None,
    }
}

/// Whether an error's source chain holds a route error (see
/// [`is_route_error`]), which only a route lookup can classify.
pub fn route_error_in_chain(err: &(dyn StdError + 'static)) -> bool {
    ios(err).any(is_route_error)
}

/// [`connect_error`] for the first `io::Error` of the source chain that it
/// classifies: how a library that connects by itself (reqwest, hyper,
/// tonic) failed to connect. Those wrappers bury the OS error a few levels
/// down.
pub fn chain(err: &(dyn StdError + 'static), refused_here: bool) -> Option<ErrorClass> {
    ios(err).find_map(|io| connect_error(io, refused_here))
}

fn ios<'a>(err: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a io::Error> {
    std::iter::successors(Some(err), |&e| e.source()).filter_map(|e| e.downcast_ref::<io::Error>())
}

/// Classifies a failed HTTP request; `refused_here` as in [`connect_error`].
pub fn http(err: &reqwest::Error, refused_here: bool) -> ErrorClass {
    if err.is_timeout() {
        return ErrorClass::Timeout;
    }
    chain(err, refused_here).unwrap_or(ErrorClass::HttpProtocol)
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
        assert_eq!(chain(&err, false), Some(ErrorClass::ConnectionRefused));
        let err = Wrapper(io::Error::other("something"));
        assert_eq!(chain(&err, false), None);
    }

    // Linux errno values, as the kernel's route lookup returns them.
    const EACCES: i32 = 13;
    const EINVAL: i32 = 22;
    const ENETUNREACH: i32 = 101;
    const EHOSTUNREACH: i32 = 113;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_route_refused_here_is_network_unreachable_whatever_the_errno() {
        for code in [EINVAL, ENETUNREACH, EHOSTUNREACH, EACCES] {
            let err = io::Error::from_raw_os_error(code);
            assert!(is_route_error(&err), "{err}");
            assert_eq!(
                connect_error(&err, true),
                Some(ErrorClass::NetworkUnreachable),
                "{err}"
            );
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn an_unreachable_answer_from_further_on_is_host_unreachable() {
        for code in [ENETUNREACH, EHOSTUNREACH] {
            let err = io::Error::from_raw_os_error(code);
            assert_eq!(
                connect_error(&err, false),
                Some(ErrorClass::HostUnreachable),
                "{err}"
            );
        }
        // EINVAL and EACCES that a route lookup did not give say nothing
        // about the path: the caller's fallback decides.
        for code in [EINVAL, EACCES] {
            let err = io::Error::from_raw_os_error(code);
            assert_eq!(connect_error(&err, false), None, "{err}");
        }
    }

    #[test]
    fn errors_that_are_not_from_the_os_are_not_route_errors() {
        let made_here = io::Error::new(io::ErrorKind::InvalidInput, "bad address");
        assert!(!is_route_error(&made_here));
        assert_eq!(connect_error(&made_here, true), None);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            connect_error(&refused, true),
            Some(ErrorClass::ConnectionRefused)
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn finds_a_route_error_below_wrappers() {
        let err = Wrapper(io::Error::from_raw_os_error(EINVAL));
        assert!(route_error_in_chain(&err));
        assert_eq!(chain(&err, true), Some(ErrorClass::NetworkUnreachable));
        assert_eq!(chain(&err, false), None);
        let err = Wrapper(io::Error::from_raw_os_error(EHOSTUNREACH));
        assert_eq!(chain(&err, false), Some(ErrorClass::HostUnreachable));
        assert!(!route_error_in_chain(&Wrapper(io::Error::from(
            io::ErrorKind::ConnectionReset
        ))));
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
