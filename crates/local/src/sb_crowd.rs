//! A crowd of idle Southbound subscribers as ovn-controllers are: `sb_crowd.py` (python-ovs's
//! IDL, run by `/usr/bin/python3`) holds N sessions through the SB remote(s) with the library's
//! own probes and backoff, each monitoring `Datapath_Binding`, and reports when each of them
//! first held each datapath. With ovn-northd translating NB writes into datapaths, the crowd's
//! slowest member tells when every chassis of a cluster has the first change made after a
//! fault. The child is bounded by its own time argument and killed by pid when stopped.

use crate::idl_writer::{monotonic_ms, spawn_script};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The script, written to a temporary file at start.
const SCRIPT: &str = include_str!("sb_crowd.py");
/// The Southbound schema the IDLs load.
const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";

/// When each subscriber first held each datapath name.
pub type Sightings = Vec<HashMap<String, Instant>>;

/// A running crowd.
#[derive(Debug)]
pub struct SbCrowd {
    child: Child,
    reader: JoinHandle<Sightings>,
    _dir: tempfile::TempDir,
}

/// One line of the script: (subscriber, name, when) on the caller's clock (pure).
pub fn parse_line(line: &str, epoch: Instant, epoch_ms: f64) -> Option<(usize, String, Instant)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let sub = usize::try_from(v["sub"].as_u64()?).ok()?;
    let ms = (v["at"].as_f64()? - epoch_ms).max(0.0);
    Some((
        sub,
        v["name"].as_str()?.to_string(),
        epoch + Duration::from_secs_f64(ms / 1000.0),
    ))
}

impl SbCrowd {
    /// Starts `count` subscribers through `remote` (`tcp:VIP:6642`, comma-separated for
    /// RAFT) for at most `max_time`.
    pub fn start(remote: &str, count: usize, max_time: Duration) -> std::io::Result<SbCrowd> {
        let epoch = Instant::now();
        let epoch_ms = monotonic_ms();
        let (dir, child, stdout) = spawn_script(
            "sb_crowd.py",
            SCRIPT,
            &[
                remote.to_string(),
                SB_SCHEMA.to_string(),
                count.to_string(),
                format!("{:.3}", max_time.as_secs_f64()),
            ],
        )?;
        let reader = std::thread::spawn(move || {
            let mut seen: Sightings = vec![HashMap::new(); count];
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((sub, name, at)) = parse_line(&line, epoch, epoch_ms)
                    && let Some(map) = seen.get_mut(sub)
                {
                    map.entry(name).or_insert(at);
                }
            }
            seen
        });
        Ok(SbCrowd {
            child,
            reader,
            _dir: dir,
        })
    }

    /// Stops the crowd (by pid): what each subscriber saw.
    pub fn stop(mut self) -> Sightings {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reader.join().unwrap_or_default()
    }
}

/// How long after `fault` every subscriber held a datapath of a write acknowledged after the
/// fault — each one's first such sighting, then the slowest — and how many never did (pure).
pub fn all_had_one(
    acked_after: &[&str],
    seen: &Sightings,
    fault: Instant,
) -> (Option<Duration>, usize) {
    let firsts: Vec<Option<Duration>> = seen
        .iter()
        .map(|s| crate::northd::first_translated(acked_after, s, fault))
        .collect();
    let missing = firsts.iter().filter(|f| f.is_none()).count();
    let slowest = if missing == 0 {
        firsts.into_iter().flatten().max()
    } else {
        None
    };
    (slowest, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_sightings() {
        let epoch = Instant::now();
        let (sub, name, at) =
            parse_line(r#"{"sub": 7, "name": "ls-1", "at": 1500.0}"#, epoch, 1000.0).unwrap();
        assert_eq!((sub, name.as_str()), (7, "ls-1"));
        assert_eq!(at, epoch + Duration::from_millis(500));
        assert!(parse_line("{}", epoch, 0.0).is_none());
        assert!(parse_line(r#"{"sub": -1, "name": "x", "at": 1}"#, epoch, 0.0).is_none());
    }

    #[test]
    fn the_slowest_subscriber_counts_and_one_that_never_saw_is_reported() {
        let fault = Instant::now();
        let at = |ms: u64| fault + Duration::from_millis(ms);
        let sub = |pairs: &[(&str, u64)]| -> HashMap<String, Instant> {
            pairs
                .iter()
                .map(|(n, ms)| (n.to_string(), at(*ms)))
                .collect()
        };
        let seen = vec![
            sub(&[("a", 2_000), ("b", 1_900)]),
            sub(&[("a", 2_600)]),
            sub(&[("old", 100)]),
        ];
        assert_eq!(
            all_had_one(&["a", "b"], &seen[..2].to_vec(), fault),
            (Some(Duration::from_millis(2_600)), 0)
        );
        assert_eq!(all_had_one(&["a", "b"], &seen, fault), (None, 1));
    }
}
