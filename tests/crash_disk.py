#!/usr/bin/python3
"""A full disk: the store lives on a small tmpfs that the benchmark archive does not fit on.
`tend import` must stop with a clear error naming the problem, leave a store that reads back
consistently (every message it says it stored, once), and, when space returns, import the
rest with nothing lost or doubled. Needs root (to mount a tmpfs); reported as skipped when the
mount is not allowed."""

import glob
import os
import subprocess

from tendtest import Env, check, eq, run

ARCHIVE = sorted(glob.glob(os.path.join(os.environ.get("CORPORA", ""), "bench",
                                        "r-package-devel", "*.txt")))


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
        print("# the disk filled after %d messages: %s" % (len(ids), r.err.strip()[-160:]),
              flush=True)
        check(0 < len(ids) < 11000, "the disk filled part way: %d" % len(ids))
        remount(disk, "256m")
        r = env.import_(*ARCHIVE)
        ids = stored_ids(env)
        eq(len(ids), len(set(ids)), "no message stored twice after recovery")
        eq(len(ids), 11111, "every distinct message of the archive")
    finally:
        subprocess.run(["umount", "-l", disk])
        env.close()


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
    if can_mount():
        run(globals())
    else:
        print("1..1\nok 1 - test_disk_full # SKIP cannot mount a tmpfs here (needs root)")
