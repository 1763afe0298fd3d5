"""reaper: nothing a test starts outlives it, however the test ends.

A test file's process may end by itself, by SIGTERM (meson's timeout sends it to the process
group, then SIGKILL half a second later), by ^C (SIGINT), by a closed terminal (SIGHUP) or by
SIGKILL. `finally` blocks run in the first case only, so the harness does not rely on them:

- tendtest.run() calls start() before the first test. The process stays behind as a supervisor
  and the tests run in a child of it, the worker. Both are subreapers (PR_SET_CHILD_SUBREAPER): a
  process whose parent dies is handed to the nearest of them instead of to init, so everything a
  test starts, and everything that starts (dovecot's children, the editor `tend edit` runs), stays
  below the supervisor until it is gone.
- SIGTERM, SIGINT or SIGHUP in the worker prints why (TAP "Bail out!", at once: meson's
  SIGKILL may follow half a second later), SIGKILLs every process below it and then raises
  Stopped, so that the tests' finally blocks and atexit hooks still remove their directories.
  The supervisor passes those signals on to the worker.
- The worker gets SIGTERM when the supervisor dies (PR_SET_PDEATHSIG): a SIGKILL of the test
  process ends the same way. When the worker ends, whichever way (a SIGKILL of its own too), the
  supervisor SIGKILLs whatever is left below it and exits with the worker's status.
- The children that would run for ever, tendd (Daemon), dovecot and the SMTP server, ask to die
  with the worker (preexec_fn=die_with_parent()), for when the supervisor and the worker are
  SIGKILLed at once. A `tend` command ends by itself and is spared the cost: a preexec_fn turns
  every subprocess start into a full fork of the test process.

Without prctl (not Linux), start() does nothing and die_with_parent() only checks the parent.
"""

import atexit
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE = 10  # seconds the supervisor gives a stopped worker for its cleanups

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now, not in a forked child
except (OSError, AttributeError):
    _prctl = None

_started = False
_stopping = None  # the signal that stopped the worker
doing = None  # the test the worker runs, for the line that says it was stopped


def _signame(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "signal %d" % signum


class Stopped(BaseException):
    """Raised in the worker by SIGTERM, SIGINT or SIGHUP. Not an Exception, so that a test's
    `except Exception` does not take it for a failure of its own and carry on."""

    def __init__(self, signum):
        super().__init__("stopped by %s" % _signame(signum))
        self.signum = signum


def die_with_parent(sig=signal.SIGKILL):
    """A preexec_fn for subprocess: the child gets sig when the thread that starts it ends
    (PR_SET_PDEATHSIG, kept across exec, valgrind included), and at once when that has already
    happened. Start long-lived children from the main thread, which lives as long as the test."""
    parent = os.getpid()

    def setup():
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)
    return setup


def subreaper():
    """Makes this process the one that orphans below it are handed to. True if it worked."""
    return _prctl is not None and _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def processes():
    """{pid: (ppid, state, pgid)} of every process in /proc; state is b"Z" for a zombie."""
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        fields = stat[stat.rindex(b")") + 2:].split()
        procs[int(name)] = (int(fields[1]), fields[0], int(fields[2]))
    return procs


def descendants(root=None):
    """The pids of the processes below root (default: this process) that have not ended yet;
    zombies, which are only waiting to be reaped, are left out."""
    root = os.getpid() if root is None else root
    procs = processes()
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found, unvisited = [], [root]  # a depth-first walk of the process tree
    while unvisited:
        for pid in children.get(unvisited.pop(), ()):
            unvisited.append(pid)
            if procs[pid][1] != b"Z":
                found.append(pid)
    return found


def reap_orphans():
    """Waits for the zombies handed to this process as a subreaper (a stopped dovecot's
    children, which outlive their master a little), so that they do not pile up: children in
    a process group that is neither this process's nor their own. No child a test starts is in
    such a group, so no subprocess.Popen loses its exit status."""
    me, group = os.getpid(), os.getpgid(0)
    for pid, (ppid, state, pgid) in processes().items():
        if ppid == me and state == b"Z" and pgid not in (pid, group):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def kill_all(timeout=5):
    """SIGKILLs every process below this one, again until none is left running (a dovecot
    master may start a child while it dies) or timeout seconds have passed. Returns the pids
    that were still running after timeout (none, unless one is stuck in the kernel)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = descendants()
        if not pids or time.monotonic() > deadline:
            return pids
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def say(line):
    """A TAP line, also from a signal handler that interrupted a print (hence os.write); meson
    may be gone already, so a closed stdout is no error."""
    try:
        sys.stdout.flush()
    except (OSError, RuntimeError):  # RuntimeError: a reentrant call
        pass
    try:
        os.write(sys.stdout.fileno(), (line + "\n").encode())
    except OSError:
        pass


def _stop(signum, frame):
    global _stopping
    first = _stopping is None
    if first:
        _stopping = signum
        say("Bail out! stopped by %s%s" % (_signame(signum), " during " + doing if doing else ""))
    kill_all()
    if first:
        raise Stopped(signum)


def exit(code):
    """Ends the worker as sys.exit() would, but without tearing the interpreter down, which in
    a forked worker takes half a second (every object's page is copied on its way out): the
    atexit hooks run, the output is flushed, then os._exit()."""
    if not _started:
        sys.exit(code)
    atexit._run_exitfuncs()
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except OSError:
            pass
    os._exit(code)


def _supervise(worker):
    """The supervisor's life: passes stop signals on, reaps whatever is handed to it, and when
    the worker has ended kills what is left and exits as the worker did."""
    def forward(signum, frame):
        try:
            os.kill(worker, signum)
        except ProcessLookupError:
            pass
        left = signal.alarm(GRACE)
        if left:
            signal.alarm(left)  # the first signal sets the limit; later ones do not extend it

    def overdue(signum, frame):
        try:
            os.kill(worker, signal.SIGKILL)
        except ProcessLookupError:
            pass

    for s in STOP_SIGNALS:
        signal.signal(s, forward)
    signal.signal(signal.SIGALRM, overdue)
    status = None
    while status is None:
        pid, st = os.waitpid(-1, 0)
        if pid == worker:
            status = st
    kill_all()
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        say("Bail out! the test process (%d) was killed by %s" % (
            worker, _signame(-code)))
        code = 128 - code
    os._exit(code)


def start():
    """Forks the worker, which returns and runs the tests; this process becomes the supervisor
    and never returns. Does nothing the second time, or where prctl is missing."""
    global _started
    if _started or not subreaper():
        return
    _started = True
    sys.stdout.flush()
    sys.stderr.flush()
    supervisor = os.getpid()
    worker = os.fork()
    if worker != 0:
        _supervise(worker)
    for s in STOP_SIGNALS:
        signal.signal(s, _stop)
    atexit.register(kill_all)
    subreaper()
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != supervisor:
        os.kill(os.getpid(), signal.SIGTERM)
