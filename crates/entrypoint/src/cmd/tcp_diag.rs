//! The I/O half of the sock_diag client (the pure half is `ovnkube_db_ha::inet_diag`): one
//! `NETLINK_SOCK_DIAG` socket, kept open across polls, that asks the kernel for this network
//! namespace's TCP sockets in given states with a given local or remote port, IPv4 then IPv6.
//! The kernel does the filtering, so a poll costs the same on a node with 10,000 sockets as
//! with 10.
//!
//! Every wait is bounded: each receive by [`RECV_TIMEOUT`], one query by [`MAX_RECVS`] receives,
//! [`QUERY_LIMIT`] and [`MAX_CONNS`] sockets. A reply with another sequence number (what is left
//! of an abandoned query) is skipped, and after any failure the socket is replaced on the next
//! query, so a half-read dump never poisons the following ones.

use nix::errno::Errno;
use nix::sys::socket::sockopt::ReceiveTimeout;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto,
    setsockopt, socket,
};
use nix::sys::time::{TimeVal, TimeValLike};
use ovnkube_db_ha::inet_diag::{
    DiagError, ESTABLISHED, Family, Port, TcpConn, dump_request, parse_dump_seq,
};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Limit of one receive (`SO_RCVTIMEO`).
pub const RECV_TIMEOUT: Duration = Duration::from_millis(200);
/// Limit of one family's query, checked after each receive.
pub const QUERY_LIMIT: Duration = Duration::from_millis(500);
/// Receives per family's query.
pub const MAX_RECVS: usize = 100;
/// Sockets per query (a port has a handful; more means something is wrong).
pub const MAX_CONNS: usize = 10_000;
/// Receive buffer: above the kernel's largest dump skb (32 KiB), so no reply is cut.
const BUF_LEN: usize = 64 * 1024;

/// A sock_diag client holding its netlink socket between queries.
#[derive(Debug)]
pub struct Diag {
    /// `None` after a failed query: opened again by the next one.
    fd: Option<OwnedFd>,
    seq: u32,
    buf: Vec<u8>,
}

impl Diag {
    /// Opens the netlink socket.
    pub fn open() -> io::Result<Self> {
        Ok(Self {
            fd: Some(open_socket()?),
            seq: 0,
            buf: vec![0; BUF_LEN],
        })
    }

    /// This network namespace's ESTABLISHED TCP sockets (IPv4, then IPv6) whose local port is
    /// `port`, with their `tcp_info`. The error names what failed.
    pub fn established_from_port(&mut self, port: u16) -> io::Result<Vec<TcpConn>> {
        self.sockets(Port::Local(port), ESTABLISHED)
    }

    /// This network namespace's TCP sockets (IPv4, then IPv6) in `states` (a bit per kernel
    /// TCP state) whose `port` matches. The error names what failed.
    pub fn sockets(&mut self, port: Port, states: u32) -> io::Result<Vec<TcpConn>> {
        let mut conns = Vec::new();
        for family in [Family::V4, Family::V6] {
            if let Err(e) = self.query(family, port, states, &mut conns) {
                self.fd = None;
                return Err(io::Error::new(
                    e.kind(),
                    format!("sock_diag query of {family:?} TCP sockets with {port:?}: {e}"),
                ));
            }
        }
        Ok(conns)
    }

    fn query(
        &mut self,
        family: Family,
        port: Port,
        states: u32,
        conns: &mut Vec<TcpConn>,
    ) -> io::Result<()> {
        let fd = match self.fd.take() {
            Some(fd) => fd,
            None => open_socket()?,
        };
        let fd = self.fd.insert(fd).as_raw_fd();
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let request = dump_request(family, port, states, seq);
        let sent = sendto(fd, &request, &NetlinkAddr::new(0, 0), MsgFlags::empty())
            .map_err(|e| errno("send the request", e))?;
        if sent != request.len() {
            return Err(io::Error::other(format!(
                "sent {sent} of the request's {} bytes",
                request.len()
            )));
        }
        let started = Instant::now();
        for _ in 0..MAX_RECVS {
            // MSG_TRUNC: the datagram's real length, to notice a cut reply.
            let n = recv(fd, &mut self.buf, MsgFlags::MSG_TRUNC).map_err(|e| match e {
                Errno::EAGAIN => io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no complete reply within {} ms", RECV_TIMEOUT.as_millis()),
                ),
                e => errno("receive the reply", e),
            })?;
            let reply = self.buf.get(..n).ok_or_else(|| {
                io::Error::other(format!(
                    "a {n}-byte reply exceeds the {BUF_LEN}-byte buffer"
                ))
            })?;
            let dump = parse_dump_seq(reply, seq).map_err(diag_error)?;
            if conns.len().saturating_add(dump.conns.len()) > MAX_CONNS {
                return Err(io::Error::other(format!("more than {MAX_CONNS} sockets")));
            }
            conns.extend(dump.conns);
            if dump.done {
                return Ok(());
            }
            if started.elapsed() > QUERY_LIMIT {
                break;
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the dump did not end within {MAX_RECVS} receives or {} ms",
                QUERY_LIMIT.as_millis()
            ),
        ))
    }
}

fn open_socket() -> io::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .map_err(|e| errno("open a NETLINK_SOCK_DIAG socket", e))?;
    let millis = i64::try_from(RECV_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
    setsockopt(&fd, ReceiveTimeout, &TimeVal::milliseconds(millis))
        .map_err(|e| errno("set SO_RCVTIMEO on the NETLINK_SOCK_DIAG socket", e))?;
    Ok(fd)
}

fn errno(what: &str, e: Errno) -> io::Error {
    io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"))
}

fn diag_error(e: DiagError) -> io::Error {
    let kind = match e {
        DiagError::Kernel(errno) => io::Error::from_raw_os_error(errno).kind(),
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, format!("bad reply: {e}"))
}
