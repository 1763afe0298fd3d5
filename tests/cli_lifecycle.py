#!/usr/bin/python3
"""A conversation's life cycle with the real binaries: `tend resolve`, `tend reopen`, `tend
reject` (an empty draft, or --resolve), `tend threads --state`, and what `tend stats` counts,
on the sample mail that `tend import` drafted. The sample mail is weeks old, so every draft is
overdue: a resolve takes a breach away and a reopen starts a new clock."""

import calendar
import re
import time

from cli_review import complete
from tendtest import Env, check, eq, run, sample_mail

AGENTS = "store: store\nagents:\n  - {login: alice, name: Alice Smith}\n"
ALICE = {"TEND_AGENT": "alice"}


def imported():
    env = Env(config=AGENTS)
    env.import_(sample_mail())
    return env


def queue(env):
    return env.json("queue", "--json")


def queued(env, tid):
    return [q for q in queue(env) if q["thread"] == tid]


def state(env, tid):
    return [t["state"] for t in env.threads() if t["id"] == tid][0]


def totals(env):
    return env.json("stats", "--json")["total"]


def log(env, tid):
    return [(e["action"], e["agent"], e["detail"]) for e in env.json("log", "--json", tid)]


def due(item):
    """A queue entry's deadline, in seconds since the epoch."""
    return calendar.timegm(time.strptime(item["due"], "%Y-%m-%dT%H:%M:%SZ"))


def test_resolve_stops_the_clock():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        check(due(queue(env)[0]) < time.time(), "overdue")
        before = totals(env)
        check(before["breached"] >= 1, "the sample mail is overdue: %r" % before)
        eq(before["resolved"], 0, "resolved before")
        r = env.tend("resolve", tid, "--reason", "answered by phone", env=ALICE)
        eq(r.out, "Resolved thread %d: it needs nothing more; a new message from the customer "
           "opens it again.\n" % tid, "output")
        eq(state(env, tid), "resolved", "state")
        eq(queued(env, tid), [], "out of the queue")
        sh = env.show(tid)
        eq((sh["draft"], sh["deadline"], sh["resolved_by"], sh["resolve_reason"]),
           (None, None, "alice", "answered by phone"), "show --json")
        out = env.tend("show", tid).out
        check("State: resolved" in out and "\nDue:" not in out, out)
        check(re.search(r"\nResolved by alice [^\n]*: answered by phone\n", out), out)
        after = totals(env)
        eq((after["received"], after["answered"], after["resolved"], after["breached"]),
           (before["received"], 0, 1, before["breached"] - 1),
           "stats: resolved without a reply, not breached")
        eq(log(env, tid)[-1], ("resolve", "alice", "answered by phone"), "audit")
        r = env.tend("resolve", tid, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d is resolved already\n" % tid, "twice")
        r = env.tend("resolve", tid, "--reason", " ", rc=2, env=ALICE)
        check("--reason TEXT is empty" in r.err, r.err)
    finally:
        env.close()


def test_reopen_starts_a_new_clock():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        old = env.show(tid)["draft"]
        env.tend("resolve", tid, env=ALICE)
        breached = totals(env)["breached"]
        r = env.tend("reopen", tid, env=ALICE)
        eq(r.out, "Reopened thread %d: its new draft is in the queue, due in 24 h.\n" % tid,
           "output")
        eq(state(env, tid), "open", "state")
        q = queued(env, tid)
        eq(len(q), 1, "back in the queue")
        new = env.show(tid)["draft"]
        check(new["id"] != old["id"], "a fresh draft: %r" % new)
        eq((new["state"], new["body"], new["to"]), ("proposed", old["body"], old["to"]),
           "drafted again for the same message")
        check(due(q[0]) > time.time() + 23 * 3600, "due a day from the reopen: %r" % q[0])
        after = totals(env)
        eq((after["resolved"], after["breached"]), (0, breached), "stats: due, not breached")
        eq([a for a, _, _ in log(env, tid)][-3:], ["resolve", "reopen", "draft"], "audit")
        r = env.tend("reopen", tid, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d is open already: it is waiting for an answer\n" % tid,
           "twice")
        ign = [t["id"] for t in env.threads() if t["state"] == "ignored"][0]
        r = env.tend("reopen", ign, rc=1, env=ALICE)
        check("is ignored" in r.err, r.err)
    finally:
        env.close()


def test_customer_reopens_resolved():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        th = env.show(tid)
        env.tend("resolve", tid, "--reason", "solved in the shop", env=ALICE)
        last = th["messages"][-1]
        eml = ("From: %s\nTo: support@shop.example\nSubject: Re: %s\n"
               "Date: Wed, 02 Dec 2026 09:00:00 +0000\nMessage-ID: <again@example.com>\n"
               "In-Reply-To: <%s>\n\nSorry, one more question about this.\n"
               % (th["customer"]["email"], th["subject"], last["message_id"]))
        env.import_(env.write("again.eml", eml))
        eq(state(env, tid), "open", "a new message opens it")
        d = env.show(tid)["draft"]
        eq((d["state"], d["in_reply_to"]), ("proposed", "again@example.com"),
           "the draft answers the new message, not what was resolved")
        check("one more question" in d["body"] and last["text"].split("\n")[0] not in d["body"],
              "quotes only the new message: %r" % d["body"])
        eq(log(env, tid)[-2][:2], ("reopen", "import"), "audited")
        check("the customer wrote again" in log(env, tid)[-2][2], repr(log(env, tid)))
    finally:
        env.close()


def test_reject_leaves_an_empty_draft():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        before = env.show(tid)["draft"]
        r = env.tend("reject", tid, "--reason", "wrong tone", env=ALICE)
        eq(r.out, "Rejected the draft of thread %d: the draft is empty now; write the reply "
           "with `tend edit %d`.\n" % (tid, tid), "output")
        eq(state(env, tid), "open", "still needs an answer")
        d = env.show(tid)["draft"]
        eq((d["state"], d["body"], d["to"], d["subject"]),
           ("proposed", "", before["to"], before["subject"]), "an empty draft")
        q = queued(env, tid)
        eq(len(q), 1, "still in the queue")
        line = [ln for ln in env.tend("queue").out.splitlines() if ln.startswith("%2d " % tid)]
        check("empty: write it with tend edit" in line[0], line)
        check("The draft is empty: write the reply with `tend edit %d`." % tid
              in env.tend("show", tid).out, "show says what to do")
        r = env.tend("approve", tid, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d: the draft is empty: write the reply with `tend edit %d`\n"
           % (tid, tid), "an empty draft is never sent")
        r = env.tend("edit", tid, env=dict(ALICE, EDITOR="true", VISUAL=""))
        eq((r.out, env.show(tid)["draft"]["body"]), ("No changes.\n", ""), "left empty")
        # the editor opens on an empty text between the recipients and the scissors line
        ed = ("sed -n 4p \"$1\" | grep -q '^# -* >8 -*$' && "
              "sed -i '4i Dear customer, we are on it.' \"$1\"; :")
        r = env.tend("edit", tid, env=dict(ALICE, EDITOR=ed, VISUAL=""))
        eq(r.out, "Saved the draft of thread %d.\n" % tid, "edit output")
        d = env.show(tid)["draft"]
        eq((d["body"], d["edited"]), ("Dear customer, we are on it.\n", True), "written")
        env.tend("approve", tid, env=ALICE)
        eq(env.show(tid)["draft"]["state"], "approved", "approved once written")
        eq([a for a, _, _ in log(env, tid)], ["draft", "reject", "edit", "approve"], "audit")
        eq(log(env, tid)[1][2], "wrong tone", "the reason")
    finally:
        env.close()


def test_reject_resolve():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        breached = totals(env)["breached"]
        r = env.tend("reject", tid, "--reason", "not a real request", "--resolve", env=ALICE)
        eq(r.out, "Rejected the draft of thread %d and resolved the conversation.\n" % tid,
           "output")
        eq((state(env, tid), env.show(tid)["draft"], queued(env, tid)), ("resolved", None, []),
           "resolved, no draft")
        eq(log(env, tid)[-2:], [("reject", "alice", "not a real request"),
                                ("resolve", "alice", "not a real request")], "audit")
        eq(totals(env)["breached"], breached - 1, "not breached")
    finally:
        env.close()


def test_threads_state():
    env = imported()
    try:
        every = env.threads()
        tid = queue(env)[0]["thread"]
        env.tend("resolve", tid, env=ALICE)
        for name in ("open", "answered", "resolved", "ignored"):
            got = env.json("threads", "--json", "--state", name)
            eq(sorted(t["id"] for t in got),
               sorted(t["id"] for t in env.threads() if t["state"] == name), name)
            for t in got:
                for key in ("id", "subject", "customer", "state", "tags", "message_ids"):
                    check(key in t, "threads --json lacks %r" % key)
        eq([t["id"] for t in env.json("threads", "--json", "--state", "resolved")], [tid],
           "the resolved one")
        eq(len(env.threads()), len(every), "without --state: all")
        out = env.tend("threads", "--state", "answered").out
        eq(out.splitlines()[1:], ["No answered conversations."], "none")
        r = env.tend("threads", "--state", "closed", rc=2)
        eq(r.err, "tend threads: --state takes open, answered, resolved or ignored, not "
           "\"closed\"\nusage: tend threads [--json] [--quarantined] [--state STATE]\n",
           "a bad state")
    finally:
        env.close()


def test_completion():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        env.tend("resolve", tid, env=ALICE)
        eq(complete(env, "reo"), ["reopen"], "a command")
        eq(complete(env, "threads", "--state", "r"), ["resolved"], "a state")
        eq(complete(env, "reject", "--res"), ["--resolve"], "an option")
        eq(complete(env, "reopen", ""), [str(tid)], "what can be reopened")
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
