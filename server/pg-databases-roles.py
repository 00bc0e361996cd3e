# Creates and updates the databases and roles the stack declares (pgha:databases,
# pgha:roles) on the leader; never drops or renames one. Runs as the postgres OS user
# over the local socket (peer authentication). Every PostgreSQL node runs it: the leader
# acts; a replica waits until it sees the declared state replicated, so a leader that
# did not act cannot go unnoticed.
#
# No password reaches PostgreSQL: CREATE/ALTER ROLE get the SCRAM-SHA-256 verifier made
# here (pg-set-passwords.py's), and a role whose stored verifier matches is left alone.
#
# pgha keeps a record in the postgres database, schema pgha: the roles, databases and
# extensions it manages (so it can report those the stack no longer lists: they are
# kept), and the memberships it granted itself (so it revokes only those, never a grant
# it did not make).
#
# stdin: {"roles": [{"name", "login", "connectionLimit", "memberOf", "password"?}],
#         "databases": [{"name", "owner", "encoding"?, "locale"?, "extensions"}]}
# argv: <socket dir> <port> [<seconds a replica waits>]
import importlib.util
import json
import os
import re
import sys
import time

NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
EXTENSION_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")
REPLICA_WAIT_SEC = 120

RECORD_DDL = (
    "CREATE SCHEMA IF NOT EXISTS pgha",
    "CREATE TABLE IF NOT EXISTS pgha.managed (kind text NOT NULL, name text NOT NULL, PRIMARY KEY (kind, name))",
    "CREATE TABLE IF NOT EXISTS pgha.granted (role text NOT NULL, member text NOT NULL, PRIMARY KEY (role, member))",
)


class Refused(Exception):
    """The declared state cannot be reached; nothing was changed."""


def _scram():
    """pg-set-passwords.py, installed beside this program: its verifier functions."""
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("pg_set_passwords", os.path.join(here, "pg-set-passwords.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ident(name):
    """A quoted SQL identifier (the names are checked at preview and here again)."""
    return '"%s"' % name.replace('"', '""')


def read_state(connect, want):
    """What the server holds of the declared objects and of pgha's record; read-only, so a replica can read it too."""
    conn = connect("postgres")
    with conn.cursor() as cur:
        cur.execute("select rolname, rolcanlogin, rolconnlimit, rolpassword from pg_authid")
        roles = {r[0]: {"login": r[1], "connectionLimit": r[2], "verifier": r[3]} for r in cur.fetchall()}
        cur.execute("select r.rolname, m.rolname from pg_auth_members a join pg_authid r on r.oid = a.roleid join pg_authid m on m.oid = a.member")
        members = sorted({(r[0], r[1]) for r in cur.fetchall()})
        cur.execute(
            "select datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype, datallowconn from pg_database"
        )
        databases = {r[0]: {"owner": r[1], "encoding": r[2], "collate": r[3], "ctype": r[4], "allowConn": r[5]} for r in cur.fetchall()}
        cur.execute("select name from pg_available_extensions")
        available = sorted(r[0] for r in cur.fetchall())
        cur.execute("select to_regclass('pgha.managed') is not null and to_regclass('pgha.granted') is not null")
        managed, granted = [], []
        if cur.fetchone()[0]:
            cur.execute("select kind, name from pgha.managed")
            managed = sorted([r[0], r[1]] for r in cur.fetchall())
            cur.execute("select role, member from pgha.granted")
            granted = sorted([r[0], r[1]] for r in cur.fetchall())
    extensions = {}
    for d in want.get("databases", []):
        if d["name"] in databases and databases[d["name"]]["allowConn"]:
            with connect(d["name"]).cursor() as cur:
                cur.execute("select extname from pg_extension")
                extensions[d["name"]] = sorted(r[0] for r in cur.fetchall())
    return {
        "roles": roles,
        "members": [list(m) for m in members],
        "databases": databases,
        "available": available,
        "managed": managed,
        "granted": granted,
        "extensions": extensions,
    }


def _step(label, sql, db="postgres", autocommit=False):
    return {"label": label, "db": db, "autocommit": autocommit, "sql": sql}


def _record(kind, name):
    return ["INSERT INTO pgha.managed (kind, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", [kind, name]]


def problems_of(state, want):
    """What stops the declared state: checked before anything changes."""
    out = []
    declared = {r["name"] for r in want.get("roles", [])}
    for r in want.get("roles", []):
        if not NAME_RE.match(r["name"]):
            out.append("role %r: not a name pgha accepts" % r["name"])
        for parent in r.get("memberOf", []):
            if not NAME_RE.match(parent) or (parent not in declared and parent not in state["roles"]):
                out.append("role %s: member of %s, which does not exist on this server" % (r["name"], parent))
    for d in want.get("databases", []):
        name = d["name"]
        if not NAME_RE.match(name) or not NAME_RE.match(d["owner"]):
            out.append("database %r: not a name pgha accepts" % name)
            continue
        if d["owner"] not in declared and d["owner"] not in state["roles"]:
            out.append("database %s: its owner %s does not exist on this server" % (name, d["owner"]))
        for e in d.get("extensions", []):
            if not EXTENSION_RE.match(e):
                out.append("database %s: %r is not an extension name pgha accepts" % (name, e))
            elif e not in state["available"]:
                out.append(
                    "database %s: the extension %s is not available on this server (its package is not installed; pgha installs none)" % (name, e)
                )
        cur = state["databases"].get(name)
        if cur is None:
            continue
        if not cur["allowConn"]:
            out.append("database %s: it does not accept connections (datallowconn is false)" % name)
        if d.get("encoding") and cur["encoding"].upper() != d["encoding"].upper():
            out.append(
                "database %s: its encoding is %s and the stack says %s; PostgreSQL cannot change a database's encoding "
                "(dump it and restore it into a new database)" % (name, cur["encoding"], d["encoding"])
            )
        if d.get("locale") and (cur["collate"] != d["locale"] or cur["ctype"] != d["locale"]):
            out.append(
                "database %s: its locale is %s (LC_COLLATE) and %s (LC_CTYPE) and the stack says %s; PostgreSQL cannot change "
                "a database's locale (dump it and restore it into a new database)" % (name, cur["collate"], cur["ctype"], d["locale"])
            )
    return out


def plan(state, want, passwords, scram):
    """The steps from `state` to `want`, in order (roles, memberships, databases, extensions,
    revokes), and the objects pgha manages that the stack no longer lists (kept). Passwords
    become verifiers here; a step never holds a password."""
    steps = []
    managed = {tuple(m) for m in state["managed"]}
    members = {tuple(m) for m in state["members"]}
    wanted_roles = {r["name"]: r for r in want.get("roles", [])}

    for r in want.get("roles", []):
        name, limit = r["name"], int(r.get("connectionLimit", -1))
        login = "LOGIN" if r.get("login") else "NOLOGIN"
        password = passwords.get(name)
        cur = state["roles"].get(name)
        if cur is None:
            sql = "CREATE ROLE %s %s CONNECTION LIMIT %%s" % (ident(name), login)
            params = [limit]
            if password is not None:
                sql += " PASSWORD %s"
                params.append(scram.scram_sha256_verifier(password))
            steps.append(_step("role %s created (%s)" % (name, login), [[sql, params], _record("role", name)]))
            continue
        if cur["login"] != bool(r.get("login")) or cur["connectionLimit"] != limit:
            steps.append(_step("role %s: %s, connection limit %d" % (name, login, limit), [["ALTER ROLE %s %s CONNECTION LIMIT %%s" % (ident(name), login), [limit]]]))
        if password is not None and not (cur["verifier"] and scram.verifier_matches(cur["verifier"], password)):
            steps.append(_step("role %s: password set" % name, [["ALTER ROLE %s PASSWORD %%s" % ident(name), [scram.scram_sha256_verifier(password)]]]))
        if ("role", name) not in managed:
            steps.append(_step("role %s: managed by pgha from now on" % name, [_record("role", name)]))

    granted = {tuple(g) for g in state["granted"]}
    for r in want.get("roles", []):
        for parent in r.get("memberOf", []):
            if (parent, r["name"]) not in members:
                steps.append(
                    _step(
                        "role %s: granted %s" % (r["name"], parent),
                        [
                            ["GRANT %s TO %s" % (ident(parent), ident(r["name"])), None],
                            ["INSERT INTO pgha.granted (role, member) VALUES (%s, %s) ON CONFLICT DO NOTHING", [parent, r["name"]]],
                        ],
                    )
                )
    # Only memberships pgha granted itself, of roles the stack still lists (a role it no longer lists is kept as it is).
    for parent, member in sorted(granted):
        if member not in wanted_roles or parent in wanted_roles[member].get("memberOf", []):
            continue
        forget = ["DELETE FROM pgha.granted WHERE role = %s AND member = %s", [parent, member]]
        if (parent, member) in members:
            steps.append(_step("role %s: revoked %s (granted by pgha, no longer listed)" % (member, parent), [["REVOKE %s FROM %s" % (ident(parent), ident(member)), None], forget]))
        else:
            steps.append(_step("role %s: %s was revoked outside pgha; its record is dropped" % (member, parent), [forget]))

    template = state["databases"].get("template1", {})
    for d in want.get("databases", []):
        name, owner = d["name"], d["owner"]
        cur = state["databases"].get(name)
        if cur is None:
            sql = "CREATE DATABASE %s OWNER %s" % (ident(name), ident(owner))
            params = []
            differs = (d.get("encoding") and d["encoding"].upper() != str(template.get("encoding", "")).upper()) or (
                d.get("locale") and (d["locale"] != template.get("collate") or d["locale"] != template.get("ctype"))
            )
            if differs:
                sql += " TEMPLATE template0"
            if d.get("encoding"):
                sql += " ENCODING %s"
                params.append(d["encoding"])
            if d.get("locale"):
                sql += " LC_COLLATE %s LC_CTYPE %s"
                params += [d["locale"], d["locale"]]
            steps.append(_step("database %s created (owner %s)" % (name, owner), [[sql, params]], autocommit=True))
            steps.append(_step(None, [_record("database", name)]))
        else:
            if cur["owner"] != owner:
                steps.append(_step("database %s: owner %s (was %s)" % (name, owner, cur["owner"]), [["ALTER DATABASE %s OWNER TO %s" % (ident(name), ident(owner)), None]]))
            if ("database", name) not in managed:
                steps.append(_step("database %s: managed by pgha from now on" % name, [_record("database", name)]))
        have = state["extensions"].get(name, [])
        for e in d.get("extensions", []):
            if e not in have:
                steps.append(_step("database %s: extension %s created" % (name, e), [["CREATE EXTENSION IF NOT EXISTS %s" % ident(e), None]], db=name))
            if ("extension", "%s.%s" % (name, e)) not in managed:
                steps.append(_step(None, [_record("extension", "%s.%s" % (name, e))]))

    listed = {("role", n) for n in wanted_roles} | {("database", d["name"]) for d in want.get("databases", [])}
    listed |= {("extension", "%s.%s" % (d["name"], e)) for d in want.get("databases", []) for e in d.get("extensions", [])}
    kept = []
    for kind, name in sorted(managed - listed):
        if kind == "role" and name in state["roles"]:
            kept.append("role %s" % name)
        elif kind == "database" and name in state["databases"]:
            kept.append("database %s" % name)
        elif kind == "extension":
            # Only in the databases the stack lists (a database it no longer lists is reported itself).
            db, ext = name.split(".", 1)
            if ext in state["extensions"].get(db, []):
                kept.append("extension %s in database %s" % (ext, db))
    return steps, kept


def execute(connect, steps, error):
    """Runs the steps in order, each in one transaction (CREATE DATABASE on its own). A step
    without a label is bookkeeping (pgha's record) and says nothing."""
    done = []
    for step in steps:
        conn = connect(step["db"])
        conn.autocommit = step["autocommit"]
        try:
            with conn.cursor() as cur:
                for sql, params in step["sql"]:
                    cur.execute(sql, params)
            if not step["autocommit"]:
                conn.commit()
        except error as e:
            if not step["autocommit"]:
                conn.rollback()
            what = step["label"] or "pgha's record"
            raise Refused("pgha: %s: failed: %s" % (what, (getattr(e, "pgerror", None) or str(e)).strip()))
        finally:
            conn.autocommit = True
        if step["label"]:
            done.append(step["label"])
            print("pgha: %s" % step["label"])
    return done


def main():
    import psycopg2

    want = json.loads(sys.stdin.read())
    passwords = {r["name"]: r["password"] for r in want.get("roles", []) if r.get("password") is not None}
    wait = int(sys.argv[3]) if len(sys.argv) > 3 else REPLICA_WAIT_SEC
    conns = {}

    def connect(db):
        if db not in conns:
            conns[db] = psycopg2.connect(host=sys.argv[1], port=sys.argv[2], dbname=db, user="postgres", connect_timeout=3)
            conns[db].autocommit = True
        return conns[db]

    try:
        conn = connect("postgres")
    except psycopg2.OperationalError:
        print("pgha: PostgreSQL is not running here: the leader creates the databases and roles")
        return
    scram = _scram()
    with conn.cursor() as cur:
        cur.execute("select pg_is_in_recovery()")
        replica = cur.fetchone()[0]
    deadline = time.monotonic() + wait
    done = []
    while True:
        state = read_state(connect, want)
        problems = problems_of(state, want)
        if problems:
            raise Refused("\n".join("pgha: %s" % p for p in problems) + "\npgha: nothing was changed")
        steps, kept = plan(state, want, passwords, scram)
        if not replica or not steps:
            break
        if time.monotonic() > deadline:
            raise Refused(
                "pgha: a replica: after %ds the leader's databases and roles are still not here (%s); see the leader's step"
                % (wait, "; ".join(s["label"] or "pgha's record" for s in steps))
            )
        time.sleep(2)
        # Reconnect: a database the leader created since is not in this connection's view of the catalog otherwise.
        for c in conns.values():
            c.close()
        conns.clear()
        connect("postgres")
    if replica:
        print("pgha: a replica: the leader's databases and roles are here")
    elif steps:
        with conn.cursor() as cur:
            for ddl in RECORD_DDL:
                cur.execute(ddl)
        done = execute(connect, steps, psycopg2.Error)
        left, _ = plan(read_state(connect, want), want, passwords, scram)
        if left:
            raise Refused("pgha: still differs after the changes: %s" % "; ".join(s["label"] or "pgha's record" for s in left))
    if not replica and not done:
        print("pgha: databases and roles on the leader: no change")
    if kept:
        print("pgha: kept, no longer in the stack (pgha never drops one): %s" % ", ".join(kept))


if __name__ == "__main__":
    try:
        main()
    except Refused as e:
        print(str(e), file=sys.stderr)
        sys.exit(1)
