//! TLS to PostgreSQL as libpq does it: `sslmode` and `sslrootcert` in `database_url`.
//!
//! libpq's modes (https://www.postgresql.org/docs/current/libpq-ssl.html, table "SSL Mode
//! Descriptions", and section "Certificate Verification"):
//!
//! | sslmode | encrypted | certificate checked |
//! | --- | --- | --- |
//! | `disable` | never | - |
//! | `prefer` (the default) | if the server offers TLS | as `require` |
//! | `require` | always | not at all; but, as libpq does, against the root certificates when there are some (`sslrootcert`, or `~/.postgresql/root.crt`): then as `verify-ca` |
//! | `verify-ca` | always | chain to a root; not the host name |
//! | `verify-full` | always | chain to a root, and the host name |
//!
//! `sslrootcert=system` (libpq 16) takes the system's trusted roots and, as there, makes
//! `verify-full` the default and refuses weaker modes. libpq's `allow` (plaintext first) has
//! no counterpart in tokio-postgres and is refused.
//!
//! tokio-postgres parses `sslmode` only for disable/prefer/require and knows no `sslrootcert`
//! (tokio-postgres src/config.rs, `Config::param`): both are taken out of the string here,
//! before tokio-postgres parses the rest, and the mode handed over is prefer or require; what
//! is checked is decided by the certificate verifier given to rustls.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::Config;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values that provision supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Mode, String> {
        Ok(match value {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            "allow" => {
                return Err(
                    "database_url: sslmode=allow is not supported (tokio-postgres has \
                            no plaintext-first mode); use prefer, or disable"
                        .into(),
                );
            }
            _ => {
                return Err(
                    "database_url: sslmode must be disable, prefer, require, verify-ca or \
                     verify-full"
                        .into(),
                );
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// Where the root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    File(PathBuf),
    System,
}

/// The database URL split: tokio-postgres's config, and how TLS is to be done.
pub struct Parsed {
    pub config: Config,
    pub mode: Mode,
    pub tls: MakeRustlsConnect,
}

/// Parses a libpq URL or key=value string. No error repeats the string (it holds the
/// password).
pub fn parse(url: &str) -> Result<Parsed, String> {
    let (rest, taken) = match split(url) {
        Some(split) => split,
        // Malformed: tokio-postgres says how (without repeating the string).
        None => (url.to_owned(), Vec::new()),
    };
    let mut config: Config = rest
        .parse()
        // tokio-postgres's message for a bad URL does not repeat the URL, nor the password.
        .map_err(|e| format!("database_url: {e}"))?;
    let mut mode = None;
    let mut roots = None;
    // The last of a repeated parameter wins, as in tokio-postgres's own parsing.
    for (key, value) in taken {
        if key == "sslmode" {
            mode = Some(Mode::parse(&value)?);
        } else if value == "system" {
            roots = Some(Roots::System);
        } else {
            roots = Some(Roots::File(PathBuf::from(value)));
        }
    }
    let mode = match (mode, &roots) {
        // libpq 16+: "When using sslrootcert=system, the default sslmode is changed to
        // verify-full, and any weaker setting will result in an error" (libpq-connect.html,
        // sslrootcert; the check is in src/interfaces/libpq/fe-connect.c).
        (None, Some(Roots::System)) => Mode::VerifyFull,
        (Some(m), Some(Roots::System)) if m != Mode::VerifyFull => {
            return Err(format!(
                "database_url: weak sslmode={} may not be used with sslrootcert=system (use \
                 verify-full)",
                m.name()
            ));
        }
        (m, _) => m.unwrap_or(Mode::Prefer),
    };
    // libpq's default root file, used when sslrootcert is not given (libpq-ssl.html,
    // "Certificate Verification": ~/.postgresql/root.crt).
    let roots = roots.or_else(|| {
        let default = Path::new(&std::env::var_os("HOME")?).join(".postgresql/root.crt");
        default.is_file().then_some(Roots::File(default))
    });
    config.ssl_mode(match mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    let tls = connector(mode, roots.as_ref())?;
    Ok(Parsed { config, mode, tls })
}

/// The rustls client for `mode`: which verifier, with which roots.
fn connector(mode: Mode, roots: Option<&Roots>) -> Result<MakeRustlsConnect, String> {
    // The provider reqwest builds too (its `rustls` feature: aws-lc-rs).
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("database_url: TLS: {e}"))?;
    let roots = match roots {
        // No TLS, no certificate to check: a root file is not even read, as in libpq.
        _ if mode == Mode::Disable => None,
        Some(roots) => Some(Arc::new(load(roots)?)),
        None if matches!(mode, Mode::VerifyCa | Mode::VerifyFull) => {
            // libpq's words (fe-secure-openssl.c, `initialize_SSL`).
            return Err(format!(
                "database_url: sslmode={} needs root certificates: set sslrootcert=PATH (a PEM \
                 file), or sslrootcert=system for the system's trusted roots, or use \
                 sslmode=require to skip verification",
                mode.name()
            ));
        }
        None => None,
    };
    let config = match (mode, roots) {
        (Mode::VerifyFull, Some(roots)) => builder.with_root_certificates(roots),
        (_, roots) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Lenient { roots, provider })),
    }
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn load(roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "database_url: sslrootcert=system: no trusted root certificate found on \
                     this system{}",
                    found
                        .errors
                        .first()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
            }
        }
        Roots::File(path) => {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("database_url: sslrootcert {shown}: {e}"))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "database_url: sslrootcert {shown}: no certificate in it (PEM expected)"
                ));
            }
        }
    }
    Ok(store)
}

/// For what verify-full does not cover: `verify-ca` (and `require`/`prefer` with roots), the
/// chain is verified and the host name is not; `require`/`prefer` without roots, nothing about
/// the certificate is (libpq: "only verify that the server's certificate exists", no MITM
/// protection). In both cases the handshake's signatures are still verified with the
/// certificate's key, as rustls's own verifier does (rustls src/webpki/server_verifier.rs).
#[derive(Debug)]
struct Lenient {
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            // What WebPkiServerVerifier::verify_server_cert does before it checks the name.
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The string without its `sslmode` and `sslrootcert` parameters, and those (key, value),
/// decoded; `None` when it is malformed (tokio-postgres will say how).
fn split(url: &str) -> Option<(String, Vec<(String, String)>)> {
    let taken = |key: &str| key == "sslmode" || key == "sslrootcert";
    let prefix = ["postgresql://", "postgres://"]
        .into_iter()
        .find(|p| url.starts_with(p));
    let Some(prefix) = prefix else {
        // key=value: drop the taken parameters' spans.
        let mut rest = String::new();
        let mut found = Vec::new();
        let mut last = 0;
        for (key, value, span) in key_values(url)? {
            if taken(key) {
                rest.push_str(&url[last..span.start]);
                last = span.end;
                found.push((key.to_owned(), value));
            }
        }
        rest.push_str(&url[last..]);
        return Some((rest, found));
    };
    // URL: tokio-postgres takes the credentials up to the first '@' (UrlParser::
    // parse_credentials), so a '?' in the password is not the query's.
    let body = &url[prefix.len()..];
    let after_credentials = body.find('@').map_or(0, |i| i + 1);
    let Some(q) = body[after_credentials..].find('?') else {
        return Some((url.to_owned(), Vec::new()));
    };
    let q = prefix.len() + after_credentials + q;
    let mut kept = Vec::new();
    let mut found = Vec::new();
    for pair in url[q + 1..].split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_encoding::percent_decode_str(key)
            .decode_utf8()
            .ok()?;
        if taken(&key) {
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()?;
            found.push((key.into_owned(), value.into_owned()));
        } else {
            kept.push(pair);
        }
    }
    let head = &url[..q];
    let rest = if kept.is_empty() {
        head.to_owned()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    Some((rest, found))
}

/// The parameters of a key=value string, as tokio-postgres's `Parser` reads them (src/config.rs:
/// whitespace between, `key = value`, a value plain or in single quotes, `\` escaping the next
/// character): (key, value, the parameter's byte span).
fn key_values(s: &str) -> Option<Vec<(&str, String, std::ops::Range<usize>)>> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut all = Vec::new();
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i == bytes.len() {
            return Some(all);
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let key = &s[start..i];
        i = skip_ws(i);
        if bytes.get(i) != Some(&b'=') {
            return None;
        }
        i = skip_ws(i + 1);
        let quoted = bytes.get(i) == Some(&b'\'');
        if quoted {
            i += 1;
        }
        let mut value = Vec::new();
        loop {
            match bytes.get(i) {
                None if quoted => return None,
                None => break,
                Some(b'\'') if quoted => {
                    i += 1;
                    break;
                }
                Some(c) if !quoted && c.is_ascii_whitespace() => break,
                Some(b'\\') => {
                    value.extend(bytes.get(i + 1));
                    i += 2;
                }
                Some(c) => {
                    value.push(*c);
                    i += 1;
                }
            }
        }
        all.push((
            key,
            String::from_utf8(value).ok()?,
            start..i.min(bytes.len()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_urls_and_key_values() {
        let (rest, found) =
            split("postgresql://u:p%3F?w@db:5432/x?sslmode=verify-full&application_name=a&sslrootcert=%2Ftmp%2Fca.pem")
                .unwrap();
        assert_eq!(rest, "postgresql://u:p%3F?w@db:5432/x?application_name=a");
        assert_eq!(
            found,
            [
                ("sslmode".to_owned(), "verify-full".to_owned()),
                ("sslrootcert".to_owned(), "/tmp/ca.pem".to_owned())
            ]
        );
        let (rest, found) = split(
            "host=db password='a b\\'c' sslmode = verify-ca sslrootcert='/t/ca.pem' dbname=x",
        )
        .unwrap();
        assert_eq!(rest, "host=db password='a b\\'c'   dbname=x");
        assert_eq!(found[0].1, "verify-ca");
        assert_eq!(found[1].1, "/t/ca.pem");
        let (rest, found) = split("postgresql://u@db/x").unwrap();
        assert_eq!((rest.as_str(), found.len()), ("postgresql://u@db/x", 0));
        assert!(split("host=db password='open").is_none());
    }

    #[test]
    fn modes_follow_libpq() {
        let mode = |url: &str| parse(url).map(|p| (p.mode, p.config.get_ssl_mode()));
        assert_eq!(
            mode("postgresql://db/x").unwrap(),
            (Mode::Prefer, SslMode::Prefer)
        );
        assert_eq!(
            mode("postgresql://db/x?sslmode=disable").unwrap(),
            (Mode::Disable, SslMode::Disable)
        );
        assert_eq!(
            mode("host=db sslmode=require").unwrap(),
            (Mode::Require, SslMode::Require)
        );
        assert_eq!(
            mode("postgresql://db/x?sslrootcert=system").map(|m| m.0),
            Ok(Mode::VerifyFull)
        );
        let e = mode("postgresql://db/x?sslmode=require&sslrootcert=system").unwrap_err();
        assert!(e.contains("weak sslmode=require"), "{e}");
        assert_eq!(
            mode("postgresql://db/x?sslmode=disable&sslrootcert=/nonexistent").map(|m| m.0),
            Ok(Mode::Disable)
        );
        let e = mode("postgresql://db/x?sslmode=verify-ca").unwrap_err();
        assert!(e.contains("needs root certificates"), "{e}");
        let e = mode("postgresql://db/x?sslmode=allow").unwrap_err();
        assert!(e.contains("allow is not supported"), "{e}");
        let e = mode("postgresql://u:secret@db/x?sslmode=verify-full&sslrootcert=/nonexistent")
            .unwrap_err();
        assert!(e.contains("sslrootcert /nonexistent"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = mode("postgresql://u:secret@db/x?sslmode=bogus").unwrap_err();
        assert!(!e.contains("secret") && e.contains("verify-full"), "{e}");
    }
}
