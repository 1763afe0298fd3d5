#!/usr/bin/python3
"""Plan meson test runs and sum up their results, for contrib/check.

    summarize.py plan BUILDDIR PLANFILE [--suite SUITE]...
        Sorts the tests of BUILDDIR (only those of the SUITEs, if given) into those that
        can run and those whose programs did not build, or are older than
        their sources after a failed build. Writes that to PLANFILE (JSON) and
        prints the names of the runnable tests, one a line. Exits 0 when all
        can run, 3 when some cannot (meson test refuses to run anything while
        one program is missing, so then run the printed ones by name).

    summarize.py report [--build LABEL RC]... [--run LABEL PLANFILE LOG RC]...
                        [--check LABEL RC]...
        Prints what passed and failed. The last line is exactly
        "N passed, N failed"; exits 1 if anything failed.

Counting. A --run contributes one result per test in meson's JSON log
(LOG, one object a line): OK and EXPECTEDFAIL pass; SKIP is listed but counts
neither way; FAIL, UNEXPECTEDPASS, TIMEOUT, ERROR, INTERRUPT and anything
unknown fail. The cases a passing TAP test skipped ("ok N - name # SKIP why")
are listed with the skipped tests, all under the reason they gave (a whole
file's "1..0 # SKIP why", or its cases'). Each test that did not build, and
each planned test missing from the log, fails. If meson test exited non-zero
(RC) and nothing above accounts for it, that is one more failure; RC "-" means
meson test was not run (nothing to run). A --check is one test, passed when RC
is 0. A --build counts only when it fails (one failure): the tests it broke
fail on their own account, but a program that no test covers must not break
unnoticed.
"""

import argparse
import json
import os
import re
import subprocess
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}
# A skipped file's plan, or a skipped case (its name in group 1); the reason in group 2.
TAP_SKIP = re.compile(r"^(?:1\.\.0|ok\s+\d+\s*(?:-\s*)?(.*?))\s+#\s*SKIP\b\s*(.*)$",
                      re.I | re.M)


def in_suite(test, suites):
    if not suites:
        return True
    # Meson names suites "project:suite"; --suite matches either part.
    for s in test.get("suite", []):
        if any(suite in (s, s.split(":", 1)[-1], s.split(":", 1)[0]) for suite in suites):
            return True
    return False


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Freshness:
    """Whether a file in the build tree is built and up to date."""

    def __init__(self, builddir):
        self.builddir = os.path.realpath(builddir)
        self.cache = {}

    def inside(self, path):
        return os.path.realpath(path).startswith(self.builddir + os.sep)

    def problem(self, path):
        """None if PATH is fine, else why it is not."""
        if path in self.cache:
            return self.cache[path]
        why = None
        if not os.path.exists(path):
            why = "not built"
        elif self.inside(path):
            rel = os.path.relpath(os.path.realpath(path), self.builddir)
            try:
                out = subprocess.run(
                    ["ninja", "-C", self.builddir, "-n", rel],
                    capture_output=True, text=True, check=False,
                )
                if out.returncode != 0 or "no work to do" not in out.stdout:
                    why = "not rebuilt: older than its sources"
            except OSError:
                pass  # no ninja: trust that the file exists
        self.cache[path] = why
        return why


def cmd_plan(args):
    intro = os.path.join(args.builddir, "meson-info")
    try:
        tests = load_json(os.path.join(intro, "intro-tests.json"))
    except (OSError, ValueError) as e:
        print(f"summarize.py: cannot list the tests of {args.builddir}: {e}", file=sys.stderr)
        return 1
    try:
        targets = load_json(os.path.join(intro, "intro-targets.json"))
    except (OSError, ValueError):
        targets = []
    files_of = {t["id"]: t.get("filename", []) for t in targets}
    fresh = Freshness(args.builddir)

    runnable, not_built, planned = [], [], 0
    for t in tests:
        if not in_suite(t, args.suite):
            continue
        paths = [t["cmd"][0]] if t.get("cmd") and fresh.inside(t["cmd"][0]) else []
        for dep in t.get("depends", []):
            paths += files_of.get(dep, [])
        why = next((w for w in map(fresh.problem, paths) if w), None)
        if why:
            suites = "+".join(t.get("suite", []))
            name = f"{suites} / {t['name']}" if suites else t["name"]
            not_built.append({"name": name, "why": why})
        else:
            planned += 1
            if t["name"] not in runnable:
                runnable.append(t["name"])

    plan = {"builddir": args.builddir, "suite": args.suite, "planned": planned,
            "runnable": runnable, "not_built": not_built}
    with open(args.planfile, "w", encoding="utf-8") as f:
        json.dump(plan, f)
    for name in runnable:
        print(name)
    return 3 if not_built else 0


def read_log(path):
    """Returns (results, problems): results as (name, result, stdout) triples."""
    results, problems = [], []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    results.append((obj.get("name", "?"), str(obj.get("result")),
                                    obj.get("stdout") or ""))
                except ValueError:
                    problems.append(f"{path}:{n}: unreadable log line")
    except FileNotFoundError:
        pass
    return results, problems


def skips(name, result, stdout):
    """What a test skipped, as (what, why) pairs: the whole test when meson says SKIP (why:
    its plan's reason, else its first case's), else each case its TAP output skipped."""
    found = [(case, why.strip() or "no reason given") for case, why in TAP_SKIP.findall(stdout)]
    if result in SKIP:
        return [(name, found[0][1] if found else "no reason given")]
    return [(f"{name} / {case or '?'}", why) for case, why in found]


def wrap_list(head, items, width=100):
    """head and the items, comma-separated, in lines of at most width (unless an item is
    longer); an item is never broken."""
    lines, line = [], head
    for i, item in enumerate(items):
        piece = item + ("," if i + 1 < len(items) else "")
        if len(line) + 1 + len(piece) > width and line.strip() != head.strip():
            lines.append(line)
            line = "      " + piece
        else:
            line += " " + piece
    return "\n".join(lines + [line])


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = {}  # why -> {label: [what, ...]}

    def fail(self, what):
        self.failed += 1
        print(f"    FAIL  {what}")

    def skip(self, label, what, why):
        self.skipped.setdefault(why, {}).setdefault(label, []).append(what)

    def print_skipped(self):
        """The skipped tests and cases, under the reason they gave, by run."""
        count = {why: sum(map(len, runs.values())) for why, runs in self.skipped.items()}
        if not count:
            return
        print(f"{sum(count.values())} skipped (not counted as passed):")
        for why, runs in self.skipped.items():
            print(f"  {count[why]}: {why}")
            for label, what in runs.items():
                print(wrap_list(f"    {label}:", what))


def report_run(tally, label, planfile, logfile, rc):
    try:
        plan = load_json(planfile)
    except (OSError, ValueError) as e:
        print(f"{label}: no test plan ({e})")
        tally.fail(f"{label}: tests could not be listed (build directory not configured?)")
        return

    results, problems = read_log(logfile)
    counts = {}
    for _, res, _ in results:
        counts[res] = counts.get(res, 0) + 1
    passed = sum(v for k, v in counts.items() if k in PASS)
    meson = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no results"
    print(f"{label}: {len(results)} ran ({meson}); "
          f"{len(plan['not_built'])} not built")

    before = tally.failed
    tally.passed += passed
    for name, res, out in results:
        if res in PASS or res in SKIP:
            for what, why in skips(name, res, out):
                tally.skip(label, what, why)
        else:
            tally.fail(f"{name}  ({res})")
    for t in plan["not_built"]:
        tally.fail(f"{t['name']}  ({t['why']})")
    for p in problems:
        tally.fail(p)
    if rc != "-":
        for _ in range(plan["planned"] - len(results)):
            tally.fail(f"{label}: a planned test left no result in {logfile}")
    if rc not in ("-", "0") and tally.failed == before:
        tally.fail(f"{label}: meson test exited with status {rc}")


def cmd_report(args):
    tally = Tally()
    print()
    print("==== Summary")
    for label, rc in args.build or []:
        if rc == "0":
            print(f"{label}: built")
        else:
            print(f"{label}: build failed (status {rc}), see its output above")
            tally.fail(f"{label}: build")
    for label, planfile, logfile, rc in args.run or []:
        report_run(tally, label, planfile, logfile, rc)
    for label, rc in args.check or []:
        if rc == "0":
            print(f"{label}: ok")
            tally.passed += 1
        else:
            print(f"{label}: failed (status {rc})")
            tally.fail(label)
    tally.print_skipped()
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("builddir")
    p.add_argument("planfile")
    p.add_argument("--suite", action="append", default=[])
    r = sub.add_parser("report")
    r.add_argument("--build", nargs=2, action="append", metavar=("LABEL", "RC"))
    r.add_argument("--run", nargs=4, action="append",
                   metavar=("LABEL", "PLANFILE", "LOG", "RC"))
    r.add_argument("--check", nargs=2, action="append", metavar=("LABEL", "RC"))
    args = ap.parse_args()
    return cmd_plan(args) if args.cmd == "plan" else cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
