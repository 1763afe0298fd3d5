#!/usr/bin/python3
"""`tend stats` and `tend log` as a team lead reads them (issue 18), on replies that went
through a real SMTP server: the agent who wrote a reply is credited with it and the one who
approved it is shown apart; several --by at once; --since and --until in words; the audit
trail filtered by agent, action and date."""

import os

from daemon_send import CUSTOMER, rig
from tendtest import check, eq, run

TEAM = "  - {login: bob, name: Bob Jones}\n"


def edit_as(r, agent, tid, old, new):
    """`tend edit` as agent, with an editor that replaces old by new in the draft."""
    ed = r.env.write("ed.sh", "#!/bin/sh\n/usr/bin/python3 - \"$1\" <<'EOF'\nimport sys\n"
                     "p = sys.argv[1]\ns = open(p).read()\nassert %r in s, s\n"
                     "open(p, 'w').write(s.replace(%r, %r))\nEOF\n" % (old, old, new))
    os.chmod(ed, 0o755)
    return r.env.tend("edit", "--as", agent, str(tid), env={"EDITOR": ed, "VISUAL": ""})


def group(st, key):
    found = [g for g in st["groups"] if g["key"] == key]
    check(len(found) == 1, "one group %r in %r" % (key, [g["key"] for g in st["groups"]]))
    return found[0]


def written_and_approved(r):
    """bob edits the draft of the customer's mail, alice approves it, the server accepts it;
    returns the thread's ID."""
    r.customer_writes()
    tid = r.thread_of("Voucher expired")["id"]
    body = r.env.show(tid)["draft"]["body"]
    edit_as(r, "bob", tid, body.splitlines()[0], "Dear Anna,")
    r.env.tend("approve", "--as", "alice", "--force", str(tid))
    r.once()
    msgs = r.srv.wait_for(1)
    eq(msgs[0].rcpt_tos, [CUSTOMER], "the reply went out")
    check("Dear Anna," in msgs[0].msg.get_content(), "bob's text was sent")
    return tid


@rig(extra=TEAM)
def test_writer_credited_approver_apart(r):
    written_and_approved(r)
    st = r.env.json("stats", "--json", "--by", "agent")
    bob, alice = group(st, "bob"), group(st, "alice")
    eq((bob["received"], bob["answered"], bob["approved"]), (1, 1, 0), "bob wrote it")
    eq((alice["received"], alice["answered"], alice["approved"]), (0, 0, 1),
       "alice approved it")
    eq((st["total"]["replies"], st["total"]["edited"], st["total"]["edited_share"]),
       (1, 1, 1.0), "one reply, changed by an agent before approval")
    share = st["total"]["edited_lines_share"]
    check(0 < share < 1, "a line of several changed: %r" % share)
    out = r.env.tend("stats", "--by", "agent").out
    check("\nbob                         1        1" in out, out)
    check("\nalice                       0        0" in out, out)
    check("approved  replies   edited  changed" in out, out)


@rig(extra=TEAM)
def test_several_by(r):
    """Every combination of the groupings that has a conversation."""
    tid = written_and_approved(r)
    st = r.env.json("stats", "--json", "--by", "tag", "--by", "agent")
    keys = [g["key"] for g in st["groups"] if g["received"]]
    tags = r.env.show(tid)["tags"] or ["(no tag)"]
    eq(sorted(keys), sorted("%s / bob" % t for t in tags), "tag and agent")
    r.env.tend("stats", "--by", "agent", "--by", "agent", rc=2)


@rig(extra=TEAM)
def test_relative_times(r):
    """The conversation is from today, not from last week."""
    written_and_approved(r)
    for since, n in (("today", 1), ("7d", 1), ("yesterday", 1), ("12h", 1)):
        eq(r.env.json("stats", "--json", "--since", since)["total"]["received"], n,
           "--since %s" % since)
    st = r.env.json("stats", "--json", "--since", "last week", "--until", "last week")
    eq(st["total"]["received"], 0, "nothing last week")
    eq(r.env.json("stats", "--json", "--until", "yesterday")["total"]["received"], 0,
       "--until yesterday: up to the end of yesterday")
    bad = r.env.tend("stats", "--since", "tomorrow", rc=2)
    check('"tomorrow" is not a time' in bad.err and "last week" in bad.err, bad.err)


@rig(extra=TEAM)
def test_log_filters(r):
    """The audit trail by agent, action and date."""
    tid = written_and_approved(r)
    log = r.env.json("log", "--json", "--agent", "bob")
    eq({e["agent"] for e in log}, {"bob"}, "bob's entries only")
    check("edit" in [e["action"] for e in log], "bob's edit: %r" % log)
    log = r.env.json("log", "--json", "--action", "approve", "--since", "today")
    eq([(e["agent"], e["thread"]) for e in log], [("alice", tid)], "today's approvals")
    eq(r.env.json("log", "--json", "--action", "approve", "--until", "yesterday"), [],
       "none before today")
    eq(r.env.tend("log", "--agent", "carol").out, "No entry matches.\n", "nobody's")
    r.env.tend("log", "--since", "soon", rc=2)


if __name__ == "__main__":
    run(globals(), needs_localhost=True)
