//! What the kernel knows about a connection (`TCP_INFO`), read for the
//! [`crate::adapt`] control: the round trip now and its least, the bytes
//! the receiver has acknowledged, the bytes still unsent, and the rate the
//! latest acknowledgements arrived at, with the kernel's mark of whether
//! the sender had too little to send for that rate to show the link's.
//!
//! It only reads; the socket stays the transport's.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// One reading of a connection's `TCP_INFO`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TcpInfo {
    /// The smoothed round trip.
    pub rtt: Duration,
    /// The least round trip seen lately (the kernel's windowed minimum):
    /// the path with empty queues.
    pub min_rtt: Duration,
    /// Bytes the receiver has acknowledged since the connection began.
    pub bytes_acked: u64,
    /// Bytes written by the sender that the kernel has not sent yet.
    pub unsent_bytes: u32,
    /// Bytes per second of the latest acknowledgements.
    pub delivery_rate: u64,
    /// The sender had nothing to send part of that time, so the link may
    /// carry more than `delivery_rate`.
    pub app_limited: bool,
}

/// Offset of the byte whose lowest bit is `tcpi_delivery_rate_app_limited`
/// (a bit field the C struct keeps after `tcpi_snd_rcv_wscale`).
const APP_LIMITED_BYTE: usize = 7;

impl TcpInfo {
    /// Reads the socket `fd`'s `TCP_INFO`. A kernel older than 4.9 lacks
    /// the later fields: they read as zero.
    pub fn read(fd: RawFd) -> io::Result<TcpInfo> {
        let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
        let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: the buffer is `length` bytes, zeroed, and the kernel
        // writes at most `length` bytes into it.
        let result = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut length,
            )
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: zeroed, then partly written by the kernel: every byte is
        // initialised, padding included.
        let bytes: &[u8; std::mem::size_of::<libc::tcp_info>()] = unsafe { &*info.as_ptr().cast() };
        let app_limited = bytes[APP_LIMITED_BYTE] & 1 == 1;
        // SAFETY: as above; every field is a plain integer.
        let info = unsafe { info.assume_init() };
        Ok(TcpInfo {
            rtt: Duration::from_micros(info.tcpi_rtt.into()),
            min_rtt: Duration::from_micros(info.tcpi_min_rtt.into()),
            bytes_acked: info.tcpi_bytes_acked,
            unsent_bytes: info.tcpi_notsent_bytes,
            delivery_rate: info.tcpi_delivery_rate,
            app_limited,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    #[test]
    fn a_loopback_connection_reads_its_acknowledged_bytes_and_round_trip() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(&[7; 100_000]).unwrap();
        let mut received = vec![0; 100_000];
        server.read_exact(&mut received).unwrap();
        let mut info = TcpInfo::read(client.as_raw_fd()).unwrap();
        for _ in 0..100 {
            if info.bytes_acked >= 100_000 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            info = TcpInfo::read(client.as_raw_fd()).unwrap();
        }
        assert!(info.bytes_acked >= 100_000, "{info:?}");
        assert_eq!(info.unsent_bytes, 0, "{info:?}");
        assert!(
            info.rtt > Duration::ZERO && info.rtt >= info.min_rtt,
            "{info:?}"
        );
        assert!(info.delivery_rate > 0, "{info:?}");
    }

    #[test]
    fn a_file_is_not_a_socket() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert!(TcpInfo::read(file.as_raw_fd()).is_err());
    }
}
