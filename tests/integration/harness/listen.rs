//! The one listener helper: every loopback TCP port and Unix socket the
//! suite opens comes from [`bind_loopback`] or [`unix_listener`], and the
//! servers that answer there as tootguard's probes expect.

use std::path::Path;

/// A TCP socket bound to a port of its own on 127.0.0.1, listening when
/// `listen` (connections then wait in its backlog until accepted), and
/// that port. Every loopback port of the suite comes from here.
fn bind_loopback(listen: bool) -> (std::os::fd::OwnedFd, u16) {
    use nix::libc;
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns;
    // `addr` and `len` are valid for the calls that write them.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let socket = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let bound = libc::bind(fd, (&raw const addr).cast(), size);
        assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
        let mut len = size;
        let named = libc::getsockname(fd, (&raw mut addr).cast(), &mut len);
        assert_eq!(named, 0, "getsockname: {}", std::io::Error::last_os_error());
        if listen {
            let listening = libc::listen(fd, 128);
            assert_eq!(listening, 0, "listen: {}", std::io::Error::last_os_error());
        }
        (socket, u16::from_be(addr.sin_port))
    }
}

/// A listening TCP socket on a port of its own on 127.0.0.1, and that
/// port. Left alone, it is a server that never answers: the kernel
/// completes connections into its backlog and no one reads them.
pub fn tcp_listener() -> (std::net::TcpListener, u16) {
    let (socket, port) = bind_loopback(true);
    (std::net::TcpListener::from(socket), port)
}

/// A listening Unix socket at `path` (`<dir>/.s.PGSQL.5432`); unanswered,
/// as [`tcp_listener`]'s.
pub fn unix_listener(path: &Path) -> std::os::unix::net::UnixListener {
    std::os::unix::net::UnixListener::bind(path)
        .unwrap_or_else(|e| panic!("bind {}: {e}", path.display()))
}

/// A loopback port free at the time of the call, for a server to bind.
/// Another process may take it before the server does: its caller retries
/// with another.
pub fn free_port() -> u16 {
    ClosedPort::new().port
}

/// A loopback TCP port that refuses connections for as long as this lives:
/// bound, never listened on, so no other test can take it (a port freed by
/// dropping a listener can be bound again by a parallel test at once).
pub struct ClosedPort {
    _socket: std::os::fd::OwnedFd,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let (socket, port) = bind_loopback(false);
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

/// Something that answers on a TCP port or a Unix socket but is not
/// PostgreSQL: it accepts each connection and hangs up at once, for as long
/// as it lives. A knock on the door (tootguard's reachability probe)
/// succeeds; asking it as PostgreSQL fails at once, as with a server that
/// refuses the login — instead of waiting out a time limit.
pub struct NotPostgres {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wake: Box<dyn Fn() -> bool + Send + Sync>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotPostgres {
    /// On a free port of 127.0.0.1.
    pub fn tcp() -> NotPostgres {
        let (listener, port) = tcp_listener();
        NotPostgres::serve(
            port,
            move || drop(listener.accept()),
            Box::new(move || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()),
        )
    }

    /// As the Unix socket `path` (`<dir>/.s.PGSQL.5432`).
    pub fn unix(path: &Path) -> NotPostgres {
        let listener = unix_listener(path);
        let path = path.to_path_buf();
        NotPostgres::serve(
            0,
            move || drop(listener.accept()),
            Box::new(move || std::os::unix::net::UnixStream::connect(&path).is_ok()),
        )
    }

    /// Accepts and hangs up (`accept_one`) until dropped; `wake` connects
    /// once more so the thread sees the stop.
    fn serve(
        port: u16,
        mut accept_one: impl FnMut() + Send + 'static,
        wake: Box<dyn Fn() -> bool + Send + Sync>,
    ) -> NotPostgres {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            loop {
                accept_one();
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
        });
        NotPostgres {
            port,
            stop,
            thread: Some(thread),
            wake,
        }
    }
}

impl Drop for NotPostgres {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // The listener is closed once the thread is done. A socket whose
        // directory is already gone cannot be woken: the thread is left.
        if (self.wake)()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}
