//! Manual helper: `cargo run -p ovn-ha-testbed --example bed -- up PREFIX OCTET HOSTS` leaves a
//! bed running (prints its hosts); `... -- down PREFIX` removes it by name.

use ovn_ha_testbed::{Bed, BedSpec, teardown_by_name};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["up", prefix, octet, hosts] => {
            let bed = Bed::create(&BedSpec::new(prefix, octet.parse()?, hosts.parse()?)?)?;
            for h in bed.hosts() {
                println!("{} {} {}", h.name(), h.addr(), h.mount_ns_file().display());
            }
            // Leave it running; `down` removes it.
            std::mem::forget(bed);
            Ok(())
        }
        ["down", prefix] => Ok(teardown_by_name(prefix)?),
        _ => Err("usage: bed up PREFIX OCTET HOSTS | bed down PREFIX".into()),
    }
}
