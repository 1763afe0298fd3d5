#!/usr/bin/python3
"""Sending approved replies, exactly once: tendd against a real dovecot (tests/imapserver.py)
and a real SMTP server with STARTTLS and AUTH (tests/smtpserver.py, aiosmtpd). A customer's
mail is fetched over IMAP, an agent approves the draft with `tend approve`, and tendd sends it.
Every check is made on what a user would see: the message the SMTP server received (parsed),
its copy in the Sent folder, and what `tend outbox`, `tend queue` and `tend threads` say."""

import calendar
import email.parser
import email.policy
import functools
import glob
import hashlib
import json
import os
import re
import stat
import time

from imapserver import Dovecot, imap_quote
from smtpserver import SmtpServer
from tendtest import SLOW, Daemon, Env, Failure, check, eq, run, sample_mail, wait_until

CUSTOMER = "anna.meier@example.com"
AGENTS = "agents:\n  - {login: alice, name: Alice Smith}\n"


def customer_mail(subject="Voucher expired", msgid="c1@example.com", name="Anna Meier",
                  addr=CUSTOMER, extra=""):
    return ("From: %s <%s>\r\nTo: Shop Support <support@shop.example>\r\n"
            "Subject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\n"
            "%sContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Hello, my voucher code SHOP-1234 says it expired yesterday. Can I still use it?\r\n"
            "Anna\r\n" % (name, addr, subject, msgid, extra)).encode()


class Rig:
    """A dovecot, an SMTP server sharing its CA, and a tend installation using both."""

    def __init__(self, smtp=None, retry="1s", imap=None, sent=False, dovecot=None, extra=""):
        """A mailbox as a user starts from: INBOX only, unless sent asks for a Sent folder."""
        self.dv = Dovecot(**(dovecot or {}))
        self.srv = self.env = None
        try:
            self.srv = SmtpServer(certs=self.dv, **(smtp or {}))
            if sent:
                self.dv.create("Sent")
            cfg = self.dv.config(poll_interval="300s", **(imap or {}))
            cfg = cfg.replace("    imap:\n", "    from_name: Shop Support\n    imap:\n", 1)
            # valgrind's tendd can take more than 10 s for a TLS handshake on a busy machine
            cfg += self.srv.config_yaml(extra={"retry_interval": retry,
                                               "timeout": "%ds" % (10 * SLOW)})
            self.env = Env(config=cfg + AGENTS + extra)
            self.env.use_sample_rules()
            self.env.tendd("--check-config")
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.env is not None:
            self.env.close()
        if self.srv is not None:
            self.srv.close()
        self.dv.close()

    def fail_context(self, e):
        return Failure("%s\n--- smtp server:\n%s\n--- dovecot log:\n%s" % (
            e, self.srv.log_tail(12) if self.srv else "", self.dv.log_tail(8)))

    # ---- the steps a test takes ----

    def once(self, ok=True, **kw):
        return self.env.tendd("--once", ok=ok, **kw)

    def customer_writes(self, data=None):
        self.dv.append("INBOX", data or customer_mail())
        self.once()

    def thread_of(self, subject):
        for t in self.env.threads():
            if t["subject"] == subject:
                return t
        raise Failure("no thread %r in %r" % (subject, self.env.threads()))

    def approve(self, tid):
        return self.env.tend("approve", "--as", "alice", str(tid))

    def outbox(self, tid):
        items = [o for o in self.env.json("outbox", "--json", "--all") if o["thread"] == tid]
        check(len(items) >= 1, "thread %d not in `tend outbox`" % tid)
        return items[0]

    def queue_item(self, tid):
        for q in self.env.json("queue", "--json", "--all"):
            if q["thread"] == tid:
                return q
        return None

    def folders(self, subscribed=False):
        """The folder names the server lists (LSUB: those subscribed), in order."""
        im = self.dv.connect()
        try:
            typ, data = im.lsub() if subscribed else im.list()
            check(typ == "OK", "LIST: %r" % data)
            # (\HasNoChildren) "." Sent: this dovecot's separator is "."
            return sorted(d.decode().split(' "." ', 1)[1].strip('"') for d in data if d)
        finally:
            im.logout()

    def status(self):
        """`tend status`: (its --json, its lines)."""
        return self.env.json("status", "--json"), self.env.tend("status").out.splitlines()

    def sent_folder(self):
        """[(flags, bytes)] of the Sent folder, read without changing anything."""
        im = self.dv.connect()
        try:
            typ, _ = im.select(imap_quote("Sent"), readonly=True)
            check(typ == "OK", "cannot open Sent")
            typ, data = im.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
            out = []
            for item in data:
                if isinstance(item, tuple):
                    out.append((item[0].decode(), item[1]))
            return out
        finally:
            im.logout()


def rig(**kw):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper():
            r = Rig(**kw)
            try:
                fn(r)
            except Failure as e:
                raise r.fail_context(e)
            finally:
                r.close()
        return wrapper
    return deco


def first_draft(r, subject="Voucher expired"):
    """Fetches the customer's mail and returns its thread, which has a proposed draft."""
    r.customer_writes()
    t = r.thread_of(subject)
    show = r.env.show(t["id"])
    check(show["draft"] and show["draft"]["state"] == "proposed", "no draft: %r" % show)
    return t["id"], show


def only_message(r, n=1):
    msgs = r.srv.wait_for(n)
    eq(len(msgs), n, "messages the SMTP server accepted")
    return msgs[-1]


# ---- tests ----

@rig()
def test_reply_sent(r):
    tid, show = first_draft(r)
    r.approve(tid)
    r.once()
    m = only_message(r)
    box = r.outbox(tid)
    eq(box["state"], "sent", "outbox state")
    check(box["reply"].startswith("250"), "server reply recorded: %r" % box["reply"])
    eq(m.mail_from, "support@shop.example", "MAIL FROM")
    eq(m.rcpt_tos, [CUSTOMER], "RCPT TO")
    check(m.tls and m.login == "support", "sent over TLS with AUTH: %r %r" % (m.tls, m.login))
    h = m.msg
    eq(str(h["From"]), "Shop Support <support@shop.example>", "From")
    eq(h["To"].addresses[0].addr_spec, CUSTOMER, "To")
    eq(str(h["Subject"]), "Re: Voucher expired [#%d]" % tid, "Subject")
    eq(h["In-Reply-To"], "<c1@example.com>", "In-Reply-To")
    check("<c1@example.com>" in h["References"], "References: %r" % h["References"])
    eq(h["Message-ID"], "<%s>" % box["message_id"], "Message-ID")
    check(box["message_id"].endswith("@shop.example"), "Message-ID domain")
    eq(h["Auto-Submitted"], "no", "Auto-Submitted")
    eq(h.get_content_type(), "text/plain", "Content-Type")
    eq(h.get_content_charset(), "utf-8", "charset")
    check(h["Date"] is not None, "Date")
    body = h.get_content()
    check("Alice Smith" in body, "the approving agent signs: %r" % body)
    check("SHOP-1234" in body or "voucher" in body.lower(), "answers the voucher: %r" % body)
    check(b"\n" not in m.data.replace(b"\r\n", b""), "bare LF in the message")
    # the copy in Sent, marked read, is the same message
    sent = r.sent_folder()
    eq(len(sent), 1, "messages in Sent")
    check("\\Seen" in sent[0][0], "Sent copy flags: %r" % sent[0][0])
    check(("Message-ID: <%s>" % box["message_id"]).encode() in sent[0][1], "copy's Message-ID")
    eq(box["copied"], True, "outbox says copied")
    # the conversation is answered and out of the queue; the audit trail says so
    eq([t["state"] for t in r.env.threads() if t["id"] == tid], ["answered"], "thread state")
    check(r.queue_item(tid) is None, "an answered thread stays out of the queue")
    log = r.env.json("log", "--json", str(tid))
    check(any(e["action"] == "sent" and e["agent"] == "tendd" for e in log), "audit: %r" % log)
    # more passes send nothing more
    r.once()
    r.once()
    eq(r.srv.count(), 1, "copies after three passes")
    eq(len(r.sent_folder()), 1, "Sent copies after three passes")


@rig()
def test_sent_folder_created(r):
    # a fresh mailbox has no Sent folder: the first copy creates it (subscribed, so that mail
    # programs show it) and goes in; the server's "NO [TRYCREATE]" is no error for the agent
    eq(r.folders(), ["INBOX"], "folders before the first reply")
    tid, _ = first_draft(r)
    r.approve(tid)
    res = r.once()
    m = only_message(r)
    box = r.outbox(tid)
    eq((box["state"], box["copied"], box["error"]), ("sent", True, None), "tend outbox")
    eq(r.folders(), ["INBOX", "Sent"], "folders after the first reply")
    eq(r.folders(subscribed=True), ["Sent"], "subscribed folders")
    sent = r.sent_folder()
    eq(len(sent), 1, "messages in Sent")
    check("\\Seen" in sent[0][0], "Sent copy flags: %r" % sent[0][0])
    eq(email.parser.BytesParser(policy=email.policy.default).parsebytes(sent[0][1])["Message-ID"],
       m.msg["Message-ID"], "the copy is the reply the SMTP server received")
    check("created the folder Sent" in res.err, "tendd says so: %r" % res.err)
    human = r.env.tend("outbox").out
    check("copy" not in human and "TRYCREATE" not in human, "tend outbox: %r" % human)
    # the next reply goes into the same folder
    r.customer_writes(customer_mail(subject="Order missing", msgid="c5@example.com"))
    tid2 = r.thread_of("Order missing")["id"]
    r.approve(tid2)
    res = r.once()
    eq(r.srv.count(), 2, "replies sent")
    eq(r.outbox(tid2)["copied"], True, "second copy")
    eq(len(r.sent_folder()), 2, "messages in Sent")
    check("created the folder" not in res.err, "created once: %r" % res.err)


@rig(dovecot={"conf": "imap_capability = +CREATE-SPECIAL-USE\nrawlog_dir = {d}/rawlog-mail\n"})
def test_sent_folder_created_special_use(r):
    # a server that offers RFC 6154's CREATE-SPECIAL-USE is asked to mark the folder \Sent
    os.mkdir(r.dv.path("rawlog-mail"))
    os.chmod(r.dv.path("rawlog-mail"), 0o777)  # written by dovecot's mail user
    tid, _ = first_draft(r)
    r.approve(tid)
    r.once()
    eq(r.outbox(tid)["copied"], True, "copied")
    eq(len(r.sent_folder()), 1, "messages in Sent")
    said = b"".join(open(p, "rb").read() for p in glob.glob(r.dv.path("rawlog-mail", "*.in")))
    check(re.search(rb'CREATE "Sent" \(USE \(\\Sent\)\)\r\n', said),
          "CREATE with USE (\\Sent): %r" % said[-600:])
    check(re.search(rb"SUBSCRIBE \"?Sent\"?\r\n", said), "SUBSCRIBE: %r" % said[-600:])


@rig()
def test_sent_folder_cannot_be_created(r):
    # the server refuses to create the folder: the reply went out all the same, once, and the
    # missing copy is an error about the copy, never a reason to send again
    tid, _ = first_draft(r)
    r.approve(tid)
    home = r.dv.path("mail", "support")
    mode = os.stat(home).st_mode
    os.chmod(home, 0o555)  # dovecot's mail user can read the mailbox but add no folder to it
    try:
        res = r.once(ok=False)
        r.once(ok=False)
    finally:
        os.chmod(home, mode)
    eq(r.srv.count(), 1, "replies sent")
    box = r.outbox(tid)
    eq((box["state"], box["copied"]), ("sent", False), "tend outbox")
    err = box["error"] or ""
    check(err.startswith("the copy for the Sent folder: ") and "CREATE Sent" in err,
          "the error says what failed: %r" % err)
    check("went out, but its copy is not in Sent yet" in res.err and "CREATE Sent" in res.err,
          "logged: %r" % res.err)
    check("CREATE Sent" in r.env.tend("outbox").out, "tend outbox shows it")
    eq([t["state"] for t in r.env.threads() if t["id"] == tid], ["answered"], "thread state")
    eq(r.folders(), ["INBOX"], "folders")


@rig()
def test_status_counts_replies_waiting(r):
    # `tend status` said "outbox N waiting" of replies that were sent and only waited for
    # their copy in the Sent folder
    tid, _ = first_draft(r)
    r.customer_writes(customer_mail(subject="Order missing", msgid="c5@example.com"))
    tid2 = r.thread_of("Order missing")["id"]
    r.approve(tid)
    r.approve(tid2)
    s, lines = r.status()
    eq(s["outbox"], 2, "status --json outbox, both approved")
    check("outbox      2 waiting" in lines, "status: %r" % lines)
    # killed after the first reply was recorded as sent, before its copy was made
    res = r.env.tendd("--once", ok=False, env={"TEND_FAULT": "recorded"})
    eq(res.rc, -9, "tendd killed itself after recording the first reply")
    eq(r.srv.count(), 1, "replies sent")
    s, lines = r.status()
    eq(s["outbox"], 1, "status --json outbox, one of two sent")
    check("outbox      1 waiting, 1 sent reply still to be copied to the Sent folder"
          in lines, "status: %r" % lines)
    eq(s.get("copies_pending"), 1, "status --json copies_pending")
    r.once()
    eq(r.srv.count(), 2, "replies sent")
    eq(len(r.sent_folder()), 2, "messages in Sent")
    s, lines = r.status()
    eq((s["outbox"], s["copies_pending"]), (0, 0), "status --json, both sent and copied")
    check("outbox      0 waiting" in lines, "status: %r" % lines)


@rig()
def test_customer_answer_joins_thread(r):
    tid, _ = first_draft(r)
    r.approve(tid)
    r.once()
    ours = r.outbox(tid)["message_id"]
    answer = ("From: Anna Meier <%s>\r\nTo: support@shop.example\r\nSubject: thanks but\r\n"
              "Message-ID: <c2@example.com>\r\nIn-Reply-To: <%s>\r\nReferences: <c1@example.com>"
              " <%s>\r\n\r\nIt still does not work.\r\n" % (CUSTOMER, ours, ours)).encode()
    r.customer_writes(answer)
    t = [t for t in r.env.threads() if "c2@example.com" in t["message_ids"]]
    eq(len(t), 1, "threads holding the answer")
    eq(t[0]["id"], tid, "the answer's thread")
    eq(t[0]["state"], "open", "the thread waits for us again")
    show = r.env.show(tid)
    eq(show["draft"]["state"], "proposed", "a new draft for the answer")


@rig()
def test_server_down_then_up(r):
    tid, _ = first_draft(r)
    r.srv.stop()
    r.approve(tid)
    res = r.once(ok=False)
    eq(res.rc, 1, "tendd --once exit status with the SMTP server down")
    box = r.outbox(tid)
    eq(box["state"], "approved", "still waiting to be sent")
    eq(box["attempts"], 1, "attempts")
    check("onnect" in (box["error"] or ""), "the error says why: %r" % box["error"])
    r.srv.start()
    time.sleep(2.5)  # retry_interval is 1s (plus jitter)
    r.once()
    only_message(r)
    eq(r.outbox(tid)["state"], "sent", "sent after recovery")
    r.once()
    eq(r.srv.count(), 1, "sent once")


@rig()
def test_rejection_shown_to_agent(r):
    tid, _ = first_draft(r)
    words = "550 5.1.1 <%s>: Recipient address rejected: User unknown" % CUSTOMER
    r.srv.set(reject_rcpt={CUSTOMER: words})
    r.approve(tid)
    r.once()
    eq(r.srv.count(), 0, "nothing accepted")
    box = r.outbox(tid)
    eq(box["state"], "failed", "outbox state")
    check(words in box["error"], "outbox shows the server's words: %r" % box["error"])
    q = r.queue_item(tid)
    check(q is not None, "a refused reply is back in the queue")
    eq(q["state"], "failed", "queue state")
    check(words in q["error"], "queue shows the server's words: %r" % q["error"])
    human = r.env.tend("queue").out
    check("User unknown" in human, "human queue: %r" % human)
    # once the address is fixed on the server side, the agent approves again
    r.srv.reset()
    r.approve(tid)
    r.once()
    only_message(r)
    eq(r.outbox(tid)["state"], "sent", "sent after approving again")


@rig()
def test_approve_pokes_running_daemon(r):
    r.customer_writes()
    tid = r.thread_of("Voucher expired")["id"]
    d = Daemon(r.env)
    try:
        d.wait_until(lambda: "started" in d.stderr(), 10, "tendd to start")
        t0 = time.monotonic()
        r.approve(tid)
        r.srv.wait_for(1, timeout=5)
        latency = time.monotonic() - t0
        print("# approve to SMTP acceptance: %.2f s" % latency)
        check(latency < 3 * SLOW, "the poke started the send at once (%.2f s)" % latency)
        d.wait_until(lambda: r.outbox(tid)["state"] == "sent", 10, "the reply recorded as sent")
        eq(d.stop(), 0, "tendd exit status")
    finally:
        d.close()


@rig()
def test_untrusted_smtp_certificate(r):
    tid, _ = first_draft(r)
    cfg = open(r.env.config).read().replace(r.srv.ca_file, r.srv.bad_ca_file)
    r.env.write("tend.yaml", cfg)
    r.approve(tid)
    res = r.once(ok=False)
    eq(res.rc, 1, "exit status")
    box = r.outbox(tid)
    eq(box["state"], "approved", "kept for when the certificate is fixed")
    check("certificate" in (box["error"] or "").lower(), "the error says so: %r" % box["error"])
    eq(r.srv.count(), 0, "nothing was sent")


@rig()
def test_no_header_injection(r):
    evil = customer_mail(name="=?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Ecom?=",
                         addr="eve@example.com", msgid="evil@example.com",
                         subject="=?utf-8?q?Refund=0D=0ABcc=3A_x=40example=2Ecom?=")
    r.customer_writes(evil)
    tid = [t for t in r.env.threads() if "evil@example.com" in t["message_ids"]][0]["id"]
    r.approve(tid)
    r.once()
    m = only_message(r)
    eq(m.rcpt_tos, ["eve@example.com"], "recipients")
    head = m.data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        check(not line.lower().startswith(b"bcc:"), "a Bcc header got in: %r" % head)
    eq(m.msg["To"].addresses[0].addr_spec, "eve@example.com", "To")
    check("victim" in str(m.msg["To"]), "the name is kept, harmlessly: %r" % str(m.msg["To"]))


def dsn(ours, rcpt):
    """A delivery status notification as Postfix writes it, returning our reply."""
    return ("From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
            "To: support@shop.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            "Message-ID: <dsn1@mx.example.com>\r\nAuto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
            " boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
            "I'm sorry to have to inform you that your message could not be delivered.\r\n"
            "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; %s\r\n"
            "Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <%s>: "
            "Recipient address rejected: User unknown\r\n\r\n--B\r\n"
            "Content-Type: text/rfc822-headers\r\n\r\nFrom: support@shop.example\r\n"
            "To: %s\r\nMessage-ID: <%s>\r\nSubject: Re: Voucher expired\r\n\r\n--B--\r\n"
            % (rcpt, rcpt, rcpt, ours)).encode()


@rig()
def test_bounce_flags_thread(r):
    tid, _ = first_draft(r)
    r.approve(tid)
    r.once()
    ours = r.outbox(tid)["message_id"]
    r.customer_writes(dsn(ours, CUSTOMER))
    t = [t for t in r.env.threads() if t["id"] == tid][0]
    eq(t["bounced"], [CUSTOMER], "the address is flagged on its thread")
    # the customer was not answered: the reply is back in the queue, with nobody to send it to
    # (tests/daemon_lifecycle.py has a customer with another address)
    eq(t["state"], "open", "the reply never arrived")
    d = r.env.show(tid)["draft"]
    eq((d["state"], d["to"]), ("proposed", []), "the bounced reply, with no recipient")
    human = r.env.tend("show", str(tid)).out
    check("Bounced: mail to %s came back (550 5.1.1" % CUSTOMER in human, "show: %r" % human)
    check("No recipient: the customer gave no other address" in human, "show: %r" % human)
    res = r.env.tend("approve", "--as", "alice", str(tid), rc=1)
    eq(res.err, "tend: thread %d: the draft has no recipient, and tend cannot set one yet: "
       "reach the customer another way, then `tend resolve %d`\n" % (tid, tid), "approve")
    log = r.env.json("log", "--json", str(tid))
    check(any(e["action"] == "bounce" for e in log), "audited: %r" % log)
    # nothing automatic answers the bounce
    r.once()
    eq(r.srv.count(), 1, "messages sent")
    # the customer writes again: the agent is told when approving the next reply
    r.customer_writes(customer_mail(subject="Re: Voucher expired [#%d]" % tid,
                                    msgid="c3@example.com",
                                    extra="In-Reply-To: <%s>\r\n" % ours))
    r.env.tend("show", "--as", "alice", str(tid))  # the draft was rewritten for the message
    res = r.env.tend("approve", "--as", "alice", str(tid), rc=1)
    eq(res.err, "tend: thread %d: mail to %s bounced before (550 5.1.1 <%s>: Recipient address "
       "rejected: User unknown): reach the customer another way, or when you know the address "
       "works again, `tend approve --bounced-ok %d`\n" % (tid, CUSTOMER, CUSTOMER, tid),
       "approve refuses")
    r.env.tend("approve", "--as", "alice", "--bounced-ok", str(tid))
    r.once()
    eq(r.srv.count(), 2, "the agent knew better: sent")


# ---- the undo window (issue 17) ----

UNDO = "review: {undo: 3}\n"


@rig(extra=UNDO)
def test_undo_window_then_sent_once(r):
    """tendd holds the reply for the window, wakes when it closes and sends it once."""
    r.customer_writes()
    tid = r.thread_of("Voucher expired")["id"]
    d = Daemon(r.env)
    try:
        d.wait_until(lambda: "started" in d.stderr(), 10, "tendd to start")
        out = r.approve(tid).out
        check(" is sending in 3 s (1 recipient); `tend undo %d` to stop it.\n" % tid in out,
              out)
        due = calendar.timegm(time.strptime(r.outbox(tid)["next_attempt"],
                                            "%Y-%m-%dT%H:%M:%SZ"))
        while time.time() < due - 0.3:
            eq(r.srv.count(), 0, "nothing sent within the window")
            time.sleep(0.1)
        msg = r.srv.wait_for(1, timeout=5)[0]
        # accepted after the window closed, and not long after: tendd woke for it
        late = msg.time - due
        print("# accepted %.2f s after the window closed" % late)
        check(0 <= late < 3 * SLOW, "accepted %.2f s after the window closed" % late)
        d.wait_until(lambda: r.outbox(tid)["state"] == "sent", 10, "recorded as sent")
        res = r.env.tend("undo", "--as", "alice", str(tid), rc=1)
        eq(res.err, "tend: thread %d: the reply was sent; it cannot be taken back\n" % tid,
           "too late")
        time.sleep(1)
        eq(r.srv.count(), 1, "sent exactly once")
        eq(d.stop(), 0, "tendd exit status")
    finally:
        d.close()


@rig(extra=UNDO)
def test_undo_keeps_reply_from_server(r):
    """Taken back within the window, the reply never reaches the SMTP server; approved again,
    it goes once, with the text as it was and one signature."""
    tid, before = first_draft(r)
    d = Daemon(r.env)
    try:
        d.wait_until(lambda: "started" in d.stderr(), 10, "tendd to start")
        r.approve(tid)
        out = r.env.tend("undo", "--as", "alice", str(tid)).out
        check(out.startswith("Took back the reply of thread %d" % tid), out)
        time.sleep(4)
        eq(r.srv.count(), 0, "the SMTP server has nothing")
        eq(r.env.show(tid)["draft"]["body"], before["draft"]["body"], "the text as it was")
        check(r.queue_item(tid) is not None, "back in the queue")
        r.approve(tid)
        msg = only_message(r)
        body = decoded_parts(msg.data)[0].decode()
        eq(body.count("Alice Smith"), before["draft"]["body"].count("{{agent.name}}"),
           "signed once")
        time.sleep(1)
        eq(r.srv.count(), 1, "sent exactly once")
        eq(d.stop(), 0, "tendd exit status")
    finally:
        d.close()


# ---- our side of the conversation (issue 15) ----

def decoded_parts(data):
    """The text of every part of a message, transfer encoding undone."""
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
    out = []
    for part in msg.walk():
        payload = part.get_payload(decode=True)
        if payload:
            out.append(payload)
    return out


def files_holding(root, marker):
    """Every file under root whose bytes, or a message part decoded, hold marker."""
    hits = []
    for d, _, names in os.walk(root):
        for name in names:
            p = os.path.join(d, name)
            if not stat.S_ISREG(os.lstat(p).st_mode):
                continue  # dovecot's FIFOs and sockets: opening one would wait
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if marker in data or any(marker in part for part in decoded_parts(data)):
                hits.append(p)
    return hits


@rig()
def test_note_never_sent(r):
    marker = "NOTE-never-leaves-5d3f9a"
    tid, _ = first_draft(r)
    out = r.env.tend("note", "--as", "alice", str(tid),
                     "Reseller; do not offer the voucher again. " + marker).out
    check("never sent to the customer" in out, out)
    time.sleep(1.1)  # times are in seconds: the reply is sent in a later one than the note
    r.approve(tid)
    r.once()
    msgs = r.srv.wait_for(1)
    eq(len(msgs), 1, "messages the SMTP server accepted")
    for m in msgs:
        check(marker.encode() not in m.data, "the note is in the message sent")
        check(all(marker.encode() not in p for p in decoded_parts(m.data)),
              "the note is in a decoded part of the message sent")
    eq(files_holding(r.srv.dir, marker.encode()), [], "the SMTP server's files")
    sent = r.sent_folder()
    eq(len(sent), 1, "messages in Sent")
    check(marker.encode() not in sent[0][1], "the note is in the Sent copy")
    eq(files_holding(r.dv.dir, marker.encode()), [], "the IMAP server's files")
    # ... and it is shown and audited
    human = r.env.tend("show", str(tid)).out
    check(re.search(r"── \d+ ── Internal note by alice · .*\(never sent\)\n\nReseller; do not "
                    r"offer the voucher again\. " + marker, human), human)
    conv = r.env.show(tid)["conversation"]
    eq([e["kind"] for e in conv], ["customer", "note", "reply"], "conversation kinds")
    check(marker in conv[1]["body"] and marker not in conv[2]["body"], conv)
    log = r.env.json("log", "--json", str(tid))
    check(any(e["action"] == "note" and marker in e["detail"] for e in log), "audit: %r" % log)
    check(marker in r.env.tend("log", str(tid)).out, "human log")


@rig(sent=True, imap={"folders": ["INBOX", "Sent"]})
def test_conversation_shows_our_replies(r):
    tid, _ = first_draft(r)
    r.approve(tid)
    r.once()
    m = only_message(r)
    r.once()  # the copy in Sent comes back: the same reply, not a second one
    ours = r.outbox(tid)["message_id"]
    answer = ("From: Anna Meier <%s>\r\nTo: support@shop.example\r\nSubject: Re: Voucher\r\n"
              "Message-ID: <c2@example.com>\r\nIn-Reply-To: <%s>\r\n\r\n"
              "Please confirm the voucher works now.\r\n" % (CUSTOMER, ours)).encode()
    time.sleep(1.1)  # the answer arrives in a later second than our reply (the order's unit)
    r.customer_writes(answer)
    show = r.env.show(tid)
    eq(len(show["messages"]), 3, "messages: the customer's two and the Sent copy")
    conv = show["conversation"]
    eq([e["kind"] for e in conv], ["customer", "reply", "customer"], "conversation kinds")
    reply = conv[1]
    eq((reply["agent"], reply["message_id"]), ("alice", ours), "who approved it, which it is")
    check(reply["server_reply"].startswith("250"), reply)
    eq(reply["body"].rstrip("\n"), m.msg.get_content().replace("\r\n", "\n").rstrip("\n"),
       "the text exactly as the SMTP server received it")
    human = r.env.tend("show", str(tid)).out
    eq(len(re.findall(r"^── \d+ ── ", human, re.M)), 3, "entries shown:\n" + human)
    check(re.search(r"\n── 2 ── Our reply, approved by alice, accepted by the server .* \(250 ",
                    human), human)
    check(human.index("Alice Smith") < human.index("Please confirm the voucher works now."),
          "our reply before the follow-up")
    # a reply written in another mail program, filed in Sent, is ours too and answers
    other = ("From: Shop Support <support@shop.example>\r\nTo: %s\r\nSubject: Re: Voucher\r\n"
             "Message-ID: <phone@shop.example>\r\nIn-Reply-To: <c2@example.com>\r\n\r\n"
             "Confirmed: the voucher works until Friday.\r\n" % CUSTOMER).encode()
    r.dv.append("Sent", other, flags=("\\Seen",))
    r.once()
    eq([t["state"] for t in r.env.threads() if t["id"] == tid], ["answered"], "answered")
    conv = r.env.show(tid)["conversation"]
    eq([e["kind"] for e in conv], ["customer", "reply", "customer", "ours"], "kinds")
    check("works until Friday" in conv[3]["body"], conv[3])
    human = r.env.tend("show", str(tid)).out
    check("── 4 ── Our reply, written outside tend: Shop Support <support@shop.example>" in human,
          human)


# ---- crash safety: kill -9 at each step of a send, then a normal restart ----

def crash_at(r, step, expect_state, expect_copies):
    tid, _ = first_draft(r)
    r.approve(tid)
    res = r.env.tendd("--once", ok=False, env={"TEND_FAULT": step})
    eq(res.rc, -9, "tendd killed itself at %s" % step)
    r.once()
    r.once()
    box = r.outbox(tid)
    eq(box["state"], expect_state, "state after a crash at %s" % step)
    eq(r.srv.count(), expect_copies, "copies at the SMTP server after a crash at %s" % step)
    return tid, box


@rig()
def test_crash_after_start(r):
    crash_at(r, "started", "sent", 1)
    eq(len(r.sent_folder()), 1, "Sent copies")


@rig()
def test_crash_after_handing_over(r):
    # killed after the last byte went out: the server may have it; here it does not (the
    # end-of-data mark never came), and tend says it cannot know rather than guess
    tid, box = crash_at(r, "handed", "uncertain", 0)
    check("may or may not" in box["error"], "uncertain, and says so: %r" % box["error"])


@rig()
def test_crash_after_accepted(r):
    # the mailbox has no Sent folder yet: a folder that does not exist has no reply in it
    tid, box = crash_at(r, "accepted", "uncertain", 1)
    eq(r.folders(), ["INBOX"], "folders (looking does not create Sent)")
    check("not in the Sent folder" in box["error"], "the warning: %r" % box["error"])
    q = r.queue_item(tid)
    check(q and q["state"] == "uncertain", "the agent sees it in the queue: %r" % q)
    # the agent checks with the customer and records it as sent: nothing goes out again
    r.env.tend("outbox", "mark-sent", "--as", "alice", str(tid))
    r.once()
    eq(r.outbox(tid)["state"], "sent", "marked sent")
    eq(r.srv.count(), 1, "copies")
    eq([t["state"] for t in r.env.threads() if t["id"] == tid], ["answered"], "thread state")


@rig(sent=True)
def test_crash_after_accepted_filed_by_server(r):
    # a server that files sent mail itself (as Gmail does) has the copy in Sent: found there
    tid, _ = first_draft(r)
    r.approve(tid)
    res = r.env.tendd("--once", ok=False, env={"TEND_FAULT": "accepted"})
    eq(res.rc, -9, "tendd killed itself after the server accepted")
    r.dv.append("Sent", r.srv.wait_for(1)[0].data, flags=("\\Seen",))
    r.once()
    box = r.outbox(tid)
    eq(box["state"], "sent", "state")
    check("found in the Sent folder" in box["reply"], "found in Sent: %r" % box["reply"])
    eq(r.srv.count(), 1, "copies")
    eq(len(r.sent_folder()), 1, "Sent copies")


@rig()
def test_crash_after_recorded(r):
    # sent and recorded, the copy not made: the next pass makes it
    tid, box = crash_at(r, "recorded", "sent", 1)
    check(box["reply"].startswith("250"), "the server's words kept: %r" % box["reply"])
    eq(len(r.sent_folder()), 1, "Sent copies")
    eq(box["copied"], True, "copied")


@rig()
def test_crash_after_copy(r):
    crash_at(r, "copied", "sent", 1)
    eq(len(r.sent_folder()), 1, "Sent copies")


@rig()
def test_kill_while_server_holds_reply(r):
    # the server has stored the message and holds its 250; tendd is killed -9 meanwhile
    tid, _ = first_draft(r)
    r.srv.set(hold_after_data=30)
    r.approve(tid)
    d = Daemon(r.env)
    try:
        r.srv.wait_for(1, timeout=10)
        d.kill()
    finally:
        d.close()
    r.srv.reset()
    r.once()
    box = r.outbox(tid)
    eq(box["state"], "uncertain", "state")
    eq(r.srv.count(), 1, "copies")
    # the agent decides to send it again: the same Message-ID, with the decision audited
    r.env.tend("outbox", "retry", "--as", "alice", str(tid))
    r.once()
    msgs = r.srv.wait_for(2)
    eq(msgs[0].msg["Message-ID"], msgs[1].msg["Message-ID"], "a retry is the same message")
    eq(r.outbox(tid)["state"], "sent", "sent")
    log = r.env.json("log", "--json", str(tid))
    check(any(e["action"] == "retry" and e["agent"] == "alice" for e in log), "audit: %r" % log)


@rig()
def test_connection_dropped_after_data(r):
    tid, _ = first_draft(r)
    r.srv.set(drop_after_data=True)
    r.approve(tid)
    r.once(ok=False)
    r.srv.reset()
    r.once()
    eq(r.outbox(tid)["state"], "uncertain", "a lost answer is not guessed")
    eq(r.srv.count(), 1, "copies")


def indexed(r):
    """(kind, thread) of every entry in the search index, read as it is on disk."""
    import sqlite3
    path = os.path.join(r.env.store, "search.sqlite")
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return db.execute("SELECT kind, thread FROM entry ORDER BY time, id").fetchall()
    finally:
        db.close()


@rig()
def test_search_finds_fetched_mail_and_sent_reply(r):
    """tendd brings the search index up to date after each batch it fetches and after each
    reply it sends: the index holds them before any `tend search` runs. `tend search` then
    finds the customer's words and ours in the conversation."""
    tid, _ = first_draft(r)
    eq(indexed(r), [(1, tid)], "the index after tendd fetched the message")
    hits = r.env.json("search", "--json", "SHOP-1234")
    eq([(h["thread"], h["kind"], h["subject"]) for h in hits],
       [(tid, "message", "Voucher expired")], "tend search SHOP-1234")
    eq(hits[0]["line"], "Hello, my voucher code SHOP-1234 says it expired yesterday. Can I "
       "still use it?", "the customer's line")
    r.approve(tid)
    r.once()
    body = only_message(r).msg.get_content()
    check("Alice Smith" in body, "the reply is signed: %r" % body)
    eq(indexed(r), [(1, tid), (3, tid)], "the index after tendd sent the reply")
    hits = r.env.json("search", "--json", "\"Alice Smith\"")
    eq([(h["thread"], h["kind"], h["state"]) for h in hits], [(tid, "reply", "answered")],
       "tend search \"Alice Smith\"")
    check("Alice Smith" in hits[0]["line"], "our line: %r" % hits[0])
    eq([h["kind"] for h in r.env.json("search", "--json", "voucher")], ["reply"],
       "the newest entry of the conversation that matches")



@rig()
def test_claim_holds_back_another_agents_approval(r):
    """alice edits and is on it: bob's approval is refused and nothing reaches the SMTP
    server; tendd fetches the customer's next message meanwhile and the claim stays; bob's
    --force approval goes out once, and the statistics count it as ever."""
    r.env.write("tend.yaml", open(r.env.config).read().replace(
        AGENTS, AGENTS + "  - {login: bob, name: Bob Jones}\n"))
    tid, _ = first_draft(r)
    r.env.tend("edit", tid, env={"TEND_AGENT": "alice", "VISUAL": "",
                                 "EDITOR": "sed -i '/^$/{n;s/^/Checking it now. /;:a;n;ba}'"})
    refused = r.env.tend("approve", "--as", "bob", tid, rc=1)
    check(refused.err.startswith("tend: thread %d: alice is on it (1 min), since " % tid),
          refused.err)
    r.once()
    eq(r.srv.count(), 0, "messages the SMTP server accepted after a refused approval")
    r.dv.append("INBOX", customer_mail(subject="Re: Voucher expired", msgid="c2@example.com",
                                       extra="In-Reply-To: <c1@example.com>\r\n"))
    r.once()
    show = r.env.show(tid)
    eq(len(show["messages"]), 2, "tendd fetched the next message into the claimed thread")
    eq(show["claim"]["agent"], "alice", "the claim stays through ingest")
    r.env.tend("show", tid, env={"TEND_AGENT": "bob"})  # the draft is stale: look first
    r.env.tend("approve", "--as", "bob", "--force", tid)
    r.once()
    m = only_message(r)
    check("Bob Jones" in m.msg.get_content(), "signed by who approved: %r" % m.msg.get_content())
    r.once()
    eq(r.srv.count(), 1, "sent once")
    eq(r.env.show(tid)["claim"], None, "the approval ended the claim")
    eq(r.env.json("stats", "--json")["total"]["answered"], 1, "tend stats counts the answer")


def attachments_of(msg):
    """[(filename, content type, sha256 of the bytes)] of a parsed message's attachments."""
    return [(p.get_filename(), p.get_content_type(),
             hashlib.sha256(p.get_payload(decode=True)).hexdigest()[:16])
            for p in msg.iter_attachments()]


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


@rig(sent=True)
def test_reply_with_attachments(r):
    """Two files attached with `tend attach`, one removed with `tend detach`, one more added:
    the SMTP server receives a multipart/mixed reply, the text first, then the files byte for
    byte under their names (a non-ASCII one too), and the copy in Sent is the same message. A
    change of a file after it was attached changes nothing that is sent."""
    tid, _ = first_draft(r)
    pdf = bytes(range(256)) * 40 + b"\r\n.\r\nFrom \x00end"
    r.env.write("files/returns form.pdf", pdf)
    r.env.write("files/notes.txt", "line one\nline two\n")
    r.env.write("files/Übersicht März.csv", "a;b\n1;2\n")
    out = r.env.tend("attach", "--as", "alice", tid, r.env.path("files/returns form.pdf"),
                     r.env.path("files/notes.txt")).out
    check("Attached 2 files to the draft of thread %d" % tid in out, "tend attach: %r" % out)
    show = r.env.tend("show", tid).out
    check("Attachment 1: returns form.pdf (application/pdf, %d bytes)" % len(pdf) in show and
          "Attachment 2: notes.txt (text/plain, 18 bytes)" in show, "tend show: %r" % show)
    eq(r.env.tend("detach", "--as", "alice", tid, "2").out,
       "Removed attachment 2 from the draft of thread %d.\n" % tid, "tend detach")
    r.env.tend("attach", "--as", "alice", tid, r.env.path("files/Übersicht März.csv"))
    eq([(a["filename"], a["content_type"], a["size"]) for a in r.env.show(tid)["draft"]
        ["attachments"]], [("returns form.pdf", "application/pdf", len(pdf)),
                           ("Übersicht März.csv", "text/csv", 8)], "show --json")
    r.env.write("files/returns form.pdf", b"changed after it was attached")
    r.approve(tid)
    r.once()
    m = only_message(r)
    h = m.msg
    eq(h.get_content_type(), "multipart/mixed", "Content-Type")
    parts = list(h.iter_parts())
    eq(parts[0].get_content_type(), "text/plain", "the text comes first")
    check("Alice Smith" in parts[0].get_content(), "the text: %r" % parts[0].get_content())
    eq(attachments_of(h), [("returns form.pdf", "application/pdf", digest(pdf)),
                           ("Übersicht März.csv", "text/csv", digest(b"a;b\n1;2\n"))],
       "attachments")
    check(b"\n" not in m.data.replace(b"\r\n", b""), "bare LF in the message")
    check(all(len(line) <= 998 for line in m.data.split(b"\r\n")), "a line over 998 bytes")
    sent = r.sent_folder()
    eq(len(sent), 1, "messages in Sent")
    copy = email.parser.BytesParser(policy=email.policy.default).parsebytes(sent[0][1])
    eq(attachments_of(copy), attachments_of(h), "the copy in Sent has the same files")
    eq(copy["Message-ID"], h["Message-ID"], "the copy is the reply sent")
    show = r.env.tend("show", tid).out
    check("Attachment 1: returns form.pdf (application/pdf, %d bytes)\n" % len(pdf) in
          show.split("Our reply, approved by")[1], "the sent reply lists its files: %r" % show)


if __name__ == "__main__":
    run(globals(), needs_localhost=True)
