//! `ovnkube-db-ha`: the ovnkube-db pod's main process (`run`), the operators' `status`, and the
//! kubelet's `probe readiness|liveness`.

mod cmd;

fn main() -> std::process::ExitCode {
    cmd::main()
}
