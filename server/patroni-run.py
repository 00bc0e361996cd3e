#!/usr/bin/python3
# pgha: starts Patroni exactly as /usr/bin/patroni does, with one fix for Patroni 3.0.2
# (Debian 12's package), and only for that version.
#
# The bug: Etcd3._update_leader renews the leader key with an unconditional put when the
# lease it holds is no longer the one on the key. A leader that was cut off, whose lease
# expired and whose key another member took, re-creates the key under a fresh lease when
# the network heals, and promotes itself again ("promoted self to leader because I had the
# session lock"): two timelines, and the new leader's acknowledged writes are lost.
# pgha's isolate-leader drill hit it.
#
# The fix: the put only succeeds while the key still names this member (an etcd
# transaction comparing its value); otherwise the update fails, and Patroni demotes
# and follows the real leader. Right after this member took the key it names it, so a
# normal promotion is unaffected.
import sys
import time

from patroni.version import __version__

if __version__ == "3.0.2":
    from patroni.dcs import Leader, catch_return_false_exception
    from patroni.dcs import etcd3

    @catch_return_false_exception
    def _update_leader(self):
        retry = self._retry.copy()

        def _retry(*args, **kwargs):
            kwargs["retry"] = retry
            return retry(*args, **kwargs)

        self._run_and_handle_exceptions(self._do_refresh_lease, True, retry=_retry)

        if self._lease:
            cluster = self.cluster
            leader = cluster.leader if cluster and isinstance(cluster.leader, Leader) else None
            if (leader and leader.session) != self._lease:
                retry.deadline = retry.stoptime - time.time()
                if retry.deadline < 1:
                    raise etcd3.Etcd3Error("update_leader timeout")
                # The only change from 3.0.2: write only if the key still names this member.
                fields = {"key": etcd3.base64_encode(self.leader_path), "value": etcd3.base64_encode(self._name), "lease": self._lease}
                compare = {"target": "VALUE", "key": fields["key"], "value": fields["value"]}
                if not self._run_and_handle_exceptions(self._client.txn, compare, {"request_put": fields}, retry=_retry):
                    return False
        return bool(self._lease)

    etcd3.Etcd3._update_leader = _update_leader

# Patroni starts the postmaster through multiprocessing's "spawn", which re-imports this
# file in the child as __mp_main__: only the real start may run Patroni.
if __name__ == "__main__":
    from patroni.__main__ import main

    sys.argv[0] = "patroni"
    sys.exit(main())
