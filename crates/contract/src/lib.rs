//! The contract between the DB pod's entrypoint and the OCF agent (`ovndb-servers`): which
//! database is which, where the agent puts each server's pidfile, control socket and client
//! socket under its `run_dir` parameter (ovn-ctl's layout), the marker a supervisor keeps
//! next to a pidfile while it restarts a crashed server in place, and the role lock both take
//! around a change of a server's role. Both binaries take these names from here; neither
//! spells them itself. No dependencies, no I/O.

use std::path::{Path, PathBuf};

/// The agent's default `run_dir` (ovn-ctl's), which the entrypoint's CIB leaves in place.
pub const DEFAULT_RUN_DIR: &str = "/var/run/ovn";
/// Suffix of the marker next to a pidfile while a restart in place is under way; the agent's
/// monitor waits for the restart instead of reporting the server failed.
pub const RESTARTING_SUFFIX: &str = ".restarting";

/// The role lock's file name under `run_dir`. **Role lock rule:** a process that turns a
/// server active (the agent's promote) holds an exclusive `flock` on this file from before it
/// reads the servers' state until the change is done; a process that turns a backup into a
/// backup again (the entrypoint's standby-link reconnect, whose `connect-active-ovsdb-server`
/// would also turn an active copy back into a backup) holds it from before it checks that the
/// copy is a backup until its command is answered; the same process converting a backup at
/// the active's schema change (made active, converted, reconnected) holds it from that check
/// until the reconnect is answered, and an unpromoted copy's monitor that finds a database
/// active takes it before it looks again. So neither can undo a promotion, and no monitor
/// mistakes a conversion under way for a copy gone active.
pub const ROLE_LOCK: &str = "ovndb-ha.role.lock";

/// One of the two databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Db {
    /// OVN_Northbound.
    Nb,
    /// OVN_Southbound.
    Sb,
}

impl Db {
    /// Both, NB first (the order of every per-database array).
    pub const BOTH: [Db; 2] = [Db::Nb, Db::Sb];

    /// `nb` or `sb`.
    pub const fn short(self) -> &'static str {
        match self {
            Db::Nb => "nb",
            Db::Sb => "sb",
        }
    }

    /// `NB` or `SB`, as logs name them.
    pub const fn label(self) -> &'static str {
        match self {
            Db::Nb => "NB",
            Db::Sb => "SB",
        }
    }

    /// The schema name.
    pub const fn schema_name(self) -> &'static str {
        match self {
            Db::Nb => "OVN_Northbound",
            Db::Sb => "OVN_Southbound",
        }
    }

    /// The global table holding `connections`.
    pub const fn global_table(self) -> &'static str {
        match self {
            Db::Nb => "NB_Global",
            Db::Sb => "SB_Global",
        }
    }

    /// The stem of the server's run files, `ovnnb_db` or `ovnsb_db`.
    pub const fn stem(self) -> &'static str {
        match self {
            Db::Nb => "ovnnb_db",
            Db::Sb => "ovnsb_db",
        }
    }

    /// The database file where the agent keeps it unless told otherwise (its `db_*_file`
    /// parameter, which the entrypoint's CIB leaves in place).
    pub const fn default_file(self) -> &'static str {
        match self {
            Db::Nb => "/var/lib/ovn/ovnnb_db.db",
            Db::Sb => "/var/lib/ovn/ovnsb_db.db",
        }
    }

    /// The schema the image ships (the agent's `db_*_schema` default): the newest a copy on
    /// this image can serve.
    pub const fn image_schema(self) -> &'static str {
        match self {
            Db::Nb => "/usr/share/ovn/ovn-nb.ovsschema",
            Db::Sb => "/usr/share/ovn/ovn-sb.ovsschema",
        }
    }

    /// The server's pidfile under `run_dir`.
    pub fn pidfile(self, run_dir: &Path) -> PathBuf {
        run_dir.join(format!("{}.pid", self.stem()))
    }

    /// The server's unixctl (control) socket under `run_dir`.
    pub fn ctl(self, run_dir: &Path) -> PathBuf {
        run_dir.join(format!("{}.ctl", self.stem()))
    }

    /// The server's local client socket under `run_dir`.
    pub fn sock(self, run_dir: &Path) -> PathBuf {
        run_dir.join(format!("{}.sock", self.stem()))
    }

    /// Where a backup on an older schema writes the active's schema, fetched for its online
    /// conversion, under `run_dir` (by the entrypoint's standby link, or the agent's monitor
    /// as its fallback; both under the role lock's rule, so never at once).
    pub fn active_schema(self, run_dir: &Path) -> PathBuf {
        run_dir.join(format!("{}.active.ovsschema", self.stem()))
    }
}

/// The agent's default run dir as a path.
pub fn default_run_dir() -> &'static Path {
    Path::new(DEFAULT_RUN_DIR)
}

/// The role lock under `run_dir` (see [`ROLE_LOCK`]).
pub fn role_lock(run_dir: &Path) -> PathBuf {
    run_dir.join(ROLE_LOCK)
}

/// The restart marker for `pidfile`.
pub fn restarting_marker(pidfile: &Path) -> PathBuf {
    let mut name = pidfile.as_os_str().to_owned();
    name.push(RESTARTING_SUFFIX);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_ovn_ctls() {
        let run = default_run_dir();
        assert_eq!(Db::Nb.pidfile(run), Path::new("/var/run/ovn/ovnnb_db.pid"));
        assert_eq!(Db::Sb.ctl(run), Path::new("/var/run/ovn/ovnsb_db.ctl"));
        assert_eq!(Db::Nb.sock(run), Path::new("/var/run/ovn/ovnnb_db.sock"));
        assert_eq!(role_lock(run), Path::new("/var/run/ovn/ovndb-ha.role.lock"));
        assert_eq!(
            restarting_marker(&Db::Sb.pidfile(run)),
            Path::new("/var/run/ovn/ovnsb_db.pid.restarting")
        );
    }
}
