"""A persistent OVSDB client as OVN's daemons are one: python-ovs's IDL (Debian's
python3-openvswitch) keeps one session to the remote(s), with the library's default inactivity
probe (5 s) and reconnect backoff, and commits one Logical_Switch insert every INTERVAL seconds.
One JSON line per write on stdout: name, start and end (CLOCK_MONOTONIC in ms, the caller's
clock too), acknowledged; and one line per change of the session (dropped or connected), with
the reconnect backoff the library chose, so a slow resumption can be told apart: a backoff of
1000 ms is the library's own wait after losing an established session.
Bounded: argv[4] writes or argv[5] seconds, whichever comes first; a commit that has not ended
is abandoned when the time is up.

Usage: idl_writer.py REMOTE SCHEMA TAG MAX_WRITES MAX_SECONDS INTERVAL
"""

import json
import sys
import time

import ovs.db.idl
import ovs.poller


def main():
    remote, schema, tag = sys.argv[1], sys.argv[2], sys.argv[3]
    max_writes, max_seconds = int(sys.argv[4]), float(sys.argv[5])
    interval = float(sys.argv[6])
    helper = ovs.db.idl.SchemaHelper(location=schema)
    helper.register_columns("Logical_Switch", ["name"])
    idl = ovs.db.idl.Idl(remote, helper)
    epoch = time.monotonic()
    end = epoch + max_seconds

    def ms():
        return time.monotonic() * 1000.0

    seen = [idl._session.seqno]

    def note_session():
        session = idl._session
        if session.seqno != seen[0]:
            seen[0] = session.seqno
            state = getattr(session.reconnect, "state", None)
            print(json.dumps({"session": ms(), "connected": session.is_connected(),
                              "state": getattr(state, "name", None),
                              "backoff": getattr(session.reconnect, "backoff", None)}),
                  flush=True)

    def run():
        idl.run()
        note_session()

    def wait(deadline, txn=None):
        poller = ovs.poller.Poller()
        idl.wait(poller)
        if txn is not None:
            txn.wait(poller)  # wakes at once when the run just completed it
        poller.timer_wait(max(1, int((deadline - time.monotonic()) * 1000)))
        poller.block()

    # The first contents, as a daemon's start-up.
    while not idl.has_ever_connected() and time.monotonic() < end:
        run()
        wait(min(end, time.monotonic() + 0.1))
    n = 0
    while n < max_writes and time.monotonic() < end:
        name = "%s-%d" % (tag, n)
        n += 1
        started = ms()
        txn = ovs.db.idl.Transaction(idl)
        row = txn.insert(idl.tables["Logical_Switch"])
        row.name = name
        status = txn.commit()
        while status == ovs.db.idl.Transaction.INCOMPLETE and time.monotonic() < end:
            run()
            wait(min(end, time.monotonic() + 0.1), txn)
            status = txn.commit()
        acked = status in (ovs.db.idl.Transaction.SUCCESS, ovs.db.idl.Transaction.UNCHANGED)
        print(json.dumps({"name": name, "started": started, "ended": ms(), "acked": acked}),
              flush=True)
        pause_until = time.monotonic() + interval
        while time.monotonic() < min(pause_until, end):
            run()
            wait(min(pause_until, end))


if __name__ == "__main__":
    main()
