"""tendtest: what the script tests share.

Each test file defines functions named test_*; run() calls them in order and prints TAP, one
line per test, so meson reports every case. A test gets a fresh Env: a temporary directory
with a tend.yaml and a store, and helpers that run the real `tend` and `tendd` binaries.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

TEND = os.environ.get("TEND_BIN", "tend")
TENDD = os.environ.get("TENDD_BIN", "tendd")
SRC = os.environ.get("TEND_SRC", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPORA = os.environ.get("CORPORA", os.path.join(SRC, "..", "shared", "corpora"))

VALGRIND = ["valgrind", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--quiet",
            "--suppressions=" + os.path.join(SRC, "tests", "valgrind.supp")]


class Failure(Exception):
    pass


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


def wrap(argv):
    """Runs the binaries under valgrind when the test setup asks for it."""
    if os.environ.get("TEND_VALGRIND") == "1":
        return VALGRIND + argv
    return argv


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
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(p, mode) as f:
            f.write(data)
        return p

    def run(self, prog, *args, ok=True, rc=None, input=None, env=None):
        argv = [prog, "-c", self.config] + [str(a) for a in args]
        e = dict(os.environ)
        e.update(env or {})
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
        """Copies config/rules.yaml and config/templates beside this tend.yaml."""
        shutil.copy(os.path.join(SRC, "config", "rules.yaml"), self.path("rules.yaml"))
        shutil.copytree(os.path.join(SRC, "config", "templates"), self.path("templates"))

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


def sample_mail():
    return os.path.join(SRC, "config", "sample-mail")


def run(module_globals):
    """Runs every test_* function of the calling module (or those named in argv) as TAP."""
    names = [n for n in module_globals if n.startswith("test_") and callable(module_globals[n])]
    if len(sys.argv) > 1:
        names = [n for n in names if n in sys.argv[1:]]
    print("1..%d" % len(names), flush=True)
    failed = 0
    for i, name in enumerate(names, 1):
        try:
            module_globals[name]()
            print("ok %d - %s" % (i, name), flush=True)
        except Exception as e:  # a crash in a test is a failure of that test only
            failed += 1
            detail = str(e) if isinstance(e, Failure) else traceback.format_exc()
            for line in detail.rstrip().splitlines():
                print("# " + line)
            print("not ok %d - %s" % (i, name), flush=True)
    sys.exit(1 if failed else 0)
