//! `ovndb-servers`: OCF 1.1 resource agent for OVN's Northbound and Southbound ovsdb-servers
//! in active/standby under Pacemaker, a drop-in for OVN's shell agent of the same name.
//!
//! The action comes in argv[1], everything else from the environment. The agent is
//! synchronous and small: a steady-state monitor reads two pid files and asks the two
//! control sockets, spawning no process. It never talks to Kubernetes.

mod action_plan;
mod actions;
mod addrs;
mod busy;
mod env;
mod layout;
mod log;
mod metadata;
mod monitor_plan;
mod notify;
mod ocf;
mod params;
mod procs;
mod role_lock;
mod schema;
mod schema_change;
mod score;
mod server;
mod status;
mod tcp;

use env::Env;
use log::Logger;
use ocf::{OcfError, Rc};
use std::process::ExitCode;

const USAGE: &str = "usage: ovndb-servers {start|stop|monitor|status|promote|demote|notify|validate-all|meta-data|usage}\n\nExpects a fully populated OCF resource agent environment.";

fn run(action: &str, env: &Env, log: &Logger) -> anyhow::Result<Rc> {
    match action {
        "meta-data" => {
            print!("{}", metadata::document());
            return Ok(Rc::Success);
        }
        "usage" | "help" => {
            println!("{USAGE}");
            return Ok(Rc::Success);
        }
        _ => {}
    }
    if action == "stop" {
        let ctx = actions::ctx_for_stop(env, log)?;
        return actions::stop(&ctx);
    }
    let known = [
        "start",
        "monitor",
        "status",
        "promote",
        "demote",
        "notify",
        "validate-all",
        actions::POKE_ACTION,
    ];
    if !known.contains(&action) {
        eprintln!("{USAGE}");
        return Err(OcfError::new(
            Rc::Unimplemented,
            format!("action {action:?} is not implemented"),
        )
        .into());
    }
    let ctx = actions::Ctx::new(env, log)?;
    match action {
        "start" => actions::start(&ctx),
        "monitor" | "status" => actions::monitor(&ctx),
        "promote" => actions::promote(&ctx),
        "demote" => actions::demote(&ctx),
        "notify" => actions::notify(&ctx),
        "validate-all" => actions::validate(&ctx),
        _ => actions::wake_on_master_ip(&ctx),
    }
}

fn main() -> ExitCode {
    let env = Env::from_process();
    let log = Logger::from_env(&env);
    let action = std::env::args()
        .nth(1)
        .or_else(|| env.var("__OCF_ACTION").map(str::to_owned))
        .unwrap_or_default();
    let rc = match run(&action, &env, &log) {
        Ok(rc) => rc,
        Err(e) => {
            let rc = ocf::rc_of(&e);
            log.exit_reason(&ocf::exit_reason(&e));
            rc
        }
    };
    if action != "meta-data" {
        log.debug(&format!("{action} returned {rc}"));
    }
    ExitCode::from(rc.code())
}
