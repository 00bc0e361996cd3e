# PgBouncer's lookup role and function in PostgreSQL (pgha:pgbouncer), on the leader only
# (replicas follow by replication). Runs as the postgres OS user over the local socket (peer
# authentication), like pg-set-passwords.py, on every PostgreSQL node; only the leader acts.
#
# - The role pgha_pgbouncer (PgBouncer's auth_user): LOGIN and nothing else. Its password
#   reaches PostgreSQL only as a SCRAM-SHA-256 verifier made here (never the password).
# - The function pgha_pgbouncer.lookup(name), PgBouncer's auth_query: SECURITY DEFINER with a
#   pinned search_path, it returns a role's verifier from pg_authid, and nothing for a
#   superuser, a replication role, a role that cannot log in, an expired one, or the lookup
#   role itself: those never log in through PgBouncer. It lives in a schema only the lookup role
#   may use. PgBouncer 1.18 (Debian 12) has no auth_dbname and runs auth_query in the database
#   the client asks for, so the function is made in every database that takes connections,
#   template1 included (new databases inherit it).
#
# stdin: {"password": "..."}; argv: <socket dir> <port> [--disable]
# --disable (pgha:pgbouncer turned off, or the cluster destroyed): the role loses LOGIN and its
# password; the schema and function stay (only that role may use them).
import importlib.util
import json
import os
import sys

AUTH_USER = "pgha_pgbouncer"
SCHEMA = "pgha_pgbouncer"

# The role's attributes: it logs in, and may do nothing else but run the lookup.
ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"

LOOKUP_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.lookup(i_username text)
RETURNS TABLE (p_username text, p_password text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgha$
    SELECT a.rolname::text, a.rolpassword::text
    FROM pg_catalog.pg_authid a
    WHERE a.rolname = i_username
      AND a.rolcanlogin
      AND NOT a.rolsuper
      AND NOT a.rolreplication
      AND a.rolname <> '{user}'
      AND (a.rolvaliduntil IS NULL OR a.rolvaliduntil > pg_catalog.now())
$pgha$
""".format(schema=SCHEMA, user=AUTH_USER)


def database_statements():
    """What each database gets, in one transaction: the schema only the lookup role may use, and the function."""
    fn = "%s.lookup(text)" % SCHEMA
    return [
        "CREATE SCHEMA IF NOT EXISTS %s" % SCHEMA,
        "REVOKE ALL ON SCHEMA %s FROM PUBLIC" % SCHEMA,
        "GRANT USAGE ON SCHEMA %s TO %s" % (SCHEMA, AUTH_USER),
        LOOKUP_FUNCTION.strip(),
        "REVOKE ALL ON FUNCTION %s FROM PUBLIC" % fn,
        "GRANT EXECUTE ON FUNCTION %s TO %s" % (fn, AUTH_USER),
    ]


def scram():
    """pg-set-passwords.py, beside this file: the SCRAM-SHA-256 verifier PostgreSQL stores."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg-set-passwords.py")
    spec = importlib.util.spec_from_file_location("pg_set_passwords", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def connect(psycopg2, host, port, dbname):
    conn = psycopg2.connect(host=host, port=port, dbname=dbname, user="postgres", connect_timeout=3)
    conn.autocommit = True
    return conn


def ensure_role(cur, password, verifiers):
    """The lookup role with `password`; 'set' or 'unchanged'."""
    cur.execute("select rolpassword from pg_authid where rolname = %s", (AUTH_USER,))
    row = cur.fetchone()
    if row is None:
        # The name is pgha's constant; the value is a verifier, never the password.
        cur.execute("CREATE ROLE %s %s PASSWORD %%s" % (AUTH_USER, ROLE_ATTRIBUTES), (verifiers.scram_sha256_verifier(password),))
        return "created"
    cur.execute("ALTER ROLE %s %s" % (AUTH_USER, ROLE_ATTRIBUTES))
    if row[0] is not None and verifiers.verifier_matches(row[0], password):
        return "unchanged"
    cur.execute("ALTER ROLE %s PASSWORD %%s" % AUTH_USER, (verifiers.scram_sha256_verifier(password),))
    return "set"


def main(argv=None):
    import psycopg2

    argv = sys.argv[1:] if argv is None else argv
    host, port = argv[0], argv[1]
    disable = "--disable" in argv[2:]
    secrets = json.loads(sys.stdin.read() or "{}")
    try:
        conn = connect(psycopg2, host, port, "postgres")
    except psycopg2.OperationalError:
        print("pgha: PostgreSQL is not running here: the leader sets PgBouncer's lookup role up")
        return
    with conn.cursor() as cur:
        cur.execute("select pg_is_in_recovery()")
        if cur.fetchone()[0]:
            print("pgha: a replica: the leader sets PgBouncer's lookup role up")
            return
        if disable:
            # Not held for a synchronous standby: on destroy, with synchronous_mode_strict, the
            # standbys may already be stopped, and the commit would wait for ever (seen on the lab).
            cur.execute("SET synchronous_commit = local")
            cur.execute("select 1 from pg_roles where rolname = %s", (AUTH_USER,))
            if cur.fetchone() is not None:
                cur.execute("ALTER ROLE %s NOLOGIN PASSWORD NULL" % AUTH_USER)
            print("pgha: PgBouncer's lookup role %s can no longer log in" % AUTH_USER)
            return
        role = ensure_role(cur, secrets["password"], scram())
        cur.execute("select datname from pg_database where datallowconn order by datname")
        databases = [r[0] for r in cur.fetchall()]
    conn.close()
    for db in databases:
        c = connect(psycopg2, host, port, db)
        c.autocommit = False
        with c.cursor() as cur:
            for statement in database_statements():
                cur.execute(statement)
        c.commit()
        c.close()
    print("pgha: PgBouncer's lookup role %s %s; %s.lookup() in %s" % (AUTH_USER, role, SCHEMA, ", ".join(databases)))


if __name__ == "__main__":
    main()
