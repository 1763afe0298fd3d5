#!/usr/bin/python3
"""The life cycle end to end: tendd against a real dovecot and a real SMTP server (the Rig of
tests/daemon_send.py). A reply that bounces comes back to the queue with its text, addressed
to the customer's other address, and goes there once approved; resolve and reopen move the
clock and the statistics; a customer's new message opens a resolved conversation again."""

import time

from daemon_send import CUSTOMER, customer_mail, dsn, first_draft, only_message, rig
from daemon_sla import rules_with
from tendtest import check, eq, run

HOME = "anna.home@example.org"


def state(r, tid):
    return [t["state"] for t in r.env.threads() if t["id"] == tid][0]


def totals(r):
    return r.env.json("stats", "--json")["total"]


def actions(r, tid):
    return [e["action"] for e in r.env.json("log", "--json", str(tid))]


def home_then_work(r):
    """Anna writes from home, then from work in the same conversation: the draft answers the
    latest, at work. Returns the thread id."""
    r.dv.append("INBOX", customer_mail(addr=HOME, msgid="c0@example.org"))
    r.customer_writes(customer_mail(
        msgid="c1@example.com", subject="Re: Voucher expired",
        extra="In-Reply-To: <c0@example.org>\r\nReferences: <c0@example.org>\r\n"))
    t = r.thread_of("Voucher expired")
    eq(len(t["message_ids"]), 2, "one conversation")
    eq([a["email"] for a in r.env.show(t["id"])["draft"]["to"]], [CUSTOMER], "To")
    return t["id"]


@rig()
def test_bounce_brings_the_reply_back(r):
    tid = home_then_work(r)
    r.approve(tid)
    sent_body = r.env.show(tid)["draft"]["body"]
    r.once()
    first = only_message(r)
    eq(first.rcpt_tos, [CUSTOMER], "the first reply went to work")
    ours = r.outbox(tid)["message_id"]
    eq((totals(r)["answered"], totals(r)["not_delivered"]), (1, 0), "stats after the reply")
    r.customer_writes(dsn(ours, CUSTOMER))
    # The conversation is back in the queue with the text as sent, to the home address.
    eq(state(r, tid), "open", "state after the bounce")
    q = r.queue_item(tid)
    check(q is not None, "back in the queue")
    mark = "our reply to %s bounced (550 5.1.1" % CUSTOMER
    check((q["bounce"] or "").startswith(mark), "queue --json: %r" % q)
    check(mark in r.env.tend("queue").out, "the queue shows why")
    d = r.env.show(tid)["draft"]
    eq((d["state"], d["body"]), ("proposed", sent_body), "the bounced text")
    eq([a["email"] for a in d["to"]], [HOME], "to Anna's other address")
    out = r.env.tend("show", str(tid)).out
    check("Returned: " + mark in out, out)
    st = totals(r)
    eq((st["answered"], st["not_delivered"]), (0, 1), "stats: the first reply not delivered")
    log = r.env.json("log", "--json", str(tid))
    back = [e["detail"] for e in log if e["action"] == "bounced"]
    eq(len(back), 1, "audited once: %r" % log)
    check(back[0].startswith(mark) and ("to %s" % HOME) in back[0], back[0])
    # A second report of the same reply changes nothing.
    r.customer_writes(dsn(ours, CUSTOMER).replace(b"dsn1@", b"dsn2@"))
    eq(r.env.show(tid)["draft"]["id"], d["id"], "the same draft")
    eq(actions(r, tid).count("bounced"), 1, "nothing more audited")
    # Approved, it goes to the home address, threaded as the first one.
    r.approve(tid)
    r.once()
    m = only_message(r, 2)
    eq(m.rcpt_tos, [HOME], "RCPT TO")
    eq(m.msg["In-Reply-To"], first.msg["In-Reply-To"], "In-Reply-To")
    eq(m.msg.get_content().replace("\r\n", "\n").strip(),
       first.msg.get_content().replace("\r\n", "\n").strip(), "the same text")
    eq(state(r, tid), "answered", "answered at last")
    st = totals(r)
    eq((st["answered"], st["within_target"], st["not_delivered"]), (1, 1, 1),
       "stats: answered by the second reply, the first still counted as not delivered")


@rig()
def test_holding_reply_bounce_only_flags(r):
    """A holding reply that bounces is no answer that failed: the address is flagged, the
    conversation keeps waiting for its own draft."""
    rules_with(r.env, "sla: {urgent: 90s, high: 90s, normal: 90s, low: 90s}", hours=False)
    text = open(r.env.path("rules.yaml")).read()
    r.env.write("rules.yaml", text.replace("#holding_reply:", "holding_reply:"))
    r.dv.append("INBOX", customer_mail(), internaldate=time.time() - 60)
    r.once()
    holding = only_message(r)
    eq(holding.msg["Auto-Submitted"], "auto-replied", "a holding reply went out")
    tid = r.thread_of("Voucher expired")["id"]
    before = r.env.show(tid)["draft"]
    r.customer_writes(dsn(holding.msg["Message-ID"].strip("<>"), CUSTOMER))
    after = r.env.show(tid)
    eq(after["bounced"], [CUSTOMER], "the address is flagged")
    eq((after["draft"]["id"], after["draft"]["body"], after["draft"]["bounce"]),
       (before["id"], before["body"], None), "the draft is the conversation's own")
    check("bounced" not in actions(r, tid), "no reply came back")


@rig()
def test_resolve_and_reopen_move_clock_and_stats(r):
    tid, show = first_draft(r)
    check(show["deadline"] is not None, "the clock runs")
    eq((totals(r)["received"], totals(r)["resolved"]), (1, 0), "stats before")
    r.env.tend("resolve", "--as", "alice", "--reason", "answered by phone", str(tid))
    sh = r.env.show(tid)
    eq((sh["state"], sh["deadline"], sh["draft"]), ("resolved", None, None), "clock stopped")
    r.once()  # the SLA pass: no escalation, no holding reply for a resolved conversation
    eq(r.srv.count(), 0, "nothing sent")
    st = totals(r)
    eq((st["answered"], st["resolved"], st["breached"]), (0, 1, 0), "stats: resolved")
    r.env.tend("reopen", "--as", "alice", str(tid))
    sh = r.env.show(tid)
    eq((sh["state"], sh["draft"]["state"]), ("open", "proposed"), "reopened with a draft")
    check(sh["deadline"] is not None and r.queue_item(tid) is not None, "the clock runs again")
    eq(totals(r)["resolved"], 0, "stats: no longer resolved")
    r.approve(tid)
    r.once()
    eq(only_message(r).rcpt_tos, [CUSTOMER], "the reply went out")
    st = totals(r)
    eq((st["answered"], st["within_target"], st["resolved"]), (1, 1, 0), "stats: answered")
    # An answered conversation reopened: a new draft answers the customer's latest message.
    r.env.tend("reopen", "--as", "alice", str(tid))
    d = r.env.show(tid)["draft"]
    eq((d["state"], d["in_reply_to"]), ("proposed", "c1@example.com"), "drafted again")
    # Resolved, then the customer writes: open again, the draft answers the new message.
    r.env.tend("resolve", "--as", "alice", str(tid))
    r.customer_writes(customer_mail(msgid="c2@example.com", subject="Re: Voucher expired",
                                    extra="In-Reply-To: <c1@example.com>\r\n"))
    eq(state(r, tid), "open", "the customer wrote again")
    eq(r.env.show(tid)["draft"]["in_reply_to"], "c2@example.com", "the new message")
    acts = actions(r, tid)
    eq([a for a in acts if a in ("resolve", "reopen")],
       ["resolve", "reopen", "reopen", "resolve", "reopen"], "every state change audited")


if __name__ == "__main__":
    run(globals(), needs_localhost=True)
