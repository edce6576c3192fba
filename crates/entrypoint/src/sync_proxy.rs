//! The semi-synchronous proxy (see `semi_sync` for why and how): it listens on the VIP's
//! client and replication ports of both databases (bound with `IP_FREEBIND`, so it is ready
//! before the VIP arrives), joins each connection to the local server's unix socket, and holds
//! every byte the server sends a client until a barrier round through the replicas that
//! started after those bytes arrived has completed. Replica connections are forwarded message
//! by message, with the round's echoes put between messages and their replies taken out.
//!
//! It runs on a tokio runtime of its own thread. The replication fence closes and reopens the
//! client listeners through [`Control`], reads which replicas the rounds excluded (so they are
//! not marked caught up) and shares its quorum flag (no release without a confirmation while
//! the quorum is lost).

use crate::client_tickle::Session;
use crate::jsonrpc_frame::{Framer, Tap};
use crate::reconnect_nudge::{self, ServerMonitor};
use crate::semi_sync::{
    Left, Round, SLOW, Verdict, echo_request, monitor_request_id, reply_id, sync_reply_round,
};
use crate::session_replay::Unanswered;
use crate::unlinked_peers::to_await;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio_rustls::TlsAcceptor;

/// The databases' names in the log, NB then SB.
const NAMES: [&str; 2] = [
    ovn_ha_contract::Db::BOTH[0].label(),
    ovn_ha_contract::Db::BOTH[1].label(),
];

/// Where one database's proxy listens and what it joins connections to.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Clients' address (the VIP and the client port).
    pub client: SocketAddr,
    /// Replicas' address (the VIP and the replication port).
    pub replication: SocketAddr,
    /// The server's unix socket.
    pub socket: PathBuf,
    /// TLS on both listeners (`ssl:` sessions end here), or plain TCP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}
/// One read.
const CHUNK: usize = 64 * 1024;
/// Pause after a failed accept or reopen (e.g. out of file descriptors).
const RETRY: std::time::Duration = std::time::Duration::from_millis(100);
/// How long a new client session waits for the server's socket (a restart in place takes
/// about 0.1 s).
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a new session waits for a server whose listen backlog is full (busy, alive).
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// Between two tries of the server's socket.
const RECONNECT_POLL: std::time::Duration = std::time::Duration::from_millis(10);
/// How long a nudged client is given to close its session itself.
const NUDGE_GRACE: std::time::Duration = std::time::Duration::from_millis(500);
/// Most bytes held for one client before the proxy stops reading its server's side.
const MAX_HELD: usize = 16 * 1024 * 1024;
/// Longest TLS handshake of an accepted connection.
const HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

crate::log_part!("sync proxy");

/// What the fence shares with the proxy.
#[derive(Debug)]
pub struct Control {
    closed: [watch::Sender<bool>; 2],
    excluded: Mutex<BTreeSet<SocketAddr>>,
    /// Per database: replica hosts that stopped confirming (too slow, or gone) and may still
    /// be promotable, with when each was added. No round completes while one is listed (up
    /// to [`CONFIRM_LIMIT`]): what it would release that host lacks.
    unconfirmed: [Mutex<BTreeMap<IpAddr, Instant>>; 2],
    /// Bumped whenever a host leaves `unconfirmed` (wakes the round keepers).
    confirmations: watch::Sender<u64>,
    /// Raised by the quorum watcher while this node has no quorum.
    pub quorum_lost: Arc<AtomicBool>,
    /// Each plain-TCP client session's nudge as of now (`reconnect_nudge`), for the client
    /// tickle thread to publish: the node that takes the VIP after this one is lost writes it
    /// into the session (`session_takeover`).
    nudges: Mutex<BTreeMap<Session, Vec<u8>>>,
    /// The other members' ring addresses (the fence's member list).
    peers: Mutex<BTreeSet<IpAddr>>,
    /// When a look at the cluster last showed each host unpromotable (`unlinked_peers`).
    seen_unpromotable: Mutex<BTreeMap<IpAddr, Instant>>,
    /// Raised when a host is newly waited on, so the unpromotable watch looks at once.
    look_wanted: (Mutex<bool>, Condvar),
}

/// How long the rounds wait for a replica host that stopped confirming to be shown
/// unpromotable before they release without it (its entrypoint or its cluster stack is not
/// answering; logged).
pub const CONFIRM_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Control {
    fn new() -> Self {
        Control {
            closed: [watch::Sender::new(false), watch::Sender::new(false)],
            excluded: Mutex::new(BTreeSet::new()),
            unconfirmed: [Mutex::new(BTreeMap::new()), Mutex::new(BTreeMap::new())],
            confirmations: watch::Sender::new(0),
            quorum_lost: Arc::new(AtomicBool::new(false)),
            nudges: Mutex::new(BTreeMap::new()),
            peers: Mutex::new(BTreeSet::new()),
            seen_unpromotable: Mutex::new(BTreeMap::new()),
            look_wanted: (Mutex::new(false), Condvar::new()),
        }
    }

    /// Replaces the other members' ring addresses.
    pub fn set_peers(&self, peers: BTreeSet<IpAddr>) {
        if let Ok(mut p) = self.peers.lock() {
            *p = peers;
        }
    }

    fn peers(&self) -> BTreeSet<IpAddr> {
        self.peers.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn seen_unpromotable(&self) -> BTreeMap<IpAddr, Instant> {
        self.seen_unpromotable
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// One look at the cluster showed `host` promotable: a verdict of "unpromotable" is gone.
    pub fn promotable(&self, host: IpAddr) {
        if let Ok(mut s) = self.seen_unpromotable.lock() {
            s.remove(&host);
        }
    }

    /// Waits up to `limit` for a host to be newly waited on (and clears the request).
    pub fn wait_look_wanted(&self, limit: std::time::Duration) {
        let (flag, cv) = &self.look_wanted;
        let Ok(guard) = flag.lock() else {
            return;
        };
        if let Ok((mut wanted, _)) = cv.wait_timeout_while(guard, limit, |wanted| !*wanted) {
            *wanted = false;
        }
    }

    /// The client sessions' nudges, as the proxy last saw each session's `_Server` monitor.
    pub fn nudges(&self) -> BTreeMap<Session, Vec<u8>> {
        self.nudges.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// Records (or, with `None`, forgets) `session`'s nudge.
    fn set_nudge(&self, session: Session, nudge: Option<Vec<u8>>) {
        if let Ok(mut n) = self.nudges.lock() {
            match nudge {
                Some(bytes) => n.insert(session, bytes),
                None => n.remove(&session),
            };
        }
    }

    /// The replica hosts whose promotability the rounds wait on (for the fence to look up).
    pub fn awaiting(&self) -> BTreeSet<IpAddr> {
        self.unconfirmed
            .iter()
            .filter_map(|u| u.lock().ok().map(|u| u.keys().copied().collect::<Vec<_>>()))
            .flatten()
            .collect()
    }

    /// The fence saw `host` unpromotable (its promotion score −INFINITY or absent, its node
    /// offline or in standby): the rounds stop waiting on it, and for `unlinked_peers::FRESH`
    /// do not wait on it as a member without a link.
    pub fn unpromotable(&self, host: IpAddr) {
        if let Ok(mut s) = self.seen_unpromotable.lock() {
            s.insert(host, Instant::now());
        }
        for i in 0..2 {
            self.settle(i, host);
        }
    }

    /// Database `i` no longer waits on `host` (unpromotable, or caught up again).
    fn settle(&self, i: usize, host: IpAddr) {
        if self.unconfirmed[i]
            .lock()
            .is_ok_and(|mut u| u.remove(&host).is_some())
        {
            self.confirmations.send_modify(|n| *n += 1);
        }
    }

    /// Database `i`'s rounds wait on `host` from now (kept from earlier if already listed);
    /// true if it was not listed.
    fn await_host(&self, i: usize, host: IpAddr) -> bool {
        let added = self.unconfirmed[i].lock().is_ok_and(|mut u| {
            let new = !u.contains_key(&host);
            u.entry(host).or_insert_with(Instant::now);
            new
        });
        if added {
            let (flag, cv) = &self.look_wanted;
            if let Ok(mut wanted) = flag.lock() {
                *wanted = true;
                cv.notify_all();
            }
        }
        added
    }

    /// Database `i`'s listed hosts, with when each was added.
    fn unconfirmed(&self, i: usize) -> BTreeMap<IpAddr, Instant> {
        self.unconfirmed[i]
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default()
    }

    /// Stops taking clients of database `i` (0 NB, 1 SB): the listener closes and every
    /// client connection is dropped.
    pub fn close(&self, i: usize) {
        self.closed[i].send_replace(true);
    }

    /// Takes clients of database `i` again.
    pub fn open(&self, i: usize) {
        self.closed[i].send_replace(false);
    }

    /// Replica connections the rounds no longer wait for (too slow): not caught up.
    pub fn excluded(&self) -> BTreeSet<SocketAddr> {
        self.excluded.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn set_excluded(&self, addr: SocketAddr, excluded: bool) {
        if let Ok(mut e) = self.excluded.lock() {
            if excluded {
                e.insert(addr);
            } else {
                e.remove(&addr);
            }
        }
    }
}

/// The running proxy.
#[derive(Debug)]
pub struct SyncProxy {
    control: Arc<Control>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SyncProxy {
    /// Starts proxying `vip`'s client ports `ports` and replication ports `replication` (NB,
    /// SB) to the local servers' client sockets (the agent's default `run_dir`), with `tls`
    /// on each database's listeners if given.
    pub fn start(
        vip: IpAddr,
        ports: [u16; 2],
        replication: [u16; 2],
        tls: [Option<Arc<rustls::ServerConfig>>; 2],
    ) -> std::io::Result<Self> {
        let [nb_tls, sb_tls] = tls;
        let endpoints = [(0, nb_tls), (1, sb_tls)].map(|(i, tls)| Endpoints {
            client: SocketAddr::new(vip, ports[i]),
            replication: SocketAddr::new(vip, replication[i]),
            socket: ovn_ha_contract::Db::BOTH[i].sock(ovn_ha_contract::default_run_dir()),
            tls,
        });
        Self::start_on(endpoints)
    }

    /// Starts proxying the two databases' `endpoints` (NB, SB).
    pub fn start_on(endpoints: [Endpoints; 2]) -> std::io::Result<Self> {
        let control = Arc::new(Control::new());
        let mut listeners = Vec::new();
        for e in &endpoints {
            listeners.push((
                Listeners {
                    client: bind(e.client)?,
                    replica: bind(e.replication)?,
                    tls: e.tls.clone().map(TlsAcceptor::from),
                },
                e.socket.clone(),
            ));
        }
        let scheme = |e: &Endpoints| if e.tls.is_some() { "ssl" } else { "tcp" };
        let described = format!(
            "NB {}:{}/{}, SB {}:{}/{}",
            scheme(&endpoints[0]),
            endpoints[0].client,
            endpoints[0].replication.port(),
            scheme(&endpoints[1]),
            endpoints[1].client,
            endpoints[1].replication.port()
        );
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let c = Arc::clone(&control);
        let thread = std::thread::Builder::new()
            .name("sync-proxy".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("sync-proxy-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        log(format!("cannot start its runtime: {e}"));
                        return;
                    }
                };
                rt.block_on(async move {
                    for (i, (listeners, socket)) in listeners.into_iter().enumerate() {
                        serve(i, listeners, socket, &c);
                    }
                    let _ = stopped.await;
                });
                rt.shutdown_background();
            })?;
        log(format!(
            "holding client replies until the replicas confirm: {described}"
        ));
        Ok(SyncProxy {
            control,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The handle the fence uses.
    pub fn control(&self) -> Arc<Control> {
        Arc::clone(&self.control)
    }

    /// Stops every listener and connection.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SyncProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A listening socket on `addr`, bound even while `addr` is not (yet) a local address.
fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6, bind, listen,
        setsockopt, socket, sockopt,
    };
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    setsockopt(&fd, sockopt::IpFreebind, &true)?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    match addr {
        SocketAddr::V4(a) => bind(raw, &SockaddrIn::from(a)),
        SocketAddr::V6(a) => bind(raw, &SockaddrIn6::from(a)),
    }
    .map_err(|e| {
        let e = std::io::Error::from(e);
        std::io::Error::new(e.kind(), format!("binding {addr}: {e}"))
    })?;
    listen(&fd, Backlog::new(1024).unwrap_or(Backlog::MAXCONN))?;
    Ok(std::net::TcpListener::from(fd))
}

/// One database's listening sockets and their TLS.
struct Listeners {
    client: std::net::TcpListener,
    replica: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
}

/// Ends an accepted connection's TLS handshake (bounded; a failure is logged), or passes a
/// plain connection on; then runs `link` on the stream.
async fn with_tls<F>(
    down: TcpStream,
    tls: Option<TlsAcceptor>,
    what: &'static str,
    link: impl FnOnce(Stream) -> F,
) where
    F: std::future::Future<Output = ()>,
{
    let Some(acceptor) = tls else {
        return link(Box::new(down)).await;
    };
    let peer = down
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(down)).await {
        Ok(Ok(s)) => link(Box::new(s)).await,
        Ok(Err(e)) => log(format!("{what} {peer}: TLS handshake failed: {e}")),
        Err(_) => log(format!(
            "{what} {peer}: no TLS handshake within {HANDSHAKE_LIMIT:?}"
        )),
    }
}

/// An accepted connection, plain or TLS.
trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}
type Stream = Box<dyn Duplex>;

/// Starts database `i`'s accept loops and its round keeper.
fn serve(i: usize, listeners: Listeners, sock: PathBuf, control: &Arc<Control>) {
    let Listeners {
        client,
        replica,
        tls,
    } = listeners;
    let gate = Arc::new(Gate::default());
    let (hub_tx, hub_rx) = mpsc::unbounded_channel();
    tokio::spawn(keep_rounds(
        i,
        Arc::clone(&gate),
        hub_rx,
        Arc::clone(control),
    ));
    let closed = control.closed[i].subscribe();
    tokio::spawn(accept_clients(
        client,
        tls.clone(),
        sock.clone(),
        gate,
        closed,
        Arc::clone(control),
    ));
    tokio::spawn(accept_replicas(replica, tls, sock, hub_tx));
}

/// The barrier rounds of one database, as the client connections see them.
#[derive(Debug, Default)]
struct Gate {
    /// The last round started.
    started: AtomicU64,
    /// The highest round any held bytes wait for.
    requested: AtomicU64,
    completed: watch::Sender<u64>,
    /// Rounds completed void (`Verdict::Void`), as inclusive ranges: what they cover is
    /// dropped, never released. The most recent few ranges are kept.
    voided: std::sync::Mutex<VecDeque<(u64, u64)>>,
    wake: Notify,
}

impl Gate {
    /// Bytes just arrived: the round that releases them (one that starts from now on).
    fn request(&self) -> u64 {
        let need = self.started.load(Ordering::SeqCst) + 1;
        self.requested.fetch_max(need, Ordering::SeqCst);
        self.wake.notify_one();
        need
    }

    async fn released(&self, need: u64) {
        let mut rx = self.completed.subscribe();
        let _ = rx.wait_for(|done| *done >= need).await;
    }

    /// Completes round `id` void, with every earlier round not yet released (held ones).
    fn void(&self, id: u64) {
        let from = *self.completed.borrow() + 1;
        if let Ok(mut v) = self.voided.lock() {
            v.push_back((from.min(id), id));
            while v.len() > 64 {
                v.pop_front();
            }
        }
        self.completed.send_replace(id);
    }

    fn is_void(&self, id: u64) -> bool {
        self.voided
            .lock()
            .is_ok_and(|v| v.iter().any(|(a, b)| (*a..=*b).contains(&id)))
    }
}

async fn accept_clients(
    listener: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
    sock: PathBuf,
    gate: Arc<Gate>,
    mut closed: watch::Receiver<bool>,
    control: Arc<Control>,
) {
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            log(format!("listener address: {e}"));
            return;
        }
    };
    let mut listener = Some(listener);
    let mut reopen_failing = false;
    loop {
        // Closed: no listener at all, so clients are refused as by a server that is gone.
        if *closed.borrow_and_update() {
            listener = None;
            if closed.changed().await.is_err() {
                return;
            }
            continue;
        }
        let std_listener = match listener.take() {
            Some(l) => l,
            None => match bind(addr) {
                Ok(l) => l,
                Err(e) => {
                    // Retried until it works (or the proxy stops), as the fence's reopen is.
                    if !reopen_failing {
                        log(format!("reopening {addr}: {e}; retrying every {RETRY:?}"));
                    }
                    reopen_failing = true;
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            },
        };
        reopen_failing = false;
        let l = match TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                log(format!("listening on {addr}: {e}"));
                return;
            }
        };
        loop {
            tokio::select! {
                accepted = l.accept() => match accepted {
                    Ok((down, peer)) => {
                        let _ = down.set_nodelay(true);
                        let (sock, gate, closed) = (sock.clone(), Arc::clone(&gate), closed.clone());
                        // Only a plain session's bytes can be written by another node.
                        let book = tls.is_none().then(|| NudgeEntry {
                            control: Arc::clone(&control),
                            session: Session { server_port: addr.port(), client: peer },
                        });
                        tokio::spawn(with_tls(down, tls.clone(), "client", move |s| {
                            client_link(s, sock, gate, closed, book)
                        }));
                    }
                    Err(e) => {
                        log(format!("accepting on {addr}: {e}"));
                        tokio::time::sleep(RETRY).await;
                    }
                },
                changed = closed.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *closed.borrow() {
                        break;
                    }
                }
            }
        }
    }
}

/// One client: its requests go straight to the server; the server's bytes wait for a round.
///
/// When the server dies under the session (restart in place), an OVS IDL client is told its
/// database is gone from `_Server` (`reconnect_nudge`), so it reconnects at once rather than
/// after its 1 s backoff; its new session waits here until the restarted server listens, and
/// is joined to it again if the dying server ended it before answering (`session_replay`).
async fn client_link(
    down: Stream,
    sock: PathBuf,
    gate: Arc<Gate>,
    mut closed: watch::Receiver<bool>,
    book: Option<NudgeEntry>,
) {
    let mut waiting = closed.clone();
    let link = async {
        let Some(up) = connect_server(&sock, &mut waiting).await else {
            return;
        };
        let (mut dr, mut dw) = tokio::io::split(down);
        let monitor = Mutex::new(ServerMonitor::default());
        let mut requests = Tap::default();
        let Some(contact) = first_contact(&mut dr, up, &sock, &mut waiting, |bytes| {
            observe_requests(&mut requests, &monitor, bytes);
        })
        .await
        else {
            return;
        };
        let Contact {
            up,
            first,
            client_ended,
        } = contact;
        let (mut ur, mut uw) = up.into_split();
        let (client_done_tx, mut client_done) = watch::channel(client_ended);
        let to_server = async {
            let mut buf = vec![0u8; CHUNK];
            let mut server_open = true;
            // A client that ended during the first contact is not read again.
            let mut open = !client_ended;
            while open {
                let n = match dr.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        open = false;
                        continue;
                    }
                    Ok(n) => n,
                };
                observe_requests(&mut requests, &monitor, &buf[..n]);
                // Once the server is gone the client's bytes are read and dropped, so that its
                // closing is seen.
                if server_open && uw.write_all(&buf[..n]).await.is_err() {
                    server_open = false;
                }
            }
            let _ = client_done_tx.send(true);
            let _ = uw.shutdown().await;
        };
        let to_client = async {
            let mut buf = vec![0u8; CHUNK];
            let mut tap = Tap::default();
            // Bytes read from the server, each with the round that releases it, oldest first.
            let mut held: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
            let mut held_bytes = 0usize;
            let mut server_gone: Option<Instant> = None;
            match first {
                Answer::Bytes(bytes) => {
                    held_bytes = bytes.len();
                    held.push_back((gate.request(), bytes));
                }
                Answer::Ended => server_gone = Some(Instant::now()),
                Answer::None => {}
            }
            loop {
                let front = held.front().map(|(need, _)| *need);
                let reading = server_gone.is_none() && held_bytes < MAX_HELD;
                let give_up = server_gone.map(|at| at + SLOW);
                tokio::select! {
                    read = ur.read(&mut buf), if reading => match read {
                        Ok(0) | Err(_) => server_gone = Some(Instant::now()),
                        Ok(n) => {
                            held.push_back((gate.request(), buf[..n].to_vec()));
                            held_bytes += n;
                        }
                    },
                    () = gate.released(front.unwrap_or(0)), if front.is_some() => {
                        if let Some((need, bytes)) = held.pop_front() {
                            held_bytes -= bytes.len();
                            // A void round's bytes came from a server that died unconfirmed:
                            // the server is gone even if its end of file is still unread (the
                            // hold was full), and the client still gets its nudge.
                            if gate.is_void(need) {
                                server_gone.get_or_insert_with(Instant::now);
                                break;
                            }
                            if dw.write_all(&bytes).await.is_err() {
                                return;
                            }
                            for m in tap.feed(&bytes, reconnect_nudge::may_concern_replies) {
                                if let (Ok(v), Ok(mut mon)) = (serde_json::from_slice::<serde_json::Value>(&m), monitor.lock()) {
                                    mon.on_reply(&v);
                                    if let Some(b) = &book {
                                        b.set(mon.nudge());
                                    }
                                }
                            }
                        }
                    }
                    // The server is gone (crashed, stopped) with bytes still unconfirmed: its
                    // replicas cannot confirm them any more, so they are never released.
                    () = sleep_until_opt(give_up), if give_up.is_some() => break,
                }
                if server_gone.is_some() && held.is_empty() {
                    break;
                }
            }
            let nudge = match monitor.lock() {
                Ok(mon) if server_gone.is_some() && tap.between_messages() => mon.nudge(),
                _ => None,
            };
            if let Some(nudge) = nudge
                && dw.write_all(&nudge).await.is_ok()
            {
                // The client closes the session itself once it has read the update.
                let _ = tokio::time::timeout(NUDGE_GRACE, client_done.wait_for(|d| *d)).await;
            }
            let _ = dw.shutdown().await;
        };
        tokio::pin!(to_server, to_client);
        tokio::select! {
            () = &mut to_client => {}
            // The client sent everything: its replies still come.
            () = &mut to_server => to_client.await,
        }
    };
    tokio::select! {
        () = link => {}
        _ = closed.wait_for(|c| *c) => {}
    }
}

/// A client session's place in [`Control`]'s nudges, forgotten when the session ends.
struct NudgeEntry {
    control: Arc<Control>,
    session: Session,
}

impl NudgeEntry {
    fn set(&self, nudge: Option<Vec<u8>>) {
        self.control.set_nudge(self.session, nudge);
    }
}

impl Drop for NudgeEntry {
    fn drop(&mut self) {
        self.control.set_nudge(self.session, None);
    }
}

/// The server's first bytes on a session, as [`first_contact`] found them.
enum Answer {
    /// It answered: these bytes, not yet released.
    Bytes(Vec<u8>),
    /// Its side ended before any answer, and the session cannot be joined to it again.
    Ended,
    /// The client ended its side first; nothing from the server yet.
    None,
}

/// A session after its server's first answer.
struct Contact {
    up: UnixStream,
    first: Answer,
    client_ended: bool,
}

/// Forwards the client's bytes until the server answers anything. If the server's side ends
/// first (a server dying as the session reached it), the session is joined to the restarted
/// server with the same requests, unless [`Unanswered`] forbids it. `None`: no server came
/// back within [`RESTART_WAIT`], or the listeners closed.
async fn first_contact<R: AsyncRead + Unpin>(
    dr: &mut R,
    mut up: UnixStream,
    sock: &PathBuf,
    closed: &mut watch::Receiver<bool>,
    mut observe: impl FnMut(&[u8]),
) -> Option<Contact> {
    let mut unanswered = Unanswered::default();
    let (mut from_client, mut from_server) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    loop {
        tokio::select! {
            read = dr.read(&mut from_client) => match read {
                Ok(0) | Err(_) => return Some(Contact { up, first: Answer::None, client_ended: true }),
                Ok(n) => {
                    observe(&from_client[..n]);
                    unanswered.client_sent(&from_client[..n]);
                    // A failed write shows as the server's end, read below.
                    let _ = up.write_all(&from_client[..n]).await;
                }
            },
            read = up.read(&mut from_server) => match read {
                Ok(n) if n > 0 => {
                    let first = Answer::Bytes(from_server[..n].to_vec());
                    return Some(Contact { up, first, client_ended: false });
                }
                _ => {
                    let Some(again) = unanswered.replay().map(<[u8]>::to_vec) else {
                        return Some(Contact { up, first: Answer::Ended, client_ended: false });
                    };
                    up = connect_server(sock, closed).await?;
                    log(format!(
                        "{}: a new session's server ended before answering; joined to the \
                         restarted server with its {} bytes of requests",
                        sock.display(),
                        again.len()
                    ));
                    let _ = up.write_all(&again).await;
                }
            },
        }
    }
}

/// Follows the client's requests for the `_Server` monitor its nudge would update.
fn observe_requests(tap: &mut Tap, monitor: &Mutex<ServerMonitor>, bytes: &[u8]) {
    for m in tap.feed(bytes, reconnect_nudge::may_concern_requests) {
        if let (Ok(v), Ok(mut mon)) = (
            serde_json::from_slice::<serde_json::Value>(&m),
            monitor.lock(),
        ) {
            mon.on_request(&v);
        }
    }
}

/// Connects to the server's socket; while it is missing or refuses (a server restarting in
/// place), retries for up to [`RESTART_WAIT`] unless the listeners close meanwhile.
async fn connect_server(sock: &PathBuf, closed: &mut watch::Receiver<bool>) -> Option<UnixStream> {
    connect_server_while(sock, || !*closed.borrow()).await
}

/// Connects to the server's socket, retrying while `wanted`: for up to [`RESTART_WAIT`] while
/// the socket is missing or refuses, and for up to [`BUSY_WAIT`] while its backlog is full.
async fn connect_server_while(sock: &PathBuf, wanted: impl Fn() -> bool) -> Option<UnixStream> {
    let started = Instant::now();
    loop {
        match UnixStream::connect(sock).await {
            Ok(up) => return Some(up),
            Err(e) if started.elapsed() < connect_patience(e.kind()) && wanted() => {
                tokio::time::sleep(RECONNECT_POLL).await;
            }
            Err(_) => return None,
        }
    }
}

/// How long to keep trying the server's socket after a connect failed with `kind` (pure).
/// `WouldBlock` is a full listen backlog: the server is alive and busy (at a 100 MB database
/// one run of its main loop, serving a replica's initial copy, took 30 s on 2 cores), so the
/// replica or client waits for it rather than being dropped to reconnect and queue again.
fn connect_patience(kind: std::io::ErrorKind) -> std::time::Duration {
    match kind {
        std::io::ErrorKind::WouldBlock => BUSY_WAIT,
        _ => RESTART_WAIT,
    }
}

/// What a replica connection tells the round keeper.
enum HubEvent {
    Up {
        link: u64,
        addr: SocketAddr,
        barriers: mpsc::UnboundedSender<u64>,
    },
    /// Its initial copy has been forwarded: it can confirm rounds from now on.
    Eligible(u64),
    Confirmed {
        link: u64,
        round: u64,
    },
    Gone {
        link: u64,
        by: Left,
    },
}

struct LinkState {
    addr: SocketAddr,
    barriers: mpsc::UnboundedSender<u64>,
    eligible: bool,
    /// The last round it confirmed (0: none).
    confirmed: u64,
}

/// Runs the rounds of database `i` (0 NB, 1 SB): one at a time, each covering every byte that
/// arrived before it started. A replica host that stops confirming (too slow, or its
/// connection went) may still be promoted if the active is lost now, without what the rounds
/// release from then on; so rounds done after that are held until the host is shown
/// unpromotable ([`Control::unpromotable`]), confirms a round that covers them (caught up
/// again), or [`CONFIRM_LIMIT`] has passed.
async fn keep_rounds(
    i: usize,
    gate: Arc<Gate>,
    mut events: mpsc::UnboundedReceiver<HubEvent>,
    control: Arc<Control>,
) {
    let name = NAMES[i];
    let mut links: BTreeMap<u64, LinkState> = BTreeMap::new();
    let mut excluded: BTreeSet<u64> = BTreeSet::new();
    let mut current: Option<Round> = None;
    let mut degraded = false;
    // The last round done whose release waits on unconfirmed hosts, and since when.
    let mut held: Option<(u64, Instant)> = None;
    // Hosts released after the limit, not waited on again until they link.
    let mut given_up: BTreeSet<IpAddr> = BTreeSet::new();
    let mut confirmations = control.confirmations.subscribe();
    loop {
        let now = Instant::now();
        let mut deadline = None;
        if let Some((done, since)) = held {
            let waiting = control.unconfirmed(i);
            for (host, added) in &waiting {
                if now.saturating_duration_since(*added) >= CONFIRM_LIMIT {
                    log(format!(
                        "{name}: {host} was not shown unpromotable within {CONFIRM_LIMIT:?}; \
                         releasing without its confirmation"
                    ));
                    control.settle(i, *host);
                    given_up.insert(*host);
                }
            }
            await_unlinked(i, done, &control, &gate, &links, &given_up);
            let waiting = control.unconfirmed(i);
            if waiting.is_empty() {
                log(format!(
                    "{name}: released replies held {:?} for a replica that stopped confirming",
                    now.saturating_duration_since(since)
                ));
                gate.completed.send_replace(done);
                held = None;
            } else {
                deadline = waiting.values().map(|t| *t + CONFIRM_LIMIT).min();
            }
        }
        if current.is_none()
            && gate.requested.load(Ordering::SeqCst) > gate.started.load(Ordering::SeqCst)
        {
            let id = gate.started.load(Ordering::SeqCst) + 1;
            gate.started.store(id, Ordering::SeqCst);
            let required = links
                .iter()
                .filter(|(l, s)| s.eligible && !excluded.contains(l))
                .map(|(l, _)| *l)
                .collect();
            for s in links.values().filter(|s| s.eligible) {
                let _ = s.barriers.send(id);
            }
            current = Some(Round::new(id, now, required));
        }
        if let Some(round) = &current {
            let quorum_lost = control.quorum_lost.load(Ordering::SeqCst);
            // Completes `round`: released now, or held while a host is unconfirmed.
            let complete = |held: &mut Option<(u64, Instant)>| {
                if held.is_none() && control.unconfirmed(i).is_empty() {
                    gate.completed.send_replace(round.id);
                } else {
                    if held.is_none() {
                        let hosts: Vec<String> = control
                            .unconfirmed(i)
                            .keys()
                            .map(ToString::to_string)
                            .collect();
                        log(format!(
                            "{name}: holding replies until {} cannot be promoted or catches up",
                            hosts.join(", ")
                        ));
                    }
                    let since = held.map_or(now, |(_, t)| t);
                    *held = Some((round.id, since));
                }
            };
            match round.verdict(now, quorum_lost) {
                Verdict::Wait(at) => deadline = Some(deadline.map_or(at, |d: Instant| d.min(at))),
                Verdict::Done { excluded: slow } => {
                    for l in slow {
                        if exclude(name, &links, &mut excluded, l, &control, "too slow")
                            && let Some(s) = links.get(&l)
                        {
                            let _ = control.await_host(i, s.addr.ip());
                        }
                    }
                    if degraded && round.confirmations() > 0 {
                        degraded = false;
                        log(format!("{name}: a replica confirms again"));
                    }
                    await_unlinked(i, round.id, &control, &gate, &links, &given_up);
                    complete(&mut held);
                    current = None;
                    continue;
                }
                Verdict::Void => {
                    log(format!(
                        "{name}: the server went away before its replicas confirmed round {}; \
                         what it covered is dropped",
                        round.id
                    ));
                    // Rounds held for an unconfirmed host are dropped with it: no replica
                    // can confirm them to a host that may be promoted now.
                    gate.void(round.id);
                    held = None;
                    current = None;
                    continue;
                }
                Verdict::Degraded { excluded: stuck } => {
                    if !degraded {
                        degraded = true;
                        log(format!(
                            "{name}: no replica confirmed for {:?} with the quorum held; \
                             replying without a confirmation until one does",
                            crate::semi_sync::MAX_HOLD
                        ));
                    }
                    for l in stuck {
                        exclude(name, &links, &mut excluded, l, &control, "stuck");
                        // Replying without it is this verdict's choice: not waited on as an
                        // unlinked member either, until it confirms again.
                        if let Some(s) = links.get(&l) {
                            given_up.insert(s.addr.ip());
                        }
                    }
                    await_unlinked(i, round.id, &control, &gate, &links, &given_up);
                    complete(&mut held);
                    current = None;
                    continue;
                }
            }
        }
        tokio::select! {
            ev = events.recv() => match ev {
                None => return,
                Some(HubEvent::Up { link, addr, barriers }) => {
                    links.insert(link, LinkState { addr, barriers, eligible: false, confirmed: 0 });
                }
                Some(HubEvent::Eligible(link)) => {
                    if let Some(s) = links.get_mut(&link) {
                        s.eligible = true;
                        given_up.remove(&s.addr.ip());
                        log(format!("{name}: replica {} has its initial copy", s.addr));
                        // A host that reconnected holds everything committed before its copy.
                        // With nothing held and no round under way, nothing was released
                        // since it stopped confirming, and every later round waits for it.
                        if held.is_none() && current.is_none() {
                            control.settle(i, s.addr.ip());
                        } else if control.unconfirmed(i).contains_key(&s.addr.ip()) {
                            // Replies may be held for this host already, and their clients
                            // send nothing more until they are released: start a round it
                            // can confirm (it covers every byte held, which arrived before it).
                            gate.request();
                        }
                    }
                }
                Some(HubEvent::Confirmed { link, round }) => {
                    if let Some(s) = links.get_mut(&link) {
                        s.confirmed = s.confirmed.max(round);
                    }
                    // A confirmation of a round at or past the held one: this host has every
                    // byte held for it.
                    if let Some(s) = links.get(&link)
                        && held.is_none_or(|(h, _)| round >= h)
                    {
                        control.settle(i, s.addr.ip());
                    }
                    if let Some(r) = current.as_mut().filter(|r| r.id == round) {
                        r.confirm(link);
                        if r.started().elapsed() < SLOW && excluded.remove(&link)
                            && let Some(s) = links.get(&link)
                        {
                            control.set_excluded(s.addr, false);
                            given_up.remove(&s.addr.ip());
                            log(format!("{name}: replica {} confirms in time again", s.addr));
                        }
                    }
                }
                Some(HubEvent::Gone { link, by }) => {
                    if let Some(s) = links.remove(&link) {
                        control.set_excluded(s.addr, false);
                        // A replica that left lacks what is released from now on: one that
                        // left on its own (restart, partition), and one lost with this
                        // server too, since a server restarted in place releases again while
                        // that replica reconnects (measured: chaos seed 2, four writes the
                        // restarted active acknowledged before any replica was back, lost when
                        // Pacemaker promoted a standby anyway).
                        if s.eligible && !excluded.contains(&link) {
                            let _ = control.await_host(i, s.addr.ip());
                        }
                    }
                    excluded.remove(&link);
                    if let Some(r) = current.as_mut() {
                        r.gone(link, by);
                    }
                }
            },
            () = gate.wake.notified() => {}
            _ = confirmations.changed() => {}
            () = sleep_until_opt(deadline) => {}
        }
    }
}

/// Makes database `i`'s rounds wait on every member that did not confirm round `id` (or a
/// later one) through a replica link here and that a look did not lately show unpromotable
/// (`unlinked_peers`): it may lack what the round releases. One with a link that joined after
/// the round started gets a new round to confirm.
fn await_unlinked(
    i: usize,
    id: u64,
    control: &Control,
    gate: &Gate,
    links: &BTreeMap<u64, LinkState>,
    given_up: &BTreeSet<IpAddr>,
) {
    let covered = links
        .values()
        .filter(|s| s.eligible && s.confirmed >= id)
        .map(|s| s.addr.ip())
        .collect();
    let hosts = to_await(
        &control.peers(),
        &covered,
        &control.seen_unpromotable(),
        given_up,
        Instant::now(),
    );
    // Only for a host newly listed: one listed before got its round when its link became
    // eligible, and asking again on every pass would start rounds back to back.
    let mut round_wanted = false;
    for host in hosts {
        round_wanted |= control.await_host(i, host)
            && links.values().any(|s| s.eligible && s.addr.ip() == host);
    }
    if round_wanted {
        gate.request();
    }
}

fn exclude(
    name: &str,
    links: &BTreeMap<u64, LinkState>,
    excluded: &mut BTreeSet<u64>,
    link: u64,
    control: &Control,
    why: &str,
) -> bool {
    if excluded.insert(link)
        && let Some(s) = links.get(&link)
    {
        control.set_excluded(s.addr, true);
        log(format!(
            "{name}: replica {} no longer waited for ({why}); not caught up",
            s.addr
        ));
        return true;
    }
    false
}

async fn accept_replicas(
    listener: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
    sock: PathBuf,
    hub: mpsc::UnboundedSender<HubEvent>,
) {
    let l = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log(format!("replication listener: {e}"));
            return;
        }
    };
    let mut next = 0u64;
    loop {
        match l.accept().await {
            Ok((down, addr)) => {
                next += 1;
                let _ = down.set_nodelay(true);
                let (sock, hub, link) = (sock.clone(), hub.clone(), next);
                tokio::spawn(with_tls(down, tls.clone(), "replica", move |s| {
                    replica_link(s, addr, sock, hub, link)
                }));
            }
            Err(e) => {
                log(format!("accepting a replica: {e}"));
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Whole messages of one direction: bytes in, complete messages out.
#[derive(Default)]
struct Messages {
    framer: Framer,
    partial: Vec<u8>,
}

impl Messages {
    /// Complete messages in `buf` (with the partial one before it), or a protocol error.
    fn feed(&mut self, buf: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let ends = self.framer.feed(buf).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(ends.len());
        let mut from = 0;
        for end in ends {
            self.partial.extend_from_slice(&buf[from..end]);
            out.push(std::mem::take(&mut self.partial));
            from = end;
        }
        self.partial.extend_from_slice(&buf[from..]);
        Ok(out)
    }
}

/// One replica connection, forwarded message by message with the rounds' echoes.
async fn replica_link(
    down: Stream,
    addr: SocketAddr,
    sock: PathBuf,
    hub: mpsc::UnboundedSender<HubEvent>,
    link: u64,
) {
    // A standby reconnects at once after the server died (its entrypoint's standby-link
    // watch): it waits here for the server restarted in place, as a client does.
    let Some(up) = connect_server_while(&sock, || !hub.is_closed()).await else {
        return;
    };
    let (barriers, mut barrier_rx) = mpsc::unbounded_channel();
    if hub
        .send(HubEvent::Up {
            link,
            addr,
            barriers,
        })
        .is_err()
    {
        return;
    }
    let monitors: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let (mut dr, mut dw) = tokio::io::split(down);
    let (mut ur, mut uw) = up.into_split();
    // Replica → server: its requests, with the rounds' first echoes put in.
    let up_dir = async {
        let mut msgs = Messages::default();
        let mut buf = vec![0u8; CHUNK];
        loop {
            tokio::select! {
                read = dr.read(&mut buf) => {
                    let n = match read {
                        Ok(0) | Err(_) => return Left::Replica,
                        Ok(n) => n,
                    };
                    let Ok(complete) = msgs.feed(&buf[..n]) else {
                        log(format!("replica {addr}: not JSON-RPC; dropped"));
                        return Left::Replica;
                    };
                    let mut out = Vec::new();
                    for m in complete {
                        if let Some(round) = sync_reply_round(&m) {
                            let _ = hub.send(HubEvent::Confirmed { link, round });
                            continue;
                        }
                        if let Some(id) = monitor_request_id(&m)
                            && let Ok(mut ids) = monitors.lock()
                        {
                            ids.push(id);
                        }
                        out.extend_from_slice(&m);
                    }
                    if !out.is_empty() && uw.write_all(&out).await.is_err() {
                        return Left::Server;
                    }
                }
                round = barrier_rx.recv() => {
                    let Some(round) = round else { return Left::Replica };
                    if uw.write_all(&echo_request(round)).await.is_err() {
                        return Left::Server;
                    }
                }
            }
        }
    };
    // Server → replica: everything, the echo replies turned into echoes to the replica.
    let down_dir = async {
        let mut msgs = Messages::default();
        let mut buf = vec![0u8; CHUNK];
        let mut eligible = false;
        loop {
            let n = match ur.read(&mut buf).await {
                Ok(0) | Err(_) => return Left::Server,
                Ok(n) => n,
            };
            let Ok(complete) = msgs.feed(&buf[..n]) else {
                log(format!(
                    "server stream to replica {addr}: not JSON-RPC; dropped"
                ));
                return Left::Server;
            };
            let mut out = Vec::new();
            let mut now_eligible = false;
            for m in complete {
                if let Some(round) = sync_reply_round(&m) {
                    out.extend_from_slice(&echo_request(round));
                    continue;
                }
                if !eligible
                    && let Some(id) = reply_id(&m)
                    && monitors.lock().is_ok_and(|ids| ids.contains(&id))
                {
                    eligible = true;
                    now_eligible = true;
                }
                out.extend_from_slice(&m);
            }
            if !out.is_empty() && dw.write_all(&out).await.is_err() {
                return Left::Replica;
            }
            if now_eligible {
                let _ = hub.send(HubEvent::Eligible(link));
            }
        }
    };
    let by = tokio::select! {
        by = up_dir => by,
        by = down_dir => by,
    };
    let _ = hub.send(HubEvent::Gone { link, by });
}
