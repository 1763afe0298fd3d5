#!/usr/bin/python3
"""Hostile cases (issue 14): what a hostile customer, a careless colleague or a group member
of a shared store can do to tend, each tried against the real binaries (and, where the hole is
in talking to servers, against a real dovecot and SMTP server). Every test here failed before
its fix. The suite runs this file in every build: normal, ASan+UBSan, and with tend and tendd
under valgrind.

The sections follow the items of the issue; keep new cases in their item's section."""

import os

from tendtest import Env, check, eq, run, sample_mail  # noqa: F401


# ---- 1. A forged mail from our own address ---------------------------------------------------


# ---- 2. A Reply-To that redirects a conversation's reply -------------------------------------


# ---- 3. Symlinks and strangers' files in a group-shared store --------------------------------

import grp  # noqa: E402
import pwd  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from tendtest import TEND, TENDD, Daemon, wrap  # noqa: E402

# The store is shared with `users`; the group member is `nobody`, in `users` for the occasion.
# Every case runs as root (as the suite does here and in CI), which is also who the attack is
# aimed at: a member who can make root's `tend import` follow a link owns root's files.
SHARED = "store: store\ngroup: users\n"
WARNING = "(someone may be trying to take over files: remove it and check who made it)"


def _as_root():
    if os.geteuid() != 0:
        print("# skipped: the cases of item 3 change users, which needs root")
        return False
    return True


def _users_gid():
    return grp.getgrnam("users").gr_gid


def _shared_env(config=SHARED):
    """A shared store with mail in it, its directory reachable by the group member."""
    env = Env(config=config)
    os.chmod(env.dir, 0o755)  # mkdtemp's 0700 would keep the member out of everything
    os.chmod(env.config, 0o644)
    env.tend("import", os.path.join(sample_mail(), "06-refund-request.eml"))
    return env


def _secret(env, name="secret"):
    """A root-only file outside the store: what a planted link points at."""
    d = env.path("private")
    os.makedirs(d, mode=0o700, exist_ok=True)
    p = os.path.join(d, name)
    if name == "secret":
        with open(p, "w") as f:
            f.write("root's secret\n")
        os.chmod(p, 0o600)
    return p


def _fingerprint(path):
    """What must not change about a file: mode, owner, group and contents."""
    st = os.lstat(path)
    with open(path, "rb") as f:
        return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, f.read())


def _member(argv, **kw):
    """Runs argv as the group member: nobody, with users among its groups."""
    nobody = pwd.getpwnam("nobody")
    return subprocess.run(argv, capture_output=True, user=nobody.pw_uid, group=nobody.pw_gid,
                          extra_groups=[_users_gid()], timeout=600, **kw)


def _member_tend(env, *args):
    """Runs tend with env's config as the group member; returns (exit status, stderr)."""
    p = _member(wrap([TEND, "-c", env.config] + list(args)))
    return p.returncode, p.stderr.decode()


def _plant_link(env, name, target):
    """Puts a link to target in place of store/name (as root, or a store made before the
    sticky bit); returns the link's path."""
    path = os.path.join(env.store, name)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)
    return path


def _member_tries(store, name, target):
    """As the group member, tries to put a link to target in place of store/name, by removing
    the file and by renaming a link of the member's own over it. Returns what happened."""
    code = """if 1:
        import os, sys
        store, name, target = sys.argv[1:]
        path, mine = os.path.join(store, name), os.path.join(store, "mine-" + name)
        os.symlink(target, mine)
        for what, fn in (("rename", lambda: os.rename(mine, path)),
                         ("unlink", lambda: os.unlink(path))):
            try:
                fn()
                print(what, "done")
            except OSError as e:
                print(what, e.strerror)
        """
    p = _member([sys.executable, "-c", code, store, name, target])
    check(p.returncode == 0, "member's script failed: %s" % p.stderr.decode())
    return p.stdout.decode()


def test_shared_store_is_sticky():
    """A shared store is 03770: its members write in it but cannot replace each other's files,
    so none of them can swap lock.mdb, data.mdb or tendd.pid for a link."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        env.tendd("--once")
        st = os.stat(env.store)
        eq(oct(stat.S_IMODE(st.st_mode)), oct(0o3770), "mode of the shared store")
        eq(st.st_gid, _users_gid(), "group of the shared store")
        for name in ("data.mdb", "lock.mdb"):
            st = os.stat(os.path.join(env.store, name))
            eq((oct(stat.S_IMODE(st.st_mode)), st.st_gid), (oct(0o660), _users_gid()), name)
        secret = _secret(env)
        before = _fingerprint(secret)
        for name in ("lock.mdb", "data.mdb", "tendd.pid"):
            got = _member_tries(env.store, name, secret)
            eq(got, "rename Operation not permitted\nunlink Operation not permitted\n",
               "the member replacing %s" % name)
            check(not os.path.islink(os.path.join(env.store, name)), "%s is no link" % name)
        env.tend("queue")
        eq(_fingerprint(secret), before, "the secret")
    finally:
        env.close()


def test_private_store_is_0700():
    env = _shared_env(config="store: store\n")
    try:
        eq(oct(stat.S_IMODE(os.stat(env.store).st_mode)), oct(0o700), "mode of a private store")
        for name in ("data.mdb", "lock.mdb"):
            mode = stat.S_IMODE(os.stat(os.path.join(env.store, name)).st_mode)
            eq(oct(mode), oct(0o600), name)
    finally:
        env.close()


def _refused(env, name, what, *commands):
    """Each command exits 1 naming store/name and what is wrong with it."""
    want = "%s/%s %s; refusing" % (env.store, name, what)
    for argv in commands:
        r = env.run(*argv, rc=1)
        check(want in r.err and WARNING in r.err, "%s: expected %r:\n%r" % (argv, want, r))


def test_planted_link_refused():
    """lock.mdb or data.mdb replaced with a link to a root-only file (on a store made before the
    sticky bit, or by root's own mistake): tend and tendd refuse to open the store, naming the
    link, and the file it points to keeps its mode, owner and contents."""
    if not _as_root():
        return
    for name in ("lock.mdb", "data.mdb"):
        env = _shared_env()
        try:
            secret = _secret(env)
            before = _fingerprint(secret)
            path = _plant_link(env, name, secret)
            _refused(env, name, "is a symbolic link",
                     (TEND, "import", os.path.join(sample_mail(), "06-refund-request.eml")),
                     (TEND, "queue"), (TENDD, "--once"))
            eq(_fingerprint(secret), before, "the file %s points to" % name)
            check(os.path.islink(path), "the link is left for the operator to inspect")
        finally:
            env.close()


def test_planted_dangling_link_creates_nothing():
    """A link to a file that does not exist yet: nothing is created through it."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        target = _secret(env, "made-by-tend")
        _plant_link(env, "lock.mdb", target)
        _refused(env, "lock.mdb", "is a symbolic link", (TEND, "queue"), (TENDD, "--once"))
        check(not os.path.exists(target), "tend created %s through the link" % target)
    finally:
        env.close()


def test_planted_pidfile_link_refused():
    """tendd.pid linked to a root-only file: tendd does not truncate it or write its pid."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        secret = _secret(env)
        before = _fingerprint(secret)
        _plant_link(env, "tendd.pid", secret)
        _refused(env, "tendd.pid", "is a symbolic link", (TENDD, "--once"))
        eq(_fingerprint(secret), before, "the file tendd.pid points to")
        r = env.tend("status")
        check("not running" in r.out.split("\n")[0], "tend status:\n%r" % r)
    finally:
        env.close()


def test_strangers_files_refused():
    """A member's own file in place of lock.mdb, and a hard link to root's file as data.mdb, are
    refused as well: the one is not the store's to use, the other not the store's to change."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        lock = os.path.join(env.store, "lock.mdb")
        os.chown(lock, pwd.getpwnam("nobody").pw_uid, _users_gid())
        _refused(env, "lock.mdb", "belongs to nobody, not to the store's owner root",
                 (TEND, "queue"))
        os.chown(lock, 0, _users_gid())
        secret = _secret(env)
        os.chmod(secret, 0o660)
        before = _fingerprint(secret)
        data = os.path.join(env.store, "data.mdb")
        os.unlink(data)
        os.link(secret, data)
        _refused(env, "data.mdb", "has 2 hard links", (TEND, "queue"), (TENDD, "--once"))
        eq(_fingerprint(secret), before, "the file data.mdb is a link of")
    finally:
        env.close()


def test_old_shared_store_gets_sticky_bit():
    """A store shared before the sticky bit (02770) gets it the next time its owner opens it;
    until then a member who is not its owner is refused and told why."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        os.chmod(env.store, 0o2770)
        rc, err = _member_tend(env, "queue")
        eq(rc, 1, "exit status of a member's tend queue:\n%s" % err)
        check("lacks the sticky bit" in err and "chmod +t %s" % env.store in err, err)
        env.tend("queue")
        eq(oct(stat.S_IMODE(os.stat(env.store).st_mode)), oct(0o3770), "mode once fixed")
        rc, err = _member_tend(env, "queue")
        eq(rc, 0, "a member's tend queue after the fix:\n%s" % err)
    finally:
        env.close()


def test_member_does_not_create_store_files():
    """A member could swap a file of their own for a link whenever they like (the sticky bit
    protects only from others), so a member does not create lock.mdb: the store's owner does."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        lock = os.path.join(env.store, "lock.mdb")
        os.unlink(lock)
        rc, err = _member_tend(env, "queue")
        eq(rc, 1, "exit status of a member's tend queue:\n%s" % err)
        check("store %s has no lock.mdb, and only its owner (root) may create it" % env.store
              in err, err)
        check(not os.path.lexists(lock), "the member created lock.mdb")
        env.tend("queue")
        eq(os.stat(lock).st_uid, 0, "owner of lock.mdb")
        rc, err = _member_tend(env, "queue")
        eq(rc, 0, "a member's tend queue:\n%s" % err)
    finally:
        env.close()


def test_store_that_is_a_link_refused():
    """The store directory itself may not be a link (tend never makes one); a link among its
    parents is the operator's own layout and works."""
    env = Env(config="store: store\n")
    try:
        os.mkdir(env.path("elsewhere"), 0o700)
        os.symlink(env.path("elsewhere"), env.store)
        r = env.tend("queue", rc=1)
        check("store %s is a symbolic link" % env.store in r.err, "%r" % r)
        r = env.tend("import", os.path.join(sample_mail(), "06-refund-request.eml"), rc=1)
        check(os.listdir(env.path("elsewhere")) == [], "a store was made through the link")
        env.write("tend.yaml", "store: parent/store\n")
        os.symlink(env.path("elsewhere"), env.path("parent"))
        env.tend("import", os.path.join(sample_mail(), "06-refund-request.eml"))
        check(os.path.exists(env.path("elsewhere/store/data.mdb")), "store behind a link")
    finally:
        env.close()


def test_planted_socket_file_kept():
    """A file or a link named tendd.sock is not removed to make way for the daemon's socket:
    tendd says what is in the way and sends from its regular scans instead."""
    if not _as_root():
        return
    env = _shared_env(config=SHARED + "accounts:\n  - name: support\n"
                      "    address: support@shop.example\n"
                      "    smtp:\n      url: smtp://127.0.0.1:9\n")
    try:
        secret = _secret(env)
        sock = os.path.join(env.store, "tendd.sock")
        for plant in ("file", "link"):
            if plant == "file":
                with open(sock, "w") as f:
                    f.write("notes\n")
            else:
                _plant_link(env, "tendd.sock", secret)
            before = _fingerprint(sock)
            d = Daemon(env, name="tendd-%s.stderr" % plant)
            try:
                what = "a regular file" if plant == "file" else "a symbolic link"
                d.wait_until(lambda: "tendd.sock is %s" % what in d.stderr(), 10,
                             "tendd to refuse tendd.sock")
            finally:
                d.stop()
                d.close()
            eq(_fingerprint(sock), before, "the %s named tendd.sock" % plant)
        eq(os.readlink(sock), secret, "the link")
    finally:
        env.close()



# ---- 4. Mass recipients ----------------------------------------------------------------------


# ---- 5. Terminal escapes in what a customer wrote --------------------------------------------


# ---- 6. The second person, and agents bound to OS users --------------------------------------


# ---- 7. The SMTP URL -------------------------------------------------------------------------


# ---- 8. Deeply nested rules ------------------------------------------------------------------


# ---- 9. A mailbox without a Sent folder ------------------------------------------------------


if __name__ == "__main__":
    run(globals())
