#!/usr/bin/python3
"""The response-time clock end to end: deadlines in business hours on imported mail (the Date
header is the arrival), a follow-up that does not reset the clock, the queue's at-risk mark,
one escalation notice through a real SMTP server however often tendd runs, and `tend stats`
from the recorded times after the reply went out."""

import email.utils
import os
import re
import time

from daemon_send import AGENTS, CUSTOMER, Rig, customer_mail
from tendtest import Env, check, eq, run

SAMPLE_SLA = "sla: {urgent: 1h, high: 4h, normal: 24h, low: 72h}"


def rules_with(env, sla, hours=True):
    """The sample rules with another `sla` line, and without business hours unless hours."""
    if not os.path.exists(env.path("rules.yaml")):
        env.use_sample_rules()
    text = open(env.path("rules.yaml")).read()
    check(SAMPLE_SLA in text, "the sample rules' sla line moved")
    text = text.replace(SAMPLE_SLA, sla)
    if not hours:
        text = re.sub(r"\nbusiness_hours:\n(  .*\n)+", "\n", text)
    env.write("rules.yaml", text)


def mail(env, name, date, msgid, extra=""):
    data = ("From: Anna Meier <%s>\nTo: support@shop.example\nSubject: Where is my parcel\n"
            "Message-ID: <%s>\nDate: %s\n%s\nHello, my parcel has not arrived. Anna\n"
            % (CUSTOMER, msgid, date, extra))
    env.write(name, data)
    return env.path(name)


def test_business_hours_deadline():
    env = Env()
    try:
        # Europe/Berlin, Monday to Friday 09:00-17:00, as in the sample; 4h for every priority
        rules_with(env, "sla: {urgent: 4h, high: 4h, normal: 4h, low: 4h}")
        env.import_(mail(env, "a.eml", "Fri, 27 Nov 2026 16:30:00 +0100", "p1@example.com"))
        t = env.threads()[0]
        show = env.show(t["id"])
        eq(show["deadline"], "2026-11-30T11:30:00Z", "Friday 16:30 + 4h is Monday 12:30 CET")
        # the customer writes again before we answer: the clock keeps its start
        env.import_(mail(env, "b.eml", "Mon, 30 Nov 2026 10:00:00 +0100", "p2@example.com",
                         "In-Reply-To: <p1@example.com>\n"))
        show = env.show(t["id"])
        eq(len(show["messages"]), 2, "the follow-up joined")
        eq(show["deadline"], "2026-11-30T11:30:00Z", "the follow-up does not reset the clock")
        q = env.json("queue", "--json")
        eq([i["due"] for i in q], ["2026-11-30T11:30:00Z"], "the queue's due time")
    finally:
        env.close()


def test_escalation_once_and_stats():
    r = Rig()
    try:
        # Targets with room for a slow pass under valgrind on a loaded machine: the notice
        # must go while the conversation is at risk, not yet overdue (then it says so).
        rules_with(r.env, "sla: {urgent: 120s, high: 120s, normal: 120s, low: 120s}",
                   hours=False)
        cfg = open(r.env.config).read().replace(
            AGENTS, AGENTS + "escalation: {to: lead@shop.example, at: 50%}\n")
        r.env.write("tend.yaml", cfg)
        # one conversation that arrived 65 s ago (past half its target), one just now
        r.dv.append("INBOX", customer_mail(), internaldate=time.time() - 65)
        r.dv.append("INBOX", customer_mail(subject="Another question", msgid="c9@example.com",
                                           addr="bob@example.com", name="Bob"))
        r.once()
        old = r.thread_of("Voucher expired")["id"]
        new = r.thread_of("Another question")["id"]
        q = {i["thread"]: i for i in r.env.json("queue", "--json")}
        eq(q[old]["at_risk"], True, "past 50% of its target: at risk")
        eq(q[new]["at_risk"], False, "just arrived: not at risk")
        check("at risk" in r.env.tend("queue").out, "the human queue marks it")
        msgs = r.srv.wait_for(1)
        r.once()
        r.once()
        about_old = [m for m in r.srv.messages() if "thread %d:" % old in str(m.msg["Subject"])]
        eq(len(about_old), 1, "one notice however often tendd runs")
        m = msgs[0]
        eq(m.rcpt_tos, ["lead@shop.example"], "notice recipient")
        eq(str(m.msg["Subject"]), "[tend] At risk: thread %d: Voucher expired" % old, "Subject")
        eq(m.msg["Auto-Submitted"], "auto-generated", "Auto-Submitted")
        body = m.msg.get_content()
        for want in ("Conversation %d" % old, CUSTOMER, "Voucher expired", "Due:",
                     "tend show %d" % old):
            check(want in body, "%r in the notice: %r" % (want, body))
        log = r.env.json("log", "--json", str(old))
        check(any(e["action"] == "escalate" for e in log), "audited: %r" % log)
        check(r.queue_item(old) is not None, "a notice is no answer: still in the queue")
        # the notice is part of the conversation, marked internal, with what it said
        conv = r.env.show(old)["conversation"]
        eq([e["kind"] for e in conv], ["customer", "notice"], "conversation kinds")
        eq(conv[1]["body"].rstrip("\n"), body.replace("\r\n", "\n").rstrip("\n"),
           "the notice as sent")
        human = r.env.tend("show", str(old)).out
        check("\n── 2 ── Escalation notice to lead@shop.example (internal), accepted by the "
              "server " in human, human)
        # the reply goes out: stats come from the recorded times
        r.approve(old)
        r.once()
        # Bob's conversation may be at risk by now too (60 s into its 120 s, under valgrind):
        # its notice goes to the lead, never to a customer.
        to = [m.rcpt_tos for m in r.srv.messages()]
        eq(to.count([CUSTOMER]), 1, "the reply went out: %r" % to)
        eq(len(to) - to.count(["lead@shop.example"]), 1, "the rest are notices: %r" % to)
        st = r.env.json("stats", "--json")
        eq(st["total"]["received"], 2, "received")
        eq(st["total"]["answered"], 1, "answered")
        frt = st["total"]["first_response_p50"]
        check(65 <= frt < 600, "first response ~65 s after arrival: %r" % frt)
        by = r.env.json("stats", "--json", "--by", "agent")
        eq(sorted(g["key"] for g in by["groups"]), ["(not answered)", "alice"], "by agent")
    finally:
        r.close()


LIST_MAIL = ("From: R-devel <r-devel@r-project.org>\r\nTo: support@shop.example\r\n"
             "Subject: [Rd] weekly digest\r\nMessage-ID: <list1@r-project.org>\r\n"
             "List-Id: R development <r-devel.r-project.org>\r\nPrecedence: list\r\n"
             "\r\nThis week on the list.\r\n").encode()


def test_holding_reply():
    r = Rig()
    try:
        # Holding replies at 50% of 180 s: mail 100 s old is past that point and far from its
        # deadline (a holding reply never promises a time already gone), fresh mail needs 90 s
        # to get there, more than three slow passes under valgrind take.
        rules_with(r.env, "sla: {urgent: 180s, high: 180s, normal: 180s, low: 180s}",
                   hours=False)
        text = open(r.env.path("rules.yaml")).read()
        r.env.write("rules.yaml", text.replace("#holding_reply:", "holding_reply:"))
        r.env.tend("rules", "check")
        past = time.time() - 100
        r.dv.append("INBOX", customer_mail(), internaldate=past)
        # the same customer again, about something else: one holding reply a day is enough
        r.dv.append("INBOX", customer_mail(subject="Also: invoice", msgid="c5@example.com"),
                    internaldate=past)
        r.dv.append("INBOX", LIST_MAIL, internaldate=past)   # automatic: never answered
        r.dv.append("INBOX", customer_mail(subject="Fresh", msgid="c6@example.com",
                                           addr="carl@example.com", name="Carl"))  # not yet
        r.once()
        msgs = r.srv.wait_for(1)
        r.once()
        r.once()
        eq(r.srv.count(), 1, "one holding reply however often tendd runs")
        m = msgs[0]
        eq(m.rcpt_tos, [CUSTOMER], "to the customer only")
        eq(m.msg["Auto-Submitted"], "auto-replied", "Auto-Submitted")
        check(m.msg["In-Reply-To"] in ("<c1@example.com>", "<c5@example.com>"),
              "in the conversation: %r" % m.msg["In-Reply-To"])
        body = m.msg.get_content()
        check("automatic note" in body and "Anna" in body, "the operators' template: %r" % body)
        check("the end of the next working day" not in body, "the deadline is filled in")
        # not a response: both conversations still wait for a person, the clock runs on
        waiting = {q["thread"] for q in r.env.json("queue", "--json")}
        for subject in ("Voucher expired", "Also: invoice", "Fresh"):
            check(r.thread_of(subject)["id"] in waiting, "%s still waits for review" % subject)
        eq(r.env.json("stats", "--json")["total"]["answered"], 0, "no conversation answered")
        log = r.env.json("log", "--json")
        eq(len([e for e in log if e["action"] == "holding-reply"]), 1, "audited once")
        # it is part of the conversation it went to, marked automatic, as sent
        held = [t["id"] for t in r.env.threads()
                if m.msg["In-Reply-To"].strip("<>") in t["message_ids"]][0]
        conv = r.env.show(held)["conversation"]
        eq([e["kind"] for e in conv], ["customer", "holding"], "conversation kinds")
        eq(conv[1]["body"].rstrip("\n"), body.replace("\r\n", "\n").rstrip("\n"),
           "the holding reply as sent")
        human = r.env.tend("show", str(held)).out
        check("\n── 2 ── Holding reply (automatic), accepted by the server " in human, human)
    finally:
        r.close()


def backlog_mail(i, age, now):
    """Customer i's message, dated and delivered age seconds before now."""
    date = email.utils.formatdate(now - age)
    return customer_mail(subject="Backlog %d" % i, msgid="b%d@example.com" % i,
                         name="Customer %d" % i, addr="c%d@example.com" % i,
                         extra="").replace(b"Mon, 30 Nov 2026 09:00:00 +0000", date.encode())


def test_first_start_on_a_backlog():
    """A mailbox with days of mail before tendd's first start, holding replies and escalation
    on: no customer is promised a time already gone, and the lead gets one digest."""
    r = Rig()
    try:
        rules_with(r.env, "sla: {urgent: 4h, high: 4h, normal: 4h, low: 4h}", hours=False)
        text = open(r.env.path("rules.yaml")).read()
        r.env.write("rules.yaml", text.replace("#holding_reply:", "holding_reply:"))
        cfg = open(r.env.config).read().replace(
            AGENTS, AGENTS + "escalation: {to: lead@shop.example, at: 50%}\n")
        r.env.write("tend.yaml", cfg)
        now = time.time()
        # three days, a day, six hours and five hours old: overdue (4 h target); three hours
        # old: past the holding and escalation points, due in an hour; just in: nothing yet
        ages = {1: 3 * 86400, 2: 86400, 3: 6 * 3600, 4: 5 * 3600, 5: 3 * 3600, 6: 60}
        for i in (3, 1, 6, 4, 2, 5):   # not in age order
            r.dv.append("INBOX", backlog_mail(i, ages[i], now), internaldate=now - ages[i])
        r.once()
        r.srv.wait_for(2)
        r.once()
        msgs = r.srv.messages()
        to = sorted(m.rcpt_tos[0] for m in msgs)
        eq(to, ["c5@example.com", "lead@shop.example"],
           "one holding reply (the 3-hour-old message), one notice: %r" % to)
        held = [m for m in msgs if m.rcpt_tos == ["c5@example.com"]][0]
        body = held.msg.get_content()
        check("the end of the next working day" not in body, "a time is promised: %r" % body)
        due = r.env.show(r.thread_of("Backlog 5")["id"])["deadline"]
        check(due > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "the time promised is still ahead: %r" % due)
        digest = [m for m in msgs if m.rcpt_tos == ["lead@shop.example"]][0]
        eq(digest.msg["Auto-Submitted"], "auto-generated", "Auto-Submitted")
        text = digest.msg.get_content().replace("\r\n", "\n")
        ids = [r.thread_of("Backlog %d" % i)["id"] for i in (1, 2, 3, 4, 5)]
        where = [text.find("Conversation %d\n" % t) for t in ids]
        check(all(w >= 0 for w in where), "every conversation at risk is named: %r" % text)
        eq(where, sorted(where), "most overdue first")
        check("Backlog 6" not in text, "the fresh one is not at risk")
        check("overdue by 2 d 20 h" in text, "how late: %r" % text)
        # each conversation shows the one notice, as sent; each logs its escalation
        for t in ids:
            conv = r.env.show(t)["conversation"]
            eq([e["kind"] for e in conv if e["kind"] != "holding"], ["customer", "notice"],
               "thread %d's conversation" % t)
            eq([e["body"] for e in conv if e["kind"] == "notice"][0].rstrip("\n"),
               text.rstrip("\n"), "the digest as sent")
            eq([e["action"] for e in r.env.json("log", "--json", str(t))].count("escalate"), 1,
               "thread %d's escalation is logged" % t)
    finally:
        r.close()


STAGES = ("escalation:\n"
          "  - {at: 50%, to: team@shop.example}\n"
          "  - {at: 90%, to: lead@shop.example}\n"
          "  - {at: 100%, to: owner@shop.example}\n"
          "  - {at: 50%, to: vouchers@shop.example, tags: [voucher]}\n"
          "  - {at: 50%, to: urgent@shop.example, priority: urgent}\n"
          "  - {at: 30s, to: later@shop.example}\n")


def with_escalation(r, sla, yaml):
    rules_with(r.env, sla, hours=False)
    r.env.write("tend.yaml", open(r.env.config).read().replace(AGENTS, AGENTS + yaml))


def received(r):
    """{address: [subject, ...]} of what the SMTP server received."""
    out = {}
    for m in r.srv.messages():
        for a in m.rcpt_tos:
            out.setdefault(a, []).append(str(m.msg["Subject"]))
    return out


def passes(r, n):
    """tendd --once until the SMTP server holds n messages (a send that timed out on a loaded
    machine is retried on the next pass), at most four times."""
    for _ in range(4):
        r.once()
        if r.srv.count() >= n:
            return
    eq(r.srv.count(), n, "messages received after four passes")


def wait_past(t):
    while time.time() < t:
        time.sleep(min(0.2, max(0.0, t - time.time())))


def test_escalation_stages():
    """Three stages as a clock passes 50%, 90% and 100% of a 40 s target: each address gets
    its notice once; so does a stage at 30 s and one for the voucher tag; one for urgent mail
    never."""
    r = Rig()
    try:
        with_escalation(r, "sla: {urgent: 40s, high: 40s, normal: 40s, low: 40s}", STAGES)
        arrived = int(time.time()) - 21
        r.dv.append("INBOX", customer_mail(), internaldate=arrived)
        passes(r, 2)
        tid = r.thread_of("Voucher expired")["id"]
        got = received(r)
        subject = "[tend] At risk: thread %d: Voucher expired" % tid
        eq(got.get("team@shop.example"), [subject], "50%%: the team: %r" % got)
        eq(got.get("vouchers@shop.example"), [subject], "50%%, tag voucher: %r" % got)
        if time.time() < arrived + 30:
            eq(got.get("later@shop.example"), None, "before 30 s: not later@: %r" % got)
            eq(got.get("lead@shop.example"), None, "before 90%%: not the lead: %r" % got)
        show = r.env.show(tid)
        check("50% team@shop.example" in show["escalated"], "tend show: %r" % show["escalated"])
        human = r.env.tend("show", str(tid)).out
        check("Escalated: 50% team@shop.example" in human, human)
        wait_past(arrived + 37)
        passes(r, 4)
        got = received(r)
        # 90% is 36 s, 100% 40 s: a pass slower than that (valgrind) finds it overdue
        late = "[tend] Overdue: thread %d: Voucher expired" % tid
        check(got.get("lead@shop.example") in ([subject], [late]), "90%%: the lead: %r" % got)
        check(got.get("later@shop.example") in ([subject], [late]), "at: 30s: %r" % got)
        wait_past(arrived + 41)
        passes(r, 5)
        r.once()
        got = received(r)
        for a in ("team@shop.example", "lead@shop.example", "vouchers@shop.example",
                  "later@shop.example"):
            eq(len(got.get(a, [])), 1, "%s got its notice once: %r" % (a, got))
        eq(got.get("owner@shop.example"), [late],
           "100%%: the owner, once, told it is overdue: %r" % got)
        eq(got.get("urgent@shop.example"), None, "a normal conversation: no urgent stage")
        body = [m for m in r.srv.messages() if m.rcpt_tos == ["owner@shop.example"]][0]
        check("Stage:     100%" in body.msg.get_content(), body.msg.get_content())
        eq(sorted(r.env.show(tid)["escalated"]),
           sorted(["50% team@shop.example", "90% lead@shop.example", "100% owner@shop.example",
                   "50% vouchers@shop.example", "30s later@shop.example"]),
           "tend show lists every stage sent")
        log = [e for e in r.env.json("log", "--json", str(tid)) if e["action"] == "escalate"]
        eq(len(log), 5, "one audit entry per stage: %r" % log)
    finally:
        r.close()


def test_escalation_stages_digest():
    """Two conversations past 50% and 90% together: one mail per address, naming both, with
    the stages each passed; nothing more on the next pass."""
    r = Rig()
    try:
        with_escalation(r, "sla: {urgent: 4h, high: 4h, normal: 4h, low: 4h}",
                        "escalation:\n"
                        "  - {at: 90%, to: lead@shop.example}\n"
                        "  - {at: 50%, to: team@shop.example}\n"
                        "  - {at: 90%, to: Team@shop.example}\n")
        now = time.time()
        r.dv.append("INBOX", backlog_mail(1, 5 * 3600, now), internaldate=now - 5 * 3600)
        r.dv.append("INBOX", backlog_mail(2, 4 * 3600 - 600, now), internaldate=now - 4 * 3600 + 600)
        passes(r, 2)
        r.once()
        msgs = r.srv.messages()
        eq(sorted(m.rcpt_tos[0].lower() for m in msgs),
           ["lead@shop.example", "team@shop.example"], "one mail per address")
        ids = [r.thread_of("Backlog %d" % i)["id"] for i in (1, 2)]
        for m in msgs:
            eq(str(m.msg["Subject"]), "[tend] At risk: 2 conversations (1 overdue), most overdue first",
               "a digest")
            text = m.msg.get_content().replace("\r\n", "\n")
            where = [text.find("Conversation %d\n" % t) for t in ids]
            check(all(w >= 0 for w in where) and where == sorted(where), text)
            stage = "50%, 90%" if m.rcpt_tos[0].lower() == "team@shop.example" else "90%"
            eq(text.count("  Stage:     %s\n" % stage), 2, "the stages passed: %r" % text)
        for t in ids:
            eq(len(r.env.show(t)["escalated"]), 3, "every stage recorded")
    finally:
        r.close()


def test_escalation_stage_new_clock():
    """A reply stops the clock and its stages; the customer's next message starts a new clock,
    for which the stage is sent again."""
    r = Rig()
    try:
        with_escalation(r, "sla: {urgent: 12s, high: 12s, normal: 12s, low: 12s}",
                        "escalation:\n  - {at: 50%, to: team@shop.example}\n")
        r.dv.append("INBOX", customer_mail(), internaldate=time.time() - 7)
        passes(r, 1)
        tid = r.thread_of("Voucher expired")["id"]
        # at risk, or overdue already where the pass took more than 5 s (valgrind)
        first = received(r).get("team@shop.example", [])
        check(first in [["[tend] %s: thread %d: Voucher expired" % (w, tid)]
                        for w in ("At risk", "Overdue")], "the first clock: %r" % first)
        r.approve(tid)
        passes(r, 2)
        eq(len(received(r).get(CUSTOMER, [])), 1, "the reply went out")
        eq(r.env.show(tid)["escalated"], [], "the clock stopped: no stage for it")
        wrote = time.time()
        r.dv.append("INBOX", customer_mail(subject="Re: Voucher expired", msgid="c2@example.com",
                                           extra="In-Reply-To: <c1@example.com>\r\n"))
        r.once()
        if time.time() < wrote + 6:
            eq(len(received(r)["team@shop.example"]), 1, "the new clock is not yet at 50%")
        wait_past(wrote + 7)
        passes(r, 3)
        r.once()
        eq(len(received(r)["team@shop.example"]), 2, "once again for the new clock")
        eq(r.env.show(tid)["escalated"], ["50% team@shop.example"], "tend show")
    finally:
        r.close()


def test_escalation_stage_errors():
    """A bad stage is refused with its place, before tendd starts; nothing reaches the
    terminal raw."""
    env = Env()
    try:
        env.use_sample_rules()
        env.write("tend.yaml", "store: store\n"
                               "escalation:\n"
                               "  - {at: 50%, to: team@shop.example}\n"
                               "  - {at: 50%, to: team@shop.example}\n"
                               "  - {at: 120%, to: \"lead\\e[31m@\"}\n"
                               "  - {at: 90, to: lead@shop.example, priority: asap}\n")
        r = env.tendd("--check-config", rc=1)
        for want in ("tend.yaml:4:5: duplicate escalation stage (first at 3:5)",
                     "tend.yaml:5:10: \"at\" must be a share of the target from 1% to 100%",
                     "tend.yaml:5:20: \"to\" must be an email address",
                     "tend.yaml:6:10: \"at\" must be",
                     "tend.yaml:6:47: \"priority\" must be one of urgent, high, normal, low"):
            check(want in r.err, "%r in %r" % (want, r.err))
        check("\x1b" not in r.err, "no raw escape: %r" % r.err)
    finally:
        env.close()


if __name__ == "__main__":
    run(globals(), needs_localhost=True)
