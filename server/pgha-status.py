# One node's part of `npm run status` (scripts/ops/status.ts): what this node sees, read-only,
# as one JSON object on stdout. Run over SSH as root with this file on stdin (it is not
# installed on the nodes); every probe is bounded by --timeout and a failing probe is
# reported in its own field, so one broken service never hides the others.
#
#   pgha-status.py PARAMS_JSON
#
# PARAMS_JSON (no secret): {"node", "timeout", "vip" (address or null), "units": [unit...],
#   "patroniUrl" (postgres nodes), "etcd": {"endpoint", "cacert", "cert", "key"} (etcd nodes),
#   "haproxy": {"socket", "statsUrl"} (haproxy nodes), "certs": [path...]}
# Patroni's REST API is read with the CA and basic auth of /etc/patroni/config.yml (root reads
# it), as pgha_rest.py does: the password never leaves that 0600 file.
import base64
import csv
import io
import json
import socket
import ssl
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone

PATRONI_CONFIG = "/etc/patroni/config.yml"


def holds_vip(ip_addr_text, vip):
    """Whether `ip -o addr` lists the VIP as one of this node's addresses."""
    for line in ip_addr_text.splitlines():
        words = line.split()
        for i, w in enumerate(words[:-1]):
            if w == "inet" and words[i + 1].split("/")[0] == vip:
                return True
    return False


def patroni_summary(cluster):
    """Patroni's GET /cluster -> the members as status shows them (3.0 and 4.0 alike)."""
    out = []
    for m in cluster.get("members") or []:
        lag = m.get("lag")
        out.append({
            "name": m.get("name"),
            "role": m.get("role"),
            "state": m.get("state"),
            "timeline": m.get("timeline"),
            "lag": lag if isinstance(lag, int) else None,
            "host": m.get("host"),
        })
    return {"members": sorted(out, key=lambda m: m["name"] or "")}


def etcd_summary(status):
    """`etcdctl endpoint status -w json` for one endpoint -> ids as hex strings (uint64s do not survive JSON in JavaScript)."""
    s = status[0]["Status"]
    return {
        "memberId": "%x" % s["header"]["member_id"],
        "leaderId": "%x" % s["leader"],
        "raftTerm": s.get("raftTerm", s["header"].get("raft_term")),
        "version": s.get("version"),
        "dbSize": s.get("dbSize"),
        "errors": s.get("errors") or [],
    }


def haproxy_servers(stats_csv):
    """HAProxy's `show stat` CSV -> each backend server's status (the stats proxy left out)."""
    rows = csv.DictReader(io.StringIO(stats_csv.lstrip("# ")))
    return [
        {"proxy": r["pxname"], "server": r["svname"], "status": r["status"], "check": r.get("check_status") or ""}
        for r in rows
        if r.get("svname") not in ("FRONTEND", "BACKEND", None) and r["pxname"] != "stats"
    ]


def parse_not_after(openssl_out):
    """`openssl x509 -noout -enddate` -> ISO 8601 UTC."""
    value = openssl_out.strip().split("=", 1)[1]
    return datetime.strptime(value, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(cmd, timeout):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError((p.stderr or p.stdout).strip().splitlines()[-1:] or ["exit %d" % p.returncode])
    return p.stdout


def guarded(fn):
    """fn()'s result, or {"error": one line} when it fails."""
    try:
        return fn()
    except Exception as e:
        text = " ".join(e.args[0]) if e.args and isinstance(e.args[0], list) else str(e)
        return {"error": ("%s: %s" % (type(e).__name__, text)).strip()[:300]}


def patroni_get(url, timeout):
    import yaml  # PyYAML comes with Patroni: only postgres nodes get here

    with open(PATRONI_CONFIG) as f:
        cfg = yaml.safe_load(f) or {}
    cafile = (cfg.get("ctl") or {}).get("cacert") or (cfg.get("restapi") or {}).get("cafile")
    req = urllib.request.Request(url + "/cluster")
    auth = (cfg.get("restapi") or {}).get("authentication") or {}
    if auth.get("username"):
        token = base64.b64encode(("%s:%s" % (auth["username"], auth.get("password", ""))).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    with urllib.request.urlopen(req, timeout=timeout, context=ssl.create_default_context(cafile=cafile)) as r:
        return patroni_summary(json.loads(r.read().decode()))


def etcd_status(e, timeout):
    out = run(["etcdctl", "--endpoints=" + e["endpoint"], "--cacert=" + e["cacert"], "--cert=" + e["cert"], "--key=" + e["key"],
               "--dial-timeout=%ds" % timeout, "--command-timeout=%ds" % timeout, "-w", "json", "endpoint", "status"], timeout + 2)
    return etcd_summary(json.loads(out))


def haproxy_stats(h, timeout):
    """From the admin socket; the stats page when the socket does not answer."""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(h["socket"])
        s.sendall(b"show stat\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
        s.close()
        text = b"".join(chunks).decode()
    except OSError:
        text = urllib.request.urlopen(h["statsUrl"], timeout=timeout).read().decode()
    return {"servers": haproxy_servers(text)}


def cert_expiry(path, timeout):
    return {"path": path, "notAfter": parse_not_after(run(["openssl", "x509", "-noout", "-enddate", "-in", path], timeout))}


def unit_states(units, timeout):
    out = {}
    for u in units:
        p = subprocess.run(["systemctl", "is-active", u], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        out[u] = p.stdout.strip() or "unknown"
    return out


def collect(params):
    t = params.get("timeout", 5)
    out = {"node": params["node"]}
    if params.get("vip"):
        out["vip"] = guarded(lambda: {"held": holds_vip(run(["ip", "-o", "addr", "show"], t), params["vip"])})
    out["units"] = guarded(lambda: unit_states(params.get("units") or [], t))
    if params.get("patroniUrl"):
        out["patroni"] = guarded(lambda: patroni_get(params["patroniUrl"], t))
    if params.get("etcd"):
        out["etcd"] = guarded(lambda: etcd_status(params["etcd"], t))
    if params.get("haproxy"):
        out["haproxy"] = guarded(lambda: haproxy_stats(params["haproxy"], t))
    out["certs"] = [guarded(lambda p=p: cert_expiry(p, t)) | {"path": p} for p in params.get("certs") or []]
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    print(json.dumps(collect(json.loads(argv[0]))))


if __name__ == "__main__":
    main()
