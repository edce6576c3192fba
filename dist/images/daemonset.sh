#!/bin/sh
# Renders the OVN DB HA manifests into dist/yaml (or --output-dir): ovn-setup.yaml,
# ovnkube-db-ha.yaml, ovnkube-master.yaml and ovnkube-node.yaml.
#
# A thin wrapper: every flag goes unchanged to the renderer (`ovn-ha-render`, the render
# crate's own binary: it builds only what rendering needs; docs/benchmarks.md has the first
# run's time), which validates them all and writes nothing on bad input (exit status 2).
# `./daemonset.sh --help` lists the flags: every flag of upstream ovn-kubernetes' daemonset.sh at 05b8a7c34, with its spelling and
# default (docs/upstream-conformance.md), plus ours.
# Set OVN_HA_XTASK to a built xtask binary (it runs `xtask render`, the same code) to skip
# cargo (the tests do).
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH='' cd -- "$here/../.." && pwd)
if [ -n "${OVN_HA_XTASK:-}" ]; then
    exec "$OVN_HA_XTASK" render "$@"
fi
# Making TLS certificates needs rcgen and ring, which take a while to build: only with --ssl.
features=--no-default-features
for arg in "$@"; do
    if [ "$arg" = "--ssl" ]; then
        features=
    fi
done
# shellcheck disable=SC2086 # $features is one word or none
exec cargo run --quiet --manifest-path "$root/Cargo.toml" --package ovn-ha-render $features --bin ovn-ha-render -- "$@"
