//! The end-to-end fault suite: the one place for scenarios that run the whole stack — the image
//! under runc on three test-bed hosts, corosync, pacemaker, our OCF agent, ovsdb-server and the
//! IPaddr2 VIP — and break it. Each scenario states its purpose.
//!
//! Every scenario runs three bounded writers through the VIP (`ovn-nbctl ls-add` every 50 ms)
//! where real clients sit: on the machine, inside the active host's network namespace and
//! inside a standby host's, two of them with a transaction above 256 KiB in every ten. It
//! looks into every host every 20 ms (from its own namespace's view, a cut-off host included:
//! active server, VIP local, client listener open), checks the victim is the active at fault
//! time, injects one fault, and asserts that
//! - every acknowledged write is present afterwards, for every writer and every fault — also
//!   where the active is cut off or stops hearing its standbys: replies wait for the standbys
//!   (the entrypoint's semi-synchronous proxy), so there is no window of asynchronous loss,
//! - at no 20 ms sample did two copies of one database take writes,
//! - the cluster converges to one promoted and two replicating copies,
//! - the writers off the active host had a write acknowledged after the fault,
//! - every pod ran under the rendered memory limit (its container's cgroup, as a kubelet sets
//!   it) and the kernel's OOM killer never acted in one.
//!
//! It prints how often the replication fence closed (from the containers' logs).
//!
//! A rolling upgrade replaces every pod by the same pod on the image of a newer Debian suite
//! (`cargo xtask image --suite trixie`), across OVN's schema change, and checks that every copy
//! then serves the new schemas; its rollback puts every pod back on the older image, and every
//! copy keeps the newer schemas (nothing is converted downwards).
//!
//! The link cut and the `kill -9` of the active's NB server run a second time over TLS
//! (rendered with `--ssl`): the writers dial `ssl:VIP` with the rendered client certificate and
//! the standbys replicate over `ssl:`.
//!
//! Timings are reported (printed), never asserted: `cargo xtask bench failover` measures them.
//! Needs root, the packages `cargo xtask test` installs, and the image layouts that
//! `cargo xtask image` and `cargo xtask image --suite trixie` build (`cargo xtask test` builds
//! both before running the tests).
//! Scenarios run one at a time (a lock), each on a fresh cluster that is removed by name even
//! when the scenario fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ovn_ha_local::cluster::{self, Site};
use ovn_ha_local::e2e::{self, Quiet, TestCluster};
use ovn_ha_local::eyes::{self, Eyes, Writable};
use ovn_ha_local::faults;
use ovn_ha_local::observe::{self, HostView};
use ovn_ha_local::pod_memory;
use ovn_ha_local::upgrade;
use ovn_ha_local::writer::{self, Writer, WriterSpec};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Held while a scenario runs: every scenario, in this process or another (a second
/// `cargo test`, chaos, a bench), waits on the machine-wide end-to-end lock.
fn serial() -> nix::fcntl::Flock<std::fs::File> {
    e2e::lock(|| eprintln!("  waiting for another end-to-end run (lock)")).unwrap()
}

const HOSTS: usize = 3;

fn site() -> Site {
    Site::named("e2e", 20)
}

fn up() -> TestCluster {
    up_with(false)
}

/// [`up`], with every OVN connection over TLS when `tls` (rendered with `--ssl`).
fn up_with(tls: bool) -> TestCluster {
    let c = e2e::up_with(site(), HOSTS, tls).unwrap();
    eprintln!(
        "  cold bootstrap: first write {:.2} s after the containers started",
        c.report.bootstrap.as_secs_f64()
    );
    c
}

/// The switches the VIP holds, for an end check: bounded retries (30 s, each read 5 s) with
/// every failed read printed, so a read that fails once after convergence is shown and only a
/// VIP that answers no read for 30 s fails the scenario (with what every host looks like).
fn read_through_vip(c: &TestCluster, name: &str) -> Vec<String> {
    try_read_through_vip(c, name).unwrap_or_else(|failed| no_read(c, name, &failed))
}

/// [`read_through_vip`] without the panic: the failed reads when none answered.
fn try_read_through_vip(c: &TestCluster, name: &str) -> Result<Vec<String>, Vec<String>> {
    let (present, failed) = writer::switches_reporting(&c.remote, &c.ssl, Duration::from_secs(30));
    for f in &failed {
        eprintln!("  {name}: a read through the VIP failed at {f}");
    }
    present.ok_or(failed)
}

/// The failure of an end check whose reads through the VIP never answered.
fn no_read(c: &TestCluster, name: &str, failed: &[String]) -> ! {
    panic!(
        "{name}: the VIP answered no read for 30 s ({failed:?}); the hosts: {:?}",
        observe::sample(&c.site)
    )
}

/// Looks into every host in the background every 20 ms — a cut-off one included, from its own
/// namespace's view ([`eyes`]) — and remembers every moment at which two copies of one database
/// take writes.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Looked>,
}

/// What the sampler saw: samples, those with exactly one NB copy taking writes (the detector
/// is alive: it sees the active as writable), and every split-brain sample.
struct Looked {
    samples: usize,
    one_nb_writer: usize,
    split: Vec<Vec<Writable>>,
}

impl Sampler {
    fn start(site: Site) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let vip: Ipv4Addr = site
            .vip_cidr()
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("an IPv4 VIP");
        let ports = [
            ovn_ha_config::defaults::NB_PORT,
            ovn_ha_config::defaults::SB_PORT,
        ];
        let handle = std::thread::spawn(move || {
            let mut eyes = Eyes::default();
            let mut looked = Looked {
                samples: 0,
                one_nb_writer: 0,
                split: Vec::new(),
            };
            // Bounded: at most 10 minutes of samples.
            let end = Instant::now() + Duration::from_secs(600);
            while !flag.load(Ordering::SeqCst) && Instant::now() < end {
                let next = Instant::now() + Duration::from_millis(20);
                let seen = eyes.look(&site, vip, ports);
                looked.samples += 1;
                if seen.iter().filter(|w| w.nb).count() == 1 {
                    looked.one_nb_writer += 1;
                }
                if !eyes::split(&seen).is_empty() {
                    looked.split.push(seen);
                }
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            looked
        });
        Sampler { stop, handle }
    }

    fn stop(self) -> Looked {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

fn wait_converged(site: &Site, limit: Duration) -> Option<Vec<HostView>> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        let views = observe::sample(site);
        if observe::converged(&views, HOSTS) {
            return Some(views);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// Where a writer sits; real OVN clients sit in all three places (ovn-northd and ovnkube-master
/// run with hostNetwork and can land on a DB node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seat {
    /// On the machine, outside every test host.
    Machine,
    /// Inside the network namespace of the host that was active when the scenario started.
    ActiveHost,
    /// Inside the namespace of a host that was a standby then.
    StandbyHost,
}

/// The three writers of every scenario, each through the VIP: small `ls-add`s every 50 ms, and
/// from the machine and the standby host one transaction of [`writer::BIG_BYTES`] in ten.
struct Writers {
    running: Vec<(Seat, Writer)>,
}

/// The writers' transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Small writes, and from the machine and the standby host one of 300 KiB in ten.
    Mixed,
    /// Small writes only.
    SmallOnly,
}

impl Writers {
    fn start(
        (remote, ssl): (&str, &[String]),
        name: &str,
        active: &str,
        standby: &str,
        mix: Mix,
    ) -> Writers {
        let big = if mix == Mix::Mixed { 10 } else { 0 };
        let running = [
            (Seat::Machine, None, big),
            (Seat::ActiveHost, Some(active), 0),
            (Seat::StandbyHost, Some(standby), big),
        ]
        .into_iter()
        .map(|(seat, netns, big_every)| {
            let mut spec = WriterSpec::new(remote, &format!("{name}-{seat:?}"));
            spec.netns = netns.map(str::to_string);
            spec.big_every = big_every;
            spec.timeout_s = 2;
            spec.ssl = ssl.to_vec();
            (seat, Writer::start(spec))
        })
        .collect();
        Writers { running }
    }

    /// Time on the first writer's clock (the writers start within milliseconds of each other;
    /// each record is analysed against its own writer's clock).
    fn now(&self) -> Duration {
        self.running[0].1.now()
    }

    fn stop(self) -> Vec<(Seat, Instant, Vec<writer::WriteRecord>)> {
        self.running
            .into_iter()
            .map(|(seat, w)| {
                let epoch = w.epoch();
                (seat, epoch, w.stop())
            })
            .collect()
    }
}

/// Every line of every host's container log that contains `needle`, with the host's name.
fn log_lines(site: &Site, needle: &str) -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir(site.state_dir.join("logs")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let host = e
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".log")
            .to_string();
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        out.extend(
            text.lines()
                .filter(|l| l.contains(needle))
                .map(|l| (host.clone(), l.to_string())),
        );
    }
    out
}

/// Counts the replication fence's closes in every host's container log, printing its lines
/// (closes, reopens, the caught-up marks) with the host's name.
fn fence_closes(site: &Site) -> usize {
    let mut closes = 0;
    for (host, l) in log_lines(site, "replication fence:") {
        eprintln!("  {host}: {l}");
        closes += usize::from(l.contains("not taking writes"));
    }
    closes
}

/// Runs one scenario: cluster up, three writers (machine, active host, standby host) and the
/// sampler on, `fault` at t≈3 s (after checking the victim is still the active), `recover` once
/// the fault has had its effect, then the assertions: no acknowledged write lost, never two
/// writable copies, convergence,
/// a write acknowledged after the fault. Returns the fence's close count and the active host
/// before and after.
fn scenario_with(
    name: &str,
    fault: impl FnOnce(&TestCluster, &str),
    recover: impl FnOnce(&TestCluster, &str),
) -> Ran {
    scenario_prepared(name, nothing, fault, recover)
}

/// [`scenario_with`] with a `prepare` step (writers running) just before the fault.
fn scenario_prepared(
    name: &str,
    prepare: impl FnOnce(&TestCluster, &str),
    fault: impl FnOnce(&TestCluster, &str),
    recover: impl FnOnce(&TestCluster, &str),
) -> Ran {
    scenario_mixed(name, Mix::Mixed, false, prepare, fault, recover)
}

/// [`scenario_prepared`] with a choice of the writers' transactions, and over TLS when `tls`
/// (rendered with `--ssl`: the writers dial `ssl:` with a client certificate).
fn scenario_mixed(
    name: &str,
    mix: Mix,
    tls: bool,
    prepare: impl FnOnce(&TestCluster, &str),
    fault: impl FnOnce(&TestCluster, &str),
    recover: impl FnOnce(&TestCluster, &str),
) -> Ran {
    let _serial = serial();
    eprintln!("scenario {name}");
    let c = up_with(tls);
    let views = wait_converged(&c.site, Duration::from_secs(90))
        .expect("the cluster did not converge after bootstrap");
    let active = observe::active_host(&views).unwrap().to_string();
    let standby = others(&c, &active).remove(0);
    let sampler = Sampler::start(c.site.clone());
    let w = Writers::start((&c.remote, &c.ssl), name, &active, &standby, mix);
    // Long enough for every writer to have acknowledged writes, large ones included (one in
    // ten), before the fault.
    std::thread::sleep(Duration::from_millis(1500));
    prepare(&c, &active);
    // A busy server can miss one sample's deadline: up to five samples to see one active.
    let mut views = observe::sample(&c.site);
    for _ in 0..4 {
        if observe::active_host(&views).is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        views = observe::sample(&c.site);
    }
    let now_active = observe::active_host(&views).map(str::to_string);
    assert_eq!(
        now_active.as_deref(),
        Some(active.as_str()),
        "{name}: the active changed before the fault: {views:?}"
    );
    let fault_at = w.now();
    let fault_instant = Instant::now();
    fault(&c, &active);
    let until = fault_at + Duration::from_secs(12);
    // Bounded: 200 × 100 ms.
    for _ in 0..200 {
        if w.now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    recover(&c, &active);
    let converged = wait_converged(&c.site, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(2));
    let runs = w.stop();
    let Looked {
        samples,
        one_nb_writer,
        split,
    } = sampler.stop();
    let after = converged
        .as_deref()
        .and_then(observe::active_host)
        .map(str::to_string);
    // The writers' outcomes are printed even when the end read fails, then that fails the run.
    let read = try_read_through_vip(&c, name);
    let present = read.as_ref().map_or(&[][..], Vec::as_slice);
    let mut problems = Vec::new();
    for (seat, epoch, records) in &runs {
        // The fault on this writer's clock.
        let at = fault_instant.saturating_duration_since(*epoch);
        let outcome = writer::analyze(records, at, Duration::from_millis(500));
        // Unknown (not all) when the end read failed.
        let lost = match &read {
            Ok(_) => writer::lost(records, present),
            Err(_) => Vec::new(),
        };
        eprintln!(
            "  {name} {seat:?}: {} writes, {} acknowledged, {} lost; longest gap {:?} from {:?} after the fault, first write {:?} after the fault; {} failed after recovery",
            outcome.writes,
            outcome.acked,
            lost.len(),
            outcome.longest_gap,
            outcome.longest_gap_from.map(|f| f.saturating_sub(at)),
            outcome.since_fault,
            outcome.failed_after_recovery,
        );
        let late: Vec<_> = records
            .iter()
            .filter(|r| lost.contains(&r.name.as_str()))
            .map(|r| {
                format!(
                    "{} (acknowledged {:?} after the fault)",
                    r.name,
                    r.ended.saturating_sub(at)
                )
            })
            .collect();
        if !late.is_empty() {
            problems.push(format!("{seat:?} writer lost {late:?}"));
        }
        if outcome.first_ack_after.is_none() && *seat != Seat::ActiveHost {
            problems.push(format!("{seat:?}: no write acknowledged after the fault"));
        }
    }
    problems.extend(memory_problems(&c.site));
    let closes = fence_closes(&c.site);
    let fallbacks = log_lines(&c.site, "replying without a confirmation").len();
    for needle in ["sync proxy:", "promotion gate:", "standby link:"] {
        for (host, l) in log_lines(&c.site, needle) {
            eprintln!("  {host}: {l}");
        }
    }
    eprintln!(
        "  {name}: replication fence closed {closes} times; {samples} samples, {one_nb_writer} with one NB copy taking writes, {} with two; active {active} → {after:?}",
        split.len()
    );
    if let Err(failed) = &read {
        no_read(&c, name, failed);
    }
    assert!(problems.is_empty(), "{name}: {problems:?}");
    assert!(
        one_nb_writer > samples / 4,
        "{name}: the sampler saw a writable NB copy in only {one_nb_writer} of {samples} samples"
    );
    assert!(
        split.is_empty(),
        "{name}: two copies took writes at one sample: {:?}",
        split.first()
    );
    assert!(
        converged.is_some(),
        "{name}: no convergence to one promoted and two replicating copies: {:?}",
        observe::sample(&c.site)
    );
    Ran {
        closes,
        fallbacks,
        active,
        after,
    }
}

/// Every DB pod runs under the rendered memory limit, as a kubelet would run it, and the
/// kernel's OOM killer never acted in one.
fn memory_problems(site: &Site) -> Vec<String> {
    let rendered = ovn_ha_config::quantity::parse_memory(ovn_ha_config::defaults::DB_MEMORY_LIMIT)
        .expect("the default memory limit parses")
        .bytes();
    let mut problems = Vec::new();
    for host in cluster::running_hosts(site) {
        match pod_memory::of_host(&host) {
            Some(m) if m.limit != Some(rendered) => problems.push(format!(
                "{host}: memory limit {:?}, not the rendered {rendered} bytes",
                m.limit
            )),
            Some(m) if m.oom_kills > 0 => problems.push(format!(
                "{host}: the OOM killer ended {} process(es) under the {rendered}-byte limit",
                m.oom_kills
            )),
            Some(_) => {}
            None => problems.push(format!("{host}: its memory cgroup could not be read")),
        }
    }
    problems
}

/// What a scenario saw: the fence's closes and the proxy's unconfirmed fallbacks (from the
/// containers' logs), the active host before the fault and after convergence.
struct Ran {
    closes: usize,
    fallbacks: usize,
    active: String,
    after: Option<String>,
}

/// [`scenario_with`] for faults that leave the active host's own clients whole and the
/// standbys able to confirm: the proxy must never have fallen back to unconfirmed replies
/// (that fallback is for standbys stuck for 5 s; a crash of the active's server once held
/// every write that long).
fn scenario(
    name: &str,
    fault: impl FnOnce(&TestCluster, &str),
    recover: impl FnOnce(&TestCluster, &str),
) {
    let ran = scenario_with(name, fault, recover);
    assert_eq!(
        ran.fallbacks, 0,
        "{name}: the proxy replied without a confirmation (no standby confirmed for 5 s)"
    );
}

fn nothing(_: &TestCluster, _: &str) {}

fn others(c: &TestCluster, host: &str) -> Vec<String> {
    ovn_ha_local::cluster::running_hosts(&c.site)
        .into_iter()
        .filter(|h| h != host)
        .collect()
}

/// A host's address, from the test bed's own address plan.
fn addr_of(host: &str) -> String {
    let n: usize = host.rsplit_once("-h").unwrap().1.parse().unwrap();
    let s = site();
    let spec = ovn_ha_testbed::BedSpec::new(&s.prefix, s.subnet, HOSTS).unwrap();
    spec.host(n).addr.to_string()
}

/// Cold bootstrap: three fresh pods form a quorate, authenticated cluster, promote one copy and
/// the VIP takes writes (the time is printed; the benchmark reports it).
#[test]
fn cold_bootstrap() {
    let _serial = serial();
    eprintln!("scenario cold-bootstrap");
    let c = up();
    let views = wait_converged(&c.site, Duration::from_secs(90));
    assert!(
        views.is_some(),
        "no convergence: {:?}",
        observe::sample(&c.site)
    );
    assert!(writer::write_once(&c.remote, 2, &["ls-add", "bootstrap"]));
    assert!(
        writer::switches(&c.remote, 2)
            .unwrap()
            .contains(&"bootstrap".to_string())
    );
}

/// Cold start with a stale copy: one standby stops, writes are acknowledged without it, then
/// every pod stops; the stale copy starts again together with one fresh copy (a quorum of
/// two). Each entrypoint closes its promotion gate before Pacemaker starts and opens it only
/// once the copies' data positions (their files' last write) have been compared: the fresh
/// copy must be promoted, the stale one resync from it, and every acknowledged write survive
/// — with any copy promotable, the stale one wins about half the time and its file overwrites
/// the others'.
#[test]
fn cold_start_with_a_stale_copy() {
    let _serial = serial();
    eprintln!("scenario cold-stale");
    let c = up();
    let views = wait_converged(&c.site, Duration::from_secs(90))
        .expect("the cluster did not converge after bootstrap");
    let active = observe::active_host(&views).unwrap().to_string();
    let rest = others(&c, &active);
    let (stale, fresh) = (rest[0].clone(), rest[1].clone());
    let stop = |host: &str| {
        faults::signal_container(host, "TERM").unwrap();
        assert!(
            cluster::wait_stopped(host, Duration::from_secs(60)),
            "{host} did not exit after SIGTERM"
        );
    };
    stop(&stale);
    let mut acked = Vec::new();
    for i in 0..20 {
        let name = format!("cold-after-{i}");
        if writer::write_once(&c.remote, 5, &["ls-add", &name]) {
            acked.push(name);
        }
    }
    assert!(
        acked.len() >= 10,
        "only {} writes acknowledged without the stale copy",
        acked.len()
    );
    // The active last: nobody is left to hand over to.
    stop(&fresh);
    stop(&active);
    let started = Instant::now();
    cluster::restart_host(&c.site, &stale, &mut Quiet).unwrap();
    cluster::restart_host(&c.site, &fresh, &mut Quiet).unwrap();
    let vip = c
        .site
        .vip_cidr()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut serving = false;
    // Bounded: 120 tries of at most ~1 s.
    for _ in 0..120 {
        if cluster::vip_takes_writes(vip, 1, &[]) {
            serving = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(serving, "no copy took writes after the cold start");
    let promoted = observe::active_host(&observe::sample(&c.site)).map(str::to_string);
    eprintln!(
        "  cold-stale: {promoted:?} promoted {:?} after the cold start (stale: {stale}, fresh: {fresh})",
        started.elapsed()
    );
    let present = read_through_vip(&c, "cold-stale");
    let lost: Vec<&String> = acked.iter().filter(|n| !present.contains(n)).collect();
    assert!(
        lost.is_empty(),
        "cold start promoted {promoted:?}; acknowledged writes lost: {lost:?}"
    );
    assert_ne!(
        promoted.as_deref(),
        Some(stale.as_str()),
        "the stale copy was promoted"
    );
    cluster::restart_host(&c.site, &active, &mut Quiet).unwrap();
    assert!(
        wait_converged(&c.site, Duration::from_secs(120)).is_some(),
        "no convergence with all three back: {:?}",
        observe::sample(&c.site)
    );
    let present = read_through_vip(&c, "cold-stale");
    assert!(acked.iter().all(|n| present.contains(n)));
}

/// No fault at all, three writers (one on the active's host, one on a standby's, one on the
/// machine with a large transaction in ten): the replication fence must never close — it judges
/// only the replicas' connections, by acknowledgement progress — and the active stays where it
/// is. (Its old rule, "unacknowledged bytes on every sample for 80 ms", closed within a second of
/// two light writers starting, every run.)
#[test]
fn writers_everywhere_and_no_fault() {
    // The fence has something to judge: both standbys replicate through the replication ports.
    let replicas_connected = |_: &TestCluster, active: &str| {
        for port in [6643, 6644] {
            let out = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    active,
                    "ss",
                    "-Htn",
                    "state",
                    "established",
                ])
                .arg(format!("sport = :{port}"))
                .output()
                .unwrap();
            let n = String::from_utf8_lossy(&out.stdout).lines().count();
            assert_eq!(n, 2, "replica connections on port {port} of the active");
        }
    };
    let Ran {
        closes,
        active: before,
        after,
        ..
    } = scenario_with("no-fault", replicas_connected, nothing);
    assert_eq!(closes, 0, "the replication fence closed without a fault");
    assert_eq!(
        after.as_deref(),
        Some(before.as_str()),
        "a failover without a fault"
    );
}

/// Node loss: the active host's link is cut. The survivors keep quorum and promote one of
/// theirs; the cut host loses quorum and stops serving; reconnected, it rejoins as a replica.
/// Idle client sessions (a `monitor` and nothing more, like ovn-northd's and ovn-controller's
/// between changes, without probes of their own) from the machine and from both standby hosts
/// must be reset by the new active's tickle ACKs: without them such a session stays open to
/// the dead host for ever (here: until the limit, and the test fails). The reset times are
/// printed.
/// Scrapes every DB pod's metrics (`GET /metrics` on its host's address, as Prometheus does),
/// checks each text with `promtool check metrics`, and returns (host, text).
fn scrape_all(c: &TestCluster) -> Vec<(String, String)> {
    use ovn_ha_local::metrics_scrape::{self, PROMTOOL};
    assert!(
        std::path::Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install Debian's prometheus package (`cargo xtask test` does)"
    );
    ovn_ha_local::cluster::running_hosts(&c.site)
        .into_iter()
        .map(|h| {
            let addr = addr_of(&h).parse().unwrap();
            let port = ovn_ha_config::defaults::DB_METRICS_PORT;
            let text = metrics_scrape::scrape(addr, port, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("scraping {h}'s metrics: {e}"));
            if let Err(e) = metrics_scrape::promtool_check(&text) {
                panic!("promtool check metrics refuses {h}'s metrics: {e}\n{text}");
            }
            (h, text)
        })
        .collect()
}

/// The hosts whose metrics say their copy of `db` is the active one.
fn reported_active(scrapes: &[(String, String)], db: &str) -> Vec<String> {
    let series = format!("ovn_db_ha_database_state{{database=\"{db}\",state=\"active\"}}");
    scrapes
        .iter()
        .filter(|(_, t)| ovn_ha_local::metrics_scrape::value(t, &series) == Some(1.0))
        .map(|(h, _)| h.clone())
        .collect()
}

/// The cut of the active host's link, with every pod's metrics scraped before the fault and
/// after convergence: one active reported before and after (the new one after), every pod
/// quorate again, and the survivors counted the failover.
///
/// A persistent python-ovs IDL session from the machine (one write every 0.5 s) must be taken
/// over by the new active: it is held, sent its nudge in sequence, and drops its session
/// itself with no reconnect backoff (its library reports 0 ms, not the 1,000 ms it waits after
/// a reset), then reconnects. The time from the cut to its new session is printed.
#[test]
fn link_cut_of_the_active_host() {
    use ovn_ha_local::idl_writer::IdlWriter;
    use ovn_ha_local::idle_session::IdleSession;
    use ovn_ha_local::metrics_scrape::value;
    let idl = Arc::new(Mutex::new(None::<IdlWriter>));
    let idl_in = idl.clone();
    let takeover_lines = Arc::new(Mutex::new(Vec::new()));
    let takeover_in = takeover_lines.clone();
    let sessions = Arc::new(Mutex::new(Vec::new()));
    let cut_at = Arc::new(Mutex::new(None::<Instant>));
    let scrapes = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let (s1, c1) = (sessions.clone(), cut_at.clone());
    let (m1, m2) = (scrapes.clone(), scrapes.clone());
    let ran = scenario_prepared(
        "link-cut",
        move |c, active| {
            m1.lock().unwrap().0 = scrape_all(c);
            let limit = Duration::from_secs(90);
            let nb = vip_addr(c, ovn_ha_config::defaults::NB_PORT);
            let sb = vip_addr(c, ovn_ha_config::defaults::SB_PORT);
            let mut opened = vec![
                (
                    "machine NB".to_string(),
                    IdleSession::open(None, nb, "OVN_Northbound", "NB_Global", limit),
                ),
                (
                    "machine SB".to_string(),
                    IdleSession::open(None, sb, "OVN_Southbound", "SB_Global", limit),
                ),
            ];
            for host in others(c, active) {
                let s = IdleSession::open(Some(&host), nb, "OVN_Northbound", "NB_Global", limit);
                opened.push((format!("{host} NB"), s));
            }
            *s1.lock().unwrap() = opened;
            let writer = IdlWriter::start(
                &format!("tcp:{nb}"),
                "idl-cut",
                Duration::from_millis(50),
                100_000,
                limit,
            )
            .expect("starting the persistent IDL session (python3-openvswitch)");
            *idl_in.lock().unwrap() = Some(writer);
            // The active lists its sessions every second and publishes a change at once; each
            // standby reads the list every 2 s.
            std::thread::sleep(Duration::from_millis(4000));
            // The standbys hold the IDL session ahead (their rules wait for the VIP).
            for host in others(c, active) {
                let out = std::process::Command::new("ip")
                    .args(["netns", "exec", &host, "iptables", "-w", "-t", "raw", "-S"])
                    .output()
                    .expect("running iptables in a host");
                let rules = String::from_utf8_lossy(&out.stdout);
                assert!(
                    rules.contains("--dst-type LOCAL -j OVNDB-HA-TAKEOVER")
                        && rules.contains("-A OVNDB-HA-TAKEOVER")
                        && rules.contains("-j DROP"),
                    "standby {host} holds no session ahead of a takeover:\n{rules}"
                );
            }
        },
        move |_, active| {
            *c1.lock().unwrap() = Some(Instant::now());
            faults::cut_link(active).unwrap();
        },
        move |c, active| {
            let mut lines = log_lines(&c.site, "session takeover");
            lines.extend(log_lines(&c.site, "client tickle"));
            *takeover_in.lock().unwrap() = lines;
            faults::restore_link(active).unwrap();
            wait_converged(&c.site, Duration::from_secs(120))
                .expect("no convergence after the link came back");
            m2.lock().unwrap().1 = scrape_all(c);
        },
    );
    let (before, after) = std::mem::take(&mut *scrapes.lock().unwrap());
    for (h, t) in before.iter().chain(&after) {
        assert_eq!(
            value(t, "ovn_db_ha_cluster_quorate"),
            Some(1.0),
            "{h}:\n{t}"
        );
    }
    assert_eq!(
        reported_active(&before, "nb"),
        std::slice::from_ref(&ran.active)
    );
    assert_eq!(
        reported_active(&before, "sb"),
        std::slice::from_ref(&ran.active)
    );
    let new = ran.after.clone().expect("an active after convergence");
    assert_ne!(new, ran.active, "the cut host stayed the active");
    assert_eq!(reported_active(&after, "nb"), std::slice::from_ref(&new));
    assert_eq!(reported_active(&after, "sb"), std::slice::from_ref(&new));
    for (h, t) in after.iter().filter(|(h, _)| *h != ran.active) {
        let moved = value(t, "ovn_db_ha_failovers_total").unwrap_or(0.0);
        let took = value(t, "ovn_db_ha_last_failover_seconds");
        eprintln!("  link-cut: {h} counted {moved} failover(s), the last {took:?} s");
        assert!(moved >= 1.0, "{h} did not count the failover:\n{t}");
        assert!(took.is_some(), "{h} has no last failover duration:\n{t}");
    }
    let cut = cut_at.lock().unwrap().expect("the cut happened");
    let mut never = Vec::new();
    for (who, s) in std::mem::take(&mut *sessions.lock().unwrap()) {
        match s.ended() {
            Ok(Some(at)) => eprintln!(
                "  link-cut: idle session from {who} reset {:.2} s after the cut",
                at.saturating_duration_since(cut).as_secs_f64()
            ),
            Ok(None) => never.push(who),
            Err(e) => panic!("idle session from {who}: {e}"),
        }
    }
    for (host, line) in takeover_lines.lock().unwrap().iter() {
        eprintln!("  link-cut: {host}: {line}");
    }
    assert!(
        never.is_empty(),
        "idle sessions still open to the lost active (no tickle reached them): {never:?}"
    );
    let writer = idl.lock().unwrap().take().expect("the IDL session ran");
    let epoch = writer.epoch();
    let (writes, events) = writer.stop_with_sessions();
    let since_cut = |at: Duration| (epoch + at).saturating_duration_since(cut).as_secs_f64();
    let after: Vec<_> = events.iter().filter(|e| epoch + e.at > cut).collect();
    let dropped = after.iter().find(|e| !e.connected);
    // The library notes a new session when it starts connecting, not when it is up: the
    // first write acknowledged after the drop shows the session working again.
    let resumed = dropped.and_then(|d| writes.iter().find(|w| w.acked && w.ended > d.at));
    eprintln!(
        "  link-cut: persistent IDL session dropped {:?} s after the cut (backoff {:?} ms), \
         first write acknowledged {:?} s after it; {} writes acknowledged",
        dropped.map(|e| since_cut(e.at)),
        dropped.and_then(|e| e.backoff_ms),
        resumed.map(|w| since_cut(w.ended)),
        writes.iter().filter(|w| w.acked).count()
    );
    let dropped = dropped.expect("the IDL session never dropped its session to the lost active");
    assert_eq!(
        dropped.backoff_ms,
        Some(0),
        "the IDL session was reset, not taken over (it waited its backoff): {after:?}"
    );
    assert!(
        resumed.is_some(),
        "the IDL session wrote nothing after the takeover: {after:?}"
    );
}

/// `VIP:port` of the cluster.
fn vip_addr(c: &TestCluster, port: u16) -> std::net::SocketAddr {
    let vip = c.site.vip_cidr();
    format!("{}:{port}", vip.split('/').next().unwrap())
        .parse()
        .unwrap()
}

/// A crash of the active NB server (`kill -9`): the copy is recovered or moved without losing
/// what was acknowledged.
///
/// Restarted in place, the server answers no client before a standby has reconnected and
/// confirmed; each standby's entrypoint reconnects its server at once when the link ends
/// (rather than after OVS's 1 s backoff), which the standbys' logs must show.
#[test]
fn kill_9_of_the_active_nb_server() {
    scenario(
        "kill-nb",
        |_, active| assert_eq!(faults::kill9(active, "ovsdb-server", "ovnnb_db"), 1),
        |c, active| standbys_reconnected_at_once(c, active, "kill-nb"),
    );
}

/// After a restart in place of the active's NB server (when the copy stayed; Pacemaker's
/// monitor may also have caught the crash and moved it), both standbys logged that they
/// reconnected at once.
fn standbys_reconnected_at_once(c: &TestCluster, active: &str, name: &str) {
    if observe::active_host(&observe::sample(&c.site)) != Some(active) {
        return;
    }
    let lines = log_lines(&c.site, "NB: the replication link to");
    for s in others(c, active) {
        assert!(
            lines
                .iter()
                .any(|(h, l)| *h == s && l.contains("reconnected at once")),
            "{name}: standby {s} did not reconnect at once after the restart in place: {lines:?}"
        );
    }
}

/// Over TLS (rendered with `--ssl`): the DB pods' proxy ends `ssl:` sessions with the rendered
/// certificates, the standbys replicate over `ssl:`, and the writers dial `ssl:VIP` with the
/// client certificate. The active host's link is cut: the same promises as over TCP — nothing
/// acknowledged lost, never two writable copies, convergence, writes after the fault.
#[test]
fn link_cut_of_the_active_host_over_tls() {
    let ran = scenario_mixed(
        "link-cut-tls",
        Mix::Mixed,
        true,
        nothing,
        |_, active| faults::cut_link(active).unwrap(),
        |c, active| {
            faults::restore_link(active).unwrap();
            wait_converged(&c.site, Duration::from_secs(120))
                .expect("no convergence after the link came back");
        },
    );
    assert_ne!(
        ran.after.as_deref(),
        Some(ran.active.as_str()),
        "the cut host stayed the active"
    );
}

/// Over TLS: `kill -9` of the active's NB server, restarted in place; the standbys' TLS
/// replication sessions reconnect at once (as over TCP, see [`kill_9_of_the_active_nb_server`]).
#[test]
fn kill_9_of_the_active_nb_server_over_tls() {
    let ran = scenario_mixed(
        "kill-nb-tls",
        Mix::Mixed,
        true,
        nothing,
        |_, active| assert_eq!(faults::kill9(active, "ovsdb-server", "ovnnb_db"), 1),
        |c, active| standbys_reconnected_at_once(c, active, "kill-nb-tls"),
    );
    assert_eq!(
        ran.fallbacks, 0,
        "kill-nb-tls: the proxy replied without a confirmation (no standby confirmed for 5 s)"
    );
}

/// Real crash signals of the active's servers: ovsdb-server dies by SIGSEGV, SIGABRT or SIGBUS
/// (an assertion, a bad pointer), leaving its pidfile; the crash watcher starts it again in
/// place, active, from its own file, which holds every write it acknowledged. (OVS's own
/// `--monitor` restart is not used: it would start the server again with its original command
/// line, as a backup of the VIP it holds — itself.) Here both servers crash at the same moment,
/// NB by SIGSEGV and SB by SIGBUS, as when a host's memory goes bad under both.
#[test]
fn sigsegv_of_nb_and_sigbus_of_sb_at_once() {
    scenario(
        "segv-nb-bus-sb",
        |_, active| {
            assert_eq!(
                faults::signal_processes(active, "ovsdb-server", "ovnnb_db", "SEGV"),
                1
            );
            assert_eq!(
                faults::signal_processes(active, "ovsdb-server", "ovnsb_db", "BUS"),
                1
            );
        },
        nothing,
    );
}

/// SIGABRT of the active's SB server alone (see [`sigsegv_of_nb_and_sigbus_of_sb_at_once`]).
#[test]
fn sigabrt_of_the_active_sb_server() {
    scenario(
        "abrt-sb",
        |_, active| {
            assert_eq!(
                faults::signal_processes(active, "ovsdb-server", "ovnsb_db", "ABRT"),
                1
            )
        },
        nothing,
    );
}

/// corosync dies on the active host (`kill -9`): its quorum watcher sees the membership end and
/// the copy stops taking writes and releases the VIP at once, before Pacemaker (which loses its
/// cluster layer) is stopped; the entrypoint exits, the kubelet restarts the pod, and the
/// others, which lost a member but keep quorum, promote one of theirs.
#[test]
fn kill_9_of_corosync_on_the_active_host() {
    scenario(
        "kill-corosync",
        |_, active| assert_eq!(faults::kill9(active, "corosync", "corosync"), 1),
        |c, active| {
            assert!(
                cluster::wait_stopped(active, Duration::from_secs(60)),
                "the entrypoint did not exit after corosync died"
            );
            cluster::restart_host(&c.site, active, &mut Quiet).unwrap();
        },
    );
}

/// Node loss with a large transaction just acknowledged: a 1 MiB write from the machine, and
/// the active host's link cut the moment `ovn-nbctl` reports it done. ovsdb-server answers
/// before its standbys hold the transaction, and a 1 MiB update needs milliseconds to reach
/// them: before the semi-synchronous proxy a cut right after the reply lost the write in 2 of
/// 5 runs. The proxy releases the reply only once the standbys applied it, so the write must
/// be on the new active (printed with the ack-to-cut time), besides everything else of a node
/// loss.
#[test]
fn link_cut_right_after_a_large_transaction() {
    let big = Arc::new(Mutex::new(None::<(String, bool, Duration)>));
    let (b1, b2) = (big.clone(), big.clone());
    scenario_with(
        "cut-after-big",
        move |c, active| {
            let name = "cut-after-big-1mib".to_string();
            let args = writer::sized_write_args(&name, 1024 * 1024);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let acked = writer::write_once(&c.remote, 10, &args);
            let done = Instant::now();
            faults::cut_link(active).unwrap();
            let gap = done.elapsed();
            *b1.lock().unwrap() = Some((name, acked, gap));
        },
        move |c, active| {
            let (name, acked, gap) = b2.lock().unwrap().clone().unwrap();
            // Read from the new active, through the VIP, before the old one rejoins.
            let mut present = None;
            for _ in 0..60 {
                present = writer::switches(&c.remote, 2);
                if present.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            let present = present.expect("the VIP does not answer reads after the cut");
            eprintln!(
                "  cut-after-big: the 1 MiB write acknowledged: {acked}; link cut {gap:?} after \
                 ovn-nbctl returned; on the new active: {}",
                present.contains(&name)
            );
            faults::restore_link(active).unwrap();
            assert!(
                !acked || present.contains(&name),
                "cut-after-big: the acknowledged 1 MiB write is not on the new active"
            );
        },
    );
}

/// Pacemaker dies on the active host: the entrypoint stops corosync and exits, the kubelet
/// restarts the pod, and the others take over in between.
#[test]
fn kill_9_of_pacemakerd_on_the_active_host() {
    scenario(
        "kill-pacemakerd",
        |_, active| assert_eq!(faults::kill9(active, "pacemakerd", "pacemakerd"), 1),
        |c, active| {
            assert!(
                cluster::wait_stopped(active, Duration::from_secs(60)),
                "the entrypoint did not exit"
            );
            cluster::restart_host(&c.site, active, &mut Quiet).unwrap();
        },
    );
}

/// The active pod's container is killed outright (`runc kill KILL`), then restarted as a
/// kubelet would.
#[test]
fn kill_of_the_active_container() {
    scenario(
        "kill-container",
        |_, active| faults::signal_container(active, "KILL").unwrap(),
        |c, active| {
            assert!(cluster::wait_stopped(active, Duration::from_secs(30)));
            cluster::restart_host(&c.site, active, &mut Quiet).unwrap();
        },
    );
}

/// Graceful stop (SIGTERM to the active entrypoint, what a drain does): the copy and the VIP
/// move first, then the pod exits; restarted, it comes back as a replica.
#[test]
fn graceful_stop_of_the_active_pod() {
    scenario(
        "sigterm",
        |_, active| faults::signal_container(active, "TERM").unwrap(),
        |c, active| {
            assert!(
                cluster::wait_stopped(active, Duration::from_secs(60)),
                "the entrypoint did not exit after SIGTERM"
            );
            cluster::restart_host(&c.site, active, &mut Quiet).unwrap();
        },
    );
}

/// A new active that no standby reaches, then its loss: the two standbys' replication ports
/// drop each other's (and the old active's) connections from the start, so whichever is
/// promoted when the active host is cut off has no replica, while the other still carries the
/// old active's "caught up" mark. The old active comes back (for a quorum after the second
/// fault) but cannot reach the new active's replication port either. 5 s after the promotion
/// the new active's host is cut off too, and the standby with the stale mark is promoted.
/// Every write the new active acknowledged must be there: it may acknowledge none while a
/// copy that could be promoted lacks them (before, it replied alone at once, as in the lost
/// `t4-after-term` of the entrypoint's cluster test).
#[test]
fn unreached_new_active_then_its_loss() {
    let ports = [6643, 6644];
    let second = Arc::new(Mutex::new(None::<String>));
    let s1 = second.clone();
    let s2 = second.clone();
    let ran = scenario_prepared(
        "unreached",
        move |c, active| {
            let standbys = others(c, active);
            for (i, host) in standbys.iter().enumerate() {
                let blocked = vec![addr_of(active), addr_of(&standbys[1 - i])];
                faults::drop_tcp_inbound(host, &blocked, &ports).unwrap();
            }
        },
        move |c, active| {
            faults::cut_link(active).unwrap();
            let promoted = wait_promoted_elsewhere(c, active, Duration::from_secs(30))
                .expect("no standby promoted within 30 s of the active's cut");
            eprintln!("  unreached: {promoted} promoted, with no replica able to reach it");
            std::thread::sleep(Duration::from_secs(2));
            faults::restore_link(active).unwrap();
            std::thread::sleep(Duration::from_secs(3));
            faults::cut_link(&promoted).unwrap();
            *s1.lock().unwrap() = Some(promoted);
            for host in others(c, active) {
                faults::clear_inbound(&host).unwrap();
            }
        },
        move |c, _| {
            if let Some(host) = s2.lock().unwrap().clone() {
                faults::restore_link(&host).unwrap();
            }
            for host in cluster::running_hosts(&c.site) {
                let _ = faults::clear_inbound(&host);
            }
        },
    );
    let cut = second.lock().unwrap().clone();
    eprintln!(
        "  unreached: active {} → {:?} (second cut {cut:?})",
        ran.active, ran.after
    );
}

/// The host other than `old` whose NB copy is active and reachable (link up, VIP held),
/// looked for every 50 ms up to `limit`.
fn wait_promoted_elsewhere(c: &TestCluster, old: &str, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let views = observe::sample(&c.site);
        if let Some(h) = observe::writable_and_reachable(&views)
            .into_iter()
            .find(|h| *h != old)
        {
            return Some(h.to_string());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// One-way partition: the active host hears nothing from its peers (iptables in its
/// namespace) while clients still reach it. It must give up its copy when it loses quorum, and
/// the others promote one of theirs; never are two copies writable; and its replication
/// fence stops taking writes once no replica has acknowledged progress for 100 ms. The
/// replicas still receive what fits in the send window, but their confirmations are dropped,
/// so the proxy releases no reply after the fault: nothing acknowledged is lost (before the
/// proxy, the chaos run lost a 300 KiB write of the machine's writer acknowledged 228 ms after
/// the fault). Every host
/// also runs an idle Southbound session to the VIP, as ovn-controller does on a DB node: client
/// sessions are not replicas and must not hold the fence open.
#[test]
fn one_way_partition_of_the_active_host() {
    let idle = Arc::new(Mutex::new(Vec::<IdleClient>::new()));
    let (i1, i2) = (idle.clone(), idle.clone());
    scenario_prepared(
        "partition",
        move |c, _| {
            let sb = format!(
                "tcp:{}:{}",
                c.site.vip_cidr().split('/').next().unwrap(),
                ovn_ha_config::defaults::SB_PORT
            );
            for host in cluster::running_hosts(&c.site) {
                i1.lock().unwrap().push(IdleClient::start(&host, &sb));
            }
        },
        move |c, active| {
            let mut idle = i2.lock().unwrap();
            let running = idle
                .iter_mut()
                .map(IdleClient::running)
                .filter(|r| *r)
                .count();
            assert_eq!(running, HOSTS, "idle SB sessions running at the fault");
            let peers: Vec<String> = others(c, active).iter().map(|h| addr_of(h)).collect();
            faults::drop_inbound(active, &peers).unwrap();
        },
        |_, active| faults::clear_inbound(active).unwrap(),
    );
    // `ovsdb-client monitor` ends when its session is dropped (the fence closed it, or the VIP
    // moved); what counts is that they were there at the fault.
    let clients = std::mem::take(&mut *idle.lock().unwrap());
    let alive = clients.into_iter().filter_map(IdleClient::stop).count();
    eprintln!("  partition: {alive} of {HOSTS} idle SB sessions still running at the end");
}

/// An idle OVSDB session from inside a host (`ovsdb-client monitor` of a table nobody writes),
/// killed by pid when stopped or dropped.
struct IdleClient(Option<std::process::Child>);

impl IdleClient {
    fn start(host: &str, remote: &str) -> IdleClient {
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", host, "ovsdb-client", "monitor", remote])
            .args(["OVN_Southbound", "SB_Global", "nb_cfg"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        IdleClient(Some(child))
    }

    /// Whether it still runs.
    fn running(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Stops it; `Some(())` when it was still running.
    fn stop(mut self) -> Option<()> {
        let mut child = self.0.take()?;
        let running = child.try_wait().ok().flatten().is_none();
        let _ = child.kill();
        let _ = child.wait();
        running.then_some(())
    }
}

impl Drop for IdleClient {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Corosync-only partition: the active host's membership traffic (UDP 5405–5406) is dropped
/// both ways while clients and replication still reach it over TCP. The replication fence sees
/// nothing wrong, so the active must fence itself on losing quorum — close its client
/// listeners and release the VIP as soon as corosync reports the loss — before the majority,
/// which re-forms at the same moment, promotes another copy. Every writer, the one on the
/// active's host included, keeps every acknowledged write.
/// A persistent SB session from the machine writes too (an `Address_Set` row every 20 ms, as
/// ovn-controller and ovn-northd hold one): the chaos run (seed 13) once found SB's listeners
/// left open 380 ms after NB's on the quorum loss, and an SB write there, confirmed by a standby
/// that then followed the new active, lost.
#[test]
fn corosync_only_partition_of_the_active_host() {
    let sb = Arc::new(Mutex::new(None::<SbSession>));
    let (s1, s2) = (sb.clone(), sb.clone());
    let ran = scenario_prepared(
        "corosync-partition",
        move |c, _| {
            *s1.lock().unwrap() = Some(SbSession::start(vip_addr(
                c,
                ovn_ha_config::defaults::SB_PORT,
            )));
        },
        |_, active| faults::drop_corosync(active).unwrap(),
        move |c, active| {
            faults::clear_corosync(active).unwrap();
            let session = s2.lock().unwrap().take().expect("the SB session started");
            let (acked, lost) =
                session.stop_and_check(vip_addr(c, ovn_ha_config::defaults::SB_PORT));
            eprintln!(
                "  corosync-partition SB session: {acked} acknowledged, {} lost",
                lost.len()
            );
            assert!(lost.is_empty(), "SB rows acknowledged and lost: {lost:?}");
        },
    );
    assert_eq!(ran.fallbacks, 0, "the proxy replied without a confirmation");
}

/// A persistent SB session writing an `Address_Set` row `cp-sb-N` every 20 ms, reconnecting
/// after a failure; bounded by a stop flag and 5 minutes.
struct SbSession {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(String, bool)>>,
}

impl SbSession {
    fn start(addr: std::net::SocketAddr) -> SbSession {
        use ovn_ha_local::ovsdb_rpc;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let timeout = Duration::from_secs(2);
            let end = Instant::now() + Duration::from_secs(300);
            let mut session: Option<std::net::TcpStream> = None;
            let mut done = Vec::new();
            let mut n = 0;
            while !flag.load(Ordering::SeqCst) && Instant::now() < end {
                let name = format!("cp-sb-{n}");
                n += 1;
                let row = serde_json::json!({"op": "insert", "table": "Address_Set",
                    "row": {"name": name, "addresses": ["set", []]}});
                let stream = session.take().or_else(|| {
                    std::net::TcpStream::connect_timeout(&addr, timeout)
                        .ok()
                        .filter(|s| {
                            s.set_read_timeout(Some(timeout)).is_ok()
                                && s.set_write_timeout(Some(timeout)).is_ok()
                        })
                });
                let acked = stream.is_some_and(|mut s| {
                    let ok = ovsdb_rpc::transact(&mut s, "OVN_Southbound", &[row]).is_ok();
                    if ok {
                        session = Some(s);
                    }
                    ok
                });
                done.push((name, acked));
                std::thread::sleep(Duration::from_millis(20));
            }
            done
        });
        SbSession { stop, handle }
    }

    /// Stops writing; the acknowledged count and the acknowledged rows missing from the SB
    /// database at `addr` (asked until it answers, at most 60 s).
    fn stop_and_check(self, addr: std::net::SocketAddr) -> (usize, Vec<String>) {
        use ovn_ha_local::ovsdb_rpc;
        self.stop.store(true, Ordering::SeqCst);
        let done = self.handle.join().unwrap();
        let select = serde_json::json!({"op": "select", "table": "Address_Set", "where": [],
            "columns": ["name"]});
        let mut present = None;
        // Bounded: 60 tries, a second apart.
        for _ in 0..60 {
            if let Ok(r) = ovsdb_rpc::transact_tcp(
                addr,
                "OVN_Southbound",
                std::slice::from_ref(&select),
                Duration::from_secs(5),
            ) {
                present = Some(
                    r[0]["rows"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|row| row["name"].as_str().map(str::to_string))
                        .collect::<std::collections::HashSet<String>>(),
                );
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let present = present.expect("the SB database at the VIP did not answer");
        let acked: Vec<&String> = done.iter().filter(|(_, a)| *a).map(|(n, _)| n).collect();
        let lost = acked
            .iter()
            .filter(|n| !present.contains(n.as_str()))
            .map(|n| n.to_string())
            .collect();
        (acked.len(), lost)
    }
}

/// A standby's whole link is throttled (tc tbf, 2 mbit/s: its replication and its corosync
/// traffic), then the active host is cut off: the promotion must still keep every acknowledged
/// write. Small writes only: with the 300 KiB transactions of the other scenarios the throttled
/// link delays corosync so much that the two survivors' membership flaps after the active's
/// loss, and Pacemaker erases the caught-up marks of a node that leaves — a double fault whose
/// loss README "Known limits" states (measured: 18–28 writes per writer lost in 2 of 6 runs).
/// A lagging standby under a stable membership is `lagging_standby_then_the_active_dies`.
#[test]
fn throttled_standby_then_the_active_dies() {
    let throttled = Arc::new(Mutex::new(String::new()));
    let t1 = throttled.clone();
    let t2 = throttled.clone();
    scenario_mixed(
        "throttled",
        Mix::SmallOnly,
        false,
        move |c, active| {
            let standby = others(c, active).remove(0);
            faults::throttle(&standby, "2mbit").unwrap();
            std::thread::sleep(Duration::from_secs(2));
            *t1.lock().unwrap() = standby;
        },
        |_, active| faults::cut_link(active).unwrap(),
        move |_, active| {
            faults::restore_link(active).unwrap();
            let standby = t2.lock().unwrap().clone();
            faults::unthrottle(&standby).unwrap();
        },
    );
}

/// A lagging standby, then the active's loss with the survivors' membership flapping: the
/// active's NB replication stream to one standby is slowed to 200 kbit/s in the active's own
/// egress queue while the writers' large transactions flow; then the active host is cut off
/// and, at the same moment, the caught-up standby's corosync traffic is dropped for 3 s, so
/// the two survivors part and merge again — which erases the caught-up marks Pacemaker held for
/// the other side. The caught-up standby must still be the one promoted (the lagging one's own
/// gate keeps its promotion score at −INFINITY, and its attribute daemon restores that score
/// after the merge); nothing acknowledged is lost. (Before the marks, the lagging copy was
/// promoted in 2 of 4 runs and about 60 acknowledged writes were gone; with the marks but
/// without the gate, a flap promoted it in 2 of 6 runs.)
#[test]
fn lagging_standby_then_the_active_dies() {
    let promoted = Arc::new(Mutex::new(None::<(String, String)>));
    let p1 = promoted.clone();
    let p2 = promoted.clone();
    let p3 = promoted.clone();
    let Ran { after, .. } = scenario_prepared(
        "lagging",
        move |c, active| {
            let mut standbys = others(c, active);
            let (slow, fresh) = (standbys.remove(0), standbys.remove(0));
            faults::throttle_flow(active, &addr_of(&slow), 6643, "200kbit").unwrap();
            // The premise: the active marked the slow copy lagging and its gate closed. Then
            // long enough for it to fall seconds behind on the large writes.
            wait_until_gated(active, &slow);
            std::thread::sleep(Duration::from_secs(4));
            *p1.lock().unwrap() = Some((slow, fresh));
        },
        move |_, active| {
            let (_, fresh) = p2.lock().unwrap().clone().unwrap();
            faults::cut_link(active).unwrap();
            faults::drop_corosync(&fresh).unwrap();
            std::thread::sleep(Duration::from_secs(3));
            faults::clear_corosync(&fresh).unwrap();
        },
        move |_, active| {
            faults::restore_link(active).unwrap();
            faults::unthrottle_flow(active).unwrap();
            if let Some((_, fresh)) = p3.lock().unwrap().clone() {
                let _ = faults::clear_corosync(&fresh);
            }
        },
    );
    let (slow, fresh) = promoted.lock().unwrap().clone().unwrap();
    assert_eq!(
        after.as_deref(),
        Some(fresh.as_str()),
        "the caught-up standby must be promoted, not the lagging {slow}"
    );
}

/// Waits (up to 30 s) until `node`'s promotion score, read on `host`, is −INFINITY: its
/// lagging-copy gate is closed.
fn wait_until_gated(host: &str, node: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while Instant::now() < deadline {
        let out = cluster::exec_in(
            host,
            &[
                "crm_attribute",
                "-N",
                node,
                "-n",
                "master-ovndb_servers",
                "-l",
                "reboot",
                "-G",
                "-q",
            ],
        );
        seen = out
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| e.to_string());
        if seen.parse::<i64>().is_ok_and(|s| s <= -1_000_000) {
            eprintln!("  {node}'s promotion gate is closed (score {seen})");
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{node} was not gated within 30 s (promotion score {seen:?})");
}

/// Rows and size of the large Southbound database.
const BIG_ROWS: usize = 100;
const BIG_ROW_BYTES: usize = 1024 * 1024;

/// One `Address_Set` row of about [`BIG_ROW_BYTES`] (10,000 addresses of ~100 bytes).
fn big_row(name: &str) -> serde_json::Value {
    let addresses: Vec<String> = (0..BIG_ROW_BYTES / 105)
        .map(|i| format!("{name}-{i:06}-{}", "a".repeat(90)))
        .collect();
    serde_json::json!({
        "op": "insert",
        "table": "Address_Set",
        "row": {"name": name, "addresses": ["set", addresses]}
    })
}

/// A large Southbound database (100 × 1 MB) and a standby's full resync of it, then a 1 MB
/// transaction: bulk transfers keep every replica acknowledging, so the replication fence must
/// not close (its closes are counted and asserted 0); nothing acknowledged is lost. The resync
/// time is printed (a figure, not asserted).
#[test]
fn large_southbound_resync_without_a_fence_trip() {
    use ovn_ha_local::ovsdb_rpc;
    let sb = |c: &TestCluster| vip_addr(c, ovn_ha_config::defaults::SB_PORT);
    let Ran { closes, .. } = scenario_prepared(
        "big-sb",
        |c, _| {
            let started = Instant::now();
            for i in 0..BIG_ROWS {
                ovsdb_rpc::transact_tcp(
                    sb(c),
                    "OVN_Southbound",
                    &[big_row(&format!("big-{i}"))],
                    Duration::from_secs(60),
                )
                .unwrap();
            }
            eprintln!(
                "  big-sb: wrote {BIG_ROWS} × 1 MB to SB in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        },
        |c, active| {
            // A standby's SB server dies; Pacemaker starts it again and it loads everything.
            let standby = others(c, active).remove(0);
            assert_eq!(faults::kill9(&standby, "ovsdb-server", "ovnsb_db"), 1);
            let killed = Instant::now();
            let sock = |pid: u32| PathBuf::from(format!("/proc/{pid}/root/run/ovn/ovnsb_db.sock"));
            let mut synced = None;
            // Bounded: 180 s of polls.
            while killed.elapsed() < Duration::from_secs(180) {
                let rows = observe::container_pid(&standby).and_then(|pid| {
                    ovsdb_rpc::count_rows(
                        &sock(pid),
                        "OVN_Southbound",
                        "Address_Set",
                        Duration::from_secs(30),
                    )
                    .ok()
                });
                if rows == Some(BIG_ROWS) {
                    synced = Some(killed.elapsed());
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let synced = synced.expect("the restarted standby never held the whole SB database");
            eprintln!(
                "  big-sb: {standby}'s SB server killed; its full resync of {BIG_ROWS} MB complete {:.1} s later (restart by Pacemaker included)",
                synced.as_secs_f64()
            );
            let t = Instant::now();
            ovsdb_rpc::transact_tcp(
                sb(c),
                "OVN_Southbound",
                &[big_row("big-after")],
                Duration::from_secs(60),
            )
            .unwrap();
            eprintln!(
                "  big-sb: one more 1 MB transaction in {:.2} s",
                t.elapsed().as_secs_f64()
            );
        },
        nothing,
    );
    assert_eq!(closes, 0, "the replication fence closed on bulk transfers");
}

/// Rolling restart of all three pods, one at a time, each waiting for the cluster to converge
/// (an upgrade): writes continue throughout.
#[test]
fn rolling_restart_of_all_three() {
    scenario(
        "rolling",
        |c, _| {
            for host in cluster::running_hosts(&c.site) {
                faults::signal_container(&host, "TERM").unwrap();
                assert!(
                    cluster::wait_stopped(&host, Duration::from_secs(60)),
                    "{host} did not exit"
                );
                cluster::restart_host(&c.site, &host, &mut Quiet).unwrap();
                assert!(
                    wait_converged(&c.site, Duration::from_secs(120)).is_some(),
                    "no convergence after restarting {host}"
                );
            }
        },
        nothing,
    );
}

/// Rolling upgrade across an OVN schema change (issue 19): every pod is replaced by the same
/// pod on the image of a newer Debian suite (`cargo xtask image --suite trixie`: OVN 25.03,
/// OVS 3.5, Pacemaker 3.0, against bookworm's 23.03, 3.1 and 2.1), the standbys first and the
/// active last — its SIGTERM hands the copy and the VIP over to an upgraded standby — with the
/// writers running. No copy converts its file at start: the old schema replicates between the
/// two OVS versions, and a copy on another schema could not. Once the last pod is back, the
/// promoted copy converts online and the standbys follow. Besides the suite's checks (nothing
/// acknowledged lost, never two writable copies, convergence), every copy must serve the new
/// schemas at the end, and at least one standby database must have been converted by its
/// standby link the moment its link ended at the active's conversion (the fast path; the
/// agent's monitor is only the fallback, up to 2 s later, while the active holds its replies).
#[test]
fn rolling_upgrade_across_a_schema_change_then_its_rollback() {
    let image = e2e::upgrade_image().unwrap();
    scenario(
        "upgrade",
        |c, active| {
            let done = upgrade::rolling(&c.site, &image, active, &mut Quiet).unwrap();
            for (host, took) in &done.replaced {
                eprintln!(
                    "  replaced {host}: converged {:.1} s later",
                    took.as_secs_f64()
                );
            }
            eprintln!(
                "  every copy serves NB {} and SB {} {:.1} s after the last host",
                done.schemas[0],
                done.schemas[1],
                done.converted_after.as_secs_f64()
            );
            let at_once = log_lines(&c.site, "ended at the active's conversion; converted");
            for (host, line) in &at_once {
                eprintln!("  {host}: {line}");
            }
            assert!(
                !at_once.is_empty(),
                "no standby converted when its link ended at the active's conversion"
            );
            for host in cluster::running_hosts(&c.site) {
                let log = cluster::exec_in(
                    &host,
                    &[
                        "grep",
                        "-E",
                        r"ovndb-servers\(.*(schema|follows)",
                        "/var/log/pacemaker/pacemaker.log",
                    ],
                );
                for l in log
                    .map(|o| o.stdout)
                    .unwrap_or_default()
                    .split(|b| *b == b'\n')
                {
                    if !l.is_empty() {
                        eprintln!("  {host}: {}", String::from_utf8_lossy(l));
                    }
                }
            }
            // The rollback (`kubectl rollout undo`) to the older image, writers still running.
            let views = wait_converged(&c.site, Duration::from_secs(90))
                .expect("the cluster did not converge after the upgrade");
            let active = observe::active_host(&views).unwrap().to_string();
            let older = format!("{}:latest", e2e::image_layout().unwrap().display());
            let back = upgrade::rollback(&c.site, &older, &active, &mut Quiet).unwrap();
            eprintln!("  rollback: {back:?}");
            assert!(
                back.refused,
                "{} joined the newer cluster on the older image: Pacemaker's feature sets no \
                 longer differ between the two images, so the rollback went pod by pod; \
                 update this scenario and the README's rollback paragraph",
                back.first
            );
            assert!(
                back.served_meanwhile,
                "no copy was active while the refused pod was out"
            );
            let refusal = log_lines(&c.site, "is older than the cluster's DC");
            assert!(
                refusal.iter().any(|(host, _)| *host == back.first),
                "{} logged no refusal naming the fix: {refusal:?}",
                back.first
            );
            assert_eq!(
                back.schemas, done.schemas,
                "the rollback changed the schemas the copies serve"
            );
        },
        nothing,
    );
}
