#!/usr/bin/python3
"""tendd and the operators' rules: SIGHUP reloads rules.yaml while the daemon runs; a file with
errors is refused with file:line:column and the rules in use stay in use. Checked on the tags
that mail fetched from a real dovecot gets before and after each reload."""

import os
import signal

from imapserver import Dovecot
from tendtest import Daemon, Env, Failure, check, eq, run, sample_mail, wait_until

BROKEN = """
  - name: broken
    match: {subject: '(unclosed'}
    tags: [never]
"""

EXTRA = """
  - name: hup_test
    match: {subject: '(?i)voucher'}
    tags: [reloaded]
"""


def mail(name):
    with open(os.path.join(sample_mail(), name), "rb") as f:
        return f.read()


def tags_of_subject(env, subject):
    for t in env.threads():
        if t["subject"] == subject:
            return t["tags"]
    return None


def wait_for_subject(daemon, env, subject):
    return daemon.wait_until(lambda: tags_of_subject(env, subject), 10,
                             "a thread with subject %r" % subject)


def wait_for_log(daemon, text):
    daemon.wait_until(lambda: text in daemon.stderr(), 10, "%r in tendd's log" % text)


def relabel(data, subject, msgid):
    """The sample message under a new subject and Message-ID: a fresh conversation."""
    head, sep, body = data.partition(b"\n\n")
    lines = [ln for ln in head.split(b"\n")
             if not ln.lower().startswith((b"subject:", b"message-id:"))]
    lines += [b"Subject: " + subject.encode(), b"Message-ID: <" + msgid.encode() + b">"]
    return b"\n".join(lines) + sep + body


def test_sighup_reload():
    dv = Dovecot()
    env = daemon = None
    try:
        env = Env(config=dv.config(poll_interval="300s"))
        env.use_sample_rules()
        rules = env.path("rules.yaml")
        with open(rules) as f:
            good = f.read()
        daemon = Daemon(env)
        voucher = mail("01-voucher-expired.eml")
        dv.append("INBOX", relabel(voucher, "Voucher one", "v1@example.com"))
        tags = wait_for_subject(daemon, env, "Voucher one")
        check("voucher" in tags and "reloaded" not in tags, "sample rules: %r" % tags)

        env.write("rules.yaml", good + BROKEN)
        daemon.signal(signal.SIGHUP)
        wait_for_log(daemon, "has errors: keeping the rules loaded before")
        lines = [ln for ln in daemon.stderr().splitlines() if "rules.yaml:" in ln]
        want = ("rules.yaml:%d:32: bad regex in rule \"broken\" subject: missing closing "
                "parenthesis" % (good.count("\n") + 3))
        check(any(ln.endswith(want) for ln in lines), "no %r in %r" % (want, lines))
        dv.append("INBOX", relabel(voucher, "Voucher two", "v2@example.com"))
        tags = wait_for_subject(daemon, env, "Voucher two")
        check("voucher" in tags and "never" not in tags, "old rules kept: %r" % tags)

        env.write("rules.yaml", good + EXTRA)
        daemon.signal(signal.SIGHUP)
        wait_for_log(daemon, "rules reloaded from")
        dv.append("INBOX", relabel(voucher, "Voucher three", "v3@example.com"))
        tags = wait_for_subject(daemon, env, "Voucher three")
        check("voucher" in tags and "reloaded" in tags, "new rules used: %r" % tags)
        eq(daemon.stop(), 0, "exit status after SIGTERM")
    except Failure as e:
        if daemon is not None and "--- tendd stderr" not in str(e):
            daemon.fail(str(e))
        raise
    finally:
        if daemon is not None and daemon.alive():
            daemon.proc.kill()
        if env is not None:
            env.close()
        dv.close()


def thread_of_subject(env, subject):
    return [t["id"] for t in env.threads() if t["subject"] == subject][0]


def test_redraft_beside_running_tendd():
    """`tend redraft --all` while tendd runs: the drafts follow the reloaded rules, and tendd
    goes on fetching and drafting, undisturbed."""
    dv = Dovecot()
    env = daemon = None
    try:
        env = Env(config=dv.config(poll_interval="300s"))
        env.use_sample_rules()
        with open(env.path("rules.yaml")) as f:
            good = f.read()
        daemon = Daemon(env)
        voucher = mail("01-voucher-expired.eml")
        dv.append("INBOX", relabel(voucher, "Voucher one", "v1@example.com"))
        wait_for_subject(daemon, env, "Voucher one")
        one = thread_of_subject(env, "Voucher one")

        env.write("rules.yaml", good + EXTRA)
        daemon.signal(signal.SIGHUP)
        wait_for_log(daemon, "rules reloaded from")
        r = env.tend("redraft", "--all", env={"TEND_AGENT": "alice"})
        eq(r.out, "%d: text unchanged (tags: +reloaded)\n" % one, "redraft beside tendd")
        check("reloaded" in env.show(one)["tags"], env.show(one)["tags"])
        dv.append("INBOX", relabel(voucher, "Voucher two", "v2@example.com"))
        tags = wait_for_subject(daemon, env, "Voucher two")
        check("reloaded" in tags, "tendd after the redraft: %r" % tags)
        eq(daemon.stop(), 0, "exit status after SIGTERM")
    except Failure as e:
        if daemon is not None and "--- tendd stderr" not in str(e):
            daemon.fail(str(e))
        raise
    finally:
        if daemon is not None and daemon.alive():
            daemon.proc.kill()
        if env is not None:
            env.close()
        dv.close()


def test_bad_rules_at_start():
    """A rules file with errors at start-up: tendd names the problem and does not start."""
    env = Env(config="store: store\n")
    try:
        env.write("rules.yaml", "version: 1\nrules:\n  - name: x\n    match: {subject: '('}\n")
        r = env.tendd("--once", rc=1)
        check("rules.yaml:4:" in r.err, "file:line:column in %r" % r.err)
        check("has errors: not starting" in r.err, repr(r))
        r = env.tendd("--check-config", rc=1)
        check("rules.yaml:4:" in r.err, repr(r))
    finally:
        env.close()


def test_fetched_mail_gets_its_facts_outside_the_write_transaction():
    """tendd looks facts up for fetched mail before it stores the batch: the sample lookup,
    here one that first stores a mail in the same store itself (it could not if tendd held
    the write transaction), decides the draft."""
    from cli_facts import nested_writer
    dv = Dovecot()
    env = None
    try:
        env = Env(config=dv.config(poll_interval="300s") + "rules: rules.yaml\n")
        env.use_sample_rules()
        nested_writer(env)
        dv.append("INBOX", mail("03-order-change.eml"))
        r = env.tendd("--once")
        ids = [t["id"] for t in env.threads() if t["subject"] == "Change to order #10482"]
        eq(len(ids), 1, "threads of the order change:\n%r" % r)
        d = env.show(ids[0])["draft"]
        eq(d["lookup_failures"], [], "failures")
        eq(d["parts"], ["order_change_in_time"], "parts")
        check(any("other@example.org" in t["message_ids"] for t in env.threads()),
              "the lookup's own import")
    finally:
        if env is not None:
            env.close()
        dv.close()


if __name__ == "__main__":
    run(globals(), needs_localhost=True)
