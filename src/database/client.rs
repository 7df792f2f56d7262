//! The PostgreSQL client itself (linked into the `tootguard` binary only,
//! see the module above): tokio-postgres on a runtime of its own. Every
//! step — resolving a name, connecting, the start-up exchange, each query —
//! is bounded by [`TIMEOUT`] and the whole report by [`TOTAL`], so a server
//! (or anything else listening there) that never answers cannot hold the
//! command. It connects as Mastodon would and asks with simple queries only
//! (no prepared statements, which a pooler in transaction mode breaks),
//! each inside a transaction with a statement timeout of its own (`SET
//! LOCAL`, so nothing leaks into a pooled server connection).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, SimpleQueryMessage};

use super::{Answer, Endpoint, Holder, Pooler, Report, Request, Server, SslMode, TIMEOUT, lock};

/// How long one whole report may take: the configured endpoint, up to
/// two candidates for the direct one, and the questions.
pub const TOTAL: Duration = Duration::from_secs(15);

/// The time left for a step: [`TIMEOUT`], or less near the end.
#[derive(Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(total: Duration) -> Deadline {
        Deadline(Instant::now() + total)
    }

    fn step(self) -> Result<Duration, String> {
        let left = self.0.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(format!(
                "no time left: the database took more than {} s to answer",
                TOTAL.as_secs()
            ))
        } else {
            Ok(left.min(TIMEOUT))
        }
    }
}

/// A connected session: the client, and the runtime its connection runs
/// on, shut down without waiting when the session ends.
pub struct Session {
    runtime: Option<tokio::runtime::Runtime>,
    client: Option<Client>,
    deadline: Deadline,
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.client.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Answers `request`.
pub fn report(request: &Request) -> Report {
    let deadline = Deadline::after(TOTAL);
    let mut configured_session: Option<Session> = None;
    let configured = connect(&request.configured, deadline).and_then(|mut session| {
        let server = server_info(&mut session)?;
        configured_session = Some(session);
        Ok(server)
    });
    let pooler = match &configured {
        Ok(server) => pooler(&request.configured, server),
        Err(_) => Pooler::Unknown,
    };
    // The direct endpoint: the settings' when they name one, else the
    // server found behind a pooler, with the direct credentials.
    let candidates = match &request.direct {
        Some(direct) => vec![direct.clone()],
        None => match (&pooler, &configured) {
            (Pooler::Between { server }, Ok(behind)) => candidates(request, server, behind),
            _ => Vec::new(),
        },
    };
    let mut direct_session: Option<Session> = None;
    let mut direct: Option<(Endpoint, Answer)> = None;
    let mut failures = Vec::new();
    for endpoint in candidates {
        let answer = match connect(&endpoint, deadline) {
            Err(why) => Answer::Failed(why),
            Ok(mut session) => match server_info(&mut session) {
                Err(why) => Answer::Failed(format!("{}: {why}", describe(&endpoint))),
                Ok(server) => match judge(&endpoint, &server, configured.as_ref().ok()) {
                    Some(why) => Answer::Other(why),
                    None => {
                        direct_session = Some(session);
                        Answer::Verified(server)
                    }
                },
            },
        };
        let verified = matches!(answer, Answer::Verified(_));
        if let Answer::Failed(why) | Answer::Other(why) = &answer {
            failures.push(why.clone());
        }
        direct = Some((endpoint, answer));
        if verified {
            break;
        }
    }
    // Several candidates tried, none the one: say what each answered.
    if let Some((_, Answer::Failed(why) | Answer::Other(why))) = &mut direct
        && failures.len() > 1
    {
        *why = failures.join("; ");
    }
    // The lock and the versions are the database's: ask PostgreSQL itself
    // when it was found and verified, else whatever answered at the
    // configured endpoint (never an unverified server).
    let session = direct_session.as_mut().or(configured_session.as_mut());
    let (lock, versions) = match session {
        Some(session) => {
            let database = match &direct {
                Some((_, Answer::Verified(server))) => server.database.clone(),
                _ => configured
                    .as_ref()
                    .map(|s| s.database.clone())
                    .unwrap_or_default(),
            };
            let mut lock = holders(session, &database);
            // Through a pooler, the configured question ran on one of its
            // server connections: if that one holds the lock, it is a
            // pooled server connection for certain.
            if let (Pooler::Between { .. }, Ok(server), Ok(holders)) =
                (&pooler, &configured, &mut lock)
            {
                for holder in holders.iter_mut() {
                    holder.ours |= server.backend_pid == Some(holder.pid);
                }
            }
            (lock, versions(session))
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

/// Where PostgreSQL itself may be, behind a pooler whose server session is
/// at `server` (`None`: on a Unix socket), in the order to try: the
/// configured host with the server's port first (the same way there, a
/// socket directory included: the address the server gives is the one the
/// pooler sees, which from here may be another machine's loopback or a
/// container's), then the address the server gives — unless it is a
/// loopback address and the configured host is not this machine.
fn candidates(request: &Request, server: &Option<(String, u16)>, behind: &Server) -> Vec<Endpoint> {
    let configured = &request.configured;
    let with = |host: &str, port: u16| Endpoint {
        host: host.to_owned(),
        port,
        user: request
            .direct_user
            .clone()
            .or_else(|| configured.user.clone()),
        password: request
            .direct_password
            .clone()
            .or_else(|| configured.password.clone()),
        ..configured.clone()
    };
    let mut out = Vec::new();
    let port = match server {
        Some((_, port)) => Some(*port),
        // Through a socket the server says nothing of its address, but its
        // `port` setting names its socket and its TCP port alike.
        None => behind.port_setting,
    };
    if let Some(port) = port
        && port != configured.port
    {
        out.push(with(&configured.host, port));
    }
    if let Some((addr, port)) = server {
        let loopback = addr.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let here = configured.host.starts_with('/') || is_local(&configured.host, configured.port);
        let same = out
            .first()
            .is_some_and(|e| e.host == *addr && e.port == *port);
        if (!loopback || here) && !same {
            out.push(with(addr, *port));
        }
    }
    out
}

/// Whether `host` names this machine's loopback.
fn is_local(host: &str, port: u16) -> bool {
    crate::guards::pgbouncer::resolve_with_timeout(host, port)
        .is_ok_and(|addrs| addrs.iter().all(|a| a.ip().is_loopback()))
}

/// Why the server at `endpoint` is not the direct endpoint for the one
/// `behind` the configured endpoint, if it is not: another database or
/// cluster, or a pooler itself.
fn judge(endpoint: &Endpoint, server: &Server, behind: Option<&Server>) -> Option<String> {
    if let Pooler::Between { .. } = pooler(endpoint, server) {
        return Some(format!(
            "{} is a connection pooler too (PostgreSQL says its session is elsewhere): \
             tootguard will not send a migration there",
            describe(endpoint)
        ));
    }
    match behind {
        Some(behind) if !behind.is_same_as(server) => Some(format!(
            "{} answers as another server than the one behind the configured endpoint \
             (database {:?} against {:?}, or another cluster): tootguard will not send a \
             migration there",
            describe(endpoint),
            server.database,
            behind.database
        )),
        _ => None,
    }
}

/// Ends the session `pid` if it still holds Rails' lock on `database` and
/// is idle, for `release-lock`. `Ok(false)`: it no longer is such a
/// session, so nothing was ended.
pub fn terminate(endpoint: &Endpoint, database: &str, pid: u32) -> Result<bool, String> {
    let mut session = connect(endpoint, Deadline::after(TOTAL))?;
    let rows = query(&mut session, &lock::terminate_query(database, pid))?;
    Ok(rows.first().and_then(|r| r.first().cloned().flatten()) == Some("true".into()))
}

/// The size of the database `endpoint` names (`pg_database_size`), in
/// bytes: what a backup must have room for.
pub fn database_size(endpoint: &Endpoint) -> Result<u64, String> {
    let mut session = connect(endpoint, Deadline::after(TOTAL))?;
    let rows = query(&mut session, "SELECT pg_database_size(current_database())")?;
    rows.first()
        .and_then(|row| row.first().cloned().flatten())
        .and_then(|size| size.parse().ok())
        .ok_or_else(|| "pg_database_size gave no number".into())
}

/// The sessions holding Rails' lock on `database` now.
pub fn holders_at(endpoint: &Endpoint, database: &str) -> Result<Vec<Holder>, String> {
    let mut session = connect(endpoint, Deadline::after(TOTAL))?;
    holders(&mut session, database)
}

/// Connects to `endpoint` as Mastodon would, within the deadline. A host
/// name is resolved here, within a step's time, and its addresses handed
/// to the client, which then resolves nothing itself.
pub fn connect(endpoint: &Endpoint, deadline: Deadline) -> Result<Session, String> {
    let shown = describe(endpoint);
    let mut config = tokio_postgres::Config::new();
    if endpoint.host.starts_with('/') {
        config.host_path(&endpoint.host);
    } else if let Ok(ip) = endpoint.host.parse::<IpAddr>() {
        config.host(&endpoint.host).hostaddr(ip);
    } else {
        let addresses =
            crate::guards::pgbouncer::resolve_with_timeout(&endpoint.host, endpoint.port)
                .map_err(|e| format!("cannot connect to {shown}: {e}"))?;
        if addresses.is_empty() {
            return Err(format!(
                "cannot connect to {shown}: the name resolves to no address"
            ));
        }
        for address in addresses {
            config.host(&endpoint.host).hostaddr(address.ip());
        }
    }
    let step = deadline
        .step()
        .map_err(|e| format!("not asking {shown}: {e}"))?;
    config
        .port(endpoint.port)
        .connect_timeout(step)
        .application_name("tootguard");
    // database.yml's defaults, as the configuration reader gives them.
    config.user(endpoint.user.as_deref().unwrap_or("mastodon"));
    config.dbname(endpoint.dbname.as_deref().unwrap_or("mastodon_production"));
    if let Some(password) = &endpoint.password {
        config.password(password);
    }
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot ask {shown}: {e}"))?;
    let mut session = Session {
        runtime: Some(runtime),
        client: None,
        deadline,
    };
    let runtime = session.runtime.as_ref().expect("just set");
    let client = runtime.block_on(async {
        let (client, connection) = tokio::time::timeout(step, config.connect(tls))
            .await
            .map_err(|_| {
                format!(
                    "cannot connect to {shown}: no PostgreSQL answer within {} s",
                    step.as_secs_f32().ceil()
                )
            })?
            .map_err(|e| format!("cannot connect to {shown}: {}", reason(&e)))?;
        tokio::spawn(connection);
        Ok::<_, String>(client)
    })?;
    session.client = Some(client);
    Ok(session)
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
    let step = session.deadline.step()?;
    let wrapped = format!(
        "BEGIN; SET LOCAL statement_timeout = '{}ms'; {sql}; COMMIT",
        step.as_millis()
    );
    let (Some(runtime), Some(client)) = (&session.runtime, &session.client) else {
        return Err("the session is closed".into());
    };
    // The timer is made inside the runtime, which it needs.
    let answer = runtime
        .block_on(async { tokio::time::timeout(step, client.simple_query(&wrapped)).await })
        .map_err(|_| format!("no answer within {} s", step.as_secs_f32().ceil()))?;
    let messages = match answer {
        Ok(messages) => messages,
        Err(e) => {
            // An error leaves the transaction open and aborted: end it, or
            // every later question on this session fails too.
            let _ = runtime.block_on(async {
                tokio::time::timeout(step, client.simple_query("ROLLBACK")).await
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

fn server_info(session: &mut Session) -> Result<Server, String> {
    let rows = query(
        session,
        "SELECT host(inet_server_addr()), inet_server_port()::text, current_database(), \
         extract(epoch FROM pg_postmaster_start_time())::text, \
         current_setting('server_version_num'), pg_backend_pid()::text, \
         current_setting('port')",
    )?;
    let row = rows.first().ok_or("the server answered no row")?;
    let field = |i: usize| row.get(i).cloned().flatten();
    // Any role may call it unless an admin revoked that (or a pooler or
    // a managed service hides it): an answer without it still counts.
    let system_identifier = query(
        session,
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
        port_setting: field(6).and_then(|v| v.parse().ok()),
    })
}

/// Whether the session `server` describes is somewhere else than the
/// `endpoint` connected to: then something (a pooler) stands in between.
pub fn pooler(endpoint: &Endpoint, server: &Server) -> Pooler {
    let socket = endpoint.host.starts_with('/');
    match (&server.addr, server.port, socket) {
        // Over a socket, the server side of the session is on a socket too:
        // nothing tells a pooler connecting by socket from none, but a
        // pooler's port is not the server's own.
        (None, _, true) => match server.port_setting {
            Some(port) if port != endpoint.port => Pooler::Between { server: None },
            _ => Pooler::Unknown,
        },
        // Connected by socket, the server's session is on TCP: a pooler.
        (Some(addr), Some(port), true) => Pooler::Between {
            server: Some((addr.clone(), port)),
        },
        // Connected by TCP, the server's session is on a socket: a pooler
        // that reaches PostgreSQL by its socket.
        (None, _, false) => Pooler::Between { server: None },
        (Some(addr), Some(port), false) => {
            let same_port = port == endpoint.port;
            let same_host = match endpoint.host.parse::<IpAddr>() {
                Ok(ip) => addr.parse::<IpAddr>().is_ok_and(|a| a == ip),
                Err(_) => crate::guards::pgbouncer::resolve_with_timeout(&endpoint.host, port)
                    .is_ok_and(|addrs| addrs.iter().any(|a| a.ip().to_string() == *addr)),
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str, port: u16) -> Request {
        Request {
            configured: Endpoint {
                host: host.into(),
                port,
                user: Some("mastodon".into()),
                password: Some("pw".into()),
                dbname: Some("mastodon_production".into()),
                sslmode: SslMode::Prefer,
            },
            direct: None,
            direct_user: None,
            direct_password: None,
        }
    }

    fn tried(host: &str, port: u16, server: Option<(&str, u16)>, setting: u16) -> Vec<String> {
        let behind = Server {
            port_setting: Some(setting),
            ..Server::default()
        };
        let server = server.map(|(a, p)| (a.to_owned(), p));
        candidates(&request(host, port), &server, &behind)
            .into_iter()
            .map(|e| format!("{}:{}", e.host, e.port))
            .collect()
    }

    #[test]
    fn the_direct_endpoint_is_looked_for_the_same_way_first_and_never_on_a_foreign_loopback() {
        // PgBouncer and PostgreSQL on the database host: its loopback is
        // not this machine's.
        assert_eq!(
            tried("10.0.0.5", 6432, Some(("127.0.0.1", 5432)), 5432),
            ["10.0.0.5:5432"]
        );
        assert_eq!(
            tried("127.0.0.1", 6432, Some(("127.0.0.1", 5432)), 5432),
            ["127.0.0.1:5432"]
        );
        // A container's address: the published port first, then it.
        assert_eq!(
            tried("127.0.0.1", 6432, Some(("172.17.0.2", 5432)), 5432),
            ["127.0.0.1:5432", "172.17.0.2:5432"]
        );
        // A pooler on another host with PostgreSQL's port number.
        assert_eq!(
            tried("10.0.0.5", 5432, Some(("10.0.0.6", 5432)), 5432),
            ["10.0.0.6:5432"]
        );
        // A pooler's socket in PostgreSQL's socket directory.
        assert_eq!(
            tried("/run/postgresql", 6432, None, 5432),
            ["/run/postgresql:5432"]
        );
    }

    #[test]
    fn a_socket_of_another_port_than_the_servers_own_is_a_poolers() {
        let endpoint = request("/run/postgresql", 6432).configured;
        let server = |setting| Server {
            port_setting: Some(setting),
            ..Server::default()
        };
        assert_eq!(
            pooler(&endpoint, &server(5432)),
            Pooler::Between { server: None }
        );
        assert_eq!(pooler(&endpoint, &server(6432)), Pooler::Unknown);
    }
}
