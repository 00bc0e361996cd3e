# Calls to the Patroni REST API as pgha's helpers make them: HTTPS verified with the
# cluster CA and basic auth (needed on unsafe endpoints), both read from Patroni's own
# /etc/patroni/config.yml (ctl.cacert, restapi.authentication), so no secret is ever
# on a command line. Imported by patroni-dcs-apply.py and patroni-handover.py.
import base64
import json
import ssl
import urllib.error
import urllib.request

import yaml

CONFIG = "/etc/patroni/config.yml"


def _load():
    try:
        with open(CONFIG) as f:
            cfg = yaml.safe_load(f) or {}
    except OSError:  # no Patroni here (any more): calls still verify, without auth
        cfg = {}
    cafile = (cfg.get("ctl") or {}).get("cacert") or (cfg.get("restapi") or {}).get("cafile")
    ctx = ssl.create_default_context(cafile=cafile)
    auth = (cfg.get("restapi") or {}).get("authentication") or {}
    header = None
    if auth.get("username"):
        token = base64.b64encode(("%s:%s" % (auth["username"], auth.get("password", ""))).encode()).decode()
        header = "Basic " + token
    return ctx, header


_CTX, _AUTH = _load()


def call(method, url, body=None, timeout=30, catch=False):
    """(status, text). HTTP errors come back as their status; with catch, so do network errors (status 0)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if _AUTH:
        headers["Authorization"] = _AUTH
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_CTX) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except Exception as e:
        if not catch:
            raise
        return 0, str(e)
