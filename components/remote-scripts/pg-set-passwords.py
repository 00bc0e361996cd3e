# Rotates the superuser and replication passwords in PostgreSQL itself, on the
# leader only (replicas follow by replication). Runs as the postgres OS user over
# the local socket (peer authentication), so it needs no password to connect.
# Patroni's config files are rewritten only after this has run on every node.
# stdin: {"superuser": "...", "replication": "..."}; argv: <socket dir> <port>
import json
import sys

import psycopg2

secrets = json.loads(sys.stdin.read())
try:
    conn = psycopg2.connect(host=sys.argv[1], port=sys.argv[2], dbname="postgres", user="postgres", connect_timeout=3)
except psycopg2.OperationalError:
    print("pgha: PostgreSQL is not running here yet: Patroni creates the roles with these passwords")
    sys.exit(0)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("select pg_is_in_recovery()")
    if cur.fetchone()[0]:
        print("pgha: a replica: the leader sets the passwords")
        sys.exit(0)
    # Parameters, not string building: any character in a password is safe.
    cur.execute("ALTER ROLE postgres PASSWORD %s", (secrets["superuser"],))
    cur.execute("select 1 from pg_roles where rolname = 'replicator'")
    if cur.fetchone():
        cur.execute("ALTER ROLE replicator PASSWORD %s", (secrets["replication"],))
print("pgha: passwords set on the leader")
