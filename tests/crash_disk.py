#!/usr/bin/python3
"""A full disk: the store lives on a small tmpfs that the benchmark archive does not fit on.
`tend import` must stop with a clear error naming the problem, leave a store that reads back
consistently (every message it says it stored, once), and, when space returns, import the
rest with nothing lost or doubled.

The same for the daemon: tendd fetches a few thousand messages of that archive from a real
dovecot (tests/imapserver.py) into a store on a small tmpfs. `tendd --once` exits 1 naming the
problem, the store holds the first messages by UID and a cursor that does not pass them, the
server keeps every message, and the next `tendd --once` after the tmpfs grows fetches the rest.
A running tendd logs the error once, retries with back-off (no busy loop, no exit), and stores
the rest by itself once there is room.

Needs root (to mount a tmpfs) and the corpora; reported as skipped without either."""

import functools
import glob
import os
import re
import subprocess
import time

from daemon_imap import account, exactly_once, folder, status
from imapserver import Dovecot
from tendtest import SLOW, Daemon, Env, Failure, check, corpora_missing, corpus, eq, run

ARCHIVE = sorted(glob.glob(corpus("bench", "r-package-devel", "*.txt")))


def mount(path, size):
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                        path], capture_output=True, text=True)
    return p.returncode == 0


def remount(path, size):
    subprocess.run(["mount", "-o", "remount,size=%s" % size, path], check=True)


def stored_ids(env):
    return [m for t in env.threads() for m in t["message_ids"]]


def test_disk_full():
    env = Env(config="store: disk/store\nthreading: {subject_fallback: false}\n")
    disk = env.path("disk")
    os.mkdir(disk)
    check(mount(disk, "24m"), "cannot mount a tmpfs at %s" % disk)
    try:
        r = env.tend("import", *ARCHIVE, ok=False)
        eq(r.rc, 1, "exit status on a full disk")
        check("No space left on device" in r.err or "full" in r.err,
              "the error names the problem: %r" % r.err[-500:])
        ids = stored_ids(env)
        eq(len(ids), len(set(ids)), "no message stored twice")
        st = env.json("status", "--json")
        eq(st["messages"], len(ids), "what the store says it holds, it holds")
        print("# the disk filled after %d messages: %s" % (
            len(ids), " | ".join(r.err.strip().splitlines()[-2:])), flush=True)
        check(0 < len(ids) < 11000, "the disk filled part way: %d" % len(ids))
        remount(disk, "256m")
        r = env.import_(*ARCHIVE)
        ids = stored_ids(env)
        eq(len(ids), len(set(ids)), "no message stored twice after recovery")
        eq(len(ids), 11111, "every distinct message of the archive")
    finally:
        subprocess.run(["umount", "-l", disk])
        env.close()


# ---- tendd ----

FETCH = 2000 if SLOW > 1 else 4000  # messages put into dovecot
SMALL = "16m"  # a tmpfs on which tend's store holds some 1500 of them
FULL_ERR = "tendd: support: INBOX: storing messages failed: the store is full (disk or map)"
STATUS_ERR = FULL_ERR[len("tendd: support: "):]


def archive_messages(n):
    """The first n messages of the archive with distinct Message-IDs: (messages, ids). The
    archive is pipermail's: a From_ line with a date, then the From: header."""
    sep = re.compile(rb"^From [^\n]*\d\d:\d\d:\d\d \d{4}\n(?=From: )", re.M)
    mid = re.compile(rb"^Message-ID:\s*<([^>]*)>", re.M | re.I)
    msgs, ids, seen = [], [], set()
    for path in ARCHIVE:
        with open(path, "rb") as f:
            data = f.read()
        bounds = [(m.start(), m.end()) for m in sep.finditer(data)]
        for (_, start), (end, _) in zip(bounds, bounds[1:] + [(len(data), 0)]):
            msg = data[start:end]
            m = mid.search(msg.split(b"\n\n", 1)[0])
            if m is None or m.group(1) in seen:
                continue
            seen.add(m.group(1))
            msgs.append(msg)
            ids.append(m.group(1).decode("ascii", "replace"))
            if len(ids) == n:
                return msgs, ids
    raise Failure("the archive has only %d messages with distinct Message-IDs" % len(ids))


def fill(dv):
    """Puts FETCH messages of the archive into INBOX; returns their Message-IDs by UID."""
    msgs, ids = archive_messages(FETCH)
    eq(dv.bulk_append("INBOX", msgs), FETCH, "appended")
    eq(dv.uids(), list(range(1, FETCH + 1)), "UIDs on the server")
    return ids


def tmpfs_env(dv, size):
    """An Env fetching from dv whose store is on a tmpfs of size at ENV/disk; (env, disk)."""
    env = Env(config=dv.config(store="disk/store", poll_interval="300s"))
    env.store = env.path("disk/store")  # where Daemon looks for tendd.pid
    disk = env.path("disk")
    os.mkdir(disk)
    if not mount(disk, size):
        env.close()
        raise Failure("cannot mount a tmpfs at %s" % disk)
    return env, disk


def full_lines(env, err, what):
    """tendd's stderr has the two lines an operator sees on a full disk."""
    lines = err.splitlines()
    for want in ("tendd: store %s: committing: No space left on device" % env.store, FULL_ERR):
        check(want in lines, "%s: no line %r on stderr:\n%s" % (what, want, err[-1500:]))


def server_kept(dv, flags, what):
    """Every message appended is still on the server, with the flags it had (tend only reads
    with BODY.PEEK and never deletes)."""
    gone = sorted(set(range(1, FETCH + 1)) - set(dv.uids()))
    check(not gone, "%s: %d UIDs gone from the server, e.g. %r" % (what, len(gone), gone[:5]))
    now = dv.fetch_flags()
    changed = [(u, sorted(now[u])) for u in sorted(flags)
               if set(now[u]) - {"\\Recent"} != set(flags[u]) - {"\\Recent"}]
    check(not changed, "%s: flags changed on the server: %r" % (what, changed[:5]))


def stored_prefix(env, want, what):
    """The store holds the first n messages by UID, each once, 0 < n < all, and its cursor
    and tend status agree; returns n."""
    ids = stored_ids(env)
    n = len(ids)
    eq(n, len(set(ids)), "%s: distinct Message-IDs among the %d stored" % (what, n))
    check(0 < n < len(want), "%s: the disk filled part way: %d of %d" % (what, n, len(want)))
    odd = sorted(set(ids) - set(want[:n]))
    check(not odd, "%s: %d stored messages are not the first %d by UID, e.g. %r" % (
        what, len(odd), n, odd[:3]))
    st = status(env)
    eq(st["messages"], n, "%s: messages in tend status" % what)
    f = folder(st)
    eq(f["last_uid"], n, "%s: the cursor (last UID stored)" % what)
    eq(f["waiting"], len(want) - n, "%s: waiting in tend status" % what)
    eq(account(st)["error"], STATUS_ERR, "%s: the account's error in tend status" % what)
    return n


def recovered(env, want, what):
    exactly_once(env, want, what)
    st = status(env)
    eq(account(st)["error"], None, "%s: the account's error in tend status" % what)
    eq((folder(st)["last_uid"], folder(st)["waiting"]), (len(want), 0),
       "%s: cursor and waiting in tend status" % what)


def tmpfs_store(fn):
    """Runs the test as fn(dv, env, disk): a fresh dovecot, and an Env whose store is on a
    SMALL tmpfs at disk; always unmounts and cleans up."""
    @functools.wraps(fn)
    def wrapper():
        dv = Dovecot()
        env = disk = None
        try:
            env, disk = tmpfs_env(dv, SMALL)
            fn(dv, env, disk)
        except Failure as e:
            raise Failure("%s\n--- dovecot log, last lines:\n%s" % (e, dv.log_tail(10)))
        finally:
            if disk is not None:
                subprocess.run(["umount", "-l", disk])
            if env is not None:
                env.close()
            dv.close()
    return wrapper


@tmpfs_store
def test_tendd_disk_full(dv, env, disk):
    """tendd --once: exit 1 with the error, the first messages stored; the rest with room."""
    want = fill(dv)
    flags = dv.fetch_flags()
    t0 = time.monotonic()
    r = env.tendd("--once", rc=1)
    took = time.monotonic() - t0
    full_lines(env, r.err, "tendd --once")
    n = stored_prefix(env, want, "after tendd --once")
    print("# tendd --once: exit %d after %.2f s, %d of %d stored:\n# %s" % (
        r.rc, took, n, FETCH, "\n# ".join(r.err.splitlines())), flush=True)
    # Again on the still full disk: the same error, the failed batch not skipped.
    r = env.tendd("--once", rc=1)
    full_lines(env, r.err, "tendd --once again")
    eq(stored_prefix(env, want, "after a second tendd --once"), n, "stored by the retry")
    server_kept(dv, flags, "after the full disk")
    remount(disk, "256m")
    env.tendd("--once")
    recovered(env, want, "tendd --once with room again")
    server_kept(dv, flags, "after the rest was fetched")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@tmpfs_store
def test_tendd_disk_full_running(dv, env, disk):
    """tendd (not --once): the error once, retries that back off, recovery by itself."""
    want = fill(dv)
    d = Daemon(env)
    try:
        commit = "tendd: store %s: committing: No space left on device" % env.store
        d.wait_until(lambda: FULL_ERR in d.stderr(), 30, "the store-full error")
        t0, cpu0 = time.monotonic(), cpu_seconds(d.pid)
        # Back-off: the retries come after 1, 2, 4... s (+-25%): 2 of them in 4 s or so.
        d.wait_until(lambda: d.stderr().count(commit) >= 3, 30, "two retries")
        time.sleep(max(0, t0 + 4 - time.monotonic()))
        wall, cpu = time.monotonic() - t0, cpu_seconds(d.pid) - cpu0
        tries = d.stderr().count(commit) - 1
        print("# running tendd: %d retries in %.2f s, %.2f s of CPU" % (tries, wall, cpu),
              flush=True)
        if tries > 3 or cpu > wall / 4 * SLOW:
            d.fail("no back-off: %d retries in %.2f s, %.2f s of CPU" % (tries, wall, cpu))
        n = stored_prefix(env, want, "while tendd retries")
        log = d.stderr()
        for line, times in ((FULL_ERR, 1), ("works again", 0), ("logged in to", 1)):
            if log.count(line) != times:
                d.fail("while the disk is full, %r is on stderr %d times, not %d" % (
                    line, log.count(line), times))
        remount(disk, "256m")
        d.wait_until(lambda: status(env)["messages"] >= FETCH, 30,
                     "the rest after the tmpfs grew", interval=0.2)
        d.wait_until(lambda: "tendd: support: the store works again" in d.stderr(), 5,
                     "the recovery in the log")
        recovered(env, want, "running tendd with room again")
        print("# %d of %d stored before the disk filled; the rest after the remount" % (
            n, FETCH), flush=True)
        eq(d.stop(), 0, "exit status after SIGTERM")
    finally:
        d.close()


def can_mount():
    """Whether this process may mount a tmpfs (root, with the capability to mount)."""
    if os.geteuid() != 0:
        return False
    import tempfile
    d = tempfile.mkdtemp(prefix="tend-mount-")
    ok = mount(d, "1m")
    if ok:
        subprocess.run(["umount", d])
    os.rmdir(d)
    return ok


if __name__ == "__main__":
    run(globals(), skip=corpora_missing() or
        (None if can_mount() else "cannot mount a tmpfs here (needs root)"))
