#!/usr/bin/python3
"""Who is on it: claims on conversations (`tend edit`, `show --take`, `release`, `--force`),
approving what is assigned to someone else, and the queue's filters and width."""

import re
import time

from tendtest import SLOW, Env, check, display_width, eq, run, sample_mail

AGENTS = "store: store\nagents:\n  - {login: alice, name: Alice Smith}\n  - {login: bob}\n"
ALICE = {"TEND_AGENT": "alice"}
BOB = {"TEND_AGENT": "bob"}


def editor(text):
    """An $EDITOR that puts text before the draft's first line."""
    return {"VISUAL": "", "EDITOR": "sed -i '/^$/{n;s/^/%s /;:a;n;ba}'" % text}


def imported(config=AGENTS):
    env = Env(config=config)
    env.import_(sample_mail())
    return env


def queue(tenv, *args, **kw):
    return tenv.json("queue", "--json", *args, **kw)


def actions(env, tid):
    """The trail of the thread, without what import wrote."""
    return [e["action"] for e in env.json("log", "--json", tid) if e["action"] != "draft"]


def claim_of(env, tid):
    return env.show(tid)["claim"]


REFUSED = re.compile(r"^tend: thread (\d+): alice is on it \(1 min\), since \d\d:\d\d; to (\w+) "
                     r"it all the same, add --force \(or wait until the claim lapses\)\n$")


def test_edit_claims_and_refuses_another():
    """alice edits: she is on it; bob's edit and approval are refused, naming her and since
    when; with --force bob edits, audited as such; approving ends the claim."""
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        env.tend("edit", tid, env=dict(ALICE, **editor("Alice was here.")))
        claim = claim_of(env, tid)
        eq(claim["agent"], "alice", "the claim's agent")
        eq([k for k in claim], ["agent", "since", "until"], "claim in show --json")
        item = [i for i in queue(env) if i["thread"] == tid][0]
        eq(item["claim"], claim, "claim in queue --json")
        out = env.tend("show", tid).out
        check("\nalice is on it (1 min)\n" in out, out)
        line = [ln for ln in env.tend("queue").out.splitlines() if ln.split()[0] == str(tid)]
        check("alice is on it (1 min)" in line[0], line)

        r = env.tend("edit", tid, rc=1, env=dict(BOB, **editor("Bob was here.")))
        m = REFUSED.match(r.err)
        check(m and m.group(1) == str(tid) and m.group(2) == "edit", r.err)
        body = env.show(tid)["draft"]["body"]
        check("Alice was here." in body and "Bob was here." not in body, body)
        r = env.tend("approve", tid, rc=1, env=BOB)
        m = REFUSED.match(r.err)
        check(m and m.group(2) == "approve", r.err)
        eq(env.show(tid)["draft"]["state"], "proposed", "bob's approval refused")

        env.tend("edit", "--force", tid, env=dict(BOB, **editor("Bob was here.")))
        check("Bob was here." in env.show(tid)["draft"]["body"], "forced edit saved")
        eq(claim_of(env, tid)["agent"], "bob", "the claim passed to bob")
        forced = [e for e in env.json("log", "--json", tid) if e["action"] == "force"]
        eq(len(forced), 1, "one forced action in the trail")
        eq(forced[0]["agent"], "bob", "who forced")
        check(forced[0]["detail"].startswith("edit with --force, over this claim: alice is on "
                                             "it (1 min), since "), forced[0]["detail"])
        r = env.tend("approve", tid, rc=1, env=ALICE)
        check(r.err.startswith("tend: thread %d: bob is on it" % tid), r.err)
        env.tend("approve", tid, env=BOB)
        eq(claim_of(env, tid), None, "approving ends the claim")
    finally:
        env.close()


def test_claim_lapses():
    """A claim holds for review.claim_for, then lapses by itself."""
    env = imported(AGENTS + "review:\n  claim_for: %ds\n" % (2 * SLOW))
    try:
        tid = queue(env)[0]["thread"]
        out = env.tend("show", "--take", tid, env=ALICE).out
        check("\nalice is on it (1 min)\n" in out, out)
        took = time.time()
        r = env.tend("edit", tid, rc=1, env=dict(BOB, **editor("Bob was here.")))
        check(REFUSED.match(r.err), r.err)
        check(time.time() - took < 2 * SLOW, "the refusal came while the claim held")
        time.sleep(max(0, took + 2 * SLOW + 1 - time.time()))
        eq(claim_of(env, tid), None, "the lapsed claim is not shown")
        check("is on it" not in env.tend("queue").out, "the lapsed claim is not in the queue")
        env.tend("edit", tid, env=dict(BOB, **editor("Bob was here.")))
        eq(claim_of(env, tid)["agent"], "bob", "bob holds it now")
        eq(actions(env, tid), ["take", "edit"],
           "the trail: no force needed after the lapse")
    finally:
        env.close()


def test_release_and_snooze():
    """`tend release` ends one's own claim (another's only with --force); snoozing ends the
    claimant's claim, not someone else's; rejecting ends any."""
    env = imported()
    try:
        q = queue(env)
        tid, other = q[0]["thread"], q[1]["thread"]
        env.tend("show", "--take", tid, env=ALICE)
        r = env.tend("release", tid, rc=1, env=BOB)
        check(r.err.startswith("tend: thread %d: alice is on it (1 min), since " % tid), r.err)
        eq(env.tend("release", tid, env=ALICE).out,
           "Released thread %d: nobody is on it now.\n" % tid, "release")
        eq(claim_of(env, tid), None, "released")
        eq(env.tend("release", tid, rc=1, env=ALICE).err,
           "tend: thread %d: nobody is on it\n" % tid, "nothing to release")
        env.tend("show", "--take", tid, env=ALICE)
        env.tend("release", "--force", tid, env=BOB)
        eq(claim_of(env, tid), None, "released by force")
        eq(actions(env, tid), ["take", "release", "take", "force", "release"], "the trail")

        env.tend("show", "--take", tid, env=ALICE)
        env.tend("snooze", tid, "1h", env=BOB)
        eq(claim_of(env, tid)["agent"], "alice", "bob's snooze leaves alice's claim")
        env.tend("snooze", tid, "1h", env=ALICE)
        eq(claim_of(env, tid), None, "alice's snooze ends her claim")

        env.tend("show", "--take", other, env=ALICE)
        env.tend("reject", other, "--reason", "wrong answer", env=BOB)
        eq(claim_of(env, other), None, "rejecting ends the claim")
    finally:
        env.close()


def test_approve_assigned_to_another():
    """Approving what is assigned to someone else asks on a terminal; without one it is
    refused unless --force, which the trail records."""
    env = imported()
    try:
        q = queue(env)
        a, b, c = q[0]["thread"], q[1]["thread"], q[2]["thread"]
        for tid in (a, b, c):
            env.tend("assign", tid, "bob", env=ALICE)
        r = env.tend("approve", a, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d is assigned to bob; to approve it all the same, add --force\n"
           % a, "refused without a terminal")
        eq(env.show(a)["draft"]["state"], "proposed", "not approved")
        env.tend("approve", "--force", a, env=ALICE)
        eq(env.show(a)["draft"]["state"], "approved", "approved with --force")
        eq([e["detail"] for e in env.json("log", "--json", a) if e["action"] == "force"],
           ["approve of a conversation assigned to bob, with --force"], "audited")

        rc, out, err = env.in_pty(["approve", b], env=ALICE, typed=b"n\n")
        eq(rc, 1, "no: exit status")
        check("Thread %d is assigned to bob. Approve it all the same? [y/N] " % b in out, out)
        check("Not approved." in out, out)
        eq(env.show(b)["draft"]["state"], "proposed", "answered no")
        rc, out, err = env.in_pty(["approve", "--yes", c], env=ALICE, typed=b"y\n")
        eq(rc, 0, "yes: exit status (%s)" % err)
        eq(env.show(c)["draft"]["state"], "approved", "answered yes")
        eq([e["detail"] for e in env.json("log", "--json", c) if e["action"] == "confirm"],
           ["approve of a conversation assigned to bob, confirmed on the terminal"], "audited")
        env.tend("approve", b, env=BOB)  # bob's own: no question
        eq(env.show(b)["draft"]["state"], "approved", "the assignee approves")
    finally:
        env.close()


def test_queue_filters():
    """--mine, --assignee, --tag and --priority keep what they name, together (AND), in the
    listing and in --json."""
    env = Env(config=AGENTS + "rules: rules.yaml\n")
    env.use_sample_rules()
    env.import_(sample_mail())
    try:
        q = queue(env)
        check(len(q) >= 5, "drafts: %d" % len(q))
        tagged = [i for i in q if i["tags"]]
        check(tagged, "a tagged draft in the sample: %r" % q)
        tag = tagged[0]["tags"][0]
        want = [i["thread"] for i in q if tag in i["tags"]]
        eq([i["thread"] for i in queue(env, "--tag", tag.upper())], want, "--tag (any case)")
        lines = env.tend("queue", "--tag", tag).out.splitlines()
        eq([int(ln.split()[0]) for ln in lines[1:]], want, "--tag listed")
        pri = q[0]["priority"]
        eq([i["thread"] for i in queue(env, "--priority", pri)],
           [i["thread"] for i in q if i["priority"] == pri], "--priority")
        env.tend("assign", q[0]["thread"], "bob", env=ALICE)
        env.tend("assign", q[1]["thread"], "alice", env=ALICE)
        eq([i["thread"] for i in queue(env, "--assignee", "bob")], [q[0]["thread"]], "--assignee")
        eq([i["thread"] for i in queue(env, "--mine", env=ALICE)], [q[1]["thread"]], "--mine")
        eq([i["thread"] for i in queue(env, "--assignee", "-")],
           [i["thread"] for i in q[2:]], "--assignee -: nobody's")
        both = queue(env, "--mine", "--priority", q[1]["priority"], env=ALICE)
        eq([i["thread"] for i in both], [q[1]["thread"]], "two filters")
        other = [p for p in ("low", "normal", "high", "urgent") if p != q[1]["priority"]][0]
        eq(queue(env, "--mine", "--priority", other, env=ALICE), [], "filters combine (AND)")
        lines = env.tend("queue", "--assignee", "-", "--limit", "1").out.splitlines()
        eq(lines[2], "(%d more after these 1: `tend queue --limit 0` lists them all.)"
           % (len(q) - 3), "what the limit left out counts only what the filters keep")
        r = env.tend("queue", "--priority", "soon", rc=2)
        check(r.err.startswith('tend queue: --priority wants urgent, high, normal or low, not '
                               '"soon"\n'), r.err)
    finally:
        env.close()


LONG_SUBJECT = "The third time I write about the broken kettle and nobody answers me at all"


def named(env, name, addr, subject, n):
    eml = ("From: %s <%s>\nTo: support@shop.example\nSubject: %s\n"
           "Date: Mon, 23 Nov 2026 10:00:0%d +0000\nMessage-ID: <wide-%d@example.com>\n"
           "Content-Type: text/plain; charset=utf-8\n\nHello, please help me.\n"
           % (name, addr, subject, n, n))
    env.import_(env.write("m%d.eml" % n, eml.encode("utf-8")))


def test_queue_fits_the_terminal():
    """The queue's columns use the terminal's width (COLUMNS, or the pseudo-terminal's):
    names rather than addresses, tags and subjects whole when they fit, cut with an ellipsis
    by display width when not, never inside a UTF-8 character."""
    env = Env(config=AGENTS)
    try:
        env.write("rules.yaml", "version: 1\nrules:\n  - name: k\n    match: {body: 'help'}\n"
                  "    tags: [complaint, escalation, kettle]\n")
        named(env, "山田太郎", "taro@example.jp", "電気ケトルが壊れました。返金をお願いします。"
              "三回目の連絡です。", 1)
        named(env, "", "nameless@example.com", LONG_SUBJECT, 2)
        named(env, "Zoë Łukasiewicz-Brontë", "zoe@example.com", "Kettle", 3)
        wide = env.tend("queue", env={"COLUMNS": "200"}).out
        check("complaint,escalation,kettle" in wide, wide)
        check(LONG_SUBJECT in wide, wide)
        check("山田太郎  " in wide and "taro@example.jp" not in wide, wide)
        check("nameless@example.com" in wide, "the address when there is no name: " + wide)
        eq(env.tend("queue").out, wide, "to a pipe nothing is cut")
        for cols in (60, 80, 100, 132):
            out = env.tend("queue", env={"COLUMNS": str(cols)}).out
            for line in out.splitlines():
                check(display_width(line) <= cols,
                      "%d columns: %r is %d wide" % (cols, line, display_width(line)))
            check("\u2026" in out, "something was cut at %d: %r" % (cols, out))
        rc, out, err = env.in_pty(["queue"], cols=90)
        eq(rc, 0, err)
        lines = out.replace("\r\n", "\n").splitlines()
        check(len(lines) == 4, lines)
        for line in lines:
            check(display_width(line) <= 90,
                  "pty 90: %r is %d wide" % (line, display_width(line)))
        check("\x1b[" in out, "colour on a terminal")
        rc, out, err = env.in_pty(["queue"], cols=200)
        check(LONG_SUBJECT in out and "complaint,escalation,kettle" in out, out)
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
