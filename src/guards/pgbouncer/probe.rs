//! Whether anything answers at an endpoint (a TCP port, or a Unix socket
//! directory's `.s.PGSQL.<port>`), with timeouts that no resolver or
//! firewall can stretch, and how an endpoint is shown.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// `host:port`, bracketing IPv6 addresses; a socket directory as its path.
pub fn endpoint(host: &str, port: u16) -> String {
    if host.starts_with('/') {
        format!("{host} (socket .s.PGSQL.{port})")
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Does anything answer at `host:port`? A host starting with `/` is a Unix
/// socket directory: the socket `<dir>/.s.PGSQL.<port>` must accept a
/// connection (a stale socket file left by a stopped server does not).
/// Otherwise a TCP connect to each resolved address, with a short timeout.
pub fn probe(host: &str, port: u16) -> Result<(), String> {
    if let Some(socket) = crate::config::socket_file(host, port) {
        return std::os::unix::net::UnixStream::connect(&socket)
            .map(|_| ())
            .map_err(|e| format!("cannot connect to the socket {}: {e}", socket.display()));
    }
    let addresses = resolve_with_timeout(host, port)?;
    let mut tried = Vec::new();
    for address in &addresses {
        match TcpStream::connect_timeout(address, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => tried.push(format!("{address}: {e}")),
        }
    }
    if tried.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Err(format!("tried TCP {}", tried.join("; ")))
}

/// Resolves `host` in a thread, so a resolver that hangs cannot hang the
/// shim: after the timeout the answer is "cannot resolve", and the thread is
/// left to finish on its own.
pub fn resolve_with_timeout(host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, String> {
    // An address needs no resolver.
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![std::net::SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    let spawned = std::thread::Builder::new().spawn(move || {
        let _ = tx.send(
            (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect),
        );
    });
    // No thread to be had (a user at its process limit): resolve here.
    let Ok(thread) = spawned else {
        return (host, port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .map_err(|e| format!("cannot resolve {host}: {e}"));
    };
    let answer = rx.recv_timeout(RESOLVE_TIMEOUT);
    if answer.is_ok() {
        // It has answered, so it ends at once: no thread outlives the probe
        // (the shim later changes its own environment before exec).
        let _ = thread.join();
    }
    match answer {
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!(
            "cannot resolve {host}: no answer from the resolver within {} s",
            RESOLVE_TIMEOUT.as_secs()
        )),
    }
}
