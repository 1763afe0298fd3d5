#!/usr/bin/python3
"""contrib/bench/drafts, the draft-quality benchmark, on a few of its mails: its table and its
--json are what the README quotes, so they must parse and add up, and a broken draft must show
as a miss."""

import atexit
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

from tendtest import SRC, TEND, check, eq, run, wrap

BENCH = os.path.join(SRC, "contrib", "bench", "drafts")
COLUMNS = ["recall", "precision", "order", "captures", "leaks", "dates", "lang", "name", "right"]


_tend = None


def tend_for_bench():
    """TEND, or under `--setup valgrindcli` a script that runs it under valgrind."""
    global _tend
    if _tend is None:
        _tend = shutil.which(TEND) or TEND
        argv = wrap([_tend])
        if len(argv) > 1:
            d = tempfile.mkdtemp(prefix="tend-test-bench-bin-")
            atexit.register(shutil.rmtree, d, True)
            path = os.path.join(d, "tend")
            with open(path, "w") as f:
                f.write("#!/bin/sh\nexec %s \"$@\"\n" % " ".join(shlex.quote(a) for a in argv))
            os.chmod(path, 0o755)
            _tend = path
    return _tend


def bench(*args):
    p = subprocess.run([sys.executable, BENCH, "--tend", tend_for_bench()] + list(args),
                       capture_output=True, text=True, timeout=600)
    eq(p.returncode, 0, "bench exit status (stderr: %s)" % p.stderr)
    return p.stdout


def test_json_adds_up_and_follow_up_joins_its_conversation():
    out = json.loads(bench("--json", "--only",
                           "07-three-concerns.eml,10-form-cancel.eml,31b-late-followup-cancel.eml"))
    # 31b answers 31a, which is imported (and scored) first
    eq(sorted(r["mail"] for r in out["results"]),
       ["07-three-concerns.eml", "10-form-cancel.eml", "31a-late.eml",
        "31b-late-followup-cancel.eml"], "mails scored")
    eq(out["mails"], 4, "mails")
    thread = {r["mail"]: r["thread"] for r in out["results"]}
    check(thread["31a-late.eml"] is not None, "31a has a conversation")
    eq(thread["31b-late-followup-cancel.eml"], thread["31a-late.eml"], "the follow-up's thread")
    eq(sorted(out["columns"]), sorted(COLUMNS), "columns")
    for name, c in out["columns"].items():
        check(0 <= c["hits"] <= c["of"], "%s: %r" % (name, c))
    want = {"07-three-concerns.eml": ["delivery_info", "voucher", "address_change"]}
    eq(want["07-three-concerns.eml"],
       next(r["want"] for r in out["results"] if r["mail"] == "07-three-concerns.eml"),
       "annotated concerns of 07")
    eq(out["columns"]["recall"]["of"], 1 + 3 + 1 + 3, "annotated concerns of the four mails")


def test_table_names_every_column():
    out = bench("--only", "04-voucher-noname.eml")
    check(out.startswith("1 mails, "), out)
    for label in ("concern recall", "concern precision", "order", "captures", "no leaks",
                  "no past dates", "language", "first name", "right"):
        check(("    %s " % label) in out, "%r missing from:\n%s" % (label, out))


MAIL = """From: %s
To: support@shop.example
Subject: Cancel
Date: Mon, 30 Nov 2026 09:00:00 +0000
Message-ID: <%s@example.com>
Content-Type: text/plain; charset=UTF-8

Hello, please cancel %s. Thanks, %s
"""


def test_broken_sentence_is_a_miss():
    """A template that leaves " ," where a capture is empty: the draft of the mail without an
    order number is listed under no leaks, the other is not."""
    d = tempfile.mkdtemp(prefix="tend-test-bench-")
    try:
        shutil.copy(os.path.join(SRC, "config", "rules.yaml"), d)
        shutil.copytree(os.path.join(SRC, "config", "templates"), os.path.join(d, "templates"))
        shutil.copytree(os.path.join(SRC, "config", "lookups"), os.path.join(d, "lookups"))
        with open(os.path.join(d, "templates", "cancel.txt"), "w") as f:
            f.write("You asked us to cancel the order {{order|}}, and we will.\n")
        os.mkdir(os.path.join(d, "corpus"))
        ann = {}
        for name, who, what in (("a.eml", "Ann Lee <ann@example.com>", "order 10560"),
                                ("b.eml", "Bob Ray <bob@example.com>", "my order")):
            with open(os.path.join(d, "corpus", name), "w") as f:
                f.write(MAIL % (who, name, what, who.split()[0]))
            ann[name] = {"concerns": ["cancel"], "captures": {}, "lang": "en",
                         "first_name": who.split()[0]}
        with open(os.path.join(d, "corpus", "annotations.json"), "w") as f:
            json.dump(ann, f)
        out = json.loads(bench("--json", "--rules", os.path.join(d, "rules.yaml"),
                               "--corpus", os.path.join(d, "corpus")))
        eq(out["columns"]["leaks"], {"hits": 1, "of": 2, "share": 0.5}, "no leaks")
        leaks = {r["mail"]: [m["why"] for m in r["misses"] if m["column"] == "leaks"]
                 for r in out["results"]}
        eq(leaks["a.eml"], [], "leaks in the draft with an order number")
        eq(len(leaks["b.eml"]), 1, "leaks in the draft without one")
        check(leaks["b.eml"][0].startswith("a space before , or .: ") and
              "cancel the order , and we will." in leaks["b.eml"][0], leaks)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run(globals())
