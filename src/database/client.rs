//! The PostgreSQL client itself (linked into the `tootguard` binary only,
//! see the module above): tokio-postgres on a runtime of its own, every
//! step — connecting, the start-up exchange, each query — bounded by
//! [`TIMEOUT`], so a server (or anything else listening there) that never
//! answers cannot hold the command. It connects as Mastodon would and asks
//! with simple queries only (no prepared statements, which a pooler in
//! transaction mode breaks), each inside a transaction with a statement
//! timeout of its own (`SET LOCAL`, so nothing leaks into a pooled server
//! connection).

use std::net::ToSocketAddrs;
use std::sync::Arc;

use tokio_postgres::{Client, SimpleQueryMessage};

use super::{Endpoint, Holder, Pooler, Report, Request, Server, SslMode, TIMEOUT, lock};

/// A connected session: the client, and the runtime its connection runs on.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

/// Answers `request`.
pub fn report(request: &Request) -> Report {
    let mut configured_client: Option<Session> = None;
    let configured = connect(&request.configured).and_then(|mut client| {
        let server = server_info(&mut client)?;
        configured_client = Some(client);
        Ok(server)
    });
    let pooler = match &configured {
        Ok(server) => pooler(&request.configured, server),
        Err(_) => Pooler::Unknown,
    };
    // The direct endpoint: the settings' first, else the server found
    // behind a pooler, with the direct credentials.
    let direct_endpoint = request.direct.clone().or_else(|| match &pooler {
        Pooler::Between {
            server: Some((addr, port)),
        } => Some(Endpoint {
            host: addr.clone(),
            port: *port,
            user: request
                .direct_user
                .clone()
                .or_else(|| request.configured.user.clone()),
            password: request
                .direct_password
                .clone()
                .or_else(|| request.configured.password.clone()),
            ..request.configured.clone()
        }),
        _ => None,
    });
    let mut direct_client: Option<Session> = None;
    let direct = direct_endpoint.map(|endpoint| {
        // Whether it is the same server as the configured one is the
        // caller's to judge (`Server::is_same_as`).
        let server = connect(&endpoint).and_then(|mut client| {
            let server = server_info(&mut client)?;
            direct_client = Some(client);
            Ok(server)
        });
        (endpoint, server)
    });
    // The lock and the versions are the database's: ask PostgreSQL itself
    // when it answered, else whatever did.
    let client = direct_client.as_mut().or(configured_client.as_mut());
    let (lock, versions) = match client {
        Some(client) => {
            let database = direct
                .as_ref()
                .and_then(|(_, s)| s.as_ref().ok())
                .or(configured.as_ref().ok())
                .map(|s| s.database.clone())
                .unwrap_or_default();
            let mut lock = holders(client, &database);
            // Through a pooler, the configured question ran on one of its
            // server connections: if that one holds the lock, it is a
            // pooled leftover for certain.
            if let (Pooler::Between { .. }, Ok(server), Ok(holders)) =
                (&pooler, &configured, &mut lock)
            {
                for holder in holders.iter_mut() {
                    holder.ours |= server.backend_pid == Some(holder.pid);
                }
            }
            (lock, versions(client))
        }
        None => {
            let why = "no connection to the database".to_owned();
            (Err(why.clone()), Err(why))
        }
    };
    Report {
        configured,
        pooler,
        direct,
        lock,
        versions,
    }
}

/// Ends the session `pid` if it still holds Rails' lock on `database` and
/// has been idle for `idle_seconds`, for `release-lock`. `Ok(false)`: it
/// no longer is such a session, so nothing was ended.
pub fn terminate(
    endpoint: &Endpoint,
    database: &str,
    pid: u32,
    idle_seconds: u64,
) -> Result<bool, String> {
    let mut client = connect(endpoint)?;
    let rows = query(
        &mut client,
        &lock::terminate_query(database, pid, idle_seconds),
    )?;
    Ok(rows.first().and_then(|r| r.first().cloned().flatten()) == Some("true".into()))
}

/// The sessions holding Rails' lock on `database` now.
pub fn holders_at(endpoint: &Endpoint, database: &str) -> Result<Vec<Holder>, String> {
    let mut client = connect(endpoint)?;
    holders(&mut client, database)
}

/// Connects to `endpoint` as Mastodon would, within [`TIMEOUT`].
pub fn connect(endpoint: &Endpoint) -> Result<Session, String> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&endpoint.host)
        .port(endpoint.port)
        .connect_timeout(TIMEOUT)
        .application_name("tootguard");
    // database.yml's defaults, as the configuration reader gives them.
    config.user(endpoint.user.as_deref().unwrap_or("mastodon"));
    config.dbname(endpoint.dbname.as_deref().unwrap_or("mastodon_production"));
    if let Some(password) = &endpoint.password {
        config.password(password);
    }
    let shown = describe(endpoint);
    let fail = |e: tokio_postgres::Error| format!("cannot connect to {shown}: {}", reason(&e));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot ask {shown}: {e}"))?;
    let mode = match endpoint.sslmode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require => tokio_postgres::config::SslMode::Require,
        SslMode::Verify => {
            return Err(format!(
                "not asking {shown}: DB_SSLMODE verify-ca or verify-full asks for certificate \
                 checks tootguard does not make"
            ));
        }
    };
    config.ssl_mode(mode);
    let tls = tls()?;
    let client = runtime.block_on(async {
        let (client, connection) = tokio::time::timeout(TIMEOUT, config.connect(tls))
            .await
            .map_err(|_| {
                format!(
                    "cannot connect to {shown}: no PostgreSQL answer within {} s",
                    TIMEOUT.as_secs()
                )
            })?
            .map_err(fail)?;
        tokio::spawn(connection);
        Ok::<_, String>(client)
    })?;
    Ok(Session { runtime, client })
}

/// `host:port` and the user, for messages (never the password).
fn describe(endpoint: &Endpoint) -> String {
    format!(
        "{} as {}",
        crate::guards::pgbouncer::endpoint(&endpoint.host, endpoint.port),
        endpoint.user.as_deref().unwrap_or("mastodon")
    )
}

/// The server's own words, or the I/O error under the client's.
fn reason(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        }
    }
}

/// Rows of text, for a simple query run in a transaction with a statement
/// timeout of its own.
fn query(session: &mut Session, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let wrapped = format!(
        "BEGIN; SET LOCAL statement_timeout = '{}s'; {sql}; COMMIT",
        TIMEOUT.as_secs()
    );
    let Session { runtime, client } = session;
    // The timer is made inside the runtime, which it needs.
    let answer = runtime
        .block_on(async { tokio::time::timeout(TIMEOUT, client.simple_query(&wrapped)).await })
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?;
    let messages = match answer {
        Ok(messages) => messages,
        Err(e) => {
            // An error leaves the transaction open and aborted: end it, or
            // every later question on this session fails too.
            let _ = runtime.block_on(async {
                tokio::time::timeout(TIMEOUT, client.simple_query("ROLLBACK")).await
            });
            return Err(format!("the query failed: {}", reason(&e)));
        }
    };
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

fn server_info(client: &mut Session) -> Result<Server, String> {
    let rows = query(
        client,
        "SELECT host(inet_server_addr()), inet_server_port()::text, current_database(), \
         pg_postmaster_start_time()::text, current_setting('server_version_num'), \
         pg_backend_pid()::text",
    )?;
    let row = rows.first().ok_or("the server answered no row")?;
    let field = |i: usize| row.get(i).cloned().flatten();
    // Any role may call it unless an admin revoked that (or a pooler or
    // a managed service hides it): an answer without it still counts.
    let system_identifier = query(
        client,
        "SELECT system_identifier::text FROM pg_control_system()",
    )
    .ok()
    .and_then(|rows| rows.first().and_then(|r| r.first().cloned().flatten()));
    Ok(Server {
        addr: field(0),
        port: field(1).and_then(|p| p.parse().ok()),
        database: field(2).unwrap_or_default(),
        started: field(3).unwrap_or_default(),
        system_identifier,
        version_num: field(4).and_then(|v| v.parse().ok()),
        backend_pid: field(5).and_then(|v| v.parse().ok()),
    })
}

/// Whether the session `server` describes is somewhere else than the
/// `endpoint` connected to: then something (a pooler) stands in between.
fn pooler(endpoint: &Endpoint, server: &Server) -> Pooler {
    let socket = endpoint.host.starts_with('/');
    match (&server.addr, server.port, socket) {
        // Over a socket, the server side of the session is on a socket too:
        // nothing tells a pooler connecting by socket from none.
        (None, _, true) => Pooler::Unknown,
        // Connected by socket, the server's session is on TCP: a pooler.
        (Some(addr), Some(port), true) => Pooler::Between {
            server: Some((addr.clone(), port)),
        },
        // Connected by TCP, the server's session is on a socket: a pooler
        // that reaches PostgreSQL by its socket.
        (None, _, false) => Pooler::Between { server: None },
        (Some(addr), Some(port), false) => {
            let same_port = port == endpoint.port;
            let same_host = (endpoint.host.as_str(), endpoint.port)
                .to_socket_addrs()
                .is_ok_and(|mut addrs| addrs.any(|a| a.ip().to_string() == *addr));
            if same_port && same_host {
                Pooler::None
            } else {
                Pooler::Between {
                    server: Some((addr.clone(), port)),
                }
            }
        }
        (Some(_), None, _) => Pooler::Unknown,
    }
}

fn holders(client: &mut Session, database: &str) -> Result<Vec<Holder>, String> {
    let rows = query(client, &lock::holders_query(database))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let field = |i: usize| row.get(i).cloned().flatten();
            Holder {
                pid: field(0).and_then(|p| p.parse().ok()).unwrap_or(0),
                user: field(1),
                application_name: field(2),
                client_addr: field(3),
                // The session this question runs on (through a pooler):
                // not busy with a migration, only with the question.
                ours: field(7).as_deref() == Some("true"),
                state: field(4),
                since: field(5),
                idle_seconds: field(6).and_then(|s| s.parse().ok()),
            }
        })
        .collect())
}

fn versions(client: &mut Session) -> Result<Vec<String>, String> {
    let exists = query(
        client,
        "SELECT (to_regclass('schema_migrations') IS NOT NULL)::text",
    )?;
    if exists.first().and_then(|r| r.first().cloned().flatten()) != Some("true".into()) {
        return Ok(Vec::new());
    }
    Ok(query(
        client,
        "SELECT version FROM schema_migrations ORDER BY version",
    )?
    .into_iter()
    .filter_map(|row| row.into_iter().next().flatten())
    .collect())
}

/// TLS as libpq's `prefer` and `require` do it: encrypted, certificate not
/// checked (that is what `verify-ca` and `verify-full` are for).
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Accepts the server's certificate, as libpq's `require` does; still
/// checks the handshake's signatures.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
