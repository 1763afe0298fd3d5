#!/usr/bin/python3
"""The harness itself: whatever ends a test file, nothing it started is left running, and a
machine where "localhost" does not resolve hears so in one line.

Each stop case runs this file again as a victim (TEND_SELFTEST_VICTIM set): a test with a
dovecot, an SMTP server, a tendd (under valgrind with TEND_VALGRIND=1) and a `tend edit` whose
editor waits, as a daemon test has them. Once the editor runs, the case ends the victim the way
meson's timeout does (SIGTERM to its process group, SIGKILL half a second later), as ^C does
(SIGINT to the group), with SIGTERM or with SIGKILL, and then counts what is still running below
this process. One more victim ends by itself but forgets to stop its tendd, as a test does
whose Daemon never reaches a finally block. This process is a subreaper, so an orphan of the
victim is handed to it instead of to init and is counted too: an editor whose `tend` was
killed, dovecot's children.
"""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import reaper
from daemon_send import AGENTS, Rig
from tendtest import SLOW, Daemon, Env, Failure, Skip, check, eq, run, sample_mail, wait_until

LINGER = 5  # seconds a process may outlive the test that started it (times SLOW)


def victim():
    """The test that gets stopped: it touches the file TEND_SELFTEST_VICTIM names once all its
    processes run, then waits in `tend edit` until it is ended from outside. With
    TEND_SELFTEST_LEAK set it returns at once instead, leaving its tendd running."""
    ready = os.environ["TEND_SELFTEST_VICTIM"]
    rig = Rig()
    env = None
    try:
        daemon = Daemon(rig.env)
        if os.environ.get("TEND_SELFTEST_LEAK"):
            return
        env = Env(config="store: store\n" + AGENTS)
        env.import_(sample_mail())
        tid = env.json("queue", "--json")[0]["thread"]
        editor = "touch %s; sleep 600; :" % shlex.quote(ready)
        env.tend("edit", tid, env={"TEND_AGENT": "alice", "VISUAL": "", "EDITOR": editor})
        daemon.close()
    finally:
        if env is not None:
            env.close()
        rig.close()


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return "(gone)"


def running():
    """{pid: command line} of what runs below this process."""
    return {pid: cmdline(pid) for pid in reaper.descendants()}


def reap():
    """Waits for the zombies handed to this process (all its children are the victim's)."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def start_victim(tmp, out, leak=False):
    """The victim in a session of its own, as meson starts a test; returns once its editor
    runs (every other process of it is up by then), or with leak once it has ended."""
    ready = os.path.join(tmp, "ready")
    e = dict(os.environ, TEND_SELFTEST_VICTIM=ready, TMPDIR=tmp)
    if leak:
        e["TEND_SELFTEST_LEAK"] = "1"
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__)], env=e,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True, preexec_fn=reaper.die_with_parent())
    if leak:
        p.wait(timeout=60 * SLOW)
        return p

    def up():
        if p.poll() is not None:
            out.seek(0)
            raise Failure("the victim ended by itself (%d):\n%s" % (
                p.returncode, out.read().decode("utf-8", "replace")))
        return os.path.exists(ready)
    wait_until(up, 60, "the victim's editor to start")
    procs = " | ".join(running().values())
    for what in ("tendd", "dovecot -F", "dovecot/imap", "smtpserver.py --serve", "tend",
                 "sleep 600"):
        check(what in procs, "no %r among the victim's processes: %s" % (what, procs))
    return p


def stop_victim(p, how):
    if how == "meson":  # mtest's _kill(): the group gets SIGTERM, then SIGKILL after 0.5 s
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    elif how == "SIGINT":  # ^C reaches every process of the terminal's foreground group
        os.killpg(p.pid, signal.SIGINT)
    else:
        p.send_signal(getattr(signal, how))


def stopped(how):
    """Starts the victim, ends it as how says ("exit": it ends by itself) and checks that
    within LINGER seconds nothing of it runs any more; after SIGTERM and ^C its TAP output must
    say why it stopped (meson's log keeps it) and its cleanups must have run (its temporary
    directories gone)."""
    check(reaper.subreaper(), "cannot become a subreaper (PR_SET_CHILD_SUBREAPER)")
    tmp = tempfile.mkdtemp(prefix="tend-selftest-")
    os.chmod(tmp, 0o755)  # dovecot's users reach their directory inside
    try:
        with tempfile.TemporaryFile() as out:
            p = start_victim(tmp, out, leak=how == "exit")
            if how != "exit":
                stop_victim(p, how)
            deadline = time.monotonic() + LINGER * SLOW
            while running() and time.monotonic() < deadline:
                reap()
                time.sleep(0.05)
            left = running()
            check(not left, "still running %g s after %s:\n%s" % (
                LINGER * SLOW, how, "\n".join("%d %s" % kv for kv in sorted(left.items()))))
            p.wait(timeout=10)
            out.seek(0)
            text = out.read().decode("utf-8", "replace")
        if how in ("meson", "SIGTERM", "SIGINT"):
            sig = "SIGTERM" if how == "meson" else how
            check("Bail out! stopped by %s during test_victim" % sig in text,
                  "the victim's output does not say why it stopped:\n" + text)
        if how in ("SIGTERM", "SIGINT"):  # meson's SIGKILL may come before cleanups end
            # Directories are the harness's (tend edit's killed mid-edit leaves its draft file).
            left = [n for n in os.listdir(tmp) if os.path.isdir(os.path.join(tmp, n))]
            eq(left, [], "directories the victim left in its TMPDIR")
    finally:
        reaper.kill_all()
        reap()
        shutil.rmtree(tmp, ignore_errors=True)


def test_sigterm_as_meson_times_out():
    stopped("meson")


def test_sigterm():
    stopped("SIGTERM")


def test_interrupt():
    stopped("SIGINT")


def test_sigkill():
    stopped("SIGKILL")


def test_tendd_left_running_at_exit():
    stopped("exit")


def test_localhost_unresolvable():
    """A daemon test file on a machine whose /etc/hosts lacks localhost (in a mount namespace
    of its own): one line, at once, instead of every test timing out."""
    tmp = tempfile.mkdtemp(prefix="tend-selftest-")
    try:
        hosts = os.path.join(tmp, "hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 tend-test.example\n")
        unshare = ["unshare", "--mount"] if os.geteuid() == 0 else [
            "unshare", "--map-root-user", "--mount"]
        script = 'mount --bind "$0" /etc/hosts || exit 97; exec "$@"'
        test = os.path.join(os.path.dirname(os.path.abspath(__file__)), "daemon_rules.py")
        try:
            p = subprocess.run(unshare + ["sh", "-c", script, hosts, sys.executable, test],
                               capture_output=True, timeout=60 * SLOW,
                               preexec_fn=reaper.die_with_parent())
        except FileNotFoundError:
            raise Skip("no unshare(1) here")
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode == 97 or err.startswith("unshare:"):
            raise Skip("cannot give a test an /etc/hosts of its own here: " + err.strip())
        out = p.stdout.decode("utf-8", "replace").splitlines()
        eq(len(out), 1, "lines printed (%r, stderr %r)" % (out, err))
        check(out[0].startswith('Bail out! "localhost" does not resolve on this machine')
              and out[0].endswith('add "127.0.0.1 localhost" to /etc/hosts'), out[0])
        eq(p.returncode, 1, "exit status")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if os.environ.get("TEND_SELFTEST_VICTIM"):
        run({"test_victim": victim})
    else:
        run(globals(), needs_localhost=True)
