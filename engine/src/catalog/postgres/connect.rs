//! From `[catalog] url` to a pool: the URL parsed by `tokio-postgres` (several hosts,
//! `target_session_attrs`), TLS settings it does not know (`sslmode=verify-ca|verify-full`,
//! `sslrootcert`) taken out first, timeouts and keepalives set so a lost server is noticed.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::config::{Host, SslMode};

use super::{CHECKOUT_TIMEOUT, CONNECT_TIMEOUT, POOL_SIZE, PgError};

/// A parsed catalog URL.
pub(crate) struct Settings {
    pub config: tokio_postgres::Config,
    /// Extra roots to trust (`sslrootcert`).
    pub root_cert: Option<std::path::PathBuf>,
    /// Hosts, ports and database, for messages.
    pub target: String,
}

impl Settings {
    /// Parses `postgres://…` or `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, PgError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(PgError::Url("expected postgres://USER[:PASS]@HOST[:PORT][,HOST2[:PORT2]]/DB".into()));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut root_cert = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                // rustls always verifies the chain and the name: verify-ca and verify-full are
                // `require` with verification, which is what rustls does anyway.
                Some(("sslmode", "verify-full" | "verify-ca")) => kept.push("sslmode=require".to_owned()),
                Some(("sslrootcert", path)) => root_cert = Some(std::path::PathBuf::from(path)),
                _ => kept.push(pair.to_owned()),
            }
        }
        let cleaned = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        // The parser's message never echoes the password.
        let mut config: tokio_postgres::Config =
            cleaned.parse().map_err(|e: tokio_postgres::Error| PgError::Url(e.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(PgError::Url("no host".into()));
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.tcp_user_timeout(Duration::from_secs(10));
        if config.get_application_name().is_none() {
            config.application_name("colometer");
        }
        let target = describe(&config);
        Ok(Self { config, root_cert, target })
    }
}

/// `host:port,host2:port2/db`.
fn describe(c: &tokio_postgres::Config) -> String {
    let ports = c.get_ports();
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    format!("{}/{}", hosts.join(","), c.get_dbname().unwrap_or(""))
}

fn tls(settings: &Settings) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &settings.root_cert {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| PgError::Url(format!("sslrootcert {}: {e}", path.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| PgError::Url(format!("sslrootcert {}: {e}", path.display())))?;
            roots.add(cert).map_err(|e| PgError::Url(format!("sslrootcert {}: {e}", path.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Url(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The pool (connections are made on first use); called on the client's runtime.
pub(crate) fn pool(settings: &Settings) -> Result<Pool, PgError> {
    let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    // `prefer` (the default) without a TLS connector connects in the clear: with one, it would
    // try TLS and fail on every server whose certificate is not publicly rooted (Debian's stock
    // snakeoil one), since colometer never skips verification.
    let manager = match settings.config.get_ssl_mode() {
        SslMode::Require => Manager::from_config(settings.config.clone(), tls(settings)?, manager_config),
        _ => Manager::from_config(settings.config.clone(), tokio_postgres::NoTls, manager_config),
    };
    let hosts = u32::try_from(settings.config.get_hosts().len()).unwrap_or(1);
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(CHECKOUT_TIMEOUT),
            create: Some(CONNECT_TIMEOUT * hosts),
            recycle: Some(Duration::from_secs(2)),
        })
        .build()
        .map_err(|e| PgError::Url(format!("pool: {e}")))
}

/// A failed check-out, by whose fault.
pub(crate) fn checkout_error(target: &str, e: PoolError) -> PgError {
    match e {
        PoolError::Backend(e) if super::error::refused_login(&e) => PgError::Auth {
            target: target.to_owned(),
            reason: e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_owned()),
        },
        PoolError::Backend(e) if e.as_db_error().is_some() && !super::error::lost(&e) => PgError::Query(e),
        PoolError::Backend(e) => PgError::Unreachable { target: target.to_owned(), reason: connect_reason(&e) },
        other => PgError::Unreachable { target: target.to_owned(), reason: other.to_string() },
    }
}

/// The innermost reason a connection failed ("Connection refused", "timed out").
fn connect_reason(e: &tokio_postgres::Error) -> String {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason = format!("{e}: {s}");
        source = s.source();
    }
    reason
}
