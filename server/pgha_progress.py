# Progress of pgha's long steps, whose work grows with the data (a replica's clone, a
# restore, a backup): what counts as progress, when a step has stalled, and the line
# printed every REPORT_SEC while it runs (Pulumi shows a remote command's output as it
# comes, so a person watching `pulumi up` sees the step move). Imported by
# patroni-wait.py and pgha-restore.py.
#
# A step stalls when nothing it is watched by moved for the stall bound
# (pgha:progress.stallTimeout): byte counts (a change of at least MOVE_BYTES since they last
# moved, so that a log line now and then is no progress) or positions (any change). A
# member's state is shown but is no progress: a clone that fails and is retried in a loop
# changes it forever.
import os

REPORT_SEC = 15
MOVE_BYTES = 1 << 20
UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human(n):
    """Bytes as people read them: "0 B", "512 B", "38 MiB", "1.2 GiB" (one decimal below 10)."""
    n = float(max(n, 0))
    unit = 0
    while n >= 1024 and unit < len(UNITS) - 1:
        n /= 1024
        unit += 1
    if unit == 0 or n >= 10:
        return "%d %s" % (int(n), UNITS[unit])
    return "%.1f %s" % (n, UNITS[unit])


def amount(done, total, rate):
    """"1.2 GiB of 5.0 GiB (24%), 38 MiB/s"; without a total (unknown, or 0) bytes and rate only.
    The percent stays below 100 until the step ends: a total is an estimate."""
    text = human(done)
    if total:
        text += " of %s (%d%%)" % (human(total), min(99, int(done * 100 // total)))
    if rate is not None:
        text += ", %s/s" % human(rate)
    return text


def dir_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class Watch:
    """Stall and report bookkeeping of one step; `now` is time.monotonic() (given, so tests choose it)."""

    def __init__(self, stall_sec, now, report_sec=REPORT_SEC):
        self.stall_sec = stall_sec
        self.report_sec = report_sec
        self.marks = {}
        self.moved = now
        self.last_seen = "nothing yet"
        self.reported = (now, None)

    def see(self, now, marks, seen):
        """One sample: `marks`, name -> a byte count (moves by MOVE_BYTES or more), any other value
        (moves on any change) or None (unknown: ignored); `seen`, what to say about this sample
        when the step fails. Returns whether anything moved."""
        moved = False
        for name, value in marks.items():
            if value is None:
                continue
            before = self.marks.get(name)
            if isinstance(value, int) and before is not None and abs(value - before) < MOVE_BYTES:
                continue
            if value != before:
                self.marks[name] = value
                moved = moved or before is not None
        self.last_seen = seen
        if moved:
            self.moved = now
        return moved

    def stalled(self, now):
        return now - self.moved >= self.stall_sec

    def due(self, now, done=None):
        """(True, rate) when REPORT_SEC passed since the last report (which this one then is), else
        (False, None). rate: bytes/s of `done` since the last report (None for the first, or unknown)."""
        at, before = self.reported
        if now - at < self.report_sec:
            return (False, None)
        rate = None if before is None or done is None or now <= at else max(0, done - before) / (now - at)
        self.reported = (now, done)
        return (True, rate)
