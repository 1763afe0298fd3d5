#!/usr/bin/python3
"""Approval that cannot misfire, with the real binaries: the refusals (what is left in the text,
bounced and too many recipients live in tests/test_review.c and tests/daemon_send.py), strict
thread IDs, the preview and its question on a terminal (a pseudo-terminal typing the answer),
and the undo window (`tend undo`, `tend outbox`). Sending after the window is in
tests/daemon_send.py."""

import time

from cli_review import draft, first_with
from tendtest import TEND, Env, check, eq, on_terminal, run, sample_mail

ACCOUNT = ("accounts:\n  - name: support\n    address: support@shop.example\n"
           "    from_name: Shop Support\n    smtp:\n      url: smtp://localhost:1\n")
AGENTS = "agents:\n  - {login: alice, name: Alice Smith}\n"
ALICE = {"TEND_AGENT": "alice"}


def imported(review=""):
    env = Env(config="store: store\n" + ACCOUNT + AGENTS + review)
    env.import_(sample_mail())
    return env


def queue(env):
    return env.json("queue", "--json", "--all")


def set_body(env, tid, body):
    """Writes body between the recipients and the scissors line with `tend edit`, as an
    agent's editor would."""
    env.write("body.txt", body)
    script = env.write("editor.py", (
        "import sys\n"
        "new = open(%r).read()\n"
        "f = sys.argv[1]\n"
        "old = open(f).read()\n"
        "head = old[:old.find('\\n\\n') + 2]\n"
        "cut = old.find('# ------------------------ >8')\n"
        "open(f, 'w').write(head + new + '\\n' + (old[cut:] if cut >= 0 else ''))\n"
        % env.path("body.txt")))
    env.tend("edit", tid, env=dict(ALICE, VISUAL="", EDITOR="python3 " + script))


def approve_on_terminal(env, args, answer):
    """tend ARGS on a pseudo-terminal, typing answer when asked: (status, shown, stderr)."""
    rc, shown, err = on_terminal([TEND, "-c", env.config] + [str(a) for a in args], answer,
                                 env=ALICE)
    return rc, shown.decode("utf-8", "replace").replace("\r\n", "\n"), err.decode()


# ---- refusals ----

def test_refuses_marker_with_line():
    env = imported()
    try:
        tid = first_with(env, "{{agent.name}}")
        set_body(env, tid, "Dear {{customer.first_name}},\n\nIt costs \u00a3{{price}}.\n")
        r = env.tend("approve", tid, env=ALICE, rc=1)
        eq(r.err, "tend: thread %d: line 1 of the draft still holds the template marker "
           "\"{{customer.first_name}}\": write the text in its place with `tend edit %d`\n"
           % (tid, tid), "refusal")
        eq(draft(env, tid)["state"], "proposed", "nothing changed")
        eq(env.json("outbox", "--json"), [], "nothing in the outbox")
        set_body(env, tid, "Dear Anna,\n\nThe repair is [CHECK PRICE WITH WORKSHOP].\n\n"
                 "Best,\n{{agent.name}}\n")
        r = env.tend("approve", tid, env=ALICE, rc=1)
        eq(r.err, "tend: thread %d: line 3 of the draft still holds \"[CHECK PRICE WITH "
           "WORKSHOP]\", a placeholder (review.placeholders in tend.yaml): replace it with "
           "`tend edit %d`\n" % (tid, tid), "placeholder")
        set_body(env, tid, "Dear Anna,\n\nThe repair is 80 EUR.\n\nBest,\n{{agent.name}}\n")
        env.tend("approve", tid, env=ALICE)
        check("Alice Smith" in draft(env, tid)["body"], "signed")
    finally:
        env.close()


def test_placeholders_configured():
    env = imported("review:\n  placeholders: ['\\bTBD\\b', 'X{3,}']\n")
    try:
        tid = first_with(env, "{{agent.name}}")
        set_body(env, tid, "Hi,\n\nShipping on TBD.\n")
        r = env.tend("approve", tid, env=ALICE, rc=1)
        eq(r.err, "tend: thread %d: line 3 of the draft still holds \"TBD\", a placeholder "
           "(review.placeholders in tend.yaml): replace it with `tend edit %d`\n"
           % (tid, tid), "the operator's pattern")
        # the operator's list replaces the default one
        set_body(env, tid, "Hi,\n\n[CHECK PRICE] is our code for the workshop.\n")
        env.tend("approve", tid, env=ALICE)
    finally:
        env.close()


def test_placeholder_pattern_checked_at_load():
    env = Env(config="store: store\nreview:\n  placeholders: ['ok', '(unclosed']\n")
    try:
        r = env.tend("queue", rc=1)
        # (line 4: the test harness writes `undo: 0` under review:)
        eq(r.err, "%s:4:34: bad pattern in \"review\" \"placeholders\": missing closing "
           "parenthesis\n" % env.config, "the error names the place")
        env.write("tend.yaml", "store: store\nreview:\n  placeholders: 'x'\n")
        r = env.tend("queue", rc=1)
        check("placeholders" in r.err and "list" in r.err, r.err)
    finally:
        env.close()


# ---- thread IDs ----

BAD_IDS = ["5x", "x5", "+5", "-5", " 5", "5 ", "0", "", "#", "##5", "5.0", "0x5",
           "99999999999999999999999", "\u0665"]


def test_ids_strict():
    env = imported("review: {undo: 60}\n")
    try:
        tid = queue(env)[0]["thread"]
        commands = [["approve"], ["approve", "--yes"], ["undo"], ["edit"], ["show"],
                    ["reject", "--reason", "no"], ["resolve"], ["snooze", "1h"],
                    ["assign", "alice"], ["note", "a note"], ["redraft"], ["log"]]
        for cmd in commands:
            for bad in BAD_IDS + ["%d%s" % (tid, "x")]:
                args = cmd[:1] + [bad] + cmd[1:] if cmd[0] in ("snooze", "assign", "note") \
                    else cmd + [bad]
                r = env.tend(*args, env=ALICE, rc=2)
                check(any(w in r.err for w in ("is not a thread ID", "expected",
                                                "unknown option")),
                      "%r: %r" % (args, r.err))
        eq(draft(env, tid)["state"], "proposed", "nothing approved")
        # the queue prints "#12": that is accepted as the ID it is
        out = env.tend("approve", "#%d" % tid, env=ALICE).out
        check(out.startswith("Approved thread %d:" % tid), out)
        env.tend("undo", "#%d" % tid, env=ALICE)
    finally:
        env.close()


# ---- the preview ----

def test_preview_yes():
    env = imported("review: {undo: 0}\n")
    try:
        tid = first_with(env, "{{agent.name}}")
        d = draft(env, tid)
        rc, shown, err = approve_on_terminal(env, ["approve", tid], b"y\n")
        eq((rc, err), (0, ""), "status: %r" % shown)
        to = d["to"][0]
        check(shown.startswith("From: Shop Support <support@shop.example>\nTo: %s <%s>\n"
                               % (to["name"], to["email"]), ), shown)
        check("\nSubject: %s\n" % d["subject"] in shown, shown)
        body = d["body"].replace("{{agent.name}}", "Alice Smith")
        check("\n\n" + body.split("\n")[0] in shown, shown)
        check("Alice Smith" in shown and "{{agent.name}}" not in shown, shown)
        check("\nSend this reply? [y/N] y\n" in shown, shown)
        check("Approved thread %d:" % tid in shown, shown)
        eq(draft(env, tid)["state"], "approved", "approved")
    finally:
        env.close()


def test_preview_no_changes_nothing():
    env = imported()
    try:
        tid = first_with(env, "{{agent.name}}")
        before = env.show(tid)
        for answer in (b"n\n", b"\n", b"yes\n", b"\x1b[A\n", b"\x04"):
            rc, shown, err = approve_on_terminal(env, ["approve", tid], answer)
            eq(rc, 1, "status for %r" % answer)
            check("Send this reply? [y/N] " in shown, shown)
            check(shown.endswith("Not approved: nothing was changed.\n"), repr(shown[-200:]))
        eq(env.show(tid), before, "the thread is as it was")
        check("approve" not in [e["action"] for e in env.json("log", "--json", str(tid))],
              "nothing audited")
    finally:
        env.close()


def test_preview_refusal_before_preview():
    env = imported()
    try:
        tid = first_with(env, "{{agent.name}}")
        set_body(env, tid, "Hi {{name}}\n")
        rc, shown, err = approve_on_terminal(env, ["approve", tid], b"y\n")
        eq(rc, 1, "status")
        eq(shown, "", "nothing to read")
        check("template marker \"{{name}}\"" in err, err)
    finally:
        env.close()


def test_yes_skips_question():
    env = imported()
    try:
        tid = first_with(env, "{{agent.name}}")
        rc, shown, err = approve_on_terminal(env, ["approve", "--yes", tid], None)
        eq((rc, err), (0, ""), "status")
        check("Send this reply?" not in shown, shown)
        check(shown.startswith("Approved thread %d:" % tid), shown)
    finally:
        env.close()


# ---- the undo window ----

def test_undo_within_window():
    env = imported("review: {undo: 60}\n")
    try:
        q = queue(env)
        tid = first_with(env, "{{agent.name}}")
        before = env.show(tid)
        out = env.tend("approve", tid, env=ALICE).out
        check(" is sending in 60 s (" in out and "); `tend undo %d` to stop it.\n" % tid in out,
              out)
        box = [o for o in env.json("outbox", "--json") if o["thread"] == tid]
        eq(len(box), 1, "in the outbox")
        check(55 <= box[0]["undo_left"] <= 60, "time left: %r" % box[0])
        human = env.tend("outbox").out
        check("sending in " in human and "`tend undo %d` takes it back" % tid in human, human)
        out = env.tend("undo", tid, env=ALICE).out
        eq(out, "Took back the reply of thread %d: it was not sent, and the draft is in the "
           "queue again.\n" % tid, "undo")
        after = env.show(tid)
        eq(after["draft"]["body"], before["draft"]["body"], "the text, unsigned")
        eq(after["draft"]["state"], "proposed", "state")
        eq(queue(env), q, "the queue as it was")
        eq([o for o in env.json("outbox", "--json") if o["thread"] == tid], [], "outbox")
        log = env.json("log", "--json", str(tid))
        eq([e["action"] for e in log][-2:], ["approve", "undo"], "audited")
        r = env.tend("undo", tid, env=ALICE, rc=1)
        eq(r.err, "tend: thread %d: the draft is not approved; there is nothing to take back\n"
           % tid, "twice")
    finally:
        env.close()


def test_undo_after_window():
    env = imported("review: {undo: 1}\n")
    try:
        tid = first_with(env, "{{agent.name}}")
        env.tend("approve", tid, env=ALICE)
        time.sleep(2.2)
        r = env.tend("undo", tid, env=ALICE, rc=1)
        check(r.err.startswith("tend: thread %d: the undo window closed " % tid) and
              r.err.endswith("s ago; the reply is being sent (see `tend outbox`)\n"), r.err)
        eq(draft(env, tid)["state"], "approved", "still on its way")
    finally:
        env.close()


def test_undo_zero():
    env = imported("review: {undo: 0}\n")
    try:
        tid = first_with(env, "{{agent.name}}")
        out = env.tend("approve", tid, env=ALICE).out
        check(" is queued for sending (" in out and "undo" not in out, out)
        eq(env.json("outbox", "--json")[0]["undo_left"], 0, "no window")
        r = env.tend("undo", tid, env=ALICE, rc=1)
        eq(r.err, "tend: thread %d: the reply was approved without an undo window "
           "(review.undo is 0); it is being sent (see `tend outbox`)\n" % tid, "undo")
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
