# One node's part of `npm run drift` (scripts/ops/drift.ts): compares the files and units pgha
# manages on this node with what the stack says (the stack outputs managedFiles, managedUnits,
# and the secret managedFileSecrets), read-only, and prints the differences as one JSON object.
# Run over SSH as root; not installed on the nodes.
#
#   stdin: {"files": [{"path", "sha256" (hex, or null: content not compared), "owner", "group",
#           "mode", "secret" (bool: never print its hashes)}], "units": [{"unit", "enabled", "active"}]}
#   stdout: {"differences": [{"path" | "unit", "what", "expected", "found"}]}
# what: missing, type, content, owner, group, mode (files); enabled, active (units).
import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess
import sys


def name_of(getter, ident):
    try:
        return getter(ident)[0]
    except KeyError:  # a uid or gid with no name on this node
        return str(ident)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def file_differences(want, lstat=os.lstat, digest=file_sha256):
    """One managed file's differences (lstat and digest: stand-ins in the unit tests)."""
    path = want["path"]

    def diff(what, expected, found):
        return {"path": path, "what": what, "expected": expected, "found": found}

    try:
        st = lstat(path)
    except FileNotFoundError:
        return [diff("missing", "a file", "nothing")]
    if not stat.S_ISREG(st.st_mode):
        return [diff("type", "a regular file", "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file")]
    out = []
    if want.get("sha256"):
        found = digest(path)
        if found != want["sha256"]:
            out.append(diff("content", None, None) if want.get("secret") else diff("content", "sha256 " + want["sha256"], "sha256 " + found))
    owner, group = name_of(pwd.getpwuid, st.st_uid), name_of(grp.getgrgid, st.st_gid)
    if owner != want["owner"]:
        out.append(diff("owner", want["owner"], owner))
    if group != want["group"]:
        out.append(diff("group", want["group"], group))
    mode = "%04o" % stat.S_IMODE(st.st_mode)
    if mode != "%04o" % int(want["mode"], 8):
        out.append(diff("mode", want["mode"], mode))
    return out


def systemctl(verb, unit):
    p = subprocess.run(["systemctl", verb, unit], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    return p.stdout.strip() or "unknown"


def unit_differences(want, ask=systemctl):
    """One managed unit's differences: enabled (is-enabled says "enabled") and active."""
    unit = want["unit"]
    out = []
    if want.get("enabled"):
        found = ask("is-enabled", unit)
        if found != "enabled":
            out.append({"unit": unit, "what": "enabled", "expected": "enabled", "found": found})
    if want.get("active"):
        found = ask("is-active", unit)
        if found != "active":
            out.append({"unit": unit, "what": "active", "expected": "active", "found": found})
    return out


def differences(manifest, lstat=os.lstat, digest=file_sha256, ask=systemctl):
    out = []
    for f in manifest.get("files") or []:
        out.extend(file_differences(f, lstat, digest))
    for u in manifest.get("units") or []:
        out.extend(unit_differences(u, ask))
    return out


def main():
    print(json.dumps({"differences": differences(json.load(sys.stdin))}))


if __name__ == "__main__":
    main()
