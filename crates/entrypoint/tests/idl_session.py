"""An idle persistent OVSDB client, as ovsdbapp's is: python-ovs's IDL (Debian's
python3-openvswitch) with its default probe and reconnect backoff, monitoring the NB
Logical_Switch names. It prints one JSON line per change of its session:
  {"event": "monitoring", "switches": [...]}   the IDL has the database's contents;
  {"event": "disconnected", "backoff": MS}     the session dropped; MS is the wait the
                                               reconnect logic chose before trying again
                                               (0 when the client reset its backoff).
Bounded: it exits after argv[3] seconds or after its second "monitoring" line.

Usage: idl_session.py REMOTE SCHEMA MAX_SECONDS
"""

import json
import sys
import time

import ovs.db.idl


def main():
    remote, schema, max_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    helper = ovs.db.idl.SchemaHelper(location=schema)
    helper.register_columns("Logical_Switch", ["name"])
    idl = ovs.db.idl.Idl(remote, helper)
    end = time.monotonic() + max_seconds
    monitoring = 0
    was_monitoring = False
    disconnected = False
    while time.monotonic() < end and monitoring < 2:
        idl.run()
        session = idl._session
        now_monitoring = session.is_connected() and idl.state == idl.IDL_S_MONITORING
        if now_monitoring and not was_monitoring:
            monitoring += 1
            disconnected = False
            names = sorted(r.name for r in idl.tables["Logical_Switch"].rows.values())
            print(json.dumps({"event": "monitoring", "switches": names}), flush=True)
        if not session.is_connected() and was_monitoring and not disconnected:
            disconnected = True
            print(json.dumps({"event": "disconnected",
                              "backoff": session.reconnect.backoff}), flush=True)
        was_monitoring = now_monitoring
        time.sleep(0.002)


if __name__ == "__main__":
    main()
