//! Keeping a TCP socket's unsent bytes few, on both ends: a slow or
//! stalled peer then leaves frames where a newer one can replace them, not
//! queued behind megabytes of old ones in the kernel.
//!
//! TCP_NOTSENT_LOWAT makes a socket writable only while fewer than the
//! limit wait to be sent. Bytes in flight (sent, not yet acknowledged) do
//! not count, so fast links keep their speed. Linux and Android only; on
//! other systems this says it is unsupported and changes nothing.

use std::io;

/// Unsent bytes the kernel may hold before the socket stops taking more:
/// about one small frame.
pub const UNSENT_LIMIT: i32 = 16 * 1024;

/// Sets TCP_NOTSENT_LOWAT to [`UNSENT_LIMIT`] on `socket`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn limit_unsent_bytes(socket: &impl std::os::fd::AsRawFd) -> io::Result<()> {
    let limit: libc::c_int = UNSENT_LIMIT;
    // SAFETY: a valid socket and a c_int option value.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&limit as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// TCP_NOTSENT_LOWAT is not set on this system.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn limit_unsent_bytes<S>(_socket: &S) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "TCP_NOTSENT_LOWAT is set on Linux only",
    ))
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_limit_is_set_on_a_tcp_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        limit_unsent_bytes(&socket).unwrap();
        let mut value: libc::c_int = 0;
        let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid socket, and a c_int with its length to read into.
        let result = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                (&mut value as *mut libc::c_int).cast(),
                &mut length,
            )
        };
        assert_eq!((result, value), (0, UNSENT_LIMIT));
    }
}
