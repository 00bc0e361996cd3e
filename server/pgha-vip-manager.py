#!/usr/bin/python3
# pgha: the VIP follows the Patroni leader (pgha:vip.manager vip-manager), on every PostgreSQL node.
#
# Why not Debian's vip-manager: Debian 12 and 13 both ship vip-manager 1.0.2, which reads
# etcd only through the v2 API (go.etcd.io/etcd/client/v2). Patroni here keeps its keys
# in etcd's v3 keyspace (etcd3:), which the v2 API does not see, and etcd 3.5 serves no
# v2 at all by default; vip-manager 2 (v3 API) is not packaged. This is the same
# contract as vip-manager's `basic` manager, over etcd's v3 JSON gateway with TLS and
# pgha's client certificate:
#
#   pgha-vip-manager.py --config /etc/pgha/vip-manager.json [--once]
#
# Every interval: read <namespace><scope>/leader. Equal to this member's name: hold the VIP
# (add it, then announce it with gratuitous ARP). Anything else, or no leader: release it.
# When etcd cannot be read, the VIP stays where it is for `ttl` seconds (Patroni's own
# leader key lives that long), then is released: a leader cut off from etcd demotes itself.
# On SIGTERM (stop, mode switch, destroy) the VIP is released.
import argparse
import base64
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.request

TIMEOUT = 1.0


def log(msg):
    print("pgha-vip-manager: " + msg, flush=True)


def decide(leader, me, holding, etcd_down_since, now, ttl):
    """What to do: "add", "del" or None. leader: the key's value, "" for none, None when etcd was not read."""
    if leader is None:
        if holding and etcd_down_since is not None and now - etcd_down_since >= ttl:
            return "del"
        return None
    if leader == me and not holding:
        return "add"
    if leader != me and holding:
        return "del"
    return None


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Etcd:
    def __init__(self, endpoints, cacert, cert, key):
        self.endpoints = list(endpoints)
        self.files = (cacert, cert, key)
        self.stamp = None
        self.ctx = None

    def context(self):
        """The TLS context, made again when pgha renews the certificate (no restart: that would drop the VIP)."""
        stamp = tuple(os.stat(f).st_mtime_ns for f in self.files)
        if stamp != self.stamp:
            ctx = ssl.create_default_context(cafile=self.files[0])
            ctx.load_cert_chain(self.files[1], self.files[2])
            self.ctx, self.stamp = ctx, stamp
        return self.ctx

    def get(self, key):
        """The key's value ("" when absent) from the first endpoint that answers; None when none does."""
        try:
            ctx = self.context()
        except (OSError, ssl.SSLError) as e:
            log("cannot load the TLS files: %s" % e)
            return None
        body = json.dumps({"key": b64(key)}).encode()
        for i, url in enumerate(self.endpoints):
            try:
                req = urllib.request.Request(url + "/v3/kv/range", data=body, method="POST")
                with urllib.request.urlopen(req, timeout=TIMEOUT, context=ctx) as r:
                    kvs = json.load(r).get("kvs") or []
                # The one that answered is asked first next time.
                self.endpoints.insert(0, self.endpoints.pop(i))
                return base64.b64decode(kvs[0]["value"]).decode() if kvs else ""
            except Exception:  # noqa: BLE001 - any failure means: try the next member
                continue
        return None


def has_address(iface, address):
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", iface], capture_output=True, text=True, check=True).stdout
    return any(line.split()[3].split("/")[0] == address for line in out.splitlines() if len(line.split()) > 3)


def garp_frame(mac, address):
    """A gratuitous ARP request for `address` from `mac` (6 bytes), as an Ethernet frame."""
    ip = socket.inet_aton(address)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\x00" * 6, ip)
    return b"\xff" * 6 + mac + struct.pack("!H", 0x0806) + arp


def garp_hex(mac_text, address):
    """garp_frame for a MAC in its usual text form, as hex (for tests and logs)."""
    return garp_frame(bytes.fromhex(mac_text.replace(":", "")), address).hex()


def announce(iface, address, count=3):
    """Neighbours learn the VIP's new home at once, not when their ARP entry times out."""
    try:
        with open("/sys/class/net/%s/address" % iface) as f:
            mac = bytes.fromhex(f.read().strip().replace(":", ""))
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        try:
            s.bind((iface, 0))
            for _ in range(count):
                s.send(garp_frame(mac, address))
                time.sleep(0.05)
        finally:
            s.close()
    except OSError as e:
        log("gratuitous ARP for %s on %s failed: %s" % (address, iface, e))


def add(cfg):
    cidr = "%s/%d" % (cfg["address"], cfg["prefixLength"])
    r = subprocess.run(["ip", "addr", "add", cidr, "dev", cfg["interface"]], capture_output=True, text=True)
    if r.returncode != 0 and "File exists" not in r.stderr:
        raise RuntimeError("ip addr add %s dev %s: %s" % (cidr, cfg["interface"], r.stderr.strip()))
    announce(cfg["interface"], cfg["address"])


def delete(cfg):
    cidr = "%s/%d" % (cfg["address"], cfg["prefixLength"])
    r = subprocess.run(["ip", "addr", "del", cidr, "dev", cfg["interface"]], capture_output=True, text=True)
    if r.returncode != 0 and "Cannot assign" not in r.stderr:
        raise RuntimeError("ip addr del %s dev %s: %s" % (cidr, cfg["interface"], r.stderr.strip()))


def run(cfg, once=False):
    etcd = Etcd(cfg["etcdEndpoints"], cfg["cacert"], cfg["cert"], cfg["key"])
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    down_since = None
    last_leader = object()
    log("following %s for member %s (VIP %s on %s)" % (cfg["triggerKey"], cfg["member"], cfg["address"], cfg["interface"]))
    while not stopping:
        leader = etcd.get(cfg["triggerKey"])
        now = time.monotonic()
        if leader is None:
            if down_since is None:
                down_since = now
                log("etcd cannot be read; the VIP stays as it is for %d s" % cfg["ttl"])
        else:
            down_since = None
            if leader != last_leader:
                log("leader: %s" % (leader or "none"))
                last_leader = leader
        holding = has_address(cfg["interface"], cfg["address"])
        action = decide(leader, cfg["member"], holding, down_since, now, cfg["ttl"])
        if action == "add":
            add(cfg)
            log("VIP %s added on %s: %s leads" % (cfg["address"], cfg["interface"], cfg["member"]))
        elif action == "del":
            delete(cfg)
            why = "etcd unreadable for %d s" % cfg["ttl"] if leader is None else "%s leads" % (leader or "no member")
            log("VIP %s released: %s" % (cfg["address"], why))
        if once:
            return
        time.sleep(cfg["intervalMs"] / 1000.0)
    if has_address(cfg["interface"], cfg["address"]):
        delete(cfg)
        log("VIP %s released: stopping" % cfg["address"])


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--once", action="store_true")
    a = ap.parse_args(argv)
    with open(a.config) as f:
        cfg = json.load(f)
    run(cfg, a.once)


if __name__ == "__main__":
    main(sys.argv[1:])
