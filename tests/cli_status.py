#!/usr/bin/python3
"""`tend status` with the real binary: on a store made by `tend import` (no accounts), with an
IMAP account that tendd has not reached yet, and with a "tendd" (this script) holding the lock
on the store's tendd.pid."""

import fcntl
import os
import re

from tendtest import Env, check, eq, run, sample_mail

AGENTS = "store: store\nagents:\n  - {login: alice}\n"
ACCOUNT = """store: store
accounts:
  - name: support
    address: support@shop.example
    imap:
      host: 127.0.0.1
      port: 1143
      tls: none
      user: support
      password_file: support.pass
      folders: [INBOX, Orders]
"""
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
KEYS = ["daemon", "accounts", "messages", "threads", "quarantined", "outbox", "copies_pending",
        "oldest_unanswered"]
FOLDER_KEYS = ["name", "uidvalidity", "last_uid", "last_fetch", "waiting", "exists", "fetched",
               "error", "error_since"]


def status(env, *args):
    return env.json("status", "--json", *args)


def test_imported_store_json():
    env = Env()
    try:
        imp = env.import_(sample_mail())
        s = status(env)
        eq(list(s), KEYS, "keys in order")
        eq(s["daemon"], {"running": False, "pid": None}, "daemon")
        eq(s["accounts"], [], "no accounts configured")
        eq(s["messages"], imp["stored"], "messages")
        threads = env.threads()
        check(s["threads"] >= len(threads), "threads: %r" % s)
        eq(s["quarantined"], imp["quarantined"], "quarantined")
        eq(s["outbox"], 0, "outbox")
        old = s["oldest_unanswered"]
        eq(sorted(old), ["since", "subject", "thread"], "oldest_unanswered keys")
        check(RFC3339.match(old["since"]), "since is RFC 3339: %r" % old)
        live = {t["id"]: t for t in threads}
        check(old["thread"] in live and live[old["thread"]]["state"] == "open",
              "the oldest is an open thread: %r" % old)
        eq(old["subject"], live[old["thread"]]["subject"], "subject")
    finally:
        env.close()


def test_human_output():
    env = Env()
    try:
        imp = env.import_(sample_mail())
        r = env.tend("status")
        lines = r.out.splitlines()
        eq(lines[0], "tendd       not running", "daemon line")
        check(re.match(r"^store       %d messages, \d+ threads, 0 quarantined$" % imp["stored"],
                       lines[1]), "store line: %r" % lines[1])
        eq(lines[2], "outbox      0 waiting", "outbox line")
        old = status(env)["oldest_unanswered"]
        check(lines[3].startswith("oldest      thread %d, unanswered since " % old["thread"])
              and lines[3].endswith(': "%s"' % old["subject"]), "oldest line: %r" % lines[3])
        eq(len(lines), 4, "lines:\n%s" % r.out)
        check("\033[" not in r.out, "colour codes written to a pipe")
    finally:
        env.close()


def test_outbox_after_approve():
    env = Env(config=AGENTS)
    try:
        env.import_(sample_mail())
        tid = env.json("queue", "--json")[0]["thread"]
        env.tend("approve", tid, env={"TEND_AGENT": "alice"})
        s = status(env)
        eq(s["outbox"], 1, "approved reply in the outbox")
        check("outbox      1 waiting\n" in env.tend("status").out, "outbox line")
    finally:
        env.close()


def test_account_never_reached_and_running_daemon():
    env = Env(config=ACCOUNT)
    try:
        env.write("support.pass", "secret\n")
        os.chmod(env.path("support.pass"), 0o600)
        env.import_(os.path.join(sample_mail(), "01-voucher-expired.eml"))
        a = status(env)["accounts"]
        eq([x["name"] for x in a], ["support"], "accounts")
        eq([f["name"] for f in a[0]["folders"]], ["INBOX", "Orders"], "folders")
        eq(list(a[0]["folders"][0]), FOLDER_KEYS, "folder keys")
        eq((a[0]["last_login"], a[0]["error"]), (None, None), "never logged in")
        eq(a[0]["folders"][0]["last_fetch"], None, "never fetched")
        out = env.tend("status").out
        check("support     never logged in\n  INBOX     never fetched\n"
              "  Orders    never fetched\n" in out, out)
        check(not os.path.exists(os.path.join(env.store, "tendd.pid")), "pid file created")
        with open(os.path.join(env.store, "tendd.pid"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            f.write("%d\n" % os.getpid())
            f.flush()
            eq(status(env)["daemon"], {"running": True, "pid": os.getpid()}, "running")
            check(env.tend("status").out.startswith("tendd       running (pid %d)\n"
                                                    % os.getpid()), "running line")
        eq(status(env)["daemon"]["running"], False, "lock released")
    finally:
        env.close()


def test_without_store_and_usage():
    env = Env()
    try:
        r = env.tend("status", rc=1)
        check("no store at" in r.err and env.store in r.err, "error names the store:\n%r" % r)
        eq(len(r.err.strip().splitlines()), 1, "one-line reason:\n%r" % r)
        env.import_(os.path.join(sample_mail(), "01-voucher-expired.eml"))
        env.tend("status", "extra", rc=2)
        env.tend("status", "--bogus", rc=2)
        check("usage: tend status [--json]" in env.tend("status", "--help").out, "help")
        check("status" in env.tend("--help").out, "listed in tend --help")
    finally:
        env.close()


run(globals())
