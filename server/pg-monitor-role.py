# postgres_exporter's login role in PostgreSQL (pgha:monitoring), on the leader only (replicas
# follow by replication). Runs as the postgres OS user over the local socket (peer
# authentication), like pgbouncer-auth.py, on every PostgreSQL node; only the leader acts.
#
# The role pgha_monitor: LOGIN, a member of pg_monitor (read-only statistics and settings), and
# nothing else; a small connection limit, so a stuck exporter cannot use up the server. Its
# password reaches PostgreSQL only as a SCRAM-SHA-256 verifier made here (never the password).
# pg_hba admits it only over TLS from 127.0.0.1 (core/topology.ts: pgHbaLines).
#
# stdin: {"password": "..."}; argv: <socket dir> <port> [--disable]
# --disable (pgha:monitoring turned off, or the cluster destroyed): the role loses LOGIN and its
# password; it is never dropped.
import importlib.util
import json
import os
import sys

MONITOR_USER = "pgha_monitor"
ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT 5"


def scram():
    """pg-set-passwords.py, beside this file: the SCRAM-SHA-256 verifier PostgreSQL stores."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg-set-passwords.py")
    spec = importlib.util.spec_from_file_location("pg_set_passwords", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def ensure_role(cur, password, verifiers):
    """The role with `password`, in pg_monitor; 'created', 'set' or 'unchanged'."""
    cur.execute("select rolpassword from pg_authid where rolname = %s", (MONITOR_USER,))
    row = cur.fetchone()
    if row is None:
        # The name is pgha's constant; the value is a verifier, never the password.
        cur.execute("CREATE ROLE %s %s PASSWORD %%s" % (MONITOR_USER, ROLE_ATTRIBUTES), (verifiers.scram_sha256_verifier(password),))
        state = "created"
    else:
        cur.execute("ALTER ROLE %s %s" % (MONITOR_USER, ROLE_ATTRIBUTES))
        if row[0] is not None and verifiers.verifier_matches(row[0], password):
            state = "unchanged"
        else:
            cur.execute("ALTER ROLE %s PASSWORD %%s" % MONITOR_USER, (verifiers.scram_sha256_verifier(password),))
            state = "set"
    cur.execute("GRANT pg_monitor TO %s" % MONITOR_USER)
    return state


def main(argv=None):
    import psycopg2

    argv = sys.argv[1:] if argv is None else argv
    host, port = argv[0], argv[1]
    disable = "--disable" in argv[2:]
    secrets = json.loads(sys.stdin.read() or "{}")
    try:
        conn = psycopg2.connect(host=host, port=port, dbname="postgres", user="postgres", connect_timeout=3)
    except psycopg2.OperationalError:
        print("pgha: PostgreSQL is not running here: the leader sets the monitoring role up")
        return
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select pg_is_in_recovery()")
        if cur.fetchone()[0]:
            print("pgha: a replica: the leader sets the monitoring role up")
            return
        if disable:
            # Not held for a synchronous standby: on destroy the standbys may already be stopped.
            cur.execute("SET synchronous_commit = local")
            cur.execute("select 1 from pg_roles where rolname = %s", (MONITOR_USER,))
            if cur.fetchone() is not None:
                cur.execute("ALTER ROLE %s NOLOGIN PASSWORD NULL" % MONITOR_USER)
            print("pgha: the monitoring role %s can no longer log in" % MONITOR_USER)
            return
        state = ensure_role(cur, secrets["password"], scram())
    conn.close()
    print("pgha: the monitoring role %s %s (member of pg_monitor)" % (MONITOR_USER, state))


if __name__ == "__main__":
    main()
