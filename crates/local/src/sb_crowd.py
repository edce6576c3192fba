"""A crowd of idle Southbound subscribers as ovn-controllers are: N python-ovs IDL sessions
(Debian's python3-openvswitch) to the remote(s), each with the library's default inactivity
probe (5 s) and reconnect backoff, each monitoring Datapath_Binding as a chassis does. They
only read. One JSON line per (subscriber, datapath name) the first time that subscriber holds
the row: {"sub": i, "name": ..., "at": CLOCK_MONOTONIC ms}, the caller's clock too.
Bounded: argv[4] seconds; then it exits.

Usage: sb_crowd.py REMOTE SCHEMA N MAX_SECONDS
"""

import json
import sys
import time

import ovs.db.idl
import ovs.poller


def main():
    remote, schema = sys.argv[1], sys.argv[2]
    count, max_seconds = int(sys.argv[3]), float(sys.argv[4])
    end = time.monotonic() + max_seconds
    crowd = []
    for _ in range(count):
        helper = ovs.db.idl.SchemaHelper(location=schema)
        helper.register_columns("Datapath_Binding", ["external_ids", "tunnel_key"])
        crowd.append((ovs.db.idl.Idl(remote, helper), set(), [None]))
    while time.monotonic() < end:
        for i, (idl, seen, seqno) in enumerate(crowd):
            idl.run()
            if idl.change_seqno == seqno[0]:
                continue
            seqno[0] = idl.change_seqno
            at = time.monotonic() * 1000.0
            for row in idl.tables["Datapath_Binding"].rows.values():
                name = row.external_ids.get("name")
                if name is not None and name not in seen:
                    seen.add(name)
                    print(json.dumps({"sub": i, "name": name, "at": at}), flush=True)
        poller = ovs.poller.Poller()
        for idl, _, _ in crowd:
            idl.wait(poller)
        poller.timer_wait(max(1, int((end - time.monotonic()) * 1000)))
        poller.block()


if __name__ == "__main__":
    main()
