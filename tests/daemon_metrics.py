#!/usr/bin/python3
"""tendd's metrics file (tend.yaml `metrics_file`), as node_exporter's textfile collector and
Prometheus read it: tendd against a real dovecot and a real SMTP server, mail delivered over
IMAP, a reply approved with `tend approve`; the file is read with a strict parser of the text
format (version 0.0.4) and, when contrib/check found it (TEND_PROMTOOL), linted by Prometheus's
own `promtool check metrics`."""

import os
import re
import stat
import subprocess
import time

from daemon_send import Rig, customer_mail, rig
from tendtest import SLOW, Daemon, Failure, Skip, check, eq, run

METRICS = "metrics_file: tend.prom\n"
INBOX = {"account": "support", "folder": "INBOX"}

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"(%s)(?:\{((?:%s)(?:,%s)*)?\})? (?P<value>\S+)$" % (NAME, LABEL, LABEL))


def unescape(v):
    return re.sub(r'\\([\\"n])', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse(text):
    """{(name, frozenset(labels)): value} and {family: type}, refusing anything the text format
    does not allow: a sample of a family without a TYPE line, a repeated sample, a bad line."""
    samples, types = {}, {}
    check(text.endswith("\n"), "the file ends with a newline")
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            continue
        m = re.match(r"# TYPE (%s) (counter|gauge|histogram)$" % NAME, line)
        if m:
            check(m.group(1) not in types, "one TYPE line per family: %r" % line)
            types[m.group(1)] = m.group(2)
            continue
        m = SAMPLE.match(line)
        check(m is not None, "a sample line: %r" % line)
        name = m.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        check(name in types or types.get(family) == "histogram", "TYPE before %r" % line)
        labels = frozenset((k, unescape(v)) for k, v in re.findall(LABEL, m.group(2) or ""))
        check((name, labels) not in samples, "a sample given twice: %r" % line)
        samples[(name, labels)] = float(m.group("value").replace("Inf", "inf"))
    return samples, types


class Figures:
    def __init__(self, path):
        with open(path) as f:
            self.text = f.read()
        self.samples, self.types = parse(self.text)

    def get(self, name, **labels):
        key = (name, frozenset(labels.items()))
        if key not in self.samples:
            raise Failure("no %s%r in the metrics file:\n%s" % (name, labels, self.text))
        return self.samples[key]


def figures(r):
    return Figures(r.env.path("tend.prom"))


def value(r, name, **labels):
    """The sample's value, or None while the file or the sample is not there."""
    try:
        return figures(r).samples.get((name, frozenset(labels.items())))
    except FileNotFoundError:
        return None


def promtool():
    path = os.environ.get("TEND_PROMTOOL")
    if not path or not os.access(path, os.X_OK):
        raise Skip("promtool not found (contrib/check sets TEND_PROMTOOL to the one it "
                   "unpacks from Debian's prometheus package)")
    return path


# ---- tests ----

@rig(extra=METRICS)
def test_figures_after_fetch(r):
    t0 = int(time.time())
    r.dv.append("INBOX", customer_mail())
    r.dv.append("INBOX", customer_mail(subject="Order missing", msgid="c2@example.com"))
    r.once()
    t1 = time.time()
    st = os.stat(r.env.path("tend.prom"))
    eq(stat.S_IMODE(st.st_mode), 0o644, "the file's mode (node_exporter reads it)")
    check(not os.path.exists(r.env.path("tend.prom.tmp")), "no temporary file left")
    f = figures(r)
    eq(f.types["tend_messages_stored_total"], "counter", "TYPE of messages stored")
    eq(f.get("tend_messages_stored_total", **INBOX), 2, "messages stored")
    eq(f.get("tend_messages_quarantined_total", **INBOX), 0, "messages quarantined")
    eq(f.get("tend_errors_total", account="support", folder="", kind="login"), 0, "login errors")
    login = f.get("tend_last_login_timestamp_seconds", account="support")
    check(t0 <= login <= t1, "last login %s within the test's time %s..%s" % (login, t0, t1))
    fetch = f.get("tend_last_fetch_timestamp_seconds", **INBOX)
    check(t0 <= fetch <= t1, "last fetch %s within the test's time %s..%s" % (fetch, t0, t1))
    eq(f.get("tend_ingest_duration_seconds_count", **INBOX), 2, "messages timed")
    eq(f.get("tend_ingest_duration_seconds_bucket", le="+Inf", **INBOX), 2, "+Inf bucket")
    eq(f.get("tend_fetch_duration_seconds_count", **INBOX), 1, "passes timed")
    eq(f.get("tend_conversations", state="waiting"), 2, "conversations waiting")
    eq(f.get("tend_conversations", state="overdue"), 0, "conversations overdue")
    eq(f.get("tend_store_messages"), 2, "messages in the store")


@rig(extra=METRICS)
def test_outbox_figures_after_approval(r):
    r.customer_writes()
    tid = r.thread_of("Voucher expired")["id"]
    r.approve(tid)
    # killed as the send starts: what the file said then is what was written before
    res = r.env.tendd("--once", ok=False, env={"TEND_FAULT": "started"})
    eq(res.rc, -9, "tendd killed itself as the send started")
    f = figures(r)
    eq(f.get("tend_outbox_replies", state="queued"), 1, "replies queued after the approval")
    eq(f.get("tend_replies_sent_total"), 0, "replies sent")
    r.srv.stop()
    r.once(ok=False)
    f = figures(r)
    eq(f.get("tend_outbox_replies", state="retrying"), 1, "replies to be tried again")
    eq(f.get("tend_outbox_replies", state="queued"), 0, "replies queued, not tried")
    eq(f.get("tend_send_retries_total"), 1, "send retries")
    eq(f.get("tend_send_duration_seconds_count"), 1, "SMTP transactions timed")
    r.srv.start()
    time.sleep(2.5)  # retry_interval is 1s (plus jitter)
    r.once()
    eq(r.srv.count(), 1, "replies the SMTP server accepted")
    f = figures(r)
    eq(f.get("tend_replies_sent_total"), 1, "replies sent")
    eq(f.get("tend_replies_uncertain_total"), 0, "uncertain replies")
    for state in ("queued", "retrying", "copy_pending"):
        eq(f.get("tend_outbox_replies", state=state), 0, "outbox %s after the send" % state)
    eq(f.get("tend_conversations", state="waiting"), 0, "conversations waiting once answered")


@rig(extra=METRICS)
def test_running_daemon_writes_every_pass(r):
    d = Daemon(r.env)
    try:
        d.wait_until(lambda: os.path.exists(r.env.path("tend.prom")), 10 * SLOW,
                     "the metrics file at start")
        d.wait_until(lambda: value(r, "tend_last_fetch_timestamp_seconds", **INBOX),
                     10 * SLOW, "the first pass's figures")
        eq(figures(r).get("tend_messages_stored_total", **INBOX), 0, "messages stored")
        r.dv.append("INBOX", customer_mail())
        d.wait_until(lambda: value(r, "tend_messages_stored_total", **INBOX) == 1,
                     10 * SLOW, "the message counted")
        f = figures(r)
        check(f.get("tend_idle_wakeups_total", **INBOX) >= 1, "IDLE wake-ups counted")
        eq(f.get("tend_conversations", state="waiting"), 1, "conversations waiting")
        r.approve(r.thread_of("Voucher expired")["id"])
        d.wait_until(lambda: value(r, "tend_replies_sent_total") == 1, 10 * SLOW,
                     "the reply counted as sent")
        eq(figures(r).get("tend_send_duration_seconds_count"), 1, "SMTP transactions timed")
        eq(d.stop(), 0, "tendd exit status")
    finally:
        d.close()


@rig(extra=METRICS)
def test_promtool_accepts_the_file(r):
    tool = promtool()
    r.dv.append("INBOX", customer_mail())
    r.once()
    res = subprocess.run([tool, "check", "metrics"], stdin=open(r.env.path("tend.prom")),
                         capture_output=True, text=True, timeout=60)
    eq((res.returncode, res.stdout + res.stderr), (0, ""), "promtool check metrics")


@rig(extra=METRICS + "metrics_shop: acme\n")
def test_shop_label_on_every_series(r):
    # Two shops' tendds on one host write into one textfile directory; node_exporter refuses
    # a series two files hold alike, so each series carries the shop's name.
    r.dv.append("INBOX", customer_mail())
    r.once()
    f = figures(r)
    eq(f.get("tend_messages_stored_total", shop="acme", **INBOX), 1, "messages stored")
    eq(f.get("tend_store_messages", shop="acme"), 1, "messages in the store")
    unlabelled = [name for name, labels in f.samples if ("shop", "acme") not in labels]
    eq(unlabelled, [], "series without shop=\"acme\"")


def test_unwritable_metrics_file():
    r = Rig(extra="metrics_file: missing-dir/tend.prom\n")
    try:
        r.dv.append("INBOX", customer_mail())
        res = r.once()
        eq(len(r.env.threads()), 1, "the mail is fetched all the same")
        want = "cannot create the metrics file %s.tmp: No such file or directory" % (
            r.env.path("missing-dir/tend.prom"))
        eq(res.err.count(want), 1, "the failure logged once: %r" % res.err)
    finally:
        r.close()


if __name__ == "__main__":
    run(globals(), needs_localhost=True)
