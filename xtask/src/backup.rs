//! `cargo xtask backup --output DIR` and `cargo xtask restore --input DIR` for the local
//! cluster: the entrypoint's `ovnkube-db-ha backup|restore` run inside the container of the
//! host whose copies are active, the files carried between DIR and the container's `/tmp`
//! (`ovn_ha_local::backup`). The entrypoint checks that it runs on the active and verifies the
//! checksums before it changes anything.

use anyhow::Result;
use ovn_ha_local::backup;
use ovn_ha_local::cluster::{self, Site};
use std::path::Path;
use std::process::ExitCode;

fn running(site: &Site) -> bool {
    if cluster::running_hosts(site).is_empty() {
        eprintln!("the local cluster is not running (`cargo xtask deploy` starts it)");
        return false;
    }
    true
}

/// `cargo xtask backup --output DIR`.
pub fn run_backup(output: &Path) -> Result<ExitCode> {
    let site = Site::local();
    if !running(&site) {
        return Ok(ExitCode::FAILURE);
    }
    let done = backup::backup(&site, output)?;
    print!("{}", done.output);
    println!(
        "backup of the active copies on {} copied to {}",
        done.host,
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask restore --input DIR`.
pub fn run_restore(input: &Path) -> Result<ExitCode> {
    let site = Site::local();
    if !running(&site) {
        return Ok(ExitCode::FAILURE);
    }
    let done = backup::restore(&site, input)?;
    print!("{}", done.output);
    println!("restored on {} (the active)", done.host);
    Ok(ExitCode::SUCCESS)
}
