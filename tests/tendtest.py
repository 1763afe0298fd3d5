"""tendtest: what the script tests share.

Each test file defines functions named test_*; run() calls them in order and prints TAP, one
line per test, so meson reports every case. A test gets a fresh Env: a temporary directory
with a tend.yaml and a store, and helpers that run the real `tend` and `tendd` binaries.
Whatever ends a test file, nothing it started outlives it (tests/reaper.py says how).
"""

import atexit
import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import traceback

import reaper

TEND = os.environ.get("TEND_BIN", "tend")
TENDD = os.environ.get("TENDD_BIN", "tendd")
SRC = os.environ.get("TEND_SRC", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPORA = os.environ.get("CORPORA",
                         os.path.normpath(os.path.join(SRC, "..", "shared", "corpora")))
NO_CORPORA = "corpora not found at %s (meson setup -Dcorpora=DIR to point elsewhere)" % CORPORA

# --vgdb=no: a valgrind that is killed leaves no FIFOs behind in $TMPDIR.
VALGRIND = ["valgrind", "--vgdb=no", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--quiet",
            "--suppressions=" + os.path.join(SRC, "tests", "valgrind.supp")]


class Failure(Exception):
    pass


class Skip(Exception):
    """A test that cannot run here: reported as skipped, with the reason."""


def corpora_missing():
    """NO_CORPORA when the shared corpora are not there, else None (for run(skip=...))."""
    return None if os.path.isdir(CORPORA) else NO_CORPORA


def need_corpora():
    """For a test that reads the corpora: skips it when they are not there."""
    why = corpora_missing()
    if why:
        raise Skip(why)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(got, want, what):
    if got != want:
        raise Failure("%s: got %r, expected %r" % (what, got, want))


class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return "%s -> %d\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.args), self.rc, self.out, self.err)


_polling = False  # true while wait_until asks whether what it awaits has happened


def wrap(argv):
    """Runs the binaries under valgrind when the test setup asks for it; not the `tend` that
    wait_until runs to look, again and again, whether tendd has done something: under valgrind
    each look took a second of CPU that tendd, the program under test, was waiting for. What
    such a look runs (threads, status, outbox) runs under valgrind in the checks that follow
    the wait and in the CLI tests."""
    if os.environ.get("TEND_VALGRIND") == "1" and not (_polling and argv[0] == TEND):
        return VALGRIND + argv
    return argv


_shared_tend = None


def tend_for_others():
    """A tend that another user (nobody) can run: TEND itself when every directory above it
    lets others through, else a copy in a directory that does. A clone in root's home (mode
    0700 on Debian) is where a fresh machine's `contrib/check` often runs from."""
    global _shared_tend
    path = os.path.abspath(shutil.which(TEND) or TEND)
    d = os.path.dirname(path)
    reachable = os.stat(path).st_mode & 0o001
    while reachable and d != "/":
        reachable = os.stat(d).st_mode & 0o001
        d = os.path.dirname(d)
    if reachable:
        return path
    if _shared_tend is None:
        d = tempfile.mkdtemp(prefix="tend-bin-")
        os.chmod(d, 0o755)
        _shared_tend = os.path.join(d, "tend")
        shutil.copy2(path, _shared_tend)
        os.chmod(_shared_tend, 0o755)
        atexit.register(shutil.rmtree, d, True)
    return _shared_tend


def without_undo(config):
    """config with review.undo set to 0 unless it says otherwise: the tests that approve a reply
    and wait for the SMTP server were written before the undo window; those about the window
    set `undo:` themselves."""
    if "undo:" in config:
        return config
    m = re.search(r"^review:[ \t]*\{", config, re.M)
    if m:
        return config[:m.end()] + "undo: 0, " + config[m.end():]
    m = re.search(r"^review:[ \t]*\n", config, re.M)
    if m:
        return config[:m.end()] + "  undo: 0\n" + config[m.end():]
    return config + ("" if config.endswith("\n") or not config else "\n") + "review: {undo: 0}\n"


class Env:
    """A throwaway tend installation: config, store and mail in one temporary directory."""

    def __init__(self, config=None, subject_fallback=None):
        self.dir = tempfile.mkdtemp(prefix="tend-test-")
        self.config = os.path.join(self.dir, "tend.yaml")
        self.store = os.path.join(self.dir, "store")
        if config is None:
            config = "store: store\n"
            if subject_fallback is not None:
                config += "threading:\n  subject_fallback: %s\n" % (
                    "true" if subject_fallback else "false")
        self.write("tend.yaml", config)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if name == "tend.yaml" and isinstance(data, str):
            data = without_undo(data)
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(p, mode) as f:
            f.write(data)
        return p

    def run(self, prog, *args, ok=True, rc=None, input=None, env=None):
        argv = [prog, "-c", self.config] + [str(a) for a in args]
        e = dict(os.environ)
        e.pop("COLUMNS", None)  # listings to a pipe are whole unless a test sets a width
        e.update(env or {})
        # No die_with_parent() for a command that ends by itself: a preexec_fn makes every
        # run a full fork of this process (70 ms instead of 10 on a slow VM); the reaper's
        # worker and supervisor end it with the test.
        p = subprocess.run(wrap(argv), input=input, capture_output=True, env=e,
                           timeout=1800)
        r = Result(argv, p.returncode,
                   p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))
        if p.returncode == 99 and os.environ.get("TEND_VALGRIND") == "1":
            raise Failure("valgrind found errors:\n%r" % r)
        if rc is not None:
            check(r.rc == rc, "expected exit status %d:\n%r" % (rc, r))
        elif ok:
            check(r.rc == 0, "command failed:\n%r" % r)
        return r

    def tend(self, *args, **kw):
        return self.run(TEND, *args, **kw)

    def in_pty(self, args, cols=80, env=None, typed=None):
        """Runs tend with stdin and stdout on a pseudo-terminal cols wide (stderr a pipe),
        typing typed first. Returns (exit status, what the terminal showed, stderr)."""
        e = dict(os.environ)
        e.pop("COLUMNS", None)
        e.update(env or {})
        t = pty_session([TEND, "-c", self.config] + [str(a) for a in args],
                        [(b"", typed)] if typed else [], cols=cols, environ=e,
                        new_session=True)
        return t.rc, t.shown.decode("utf-8"), t.err.decode("utf-8", "replace")

    def tendd(self, *args, **kw):
        return self.run(TENDD, *args, **kw)

    def json(self, *args, **kw):
        r = self.tend(*args, **kw)
        try:
            return json.loads(r.out)
        except ValueError as e:
            raise Failure("not JSON (%s):\n%r" % (e, r))

    def import_(self, *paths):
        return self.json("import", "--json", *paths)

    def threads(self):
        return self.json("threads", "--json")

    def show(self, tid):
        return self.json("show", "--json", tid)

    def use_sample_rules(self):
        """Copies config/rules.yaml, config/templates and config/lookups beside this
        tend.yaml."""
        shutil.copy(os.path.join(SRC, "config", "rules.yaml"), self.path("rules.yaml"))
        shutil.copytree(os.path.join(SRC, "config", "templates"), self.path("templates"))
        shutil.copytree(os.path.join(SRC, "config", "lookups"), self.path("lookups"))

    def raw(self, msg):
        """The bytes `tend raw` prints for a stored message."""
        argv = wrap([TEND, "-c", self.config, "raw", str(msg)])
        p = subprocess.run(argv, capture_output=True, timeout=600)
        check(p.returncode == 0, "tend raw %s failed: %s" % (msg, p.stderr.decode()))
        return p.stdout

    def partition(self):
        """The grouping of Message-IDs into threads, comparable with notmuch's."""
        return sorted(sorted(t["message_ids"]) for t in self.threads())

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def corpus(*parts):
    return os.path.join(CORPORA, *parts)


def display_width(line):
    """Columns a line takes in a terminal (wide characters two, combining marks none), its
    colour codes left out."""
    import re
    import unicodedata
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def sample_mail():
    return os.path.join(SRC, "config", "sample-mail")


def select_cases(names, args, valgrind=False):
    """The cases to run and those to report as skipped (name -> why), from a file's test_*
    names in file order. args: case names (only those run); --part=K/N (every Nth case from
    the Kth on, so that the N parts of a long file run at once and together run each case
    once); --valgrind-cases=NAME,... (when valgrind is true, only those run and the others
    are skipped: tests/meson.build names them). Raises ValueError for a malformed argument or
    a name the file does not have."""
    part, wanted, vg_cases = None, [], None
    for a in args:
        if a.startswith("--part="):
            m = re.fullmatch(r"--part=([1-9][0-9]*)/([1-9][0-9]*)", a)
            if not m or int(m.group(1)) > int(m.group(2)):
                raise ValueError("%s: expected --part=K/N with 1 <= K <= N" % a)
            part = int(m.group(1)) - 1, int(m.group(2))
        elif a.startswith("--valgrind-cases="):
            vg_cases = [n for n in a.split("=", 1)[1].split(",") if n]
        elif a.startswith("-"):
            raise ValueError("unknown option %s" % a)
        else:
            wanted.append(a)
    unknown = [n for n in wanted + (vg_cases or []) if n not in names]
    if unknown:
        raise ValueError("no such test: %s" % ", ".join(unknown))
    if wanted:
        names = [n for n in names if n in wanted]
    skipped = {}
    if valgrind and vg_cases is not None:
        why = "not under valgrind: the ASan and normal builds run it (tests/meson.build)"
        skipped = {n: why for n in names if n not in vg_cases}
        names = [n for n in names if n in vg_cases]
    if part is not None:
        k, n = part
        names = names[k::n]
        skipped = {s: w for i, (s, w) in enumerate(skipped.items()) if i % n == k}
    return names, skipped


def run(module_globals, skip=None, needs_localhost=False):
    """Runs every test_* function of the calling module as TAP, in a worker process that
    reaper.start() watches over; arguments choose cases (see select_cases). With skip (a
    reason), runs none: the whole file is skipped in one line saying why. needs_localhost: the
    tests talk to the test servers as "localhost"; when that name does not lead to 127.0.0.1,
    one line says so (TAP "Bail out!") instead of every test timing out on its own."""
    if skip:
        print("1..0 # SKIP %s" % skip, flush=True)
        sys.exit(0)
    names = [n for n in module_globals if n.startswith("test_") and callable(module_globals[n])]
    try:
        names, skipped = select_cases(names, sys.argv[1:],
                                       os.environ.get("TEND_VALGRIND") == "1")
    except ValueError as e:
        print("Bail out! %s" % e, flush=True)
        sys.exit(1)
    if needs_localhost:
        from imapserver import localhost_problem
        problem = localhost_problem()
        if problem:
            print("Bail out! " + problem, flush=True)
            sys.exit(1)
    reaper.start()
    print("1..%d" % (len(names) + len(skipped)), flush=True)
    failed = 0
    try:
        for i, name in enumerate(names, 1):
            reaper.doing = name
            try:
                module_globals[name]()
                print("ok %d - %s" % (i, name), flush=True)
            except Skip as e:
                print("ok %d - %s # SKIP %s" % (i, name, e), flush=True)
            except Exception as e:  # a crash in a test is a failure of that test only
                failed += 1
                detail = str(e) if isinstance(e, Failure) else traceback.format_exc()
                for line in detail.rstrip().splitlines():
                    print("# " + line)
                print("not ok %d - %s" % (i, name), flush=True)
            reaper.reap_orphans()
        for i, (name, why) in enumerate(skipped.items(), len(names) + 1):
            print("ok %d - %s # SKIP %s" % (i, name, why), flush=True)
    except reaper.Stopped as e:  # the signal handler has said so
        reaper.exit(128 + e.signum)
    reaper.exit(1 if failed else 0)


SLOW = 4 if os.environ.get("TEND_VALGRIND") == "1" else 1  # time limits scale with valgrind


class Terminal:
    """What a session on a pseudo-terminal left: rc (the exit status, -N when signal N ended
    it), shown (the bytes the terminal showed), err (stderr bytes, or None) and lflag (the
    terminal's local modes, termios.ECHO and the rest, once the program had ended)."""

    def __init__(self, rc, shown, err, lflag):
        self.rc, self.shown, self.err, self.lflag = rc, shown, err, lflag

    def text(self):
        return self.shown.decode("utf-8", "replace").replace("\r\n", "\n")


def pty_session(argv, answers=(), cols=80, rows=24, environ=None, stderr=subprocess.PIPE,
                timeout=20, new_session=False, job=False):
    """Runs argv with stdin and stdout on a pseudo-terminal rows x cols and answers its
    prompts in turn: answers holds (prompt, typed) pairs; once prompt shows after what the
    previous answer saw, typed is typed (bytes), or called with the process (a function: to
    send it a signal). job: argv runs in a process group of its own in the test's session, as
    a shell runs a job, so that a stop signal stops it (a group whose members' parents are all
    outside the session, as under meson, is orphaned: the kernel drops SIGTSTP for it).
    Returns a Terminal; the session must end within timeout s (times SLOW)."""
    import select
    import time
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    p = subprocess.Popen(wrap(argv), stdin=slave, stdout=slave, stderr=stderr,
                         env=environ if environ is not None else dict(os.environ),
                         start_new_session=new_session, process_group=0 if job else None)
    shown, seen, to_type = b"", 0, list(answers)
    deadline = time.monotonic() + timeout * SLOW
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            try:
                shown += os.read(master, 65536) if ready else b""
            except OSError:  # EIO: every writer is gone
                break
            while to_type and shown.find(to_type[0][0], seen) >= 0:
                prompt, typed = to_type.pop(0)
                seen = shown.find(prompt, seen) + len(prompt)
                os.write(master, typed) if isinstance(typed, bytes) else typed(p)
            if not ready and p.poll() is not None:
                break
        else:
            p.kill()
            raise Failure("%s did not end within %g s; still to type: %r; the terminal "
                          "showed:\n%s" % (argv[0], timeout * SLOW, to_type,
                                            shown[-2000:].decode("utf-8", "replace")))
        err = p.stderr.read() if stderr == subprocess.PIPE else None
        rc = p.wait(timeout=10)
        lflag = termios.tcgetattr(slave)[3]
    finally:
        os.close(slave)
        os.close(master)
    return Terminal(rc, shown, err, lflag)


def on_terminal(argv, answer=None, prompt=b"[y/N] ", env=None, stderr=subprocess.PIPE,
                timeout=20):
    """Runs argv with stdin and stdout on a pseudo-terminal; once it shows prompt, types answer
    (None: nothing). Returns (status, the bytes the terminal showed, stderr bytes or None)."""
    t = pty_session(argv, [(prompt, answer)] if answer is not None else [],
                    environ=dict(os.environ, **(env or {})), stderr=stderr, timeout=timeout)
    return t.rc, t.shown, t.err


def wait_until(fn, timeout, what, interval=0.05):
    """Calls fn until it returns something true and returns that; fails after timeout
    seconds (times SLOW) naming what was awaited."""
    import time
    global _polling
    deadline = time.monotonic() + timeout * SLOW
    while True:
        _polling = True
        try:
            v = fn()
        finally:
            _polling = False
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out after %g s waiting for %s" % (timeout * SLOW, what))
        time.sleep(interval)


class Daemon:
    """A tendd running in the foreground (without --once) for a test, started with the
    environment's tend.yaml; its stderr goes to a file in the environment's directory."""

    def __init__(self, env, *args, name="tendd.stderr", extra_env=None, ready=True):
        self.env = env
        self.errpath = env.path(name)
        self.argv = [TENDD, "-c", env.config] + [str(a) for a in args]
        e = dict(os.environ)
        e.update(extra_env or {})
        with open(self.errpath, "ab") as err:
            self.proc = subprocess.Popen(wrap(self.argv), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=subprocess.STDOUT, env=e,
                                         preexec_fn=reaper.die_with_parent())
        self.pid = self.proc.pid
        if ready:
            try:
                self.wait_ready()
            except BaseException:
                self.close()  # the caller never gets this object to close
                raise

    def wait_ready(self, timeout=10):
        """Waits until tendd holds its lock on the store (so the store exists)."""
        pidfile = os.path.join(self.env.store, "tendd.pid")

        def locked():
            try:
                with open(pidfile) as f:
                    return f.read().strip() != ""
            except FileNotFoundError:
                return False
        self.wait_until(locked, timeout * SLOW, "tendd to open the store")

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def tail(self, n=30):
        lines = self.stderr().splitlines()
        return "\n".join(lines[-n:])

    def fail(self, msg):
        raise Failure("%s\n--- tendd stderr (%s), last lines:\n%s" % (
            msg, " ".join(self.argv), self.tail()))

    def check_alive(self):
        rc = self.proc.poll()
        if rc is not None:
            self.fail("tendd exited with status %d" % rc)

    def wait_until(self, fn, timeout, what, interval=0.05):
        """wait_until that also fails at once when the daemon has died, with its stderr."""
        def step():
            self.check_alive()
            return fn()
        try:
            return wait_until(step, timeout, what, interval)
        except Failure as e:
            if "--- tendd stderr" in str(e):
                raise
            self.fail(str(e))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit status (fails when it does not exit)."""
        import signal
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.fail("tendd did not exit within %g s of SIGTERM" % (timeout * SLOW))
        if rc == 99 and os.environ.get("TEND_VALGRIND") == "1":
            self.fail("valgrind found errors")
        return rc

    def kill(self):
        """SIGKILL, at once; returns when it is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self):
        """For finally blocks: makes sure the process is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
