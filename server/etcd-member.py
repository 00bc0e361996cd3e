# pgha's etcd membership logic (etcd 3.4, etcdctl v3 API, JSON output).
#
#   etcd-member.py start --config PATH --fingerprint HEX [--wait SEC]
#       Runs this member. A member with data restarts only when its restart-relevant
#       settings (the fingerprint) changed or it is not running. A member without
#       data joins a running cluster (one with quorum through the OTHER members'
#       client URLs): `member add` unless already listed, then starts with
#       initial-cluster-state existing and initial-cluster = the current members
#       plus itself, and waits until it is healthy and started. With no running
#       cluster (first bootstrap, members starting in parallel) it starts without
#       waiting: a new member is ready only once a quorum of its peers runs.
#       Data left by an earlier removal (the cluster answers with quorum and does
#       not list this member) is moved aside first, never deleted.
#   etcd-member.py stop --config PATH [--delete-data]
#       Stops this member. Its data stays, unless --delete-data, or unless the
#       cluster (answering with quorum) no longer lists it: then the data dir is
#       moved aside to <data-dir>.removed-<UTC time> so that a later re-add starts clean.
#   etcd-member.py membership --config PATH --member NAME PEER_URL CLIENT_URL [--member ...] [--wait SEC]
#       The cluster-level step, after every member's start: removes each listed
#       member the stack no longer has, one at a time and only while the remaining
#       members keep a healthy quorum, then waits until exactly the stack's members
#       are listed, started and healthy.
#
# Everything it needs about this member comes from the member's own etcd config
# file (name, data-dir, URLs, initial-cluster), so the command text calling it does
# not change when other members come or go. pgha writes that file as JSON (which etcd
# reads as YAML) after a few '#' comment lines. This script is the one owner of its
# initial-cluster-state: pgha leaves the key out (etcd's default, new, bootstraps),
# and a member joining a running cluster gets "existing" from here (with_join).
# etcdctl authenticates with the member's own certificate and trusts the CA named in
# its client-transport-security block.
# Environment: PGHA_ETCD_SUPERVISOR=process runs etcd as a plain background process
# (pid and log next to the config file) instead of through systemd: tests only.
import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse

SUPERVISOR = os.environ.get("PGHA_ETCD_SUPERVISOR", "systemd")
ETCD_BIN = os.environ.get("PGHA_ETCD_BIN", "/usr/bin/etcd")
ETCDCTL = os.environ.get("PGHA_ETCDCTL", "etcdctl")
# --cacert/--cert/--key for etcdctl, from the config file's client-transport-security.
ETCDCTL_TLS = []
# A line at most this often while a member joins (Pulumi shows it as it comes).
REPORT_SEC = 10
DIAL_TIMEOUT = "2s"
COMMAND_TIMEOUT = "2s"


def log(msg):
    print("pgha: " + msg, flush=True)


def fail(msg):
    raise SystemExit("pgha: " + msg)


class EtcdctlError(SystemExit):
    """An etcdctl call that failed: fatal, except inside wait_until, which retries it."""


# ---------------------------------------------------------------------------
# The member's config file, as pgha writes it (core/render/etcd.ts): '#' comment lines,
# then one JSON object (etcd reads the same file as YAML; JSON is YAML).

REQUIRED_KEYS = ("name", "data-dir", "initial-advertise-peer-urls", "advertise-client-urls", "initial-cluster")


def split_config(text):
    """'#' comment lines (and blank lines) at the top, then a JSON object -> (comment lines, dict).
    Raises ValueError when the rest is not a JSON object."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        i += 1
    cfg = json.loads("".join(lines[i:]))
    if not isinstance(cfg, dict):
        raise ValueError("not a JSON object")
    return [l.rstrip("\r\n") for l in lines[:i] if l.strip()], cfg


def format_config(header, cfg):
    """The inverse of split_config, in the layout pgha renders (JSON.stringify(cfg, null, 2))."""
    return "".join(h + "\n" for h in header) + json.dumps(cfg, indent=2) + "\n"


def read_config(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        fail("cannot read the etcd config %s: %s" % (path, e))
    try:
        _, cfg = split_config(text)
    except ValueError as e:
        fail("%s is not the JSON etcd config pgha writes (%s): `pulumi up` rewrites it" % (path, e))
    for key in REQUIRED_KEYS:
        if not cfg.get(key):
            fail("%s has no %s" % (path, key))
    return cfg


def client_tls(cfg):
    """etcdctl's --cacert/--cert/--key: this node's certificate, when the config asks for client TLS."""
    sec = cfg.get("client-transport-security") or {}
    if not sec.get("cert-file"):
        return []
    return ["--cacert=" + sec.get("trusted-ca-file", ""), "--cert=" + sec["cert-file"], "--key=" + sec.get("key-file", "")]


def configure_tls(cfg):
    ETCDCTL_TLS[:] = client_tls(cfg)


def parse_cluster(text):
    """'a=http://x:2380,b=...' -> [(name, peer_url)]"""
    out = []
    for item in filter(None, text.split(",")):
        name, _, url = item.partition("=")
        out.append((name, url))
    return out


def client_url_for(peer_url, client_port):
    u = urllib.parse.urlsplit(peer_url)
    return "%s://%s:%d" % (u.scheme, u.hostname, client_port)


JOIN_NOTE = "# initial-cluster and initial-cluster-state set by pgha's etcd-member.py to join the running cluster"


def initial_cluster_state(cfg):
    """What etcd does with an empty data dir: "new" (bootstrap a cluster) or "existing" (join one).
    This script is the one owner of the key: pgha's renderer leaves it out (etcd then reads
    "new", its default), and only with_join writes it, "existing", for a member joining a
    running cluster."""
    return cfg.get("initial-cluster-state", "new")


def with_join(text, initial_cluster):
    """The config text set to join a running cluster: initial-cluster-state existing and
    initial-cluster = the running members plus this one (etcd ignores both once it has data)."""
    header, cfg = split_config(text)
    cfg["initial-cluster"] = initial_cluster
    cfg["initial-cluster-state"] = "existing"
    return format_config([h for h in header if h != JOIN_NOTE] + [JOIN_NOTE], cfg)


class Member:
    """This member as its config file describes it."""

    def __init__(self, path):
        self.path = path
        self.cfg = read_config(path)
        self.name = self.cfg["name"]
        self.data_dir = self.cfg["data-dir"].rstrip("/")
        self.peer_url = self.cfg["initial-advertise-peer-urls"].split(",")[0]
        self.client_url = self.cfg["advertise-client-urls"].split(",")[0]
        client_port = urllib.parse.urlsplit(self.client_url).port
        self.stack = parse_cluster(self.cfg["initial-cluster"])
        # The other members' client URLs: pgha gives every member the same ports.
        self.others = [client_url_for(u, client_port) for n, u in self.stack if u != self.peer_url]
        self.stamp = self.data_dir + ".pgha-fingerprint"

    def has_data(self):
        return os.path.isdir(os.path.join(self.data_dir, "member"))

    def set_join(self, initial_cluster):
        """Rewrites the config file in place to join the running cluster (see with_join)."""
        with open(self.path) as f:
            text = f.read()
        try:
            text = with_join(text, initial_cluster)
        except ValueError as e:
            fail("%s is not the JSON etcd config pgha writes (%s): `pulumi up` rewrites it" % (self.path, e))
        st = os.stat(self.path)
        tmp = self.path + ".pgha-join"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, self.path)
        self.cfg = read_config(self.path)


# ---------------------------------------------------------------------------
# etcdctl


def etcdctl(endpoints, *args, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    cmd = [ETCDCTL, "--endpoints=" + ",".join(endpoints), *ETCDCTL_TLS, "--dial-timeout=" + DIAL_TIMEOUT, "--command-timeout=" + COMMAND_TIMEOUT, "-w", "json", *args]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise EtcdctlError("pgha: etcdctl %s failed: %s" % (" ".join(args), last_line(p.stderr) or p.stdout.strip()))
    return p


def last_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else ""


def tcp_open(url, timeout=1.0):
    u = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((u.hostname, u.port), timeout=timeout).close()
        return True
    except OSError:
        return False


def probe(endpoints):
    """Per endpoint, in parallel: {"answers": bool, "healthy": bool, "leader": int, "error": str}.
    Answering needs no quorum (endpoint status is served locally); healthy is a
    linearizable read, so one healthy endpoint means the cluster has quorum. A member
    that knows no leader is not asked for health (it could only time out)."""

    def one(ep):
        r = {"answers": False, "healthy": False, "leader": 0, "error": "not reachable"}
        if not tcp_open(ep):
            return r
        p = etcdctl([ep], "endpoint", "status", check=False)
        try:
            r["leader"] = int(json.loads(p.stdout)[0]["Status"]["leader"])
            r["answers"] = True
        except (ValueError, LookupError, TypeError):
            r["error"] = last_line(p.stderr) or "no answer"
            return r
        if not r["leader"]:
            r["error"] = "no leader"
            return r
        p = etcdctl([ep], "endpoint", "health", check=False)
        try:
            h = json.loads(p.stdout)[0]
            r["healthy"] = bool(h.get("health"))
            r["error"] = "" if r["healthy"] else (h.get("error") or "unhealthy")
        except (ValueError, LookupError, TypeError):
            r["error"] = last_line(p.stderr) or "unhealthy"
        return r

    if not endpoints:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
        return dict(zip(endpoints, pool.map(one, endpoints)))


def describe(result):
    return "; ".join("%s: %s" % (ep, "healthy" if r["healthy"] else ("answers without quorum (%s)" % r["error"] if r["answers"] else r["error"])) for ep, r in result.items()) or "no endpoints"


def list_members(endpoints, attempts=6):
    """`member list`, retried for a few seconds (a leader election, a member restarting)."""
    for i in range(attempts):
        try:
            return json.loads(etcdctl(endpoints, "member", "list").stdout).get("members", [])
        except EtcdctlError:
            if i == attempts - 1:
                raise
            time.sleep(0.5)


def hexid(m):
    return "%x" % int(m["ID"])


def started(m):
    # etcd publishes a member's name and client URLs once it has started.
    return bool(m.get("name")) and bool(m.get("clientURLs"))


def show(m):
    return "%s %s %s" % (m.get("name") or "(unstarted)", hexid(m), ",".join(m.get("peerURLs", [])))


# ---------------------------------------------------------------------------
# Running etcd: systemd, or a plain process for tests


def pidfile(member):
    return member.path + ".pid"


def proc_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def read_pid(member):
    try:
        with open(pidfile(member)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def is_running(member):
    if SUPERVISOR == "process":
        pid = read_pid(member)
        return pid > 0 and proc_alive(pid)
    p = subprocess.run(["systemctl", "show", "-p", "ActiveState", "--value", "etcd"], capture_output=True, text=True)
    return p.stdout.strip() in ("active", "activating", "reloading")


def stop_etcd(member):
    if SUPERVISOR == "process":
        pid = read_pid(member)
        if pid > 0 and proc_alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 15
            while proc_alive(pid) and time.time() < deadline:
                time.sleep(0.1)
            if proc_alive(pid):
                os.kill(pid, signal.SIGKILL)
        try:
            os.unlink(pidfile(member))
        except OSError:
            pass
        return
    subprocess.run(["systemctl", "disable", "--now", "etcd"], capture_output=True)


def start_etcd(member, block, wait_sec):
    """(Re)starts etcd. block: return only once the new process is ready (systemd's notify
    comes once the member has joined a quorum); otherwise return at once."""
    if SUPERVISOR == "process":
        stop_etcd(member)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(member.path + ".log", "a") as out:
            p = subprocess.Popen([ETCD_BIN, "--config-file", member.path], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        with open(pidfile(member), "w") as f:
            f.write(str(p.pid))
        return
    restart = ["systemctl", "restart", "etcd"] if block else ["systemctl", "restart", "--no-block", "etcd"]
    for cmd in (["systemctl", "daemon-reload"], ["systemctl", "enable", "etcd"], restart):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=wait_sec)
        except subprocess.TimeoutExpired:
            fail("%s: etcd not ready after %d s\n%s" % (" ".join(cmd), wait_sec, recent_log(member)))
        if p.returncode != 0:
            fail("%s failed: %s\n%s" % (" ".join(cmd), p.stderr.strip(), recent_log(member)))


def recent_log(member):
    if SUPERVISOR == "process":
        try:
            with open(member.path + ".log") as f:
                return "\n".join(f.read().splitlines()[-12:])
        except OSError:
            return ""
    p = subprocess.run(["journalctl", "-u", "etcd", "-n", "12", "--no-pager", "-o", "cat"], capture_output=True, text=True)
    return p.stdout.strip()


# ---------------------------------------------------------------------------
# start


def cluster_state(member, settle_sec):
    """("quorum", healthy endpoints) | ("no-quorum", answering endpoints) | ("none", [])
    through the OTHER members. An answering cluster without quorum gets settle_sec to elect a leader."""
    deadline = time.time() + settle_sec
    while True:
        res = probe(member.others)
        healthy = [ep for ep, r in res.items() if r["healthy"]]
        answering = [ep for ep, r in res.items() if r["answers"]]
        if healthy:
            return "quorum", healthy, res
        if not answering:
            return "none", [], res
        if time.time() >= deadline:
            return "no-quorum", answering, res
        time.sleep(0.5)


def move_aside(path):
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest = "%s.removed-%s" % (path, ts)
    os.rename(path, dest)
    return dest


def write_stamp(member, fingerprint):
    with open(member.stamp, "w") as f:
        f.write(fingerprint + "\n")


def read_stamp(member):
    try:
        with open(member.stamp) as f:
            return f.read().strip()
    except OSError:
        return ""


def wait_joined(member, healthy_eps, wait_sec):
    """Until this member's endpoint is healthy and the cluster lists it as started."""
    begun = time.time()
    deadline = begun + wait_sec
    next_report = begun + REPORT_SEC
    reason = "not checked yet"
    while True:
        mine = probe([member.client_url])[member.client_url]
        if mine["healthy"]:
            try:
                me = [m for m in list_members(healthy_eps + [member.client_url], attempts=1) if member.peer_url in m.get("peerURLs", [])]
            except EtcdctlError as e:
                me, reason = [], str(e)
            if me and started(me[0]):
                return me[0]
            reason = "the cluster lists it as %s" % (show(me[0]) if me else "absent")
        else:
            reason = "its endpoint %s: %s" % (member.client_url, mine["error"])
        if time.time() >= deadline:
            fail("etcd member %s is not healthy after %d s: %s\n%s" % (member.name, wait_sec, reason, recent_log(member)))
        if time.time() >= next_report:
            next_report = time.time() + REPORT_SEC
            log("etcd member %s is joining (%d s): %s" % (member.name, time.time() - begun, reason))
        time.sleep(0.5)


def ca_fingerprint(member):
    """etcd reads its trusted CA only at start (its certificate on every handshake): a new CA restarts it."""
    path = (member.cfg.get("client-transport-security") or {}).get("trusted-ca-file")
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            return ":ca-" + hashlib.sha256(f.read()).hexdigest()[:16]
    except OSError as e:
        fail("cannot read the CA file %s: %s" % (path, e))


def cmd_start(args):
    m = Member(args.config)
    args.fingerprint += ca_fingerprint(m)
    state, eps, res = cluster_state(m, settle_sec=20 if not m.has_data() else 0)
    if m.has_data() and state == "quorum":
        members = list_members(eps)
        if not any(m.peer_url in x.get("peerURLs", []) for x in members):
            if is_running(m):
                stop_etcd(m)
            dest = move_aside(m.data_dir)
            log("%s's data dir belonged to a member the cluster no longer lists: moved aside to %s" % (m.name, dest))
    if m.has_data():
        restart = not is_running(m) or read_stamp(m) != args.fingerprint
        if restart:
            start_etcd(m, block=state == "quorum", wait_sec=args.wait)
            write_stamp(m, args.fingerprint)
        if state == "quorum":
            me = wait_joined(m, eps, args.wait)
            log("etcd member %s (%s) is healthy%s" % (m.name, hexid(me), ", restarted" if restart else ""))
        else:
            # No quorum without this member (the whole cluster starting): the cluster step waits.
            log("etcd member %s %s; no quorum through %s yet (%s): not waiting here" % (m.name, "started" if restart else "running", ",".join(m.others) or "no other member", describe(res)))
        return
    # No data: join or bootstrap.
    if state == "none":
        if initial_cluster_state(m.cfg) != "new":
            fail("%s has no data, no other member answers, and %s is set to join an existing cluster (%s): start the existing members first" % (m.name, m.path, m.cfg.get("initial-cluster")))
        start_etcd(m, block=False, wait_sec=args.wait)
        write_stamp(m, args.fingerprint)
        log("etcd member %s bootstrapping a new cluster (%s); not waiting: it is ready once a quorum of its peers runs" % (m.name, m.cfg["initial-cluster"]))
        return
    if state == "no-quorum":
        fail("%s has no data and must join, but the running members answer without quorum: %s" % (m.name, describe(res)))
    join(m, eps, args)


def join(m, eps, args):
    members = list_members(eps)
    mine = [x for x in members if m.peer_url in x.get("peerURLs", [])]
    clash = [x for x in members if x.get("name") == m.name and not mine]
    if clash:
        fail("the cluster lists a member named %s with other peer URLs (%s): remove it first (etcdctl member remove %s)" % (m.name, show(clash[0]), hexid(clash[0])))
    if mine:
        log("%s is already listed (%s): starting it" % (m.name, show(mine[0])))
    else:
        members = add_member(m, eps, args.wait)
    stack_names = {u: n for n, u in m.stack}
    entries = []
    for x in members:
        for u in x.get("peerURLs", []):
            if u == m.peer_url:
                name = m.name
            else:
                name = x.get("name") or stack_names.get(u) or "unstarted-" + hexid(x)
            entries.append("%s=%s" % (name, u))
    initial = ",".join(entries)
    m.set_join(initial)
    log("etcd member %s joining the running cluster (initial-cluster %s)" % (m.name, initial))
    start_etcd(m, block=True, wait_sec=args.wait)
    write_stamp(m, args.fingerprint)
    me = wait_joined(m, eps, args.wait)
    log("etcd member %s (%s) joined and is healthy" % (m.name, hexid(me)))


def add_member(m, eps, wait_sec):
    """`member add`, retried: etcd refuses an add ("unhealthy cluster") until every voting
    member has been connected for 5 s, e.g. just after the previous member joined."""
    state = {}

    def add():
        members = list_members(eps)
        if any(m.peer_url in x.get("peerURLs", []) for x in members):
            state["members"] = members  # an earlier attempt went through
            return True, ""
        p = etcdctl(eps, "member", "add", m.name, "--peer-urls=" + m.peer_url, check=False)
        if p.returncode != 0:
            return False, "etcdctl member add: " + (last_line(p.stderr) or p.stdout.strip())
        resp = json.loads(p.stdout)
        state["members"] = resp.get("members") or list_members(eps)
        log("added etcd member %s (%x) with peer URL %s" % (m.name, int(resp["member"]["ID"]), m.peer_url))
        return True, ""

    wait_until("cannot add etcd member %s" % m.name, wait_sec, add)
    return state["members"]


# ---------------------------------------------------------------------------
# stop


def cmd_stop(args):
    if not os.path.exists(args.config):
        if SUPERVISOR == "systemd":
            subprocess.run(["systemctl", "disable", "--now", "etcd"], capture_output=True)
        log("etcd stopped; %s is missing, so its data dir is unknown: left as it is" % args.config)
        return
    m = Member(args.config)
    stop_etcd(m)
    log("etcd member %s stopped" % m.name)
    if not os.path.exists(m.data_dir):
        log("no etcd data in %s" % m.data_dir)
        return
    if args.delete_data:
        subprocess.run(["rm", "-rf", "--", m.data_dir, m.stamp], check=True)
        log("deleted etcd data in %s (pgha:destroy.deleteData)" % m.data_dir)
        return
    # No settling: the membership step left the cluster healthy, and on destroy waiting only delays.
    state, eps, res = cluster_state(m, settle_sec=0)
    if state != "quorum":
        log("keeping etcd data in %s (no other member answers with quorum to say whether %s is still a member: %s)" % (m.data_dir, m.name, describe(res)))
        return
    members = list_members(eps)
    if any(m.peer_url in x.get("peerURLs", []) for x in members):
        log("keeping etcd data in %s (%s is still a member of the cluster)" % (m.data_dir, m.name))
        return
    dest = move_aside(m.data_dir)
    log("%s is no longer a member of the cluster: its data dir moved aside to %s" % (m.name, dest))


# ---------------------------------------------------------------------------
# membership (the cluster-level step)


def wait_until(what, wait_sec, check):
    """check() -> (done, reason); polls until done or the deadline, then fails with the last reason."""
    deadline = time.time() + wait_sec
    while True:
        try:
            done, reason = check()
        except EtcdctlError as e:
            done, reason = False, str(e)
        if done:
            return reason
        if time.time() >= deadline:
            fail("%s after %d s: %s" % (what, wait_sec, reason))
        time.sleep(0.5)


def cmd_membership(args):
    want = [{"name": n, "peer": p, "client": c} for n, p, c in args.member]
    want_peers = {w["peer"] for w in want}
    eps = [w["client"] for w in want]
    state = {"missing": 0}

    def quorum():
        res = probe(eps)
        state["res"] = res
        state["healthy"] = [ep for ep, r in res.items() if r["healthy"]]
        return bool(state["healthy"]), "no quorum: " + describe(res)

    wait_until("no etcd quorum among %s" % ", ".join(w["name"] for w in want), args.wait, quorum)
    extras = [x for x in list_members(state["healthy"]) if not want_peers.intersection(x.get("peerURLs", []))]
    # Unstarted members first (they count against quorum and serve nothing), then by name, last first.
    extras = [x for x in extras if not started(x)] + sorted([x for x in extras if started(x)], key=lambda x: x["name"], reverse=True)
    for x in extras:
        remove_one(x, eps, args.wait)

    def all_healthy():
        ok, reason = quorum()
        if not ok:
            return False, reason
        members = list_members(state["healthy"])
        state["members"] = members
        by_peer = {u: x for x in members for u in x.get("peerURLs", [])}
        missing = [w["name"] for w in want if w["peer"] not in by_peer]
        if missing:
            # Not something waiting fixes (a member with data is never re-added): give a lagging
            # member a few checks to apply the latest change, then say so.
            state["missing"] += 1
            if state["missing"] >= 5:
                fail("%s: in the stack but not a member of the etcd cluster (members: %s)" % (", ".join(missing), "; ".join(show(x) for x in members)))
            return False, "not listed: " + ", ".join(missing)
        for name in newly_healthy(want, by_peer, state["res"], state.setdefault("up", set())):
            log("etcd member %s is started and healthy (%d of %d)" % (name, len(state["up"]), len(want)))
        problems = []
        for w in want:
            x, r = by_peer[w["peer"]], state["res"][w["client"]]
            if not started(x):
                problems.append("%s is listed but not started" % w["name"])
            elif not r["healthy"]:
                problems.append("%s: %s" % (w["name"], r["error"]))
        extra = [show(x) for x in members if not want_peers.intersection(x.get("peerURLs", []))]
        if extra:
            problems.append("members the stack does not list: " + "; ".join(extra))
        return not problems, "; ".join(problems)

    wait_until("etcd not healthy", args.wait, all_healthy)
    for x in sorted(state["members"], key=lambda x: x["name"]):
        print("%s started healthy %s %s" % (x["name"], hexid(x), ",".join(x.get("clientURLs", []))))
    log("etcd healthy: %d members (%s)" % (len(want), ", ".join(w["name"] for w in want)))


def newly_healthy(want, by_peer, res, up):
    """Names of the stack's members (want) that the cluster lists as started and whose endpoint is
    healthy, and that were not in `up` yet (they are added to it): one line each, as they come."""
    out = []
    for w in want:
        x, r = by_peer.get(w["peer"]), res.get(w["client"]) or {}
        if x is not None and started(x) and r.get("healthy") and w["name"] not in up:
            up.add(w["name"])
            out.append(w["name"])
    return out


def remove_one(x, eps, wait_sec):
    """Removes member x once the members that remain keep a healthy quorum without it."""
    xid = int(x["ID"])
    label = show(x)
    state = {}

    def safe():
        res = probe(eps)
        healthy = [ep for ep, r in res.items() if r["healthy"]]
        if not healthy:
            return False, "no quorum: " + describe(res)
        members = list_members(healthy)
        if not any(int(m["ID"]) == xid for m in members):
            state["gone"] = True
            return True, ""
        remaining = [m for m in members if int(m["ID"]) != xid]
        others = [u for m in remaining for u in m.get("clientURLs", []) if u not in res]
        if others:
            res.update(probe(others))
        ok = [m for m in remaining if started(m) and any(res[u]["healthy"] for u in m["clientURLs"])]
        need = len(remaining) // 2 + 1
        if len(ok) < need:
            return False, "only %d of the %d remaining members are healthy (%s), quorum needs %d" % (len(ok), len(remaining), ", ".join(m["name"] for m in ok) or "none", need)
        state.update(res=res, healthy=healthy, targets=ok)
        return True, ""

    wait_until("not removing etcd member %s" % label, wait_sec, safe)
    if state.get("gone"):
        return
    # A leaving leader first hands leadership to a staying member: a shorter blip than an election.
    leader = next((r["leader"] for r in state["res"].values() if r["healthy"] and r["leader"]), 0)
    if leader == xid and started(x):
        target = state["targets"][0]
        p = etcdctl(x["clientURLs"], "move-leader", hexid(target), check=False)
        log("moved etcd leadership from %s to %s%s" % (x["name"], target["name"], "" if p.returncode == 0 else " failed (%s); removing it anyway" % last_line(p.stderr)))

    def remove():
        if not any(int(m["ID"]) == xid for m in list_members(state["healthy"])):
            return True, ""
        p = etcdctl(state["healthy"], "member", "remove", "%x" % xid, check=False)
        return p.returncode == 0, "etcdctl member remove: " + (last_line(p.stderr) or p.stdout.strip())

    # etcd may refuse while a member's connection is younger than 5 s ("unhealthy cluster"): retry.
    wait_until("cannot remove etcd member %s" % label, wait_sec, remove)
    log("removed etcd member %s" % label)

    def gone():
        res = probe(eps)
        healthy = [ep for ep, r in res.items() if r["healthy"]]
        if not healthy:
            return False, "no quorum: " + describe(res)
        if any(int(m["ID"]) == xid for m in list_members(healthy)):
            return False, "still listed"
        return True, ""

    wait_until("etcd after removing %s" % label, wait_sec, gone)


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(prog="etcd-member.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("--config", required=True)
    s.add_argument("--fingerprint", required=True, help="hash of the restart-relevant settings")
    s.add_argument("--wait", type=int, default=150)
    s = sub.add_parser("stop")
    s.add_argument("--config", required=True)
    s.add_argument("--delete-data", action="store_true")
    s = sub.add_parser("membership")
    s.add_argument("--config", required=True, help="this node's etcd config (for etcdctl's TLS settings)")
    s.add_argument("--member", nargs=3, action="append", required=True, metavar=("NAME", "PEER_URL", "CLIENT_URL"))
    s.add_argument("--wait", type=int, default=150)
    args = ap.parse_args()
    configure_tls(read_config(args.config))
    {"start": cmd_start, "stop": cmd_stop, "membership": cmd_membership}[args.cmd](args)


if __name__ == "__main__":
    main()
