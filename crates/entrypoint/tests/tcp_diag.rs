//! The sock_diag client (`src/cmd/tcp_diag.rs`, compiled here as it is in the binary, over the
//! library's pure `inet_diag`) against the running kernel, on loopback only: a query for a
//! listener's port returns exactly that listener's accepted connection, never the other
//! listener's or the clients', with the `tcp_info` byte counters of a transfer the peer has
//! read; IPv4, IPv6 when `::1` is available, and an IPv4-mapped IPv6 client canonicalised to
//! IPv4. No privilege is needed. Every wait is bounded; nothing depends on timing.

#![allow(clippy::unwrap_used)]

#[path = "../src/cmd/tcp_diag.rs"]
mod tcp_diag;

use ovnkube_db_ha::inet_diag::{
    ESTABLISHED_OR_CONNECTING, Port, TCP_ESTABLISHED, TcpConn, TcpInfo,
};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;
use tcp_diag::Diag;

/// Bytes sent from listener A's side.
const N: usize = 200_000;
/// Polls until the peer's ACK of the last byte is seen (loopback needs one or two).
const POLLS: usize = 200;
const STEP: Duration = Duration::from_millis(10);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection through a listener: the accepted (server) side and the client.
struct Conn {
    server: TcpStream,
    client: TcpStream,
}

fn connect(listener: &TcpListener, to: SocketAddr) -> Conn {
    let client = TcpStream::connect_timeout(&to, IO_TIMEOUT).unwrap();
    let (server, _) = listener.accept().unwrap();
    for s in [&server, &client] {
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    }
    assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
    Conn { server, client }
}

/// `conn`'s server side as the kernel should report it.
fn expected(conn: &Conn) -> (SocketAddr, SocketAddr) {
    (
        conn.server.local_addr().unwrap(),
        conn.server.peer_addr().unwrap(),
    )
}

fn query(diag: &mut Diag, port: u16) -> Vec<TcpConn> {
    let conns = diag.established_from_port(port).unwrap();
    for c in &conns {
        assert_eq!(
            c.local.port(),
            port,
            "the kernel filtered by local port: {c:?}"
        );
        assert_eq!(c.state, TCP_ESTABLISHED, "{c:?}");
    }
    conns
}

/// The only connection with local `port`: it must be `want`.
fn only(diag: &mut Diag, port: u16, want: (SocketAddr, SocketAddr)) -> TcpInfo {
    let conns = query(diag, port);
    assert_eq!(conns.len(), 1, "port {port}: {conns:?}");
    let c = &conns[0];
    assert_eq!((c.local, c.remote), want);
    c.info.expect("INET_DIAG_INFO")
}

/// `want` among the connections with local `port` (an ephemeral port may also be another
/// connection's, to another destination).
fn find(diag: &mut Diag, port: u16, want: (SocketAddr, SocketAddr)) -> TcpInfo {
    let conns = query(diag, port);
    let c = conns
        .iter()
        .find(|c| (c.local, c.remote) == want)
        .unwrap_or_else(|| panic!("port {port}: no {want:?} in {conns:?}"));
    c.info.expect("INET_DIAG_INFO")
}

/// Listener A's server side sends `N` bytes its client reads; listener B's connection and
/// both clients must not show up in a query for A's port.
fn transfer_on(ip: IpAddr) {
    let any = SocketAddr::new(ip, 0);
    let listener_a = TcpListener::bind(any).unwrap();
    let listener_b = TcpListener::bind(any).unwrap();
    let port_a = listener_a.local_addr().unwrap().port();
    let port_b = listener_b.local_addr().unwrap().port();
    let mut a = connect(&listener_a, listener_a.local_addr().unwrap());
    let mut b = connect(&listener_b, listener_b.local_addr().unwrap());
    let mut diag = Diag::open().unwrap();

    // Before any data.
    let info = only(&mut diag, port_a, expected(&a));
    assert_eq!(
        (info.bytes_sent, info.bytes_acked),
        (Some(0), Some(0)),
        "{info:?}"
    );
    assert_eq!(info.unacked, 0);

    let mut reader = a.client.try_clone().unwrap();
    let read = thread::spawn(move || {
        let mut got = vec![0u8; N];
        reader.read_exact(&mut got).unwrap();
        got
    });
    let data: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
    a.server.write_all(&data).unwrap();
    assert_eq!(read.join().unwrap(), data);
    b.server.write_all(b"not A").unwrap();
    let mut five = [0u8; 5];
    b.client.read_exact(&mut five).unwrap();

    // The client has read everything, so its ACKs are on their way: poll until the last one
    // is counted (bounded).
    let mut info = only(&mut diag, port_a, expected(&a));
    for _ in 0..POLLS {
        if info.unacked == 0 && info.bytes_acked == Some(N as u64) {
            break;
        }
        thread::sleep(STEP);
        info = only(&mut diag, port_a, expected(&a));
    }
    assert_eq!(info.bytes_sent, Some(N as u64), "{info:?}");
    // Payload only: the handshake's SYN is not counted.
    assert_eq!(info.bytes_acked, Some(N as u64), "{info:?}");
    assert_eq!(info.unacked, 0, "{info:?}");
    assert_eq!(info.notsent_bytes, Some(0), "{info:?}");
    assert_eq!((info.retransmits, info.backoff), (0, 0), "{info:?}");

    // Listener B's port: only B's server side, which sent 5 bytes.
    let info_b = only(&mut diag, port_b, expected(&b));
    assert_eq!(info_b.bytes_sent, Some(5));

    // A client's ephemeral port: that client, which sent no payload; a connecting socket's
    // tcpi_bytes_acked includes the 1 of its SYN (an accepted one's does not, as above).
    let client = (
        a.client.local_addr().unwrap(),
        a.client.peer_addr().unwrap(),
    );
    let info_client = find(&mut diag, client.0.port(), client);
    assert_eq!(info_client.bytes_sent, Some(0), "{info_client:?}");
    assert_eq!(info_client.bytes_acked, Some(1), "{info_client:?}");

    // The socket is reused across queries, and a port nobody uses is an empty answer.
    let unused = TcpListener::bind(any).unwrap();
    let unused_port = unused.local_addr().unwrap().port();
    assert!(query(&mut diag, unused_port).is_empty());
    assert_eq!(query(&mut diag, port_a).len(), 1);
}

/// A query by remote port returns exactly the clients' sockets to that port (the standby-link
/// watch's question), established or connecting, and nothing once they are closed.
#[test]
fn a_remote_port_query_finds_the_clients_of_a_port() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let other = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let to = listener.local_addr().unwrap();
    let a = connect(&listener, to);
    let _b = connect(&other, other.local_addr().unwrap());
    let mut diag = Diag::open().unwrap();
    let by_remote = |diag: &mut Diag| {
        diag.sockets(Port::Remote(to.port()), ESTABLISHED_OR_CONNECTING)
            .unwrap()
            .into_iter()
            .map(|c| (c.local, c.remote))
            .collect::<Vec<_>>()
    };
    let client = (a.client.local_addr().unwrap(), to);
    assert_eq!(by_remote(&mut diag), vec![client]);
    drop(a);
    let mut left = by_remote(&mut diag);
    for _ in 0..POLLS {
        if left.is_empty() {
            break;
        }
        thread::sleep(STEP);
        left = by_remote(&mut diag);
    }
    assert!(left.is_empty(), "closed both ways: {left:?}");
}

#[test]
fn ipv4_loopback() {
    transfer_on(IpAddr::V4(Ipv4Addr::LOCALHOST));
}

#[test]
fn ipv6_loopback() {
    if TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err()
        && !ovn_ha_testbed::prereq::check("ipv6_loopback", &["IPv6 loopback (::1)".into()])
    {
        return;
    }
    transfer_on(IpAddr::V6(Ipv6Addr::LOCALHOST));
}

/// An IPv6 socket connected to an IPv4 listener through `::ffff:127.0.0.1` is in the IPv6
/// dump with IPv4-mapped addresses; they come back as plain IPv4.
#[test]
fn ipv4_mapped_client_is_canonical() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mapped = SocketAddr::new(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()), port);
    let Ok(client) = TcpStream::connect_timeout(&mapped, IO_TIMEOUT) else {
        ovn_ha_testbed::prereq::check("ipv4_mapped_client_is_canonical", &["IPv6 sockets".into()]);
        return;
    };
    let (_server, _) = listener.accept().unwrap();
    let local = client.local_addr().unwrap();
    assert!(local.is_ipv6(), "an AF_INET6 socket: {local}");
    let v4 = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let mut diag = Diag::open().unwrap();
    let info = find(
        &mut diag,
        local.port(),
        (v4(local), SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)),
    );
    assert_eq!(info.bytes_acked, Some(1), "{info:?}"); // its SYN
}

/// A peer that stops reading: the server side's `wqueue` is what it wrote and the peer has not
/// acknowledged, so `bytes_acked + wqueue` is everything written — the replica-lag measure.
#[test]
fn written_is_acked_plus_wqueue() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let conn = connect(&listener, listener.local_addr().unwrap());
    conn.server.set_nonblocking(true).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut written: u64 = 0;
    // Bounded: the socket buffers fill within a few MiB.
    for _ in 0..10_000 {
        match (&conn.server).write(&chunk) {
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    let mut diag = Diag::open().unwrap();
    let mut seen = None;
    for _ in 0..POLLS {
        let conns = query(&mut diag, port);
        let c = conns
            .iter()
            .find(|c| c.remote == expected(&conn).1)
            .unwrap();
        let acked = c.info.and_then(|i| i.bytes_acked).unwrap();
        seen = Some((acked, c.wqueue));
        if acked + u64::from(c.wqueue) == written {
            break;
        }
        thread::sleep(STEP);
    }
    let (acked, wqueue) = seen.unwrap();
    assert!(
        wqueue > 0,
        "the peer reads nothing: bytes wait ({acked} acked)"
    );
    assert_eq!(acked + u64::from(wqueue), written);
}
