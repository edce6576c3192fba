//! The semi-synchronous proxy (`src/sync_proxy.rs`) between two real ovsdb-servers on
//! loopback: an active (standalone, on a unix socket) and a backup that replicates through the
//! proxy's replication port, over a relay the test can pause (it holds what it reads) and cut
//! (it drops what it holds: the active's node dying with the change in flight). The active is
//! killed with SIGKILL the moment a write is acknowledged, and the backup — the copy a
//! failover would promote — is read.
//!
//! - Written straight to the active (no proxy) with the relay paused, the write is
//!   acknowledged at once; after the kill and the cut it is missing from the backup: the
//!   harness sees the loss that asynchronous replication allows.
//! - Written through the proxy with the relay paused, no reply comes; after the kill and the
//!   cut the client has no acknowledgement (nothing acknowledged is lost).
//! - Written through the proxy with the backup's server stopped (SIGSTOP), no reply comes;
//!   once it runs again the reply comes, and after the kill the backup holds the write.
//! - A new session through the proxy while the active cannot accept (stopped, its listen
//!   backlog full: as when busy for seconds) waits for it and gets its reply afterwards.
//!
//! - An idle python-ovs IDL session through the proxy, whose server is killed and restarted
//!   in place, reconnects without its 1 s backoff (the proxy's `_Server` nudge); the same
//!   client straight on the server's socket backs off 1 s.
//! - A session whose proxy holds a full buffer of unconfirmed bytes (the backup stopped) when
//!   the server dies still gets the nudge: the void round, not the server's end of file, is
//!   what the proxy sees first there.
//! - A server restarted in place holds its replies while the backup it lost is away; once the
//!   backup has reconnected (as the standby-link watch makes it) and confirms, the held reply
//!   is released, though its client sends nothing more.
//! - A new session that reaches a dying server and is ended unanswered is joined to the
//!   restarted server with the same requests (the client gets its answer), unless it sent a
//!   `transact`: that session ends, and the restarted server never gets the write.
//! - Over TLS (`OVN_SSL_ENABLE=yes`): the proxy ends `ssl:` sessions with a CA-signed key and
//!   certificate (made here with rcgen); the backup replicates over `ssl:` and a client's
//!   `ovsdb-client` write over `ssl:` is acknowledged only once the backup holds it; a plain
//!   TCP client and a client whose certificate another CA signed are refused.
//!
//! Needs ovsdb-server, ovsdb-tool, ovsdb-client, OVN's NB schema and python3-openvswitch (the packages
//! `cargo xtask test` installs); no root. Every process it starts is killed by pid when the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ovnkube_db_ha::sync_proxy::{Endpoints, SyncProxy};
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERVER: &str = "/usr/sbin/ovsdb-server";
const TOOL: &str = "/usr/bin/ovsdb-tool";
const CLIENT: &str = "/usr/bin/ovsdb-client";
const SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
const IO: Duration = Duration::from_secs(10);
const PYTHON: &str = "/usr/bin/python3";
const PYTHON_OVS: &str = "/usr/lib/python3/dist-packages/ovs/db/idl.py";

/// A TCP relay for one connection: `listen` → `target`; paused, it holds what it reads;
/// cut, it closes both sides and drops what it holds.
struct Relay {
    port: u16,
    paused: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: SocketAddr) -> Relay {
        Relay::start_from(target, Ipv4Addr::LOCALHOST)
    }

    /// A relay whose connections to `target` come from `source` (a loopback address: the
    /// proxy tells replica hosts apart by address).
    fn start_from(target: SocketAddr, source: Ipv4Addr) -> Relay {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let paused = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (p, c) = (paused.clone(), conns.clone());
        std::thread::spawn(move || {
            for down in l.incoming() {
                let Ok(down) = down else { return };
                let Ok(up) = connect_from(source, target) else {
                    continue;
                };
                c.lock()
                    .unwrap()
                    .extend([down.try_clone().unwrap(), up.try_clone().unwrap()]);
                for (from, to) in [
                    (down.try_clone().unwrap(), up.try_clone().unwrap()),
                    (up, down),
                ] {
                    let p = p.clone();
                    std::thread::spawn(move || forward(from, to, &p));
                }
            }
        });
        Relay {
            port,
            paused,
            conns,
        }
    }

    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Closes every relayed connection (what it holds is dropped).
    fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// A TCP connection to `target` from address `source`.
fn connect_from(source: Ipv4Addr, target: SocketAddr) -> std::io::Result<TcpStream> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    bind(
        raw,
        &SockaddrIn::from(std::net::SocketAddrV4::new(source, 0)),
    )?;
    let SocketAddr::V4(t) = target else {
        panic!("IPv4 only")
    };
    connect(raw, &SockaddrIn::from(t))?;
    Ok(TcpStream::from(fd))
}

fn forward(mut from: TcpStream, mut to: TcpStream, paused: &AtomicBool) {
    let mut buf = [0u8; 65536];
    loop {
        let n = match from.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bounded: a cut ends the read side, and the test ends within its own timeouts.
        for _ in 0..2000 {
            if !paused.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if paused.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// A server process, killed by pid when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.0.id()).unwrap())
    }
}

fn prerequisites() {
    let missing: Vec<&str> = [SERVER, TOOL, CLIENT, SCHEMA, PYTHON_OVS]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "missing {missing:?}: install openvswitch-common, ovn-common and python3-openvswitch \
         (`cargo xtask test` does)"
    );
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a server on `dir/NAME.db` listening on `dir/NAME.sock`, a backup of `sync_from` if
/// given.
fn server(dir: &Path, name: &str, sync_from: Option<u16>) -> Server {
    server_with(dir, name, sync_from.map(loopback_tcp), &[])
}

/// `tcp:127.0.0.1:PORT`.
fn loopback_tcp(port: u16) -> String {
    format!("tcp:127.0.0.1:{port}")
}

/// [`server`] with a full `--sync-from` target and `extra` arguments.
fn server_with(dir: &Path, name: &str, sync_from: Option<String>, extra: &[String]) -> Server {
    let db = dir.join(format!("{name}.db"));
    let st = Command::new(TOOL)
        .args(["create", db.to_str().unwrap(), SCHEMA])
        .status()
        .unwrap();
    assert!(st.success(), "ovsdb-tool create");
    launch(dir, name, sync_from, extra)
}

/// Starts a server on the existing `dir/NAME.db` (a restart in place).
fn start_server(dir: &Path, name: &str, sync_from: Option<u16>) -> Server {
    launch(dir, name, sync_from.map(loopback_tcp), &[])
}

fn launch(dir: &Path, name: &str, sync_from: Option<String>, extra: &[String]) -> Server {
    let db = dir.join(format!("{name}.db"));
    let mut cmd = Command::new(SERVER);
    cmd.arg(format!("--remote=punix:{}", sock(dir, name).display()))
        .arg(format!(
            "--unixctl={}",
            dir.join(format!("{name}.ctl")).display()
        ))
        .arg(format!(
            "--log-file={}",
            dir.join(format!("{name}.log")).display()
        ))
        .arg("-vconsole:off")
        .arg("--no-chdir");
    if let Some(target) = sync_from {
        cmd.arg(format!("--sync-from={target}"));
    }
    cmd.args(extra);
    let child = cmd.arg(&db).spawn().unwrap();
    let s = Server(child);
    let deadline = Instant::now() + IO;
    while UnixStream::connect(sock(dir, name)).is_err() {
        assert!(Instant::now() < deadline, "{name} did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    s
}

fn sock(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.sock"))
}

/// Sends one transact inserting switch `name`.
fn send_insert<S: Write>(s: &mut S, name: &str) {
    let req = json!({"id": 1, "method": "transact", "params": ["OVN_Northbound",
        {"op": "insert", "table": "Logical_Switch", "row": {"name": name}}]});
    s.write_all(req.to_string().as_bytes()).unwrap();
}

/// Reads until the reply to id 1 (answering echoes); `None` on a read timeout.
fn read_reply<S: Read + Write>(s: &mut S) -> Option<Value> {
    let mut pending = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => panic!("connection closed"),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            // A stop/continue of the test process interrupts reads on sockets with timeouts.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("read: {e}"),
        };
        pending.extend_from_slice(&buf[..n]);
        let mut it = serde_json::Deserializer::from_slice(&pending).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(v)) = it.next() {
            consumed = it.byte_offset();
            if v["method"] == "echo" {
                let a = json!({"id": v["id"], "result": v["params"], "error": null});
                s.write_all(a.to_string().as_bytes()).unwrap();
            } else if v["id"] == 1 {
                assert!(v["error"].is_null(), "{v}");
                return Some(v);
            }
        }
        pending.drain(..consumed);
    }
}

/// The switch names on the server at `dir/NAME.sock`.
fn switches(dir: &Path, name: &str) -> Vec<String> {
    let mut s = UnixStream::connect(sock(dir, name)).unwrap();
    s.set_read_timeout(Some(IO)).unwrap();
    let req = json!({"id": 1, "method": "transact", "params": ["OVN_Northbound",
        {"op": "select", "table": "Logical_Switch", "where": [], "columns": ["name"]}]});
    s.write_all(req.to_string().as_bytes()).unwrap();
    let v = read_reply(&mut s).expect("no reply to a read");
    v["result"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect()
}

/// Waits until the backup holds switch `name`.
fn wait_replicated(dir: &Path, name: &str) {
    wait_replicated_on(dir, "backup", name);
}

/// Waits until server `server` holds switch `name`.
fn wait_replicated_on(dir: &Path, server: &str, name: &str) {
    let deadline = Instant::now() + IO;
    while !switches(dir, server).iter().any(|n| n == name) {
        assert!(Instant::now() < deadline, "{name} never reached the backup");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A proxy in front of `dir/active.sock` on fresh loopback ports (its client and replication
/// addresses). A port picked free can be taken by another test's connection before the proxy
/// binds it, so a bounded number of fresh picks is tried.
fn start_proxy(dir: &Path) -> (SyncProxy, SocketAddr, SocketAddr) {
    start_proxy_with(dir, None)
}

/// [`start_proxy`] with TLS on the first database's listeners.
fn start_proxy_with(
    dir: &Path,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (SyncProxy, SocketAddr, SocketAddr) {
    let at = |p| SocketAddr::from((Ipv4Addr::LOCALHOST, p));
    let mut last = None;
    for _ in 0..10 {
        let (client, replication) = (at(free_port()), at(free_port()));
        let started = SyncProxy::start_on([
            Endpoints {
                client,
                replication,
                socket: sock(dir, "active"),
                tls: tls.clone(),
            },
            Endpoints {
                client: at(free_port()),
                replication: at(free_port()),
                socket: dir.join("none.sock"),
                tls: None,
            },
        ]);
        match started {
            Ok(proxy) => return (proxy, client, replication),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    || e.to_string().contains("EADDRINUSE") =>
            {
                last = Some(e)
            }
            Err(e) => panic!("starting the proxy: {e}"),
        }
    }
    panic!("no free loopback ports for the proxy in 10 tries: {last:?}");
}

/// Active, proxy, backup replicating through the relay and the proxy, and a first write seen
/// on the backup.
fn setup(dir: &Path) -> (Server, SyncProxy, Relay, Server, SocketAddr, SocketAddr) {
    let active = server(dir, "active", None);
    let (proxy, client, replication) = start_proxy(dir);
    let relay = Relay::start(replication);
    let backup = server(dir, "backup", Some(relay.port));
    let mut c = TcpStream::connect(client).unwrap();
    c.set_read_timeout(Some(IO)).unwrap();
    send_insert(&mut c, "first");
    read_reply(&mut c).expect("no reply to the first write");
    wait_replicated(dir, "first");
    (active, proxy, relay, backup, client, replication)
}

#[test]
fn straight_to_the_active_a_write_acknowledged_before_a_crash_is_lost() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let (active, _proxy, relay, _backup, _, _) = setup(dir.path());
    relay.pause();
    let mut direct = UnixStream::connect(sock(dir.path(), "active")).unwrap();
    direct.set_read_timeout(Some(IO)).unwrap();
    send_insert(&mut direct, "direct");
    assert!(
        read_reply(&mut direct).is_some(),
        "the active did not reply"
    );
    kill(active.pid(), Signal::SIGKILL).unwrap();
    relay.cut();
    let on_backup = switches(dir.path(), "backup");
    assert!(
        !on_backup.iter().any(|n| n == "direct"),
        "without the proxy the backup should lack the write: {on_backup:?}"
    );
}

#[test]
fn through_the_proxy_nothing_is_acknowledged_that_the_backup_did_not_get() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let (active, _proxy, relay, _backup, client, _) = setup(dir.path());
    relay.pause();
    let mut c = TcpStream::connect(client).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    send_insert(&mut c, "in-flight");
    assert!(
        read_reply(&mut c).is_none(),
        "replied before the backup confirmed"
    );
    kill(active.pid(), Signal::SIGKILL).unwrap();
    relay.cut();
    // The active is gone: the proxy's connection to it closes and so does the client's,
    // without a reply.
    let mut rest = Vec::new();
    c.set_read_timeout(Some(IO)).unwrap();
    let _ = c.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "a reply after all: {}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn through_the_proxy_the_reply_waits_for_the_backup_and_survives_a_crash() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let (active, _proxy, _relay, backup, client, _) = setup(dir.path());
    kill(backup.pid(), Signal::SIGSTOP).unwrap();
    let mut c = TcpStream::connect(client).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    send_insert(&mut c, "held");
    let early = read_reply(&mut c);
    kill(backup.pid(), Signal::SIGCONT).unwrap();
    assert!(
        early.is_none(),
        "replied while the backup was stopped: {early:?}"
    );
    c.set_read_timeout(Some(IO)).unwrap();
    assert!(read_reply(&mut c).is_some(), "no reply once the backup ran");
    kill(active.pid(), Signal::SIGKILL).unwrap();
    let on_backup = switches(dir.path(), "backup");
    assert!(
        on_backup.iter().any(|n| n == "held"),
        "the acknowledged write is missing from the backup: {on_backup:?}"
    );
}

/// A server too busy to accept (here stopped, with its listen backlog filled) is waited for:
/// a new session through the proxy gets its reply once the server accepts again, seconds
/// later, instead of being dropped after the restart wait (at a 100 MB database a replica
/// dropped so reconnected every 2 s and never got its copy).
#[test]
fn a_session_waits_for_a_server_whose_backlog_is_full() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let (active, _proxy, _relay, _backup, client, _) = setup(dir.path());
    kill(active.pid(), Signal::SIGSTOP).unwrap();
    // Fill the listen backlog with connections nobody accepts (bounded).
    let mut fillers = Vec::new();
    for _ in 0..4096 {
        let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let addr = socket2::SockAddr::unix(sock(dir.path(), "active")).unwrap();
        match s.connect(&addr) {
            Ok(()) => fillers.push(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the backlog: {e}"),
        }
    }
    assert!(fillers.len() < 4096, "the backlog never filled");
    let mut c = TcpStream::connect(client).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    send_insert(&mut c, "after-the-busy-spell");
    let early = read_reply(&mut c);
    drop(fillers);
    kill(active.pid(), Signal::SIGCONT).unwrap();
    assert!(
        early.is_none(),
        "a reply while the server was stopped: {early:?}"
    );
    c.set_read_timeout(Some(IO)).unwrap();
    assert!(
        read_reply(&mut c).is_some(),
        "no reply once the server accepted again"
    );
}

/// A second backup, on another host address, whose link stalls: the first backup confirms
/// and the stalled one is no longer waited for, yet the reply stays held — that backup could
/// be promoted without the write — until it is shown unpromotable (the fence says so once
/// its `crm_mon` look shows the host's gate closed; the test says so here).
#[test]
fn a_reply_waits_until_a_stalled_second_backup_cannot_be_promoted() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let (_active, proxy, _relay, _backup, client, replication) = setup(dir.path());
    let slow_host = Ipv4Addr::new(127, 0, 0, 2);
    let slow = Relay::start_from(replication, slow_host);
    let _backup2 = server(dir.path(), "backup2", Some(slow.port));
    wait_replicated_on(dir.path(), "backup2", "first");
    slow.pause();
    let mut c = TcpStream::connect(client).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    send_insert(&mut c, "held-for-the-slow-one");
    let early = read_reply(&mut c);
    assert!(
        early.is_none(),
        "replied while the stalled backup could still be promoted: {early:?}"
    );
    assert!(
        proxy.control().awaiting().contains(&slow_host.into()),
        "the stalled backup's host is not awaited: {:?}",
        proxy.control().awaiting()
    );
    proxy.control().unpromotable(slow_host.into());
    c.set_read_timeout(Some(IO)).unwrap();
    assert!(
        read_reply(&mut c).is_some(),
        "no reply once the stalled backup was unpromotable"
    );
    wait_replicated(dir.path(), "held-for-the-slow-one");
    slow.cut();
}

/// A member with no replica link at all (a standby that has not reached a new active yet) may
/// still be promoted, carrying an earlier active's "caught up" mark: a reply waits until it
/// links and confirms, with the write in its copy; a member shown unpromotable (the fence's
/// `crm_mon` look; the test says so here) is not waited for.
#[test]
fn a_reply_waits_for_a_member_that_has_not_linked_yet() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let (_active, proxy, _relay, _backup, client, replication) = setup(dir.path());
    let (linked, late, gone) = (
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(127, 0, 0, 3),
        Ipv4Addr::new(127, 0, 0, 4),
    );
    proxy
        .control()
        .set_peers([linked.into(), late.into()].into_iter().collect());
    let mut c = TcpStream::connect(client).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    send_insert(&mut c, "held-for-the-late-one");
    let early = read_reply(&mut c);
    assert!(
        early.is_none(),
        "replied while a member with no link could still be promoted: {early:?}"
    );
    assert!(
        proxy.control().awaiting().contains(&late.into()),
        "the unlinked member is not awaited: {:?}",
        proxy.control().awaiting()
    );
    let relay = Relay::start_from(replication, late);
    let _late_backup = server(dir.path(), "late", Some(relay.port));
    c.set_read_timeout(Some(IO)).unwrap();
    assert!(
        read_reply(&mut c).is_some(),
        "no reply once the late member linked and confirmed"
    );
    wait_replicated_on(dir.path(), "late", "held-for-the-late-one");
    // A member the cluster shows unpromotable (offline) is not waited for.
    proxy.control().set_peers(
        [linked.into(), late.into(), gone.into()]
            .into_iter()
            .collect(),
    );
    proxy.control().unpromotable(gone.into());
    send_insert(&mut c, "not-held-for-the-offline-one");
    assert!(
        read_reply(&mut c).is_some(),
        "held for a member shown unpromotable"
    );
    relay.cut();
}

/// An `idl_session.py` client, killed by pid when dropped; its JSON lines arrive on a channel.
struct IdlSession {
    child: Child,
    lines: std::sync::mpsc::Receiver<Value>,
}

impl IdlSession {
    fn start(remote: &str) -> IdlSession {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idl_session.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args([remote, SCHEMA, "30"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        IdlSession { child, lines }
    }

    /// The next line, within `IO`.
    fn next(&self, what: &str) -> Value {
        self.lines
            .recv_timeout(IO)
            .unwrap_or_else(|e| panic!("no {what} line from the IDL client: {e}"))
    }
}

impl Drop for IdlSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Restart in place under two idle IDL sessions: the one through the proxy is told its
/// database left `_Server` and reconnects with no backoff, then monitors the restarted
/// server's contents; the one on the server's own socket (no proxy) backs off 1 s.
#[test]
fn an_idl_session_through_the_proxy_reconnects_at_once_after_a_restart_in_place() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let (active, _proxy, _relay, _backup, client, _) = setup(dir.path());
    let proxied = IdlSession::start(&format!("tcp:{client}"));
    let direct = IdlSession::start(&format!("unix:{}", sock(dir.path(), "active").display()));
    for s in [&proxied, &direct] {
        let m = s.next("first monitoring");
        assert_eq!(m["event"], "monitoring", "{m}");
        assert_eq!(m["switches"], json!(["first"]), "{m}");
    }
    kill(active.pid(), Signal::SIGKILL).unwrap();
    drop(active);
    let _restarted = start_server(dir.path(), "active", None);
    // The standby-link watch's command: the restarted server's replies wait until the backup
    // is back (the relay does not pass the proxy's end of the old link on, so without this the
    // backup would only come back after its probe, and the reply after CONFIRM_LIMIT).
    let mut ctl = ovsdb_unixctl::Client::connect(dir.path().join("backup.ctl"), IO).unwrap();
    ctl.reconnect_active().unwrap();
    let d = proxied.next("disconnection");
    assert_eq!(d["event"], "disconnected", "{d}");
    assert_eq!(
        d["backoff"], 0,
        "the proxied session backed off after the restart in place: {d}"
    );
    let d = direct.next("disconnection");
    assert_eq!(d["event"], "disconnected", "{d}");
    assert_eq!(
        d["backoff"], 1000,
        "the harness should see the backoff a session without the nudge pays: {d}"
    );
    for s in [&proxied, &direct] {
        let m = s.next("second monitoring");
        assert_eq!(m["event"], "monitoring", "{m}");
        assert_eq!(m["switches"], json!(["first"]), "{m}");
    }
}

/// Reads JSON messages from `c` until it closes or `IO` passes; answers nothing.
fn read_until_closed(c: &mut TcpStream) -> Vec<Value> {
    c.set_read_timeout(Some(IO)).unwrap();
    let mut bytes = Vec::new();
    let _ = c.read_to_end(&mut bytes);
    serde_json::Deserializer::from_slice(&bytes)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect()
}

/// The proxy holds at most 16 MiB of one session's unconfirmed bytes and stops reading the
/// server after that, so the server's end of file is not seen before the round keeper voids
/// the rounds (the server died, the stopped backup never confirmed). The session's `_Server`
/// monitor must still get the update that deletes its `Database` rows before the proxy
/// closes it: the nudge that spares an IDL client its 1 s backoff.
#[test]
fn a_session_with_a_full_unconfirmed_buffer_is_nudged_when_its_server_dies() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let (active, _proxy, _relay, backup, client, _) = setup(dir.path());
    let mut c = TcpStream::connect(client).unwrap();
    c.set_read_timeout(Some(IO)).unwrap();
    let monitor = json!({"id": "server", "method": "monitor_cond",
        "params": ["_Server", ["monid", "_Server"], {"Database": [{"columns": ["name"]}]}]});
    c.write_all(monitor.to_string().as_bytes()).unwrap();
    // The monitor's reply, released once the backup confirmed it.
    let reply: Value = serde_json::Deserializer::from_reader(&mut c)
        .into_iter::<Value>()
        .next()
        .expect("no reply to the _Server monitor")
        .unwrap();
    assert_eq!(reply["id"], "server", "{reply}");
    let rows = reply["result"]["Database"]
        .as_object()
        .expect("Database rows")
        .len();
    assert!(rows > 0, "{reply}");
    // The backup stops confirming; a 20 MiB echo comes back from the server and fills the
    // proxy's hold for this session.
    kill(backup.pid(), Signal::SIGSTOP).unwrap();
    let big = "x".repeat(20 << 20);
    let echo = json!({"id": "big", "method": "echo", "params": [big]});
    c.write_all(echo.to_string().as_bytes()).unwrap();
    // Well inside the proxy's 5 s hold, after which rounds would be released unconfirmed.
    std::thread::sleep(Duration::from_millis(1500));
    kill(active.pid(), Signal::SIGKILL).unwrap();
    let got = read_until_closed(&mut c);
    let _ = kill(backup.pid(), Signal::SIGCONT);
    assert!(
        got.iter().all(|m| m["id"] != "big"),
        "the unconfirmed echo reached the client"
    );
    let nudge = got
        .iter()
        .find(|m| m["method"] == "update2" && m["params"][0] == json!(["monid", "_Server"]));
    let nudge = nudge.unwrap_or_else(|| panic!("no nudge before the close; got {got:?}"));
    let deleted = nudge["params"][1]["Database"].as_object().unwrap();
    assert_eq!(deleted.len(), rows, "{nudge}");
    assert!(
        deleted.values().all(|c| c.get("delete").is_some()),
        "{nudge}"
    );
}

/// The restart hold ends by the backup's confirmation, not by `CONFIRM_LIMIT` (10 s): a reply
/// the restarted server gave while the backup was away is held, and its client waits for it,
/// sending nothing that would start another round; the backup's new link, once it has its
/// initial copy, must get a round of its own to confirm.
#[test]
fn a_reply_held_after_a_restart_in_place_is_released_once_the_backup_is_back() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let (active, _proxy, _relay, _backup, client, _) = setup(dir.path());
    kill(active.pid(), Signal::SIGKILL).unwrap();
    drop(active);
    let _restarted = start_server(dir.path(), "active", None);
    let mut c = TcpStream::connect(client).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    send_insert(&mut c, "after-the-restart");
    let early = read_reply(&mut c);
    assert!(
        early.is_none(),
        "replied before the backup was back: {early:?}"
    );
    // The standby-link watch's command; the backup may also have come back by its own
    // reconnect, which the round keeper sees the same way.
    let mut ctl = ovsdb_unixctl::Client::connect(dir.path().join("backup.ctl"), IO).unwrap();
    ctl.connect_active().unwrap();
    // Half of CONFIRM_LIMIT: a reply by then was released by a confirmation.
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(
        read_reply(&mut c).is_some(),
        "the held reply was not released after the backup reconnected and had its copy"
    );
    wait_replicated(dir.path(), "after-the-restart");
}

/// A server that dies as a new session reaches it: a listener on the active's socket that
/// accepts one connection, reads `want` bytes from it and closes it and itself unanswered
/// (its socket file goes too, as a crashed server's is replaced by the restart's).
fn dying_server(dir: &Path, want: usize) -> std::thread::JoinHandle<Vec<u8>> {
    let path = sock(dir, "active");
    let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(IO)).unwrap();
        let mut got = vec![0u8; want];
        s.read_exact(&mut got).unwrap();
        std::fs::remove_file(&path).unwrap();
        got
    })
}

/// After a crash the nudged IDL client reconnects at once, and its new session can reach the
/// dying server, which ends it unanswered. The proxy joins such a session to the restarted
/// server with the same requests, so the client sees an answer, not the end that would cost it
/// its 1 s backoff; a session that sent a `transact` is ended instead, as the dead server may
/// have committed it.
#[test]
fn a_session_the_dying_server_ended_unanswered_is_joined_to_the_restarted_one() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let request = json!({"id": 1, "method": "list_dbs", "params": []}).to_string();
    let dying = dying_server(dir.path(), request.len());
    let (_proxy, client, _) = start_proxy(dir.path());
    let mut c = TcpStream::connect(client).unwrap();
    c.set_read_timeout(Some(IO)).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    assert_eq!(dying.join().unwrap(), request.as_bytes());
    let _restarted = server(dir.path(), "active", None);
    let reply = read_reply(&mut c).expect("no answer from the restarted server");
    assert_eq!(reply["result"][0], "OVN_Northbound", "{reply}");
}

#[test]
fn a_transact_the_dying_server_ended_unanswered_is_not_sent_again() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let mut request = Vec::new();
    send_insert(&mut request, "maybe-committed");
    let dying = dying_server(dir.path(), request.len());
    let (_proxy, client, _) = start_proxy(dir.path());
    let mut c = TcpStream::connect(client).unwrap();
    c.write_all(&request).unwrap();
    assert_eq!(dying.join().unwrap(), request);
    let _restarted = server(dir.path(), "active", None);
    assert_eq!(read_until_closed(&mut c), Vec::<Value>::new());
    assert!(switches(dir.path(), "active").is_empty());
}

/// A CA and, signed by it, one certificate for servers and clients alike (OVS checks the chain,
/// not names), written as PEM under `dir` with upstream's file names for NB; returns the
/// OVS arguments that use them.
fn write_pki(dir: &Path, ca_name: &str) -> Vec<String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["ovnnb".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "ovnnb");
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let files = ovnkube_db_ha::tls::TlsFiles::in_dir(dir, ovn_ha_contract::Db::Nb);
    std::fs::write(&files.private_key, key.serialize_pem()).unwrap();
    std::fs::write(&files.certificate, cert.pem()).unwrap();
    std::fs::write(&files.ca_cert, ca_cert.pem()).unwrap();
    vec![
        format!("--private-key={}", files.private_key.display()),
        format!("--certificate={}", files.certificate.display()),
        format!("--ca-cert={}", files.ca_cert.display()),
    ]
}

/// One `ovsdb-client transact` inserting switch `name` at `remote` with `ssl` arguments;
/// whether it succeeded, and its stderr.
fn client_insert(remote: &str, ssl: &[String], name: &str) -> (bool, String) {
    let txn = json!(["OVN_Northbound",
        {"op": "insert", "table": "Logical_Switch", "row": {"name": name}}]);
    let out = Command::new(CLIENT)
        .args(ssl)
        .args(["--timeout=10", "transact", remote, &txn.to_string()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn over_tls_the_backup_replicates_and_a_write_is_acknowledged_once_it_holds_it() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(&dir.path().join("pki"), "ovn-ha test CA");
    let _active = server(dir.path(), "active", None);
    let tls = ovnkube_db_ha::tls::server_config(&ovnkube_db_ha::tls::TlsFiles::in_dir(
        &dir.path().join("pki"),
        ovn_ha_contract::Db::Nb,
    ))
    .unwrap();
    let (_proxy, client, replication) = start_proxy_with(dir.path(), Some(tls));
    let relay = Relay::start(replication);
    let _backup = server_with(
        dir.path(),
        "backup",
        Some(format!("ssl:127.0.0.1:{}", relay.port)),
        &pki,
    );
    let remote = format!("ssl:{client}");
    // Until the backup has its first copy nothing waits for it: a first write, seen there.
    let (ok, err) = client_insert(&remote, &pki, "first");
    assert!(ok, "the first TLS write failed: {err}");
    wait_replicated(dir.path(), "first");
    let (ok, err) = client_insert(&remote, &pki, "over-tls");
    assert!(ok, "the TLS write failed: {err}");
    let on_backup = switches(dir.path(), "backup");
    assert!(
        on_backup.iter().any(|n| n == "over-tls"),
        "acknowledged before the backup held it: {on_backup:?}"
    );
    // Refused: plain TCP on the TLS port, and a certificate from another CA.
    let (ok, _) = client_insert(&format!("tcp:{client}"), &[], "plain");
    assert!(!ok, "a plain TCP client wrote through the TLS port");
    let stranger = write_pki(&dir.path().join("other"), "another CA");
    let (ok, _) = client_insert(&remote, &stranger, "stranger");
    assert!(!ok, "a client certified by another CA wrote");
    let left = switches(dir.path(), "active");
    assert!(
        !left.iter().any(|n| n == "plain" || n == "stranger"),
        "{left:?}"
    );
}
