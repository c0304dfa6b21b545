//! Reading a delivery error's cause chain, for the transports that get one from a library
//! (reqwest over hyper and rustls, tokio-postgres): is it a name that does not resolve, or a
//! TLS certificate that does not verify? Both are permanent: trying again in a few seconds
//! gets the same answer, so the retry layer must not.

use std::error::Error;

/// Every error of the chain, top first. `io::Error` wraps a library's error without showing
/// it as a source (std's `io::Error::source` skips to the wrapped error's own source), so
/// the wrapped error is yielded too: that is where rustls's error sits.
pub fn chain<'a>(top: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    let mut all = Vec::new();
    let mut next = Some(top);
    while let Some(e) = next {
        all.push(e);
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => e.source(),
        };
    }
    all
}

/// The last error of the chain: the one that says what happened (reqwest's own message only
/// says "error sending request").
pub fn root<'a>(top: &'a (dyn Error + 'static)) -> &'a (dyn Error + 'static) {
    chain(top).pop().unwrap_or(top)
}

/// Whether the chain says the host name did not resolve. Rust's std (used by hyper's
/// resolver and tokio's `lookup_host`, which tokio-postgres calls) words every getaddrinfo
/// failure "failed to lookup address information: …" (library/std/src/sys/net/connection/
/// socket/mod.rs, `cvt_gai`); hyper-util labels it "dns error"
/// (hyper-util src/client/legacy/connect/http.rs, `ConnectError::dns`).
pub fn is_dns(top: &(dyn Error + 'static)) -> bool {
    chain(top).iter().any(|e| {
        let text = e.to_string();
        text.starts_with("dns error") || text.contains("failed to lookup address information")
    })
}

/// What went wrong in a TLS handshake, found in an error's chain.
pub enum TlsFailure {
    /// What is wrong with the certificate, worded to follow "the TLS certificate".
    Certificate(String),
    /// Any other handshake failure, in rustls's words.
    Handshake(String),
}

/// The TLS failure in the chain, if there is one: what is wrong with the certificate, in
/// words for the operator; rustls's own text is for programmers ("invalid peer certificate:
/// UnknownIssuer", rustls src/error.rs).
pub fn tls_failure(top: &(dyn Error + 'static)) -> Option<TlsFailure> {
    use rustls::CertificateError as C;
    let error = chain(top)
        .into_iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>())?;
    let rustls::Error::InvalidCertificate(why) = error else {
        return Some(TlsFailure::Handshake(error.to_string()));
    };
    let what = match why {
        C::UnknownIssuer => "is not trusted (self-signed or unknown issuer)".to_owned(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "is not valid for this host name".to_owned()
        }
        C::Expired | C::ExpiredContext { .. } => "has expired".to_owned(),
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet".to_owned(),
        C::Revoked => "has been revoked".to_owned(),
        // A self-signed certificate is its own CA; webpki refuses a CA certificate as the
        // server's own before it looks for an issuer (rustls-webpki src/error.rs,
        // `CaUsedAsEndEntity`), and rustls passes that on as `Other`.
        C::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            "is not trusted (self-signed or unknown issuer)".to_owned()
        }
        other => format!("does not verify ({other:?})"),
    };
    Some(TlsFailure::Certificate(what))
}

/// A sentence for a TLS failure of an HTTPS request, if there is one, with what the
/// operator can do.
pub fn tls(top: &(dyn Error + 'static)) -> Option<String> {
    Some(match tls_failure(top)? {
        TlsFailure::Handshake(e) => format!("the TLS handshake failed ({e})"),
        TlsFailure::Certificate(what) => format!(
            "the TLS certificate {what}; for a test server pass --insecure, or add the CA to \
             the system trust store"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(e: impl Error + Send + Sync + 'static) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn rustls_behind_io_error_is_found_and_explained() {
        let e = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        let text = tls(&e).unwrap();
        assert!(
            text.contains("not trusted (self-signed or unknown issuer)"),
            "{text}"
        );
        assert!(text.contains("--insecure"), "{text}");
        let e = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        ));
        assert!(tls(&e).unwrap().contains("not valid for this host name"));
    }

    #[test]
    fn refused_and_dns_are_told_apart() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_dns(&refused));
        assert!(tls(&refused).is_none());
        let dns = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        assert!(is_dns(&wrapped(dns)));
    }
}
