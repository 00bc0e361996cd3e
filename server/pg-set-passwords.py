# Rotates the superuser and replication passwords in PostgreSQL itself, on the
# leader only (replicas follow by replication). Runs as the postgres OS user over
# the local socket (peer authentication), so it needs no password to connect.
# Patroni's config files are rewritten only after this has run on every node.
#
# No password reaches PostgreSQL: the SCRAM-SHA-256 verifier is computed here, as
# libpq's PQencryptPasswordConn (psql's \password) does, and ALTER ROLE gets the
# verifier. So a password cannot land in PostgreSQL's log (log_statement = all, an
# error's statement), pg_stat_activity or pg_stat_statements. A role whose stored
# verifier already matches its password is left alone.
#
# stdin: {"superuser": "...", "replication": "..."}; argv: <socket dir> <port>
import base64
import hashlib
import hmac
import json
import os
import stringprep
import sys
import unicodedata

# PostgreSQL's default (its scram_iterations, PostgreSQL 16+); a stored verifier is
# checked with its own iteration count and salt.
SCRAM_ITERATIONS = 4096
SALT_BYTES = 16

ROLES = (("postgres", "superuser"), ("replicator", "replication"))


def saslprep(password):
    """The bytes PostgreSQL hashes for `password`: SASLprep (RFC 4013) exactly as
    PostgreSQL's pg_saslprep applies it, or, where that refuses the password
    (prohibited or unassigned characters, bidi rules, nothing left), the password's
    own UTF-8 bytes, as PostgreSQL then falls back to."""
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = []
    for c in password:
        if stringprep.in_table_c12(c):
            mapped.append(" ")
        elif not stringprep.in_table_b1(c):
            mapped.append(c)
    if not mapped:
        return raw
    # PostgreSQL checks the mapped, not yet normalised characters.
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21,
        stringprep.in_table_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
        stringprep.in_table_a1,
    )
    if any(check(c) for c in mapped for check in prohibited):
        return raw
    if any(stringprep.in_table_d1(c) for c in mapped):
        if any(stringprep.in_table_d2(c) for c in mapped):
            return raw
        if not (stringprep.in_table_d1(mapped[0]) and stringprep.in_table_d1(mapped[-1])):
            return raw
    return unicodedata.normalize("NFKC", "".join(mapped)).encode("utf-8")


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def scram_sha256_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802, RFC 7677):
    SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, base64."""
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, _b64(salt), _b64(stored_key), _b64(server_key))


def verifier_matches(stored, password):
    """Whether `stored` (pg_authid.rolpassword) is a SCRAM-SHA-256 verifier of `password`."""
    try:
        method, rest = stored.split("$", 1)
        params, keys = rest.split("$", 1)
        iterations, salt = params.split(":", 1)
        if method != "SCRAM-SHA-256" or ":" not in keys:
            return False
        expected = scram_sha256_verifier(password, base64.b64decode(salt, validate=True), int(iterations))
    except (AttributeError, ValueError):
        return False
    return hmac.compare_digest(expected, stored)


def main():
    import psycopg2

    secrets = json.loads(sys.stdin.read())
    try:
        conn = psycopg2.connect(host=sys.argv[1], port=sys.argv[2], dbname="postgres", user="postgres", connect_timeout=3)
    except psycopg2.OperationalError:
        print("pgha: PostgreSQL is not running here yet: Patroni creates the roles with these passwords")
        return
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select pg_is_in_recovery()")
        if cur.fetchone()[0]:
            print("pgha: a replica: the leader sets the passwords")
            return
        done = []
        for role, key in ROLES:
            cur.execute("select rolpassword from pg_authid where rolname = %s", (role,))
            row = cur.fetchone()
            if row is None:
                continue  # replicator: Patroni creates it with its password at bootstrap
            if row[0] is not None and verifier_matches(row[0], secrets[key]):
                done.append("%s unchanged" % role)
                continue
            # Role names are pgha's constants; the value is a verifier, never the password.
            cur.execute("ALTER ROLE %s PASSWORD %%s" % role, (scram_sha256_verifier(secrets[key]),))
            done.append("%s set" % role)
    print("pgha: passwords on the leader: %s" % ", ".join(done))


if __name__ == "__main__":
    main()
