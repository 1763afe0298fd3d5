#!/usr/bin/python3
"""Review with the real binaries: `tend queue`, `show`, `edit`, `approve`, `reject`, `snooze`,
`assign` and `log`, on drafts that `tend import` made from the sample mail."""

import base64
import calendar
import email.utils
import json
import os
import pwd
import re
import time

import subprocess

from tendtest import SLOW, SRC, TEND, Env, check, eq, run, sample_mail

AGENTS = "store: store\nagents:\n  - {login: alice, name: Alice Smith}\n  - {login: bob}\n"
ALICE = {"TEND_AGENT": "alice"}
MSGID = re.compile(r"^tend\.(\d+)\.(\d+)\.[0-9a-f]{16}@[^@\s]+$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def os_user():
    return pwd.getpwuid(os.getuid()).pw_name


def imported(config=None):
    env = Env(config=config)
    env.import_(sample_mail())
    return env


def queue(env, *args):
    return env.json("queue", "--json", *args)


def draft(env, tid):
    return env.show(tid)["draft"]


def first_with(env, text):
    """The first thread in the queue whose draft body contains text."""
    for item in queue(env):
        if text in draft(env, item["thread"])["body"]:
            return item["thread"]
    raise AssertionError("no draft in the queue contains %r" % text)


def log(env, tid=None):
    return env.json("log", "--json", *([tid] if tid else []))


def actions(env, tid):
    return [e["action"] for e in log(env, tid)]


def follow_up(env, tid, name="follow-up.eml"):
    """Imports a message from the thread's customer replying to its latest message."""
    th = env.show(tid)
    last = th["messages"][-1]
    cust = th["customer"]
    eml = ("From: %s <%s>\nTo: support@shop.example\nSubject: Re: %s\n"
           "Date: Mon, 23 Nov 2026 23:59:00 +0000\nMessage-ID: <follow-up-%s@example.com>\n"
           "In-Reply-To: <%s>\nReferences: <%s>\n\nOne more thing: please hurry.\n"
           % (cust["name"], cust["email"], th["subject"], tid, last["message_id"],
              last["message_id"]))
    s = env.import_(env.write(name, eml))
    eq(s["stored"], 1, "follow-up stored")
    # Not `tend show`: showing the draft to an agent is what clears its stale mark.
    ids = [t["message_ids"] for t in env.threads() if t["id"] == tid]
    eq(len(ids[0]), len(th["messages"]) + 1, "follow-up joined the thread")


def test_queue_order_and_json():
    env = imported()
    try:
        q = queue(env)
        check(len(q) >= 5, "drafts in the queue: %r" % q)
        dues = [i["due"] for i in q]
        eq(dues, sorted(dues), "queue in deadline order")
        for i in q:
            for key in ("thread", "due", "priority", "tags", "customer", "subject", "stale",
                        "draft", "assignee", "snoozed_until"):
                check(key in i, "queue --json lacks %r: %r" % (key, i))
            check(RFC3339.match(i["due"]), "due is RFC 3339: %r" % i["due"])
            check(i["priority"] in ("low", "normal", "high", "urgent"), repr(i))
            check(set(i["customer"]) == {"name", "email"}, repr(i["customer"]))
            eq(i["stale"], False, "stale right after import")
        r = env.tend("queue")
        lines = r.out.splitlines()
        eq(lines[0].split(), ["ID", "DUE", "PRI", "TAGS", "CUSTOMER", "SUBJECT"], "header")
        eq([int(line.split()[0]) for line in lines[1:]], [i["thread"] for i in q], "order")
        check("\033[" not in r.out, "colour codes written to a pipe")
    finally:
        env.close()


def test_queue_limit():
    env = imported()
    try:
        q = queue(env)
        n = len(q)
        check(n >= 5, "drafts in the queue: %d" % n)
        lines = env.tend("queue", "--limit", "2").out.splitlines()
        eq([int(line.split()[0]) for line in lines[1:3]], [i["thread"] for i in q[:2]],
           "the two most urgent")
        eq(lines[3:], ["(%d more after these 2: `tend queue --limit 0` lists them all.)"
                       % (n - 2)], "what the limit left out")
        eq(len(env.tend("queue", "--limit", "0").out.splitlines()), n + 1, "--limit 0: all")
        eq(queue(env, "--limit", "1"), q[:1], "JSON with a limit")
        r = env.tend("queue", "--limit", "many", ok=False)
        eq(r.rc, 2, "exit status of a bad --limit")
        eq(r.err, "tend queue: --limit wants a number of drafts (0: all), not \"many\"\n"
           "usage: tend queue [--json] [--all] [--limit N] [--mine] [--assignee A] [--tag T]"
           " [--priority P]\n", "bad --limit")
    finally:
        env.close()


def complete(env, *words):
    """What contrib/completion/tend.bash offers after the words (the last one being typed)."""
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
              '_tend; printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "-c", script, "bash",
                        os.path.join(SRC, "contrib", "completion", "tend.bash"),
                        TEND, "-c", env.config] + list(words),
                       capture_output=True, text=True, check=True)
    return [w for w in p.stdout.split("\n") if w]


def test_completion():
    env = imported()
    try:
        eq(complete(env, "ap"), ["approve"], "a command")
        eq(complete(env, "queue", "--l"), ["--limit"], "an option")
        eq(sorted(complete(env, "approve", ""), key=int),
           sorted((str(i["thread"]) for i in queue(env, "--limit", "0")), key=int), "thread IDs")
        eq(complete(env, "no"), ["note"], "the note command")
        tid = str(queue(env)[0]["thread"])
        check(tid in complete(env, "note", ""), "note: thread IDs first")
        eq(complete(env, "note", tid, ""), [], "then the note's own words")
        eq(complete(env, "note", "--"), ["--as"], "its option")
    finally:
        env.close()


def test_empty_queue():
    env = Env()
    try:
        env.import_(os.path.join(sample_mail(), "12-out-of-office.eml"))
        eq(env.tend("queue").out, "Nothing to review.\n", "empty queue")
        eq(queue(env), [], "empty queue as JSON")
    finally:
        env.close()


def test_show_draft_contract():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        d = draft(env, tid)
        for key in ("state", "to", "cc", "subject", "body", "stale", "id", "parts", "edited",
                    "previous_body", "message_id", "approved_by", "error"):
            check(key in d, "show --json draft lacks %r: %r" % (key, d))
        eq(d["state"], "proposed", "state")
        check(d["to"] and set(d["to"][0]) == {"name", "email"}, repr(d["to"]))
        r = env.tend("show", "#%d" % tid)
        check("══ Draft: proposed" in r.out and "To: " in r.out and "Subject: " in r.out,
              r.out)
    finally:
        env.close()


def test_edit_saves_and_logs_diff():
    env = imported()
    try:
        tid = first_with(env, "Hello")
        before = draft(env, tid)["body"]
        r = env.tend("edit", tid, env=dict(ALICE, EDITOR="sed -i s/Hello/Hi/", VISUAL=""))
        eq(r.out, "Saved the draft of thread %d.\n" % tid, "edit output")
        d = draft(env, tid)
        eq(d["body"], before.replace("Hello", "Hi"), "saved body")
        eq(d["edited"], True, "edited")
        entry = [e for e in log(env, tid) if e["action"] == "edit"]
        eq(len(entry), 1, "edit entries")
        eq(entry[0]["agent"], "alice", "agent")
        eq(entry[0]["os_user"], os_user(), "os_user")
        check(entry[0]["detail"].startswith("--- before\n+++ after\n@@ "), entry[0]["detail"])
        check("\n-Hello" in entry[0]["detail"] and "\n+Hi" in entry[0]["detail"],
              entry[0]["detail"])
        out = env.tend("log", tid).out
        check("alice" in out and "  edit  " in out and "\n    -Hello" in out
              and "\n    +Hi" in out, out)
    finally:
        env.close()


def test_unchanged_edit_records_nothing():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        before = draft(env, tid)
        r = env.tend("edit", tid, env=dict(ALICE, EDITOR="true", VISUAL=""))
        eq(r.out, "No changes.\n", "output")
        eq(draft(env, tid), before, "draft")
        check("edit" not in actions(env, tid), "an unchanged edit was logged")
    finally:
        env.close()


def test_emptying_editor_aborts():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        before = draft(env, tid)
        r = env.tend("edit", tid, rc=1, env=dict(ALICE, EDITOR="truncate -s 0", VISUAL=""))
        eq(r.err, "tend: empty draft: edit aborted; the draft is unchanged\n", "stderr")
        eq(draft(env, tid), before, "draft")
        check("edit" not in actions(env, tid), "an aborted edit was logged")
    finally:
        env.close()


def test_failing_editor_saves_nothing():
    env = imported()
    try:
        tid = first_with(env, "Hello")
        before = draft(env, tid)
        ed = 'sed -i s/Hello/Hi/ "$1"; exit 1; :'
        tmp = env.path("tmp")
        os.mkdir(tmp)
        r = env.tend("edit", tid, rc=1, env=dict(ALICE, EDITOR=ed, VISUAL="", TMPDIR=tmp))
        kept = [os.path.join(tmp, f) for f in os.listdir(tmp)]
        eq(len(kept), 1, "the agent's text is kept")
        eq(r.err, "tend: the editor (%s) exited with status 1: nothing was saved (your text "
           "is in %s)\n" % (ed, kept[0]), "stderr")
        eq(os.stat(kept[0]).st_mode & 0o777, 0o600, "the kept file is private")
        check(before["body"].replace("Hello", "Hi") in open(kept[0]).read(), "the text kept")
        eq(draft(env, tid), before, "draft")
        # $VISUAL comes before $EDITOR.
        env.tend("edit", tid, env=dict(ALICE, EDITOR="false", VISUAL="sed -i s/Hello/Hi/"))
        check("Hi" in draft(env, tid)["body"], "VISUAL was not used")
    finally:
        env.close()


def test_approve():
    env = imported(AGENTS)
    try:
        item = queue(env, )[0]
        tid = item["thread"]
        check("{{agent.name}}" in draft(env, tid)["body"], "the draft has no signature")
        before = draft(env, tid)
        to, ncc = before["to"][0], len(before["cc"])
        r = env.tend("approve", tid, env=ALICE)
        count = "1 recipient" if ncc == 0 else "%d recipients: 1 in To, %d in Cc" % (
            1 + ncc, ncc)
        eq(r.out, "Approved thread %d: the reply to %s <%s> is queued for sending (%s).\n"
           % (tid, to["name"], to["email"], count), "approve output")
        check(tid not in [i["thread"] for i in queue(env)], "approved draft still queued")
        d = draft(env, tid)
        eq(d["state"], "approved", "state")
        eq(d["approved_by"], "alice", "approved_by")
        m = MSGID.match(d["message_id"] or "")
        check(m and int(m.group(1)) == tid and int(m.group(2)) == d["id"], d["message_id"])
        check("{{agent.name}}" not in d["body"] and "Alice Smith" in d["body"], d["body"])
        out = env.tend("show", tid).out
        check("══ Draft: approved by alice" in out, out)
        check("Message-ID: <%s>" % d["message_id"] in out, out)
        r = env.tend("approve", tid, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d: the draft was approved by alice and is waiting to be sent; "
           "there is nothing to approve\n" % tid, "second approval")
        eq(draft(env, tid)["message_id"], d["message_id"], "Message-ID kept")
        eq(actions(env, tid).count("approve"), 1, "approvals logged")
    finally:
        env.close()


def test_second_person_rule():
    env = imported(AGENTS + "review: {require_second_person: true}\n")
    try:
        tid = first_with(env, "Hello")
        env.tend("edit", tid, env=dict(ALICE, EDITOR="sed -i s/Hello/Hi/", VISUAL=""))
        r = env.tend("approve", tid, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d: alice made the last edit to this draft, and tend.yaml "
           "(review: require_second_person) asks for someone else to approve it\n" % tid,
           "four eyes")
        # Another agent is not another person: bob, run by the same OS user, is refused too
        # (tests/hostile.py has a second OS user approve).
        r = env.tend("--as", "bob", "approve", tid, rc=1)
        check("OS user %s made the last edit to this draft (as agent alice)" % os_user()
              in r.err, r.err)
        eq(draft(env, tid)["state"], "proposed", "not approved")
    finally:
        env.close()


def test_reject_reason_in_log():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        r = env.tend("reject", tid, rc=2, env=ALICE)
        check("--reason" in r.err, r.err)
        rejected = draft(env, tid)["id"]
        r = env.tend("reject", tid, "--reason", "answered by phone", env=ALICE)
        eq(r.out, "Rejected the draft of thread %d: the draft is empty now; write the reply "
           "with `tend edit %d`.\n" % (tid, tid), "output")
        eq([i["draft"] for i in queue(env) if i["thread"] == tid], [draft(env, tid)["id"]],
           "an empty draft in the queue instead")
        check(rejected != draft(env, tid)["id"], "the rejected draft is gone")
        entry = [e for e in log(env, tid) if e["action"] == "reject"]
        eq([e["detail"] for e in entry], ["answered by phone"], "reason logged")
        out = env.tend("log").out
        check(re.search(r"  reject +#%d +answered by phone\n" % tid, out), out)
        r = env.tend("approve", tid, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d: the draft is empty: write the reply with `tend edit %d`\n"
           % (tid, tid), "approve after reject")
    finally:
        env.close()


def test_agents_list_refuses_unknown_agent():
    env = imported(AGENTS)
    try:
        tid = queue(env)[0]["thread"]
        want = 'tend: agent "bob2" is not listed in agents in %s\n' % env.config
        eq(env.tend("--as", "bob2", "approve", tid, rc=1).err, want, "global --as")
        eq(env.tend("approve", "--as", "bob2", tid, rc=1).err, want, "command --as")
        eq(env.tend("approve", tid, rc=1, env={"TEND_AGENT": "bob2"}).err, want, "TEND_AGENT")
        eq(env.tend("assign", tid, "bob2", rc=1, env=ALICE).err, want, "assign")
        eq(draft(env, tid)["state"], "proposed", "nothing approved")
        env.tend("assign", tid, "bob", env=ALICE)
        eq(queue(env)[0]["assignee"], "bob", "assignee")
        check(re.search(r"\[(.*, )?@bob[],]", env.tend("queue").out), "assignee mark")
        env.tend("assign", tid, "-", env=ALICE)
        eq(queue(env)[0]["assignee"], None, "assignment cleared")
    finally:
        env.close()


def test_stale_draft_needs_show():
    env = imported()
    try:
        tid = first_with(env, "Hello")
        env.tend("edit", tid, env=dict(ALICE, EDITOR="sed -i s/Hello/Howdy/", VISUAL=""))
        follow_up(env, tid)
        item = [i for i in queue(env) if i["thread"] == tid]
        eq(len(item), 1, "stale draft queued")
        eq(item[0]["stale"], True, "stale in the queue")
        check(re.search(r"\[(.*, )?new message[],]", env.tend("queue").out), "stale mark")
        r = env.tend("approve", tid, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d: the customer wrote again after this draft was made; run "
           "`tend show %d` first\n" % (tid, tid), "stale approval")
        out = env.tend("show", tid, env=ALICE).out
        check("The customer wrote again after this draft was made: read the new message "
              "above; the draft was rewritten." in out, out)
        check("Your earlier edit, from before the customer wrote again:\n    Howdy" in out, out)
        eq([i["stale"] for i in queue(env) if i["thread"] == tid], [False], "stale after show")
        check("show" in actions(env, tid), "show logged")
        env.tend("approve", tid, env=ALICE)
        eq(draft(env, tid)["state"], "approved", "approved after show")
    finally:
        env.close()


def test_snooze():
    env = imported()
    try:
        item = queue(env)[0]
        tid = item["thread"]
        r = env.tend("snooze", tid, "2h", env=ALICE)
        check(r.out.startswith("Snoozed thread %d until " % tid), r.out)
        check(tid not in [i["thread"] for i in queue(env)], "snoozed draft listed")
        hidden = [i for i in queue(env, "--all") if i["thread"] == tid]
        eq(len(hidden), 1, "--all lists it")
        eq(hidden[0]["due"], item["due"], "deadline unchanged")
        check(RFC3339.match(hidden[0]["snoozed_until"] or ""), repr(hidden[0]))
        check("snoozed draft not shown" in env.tend("queue").out, "hint")
        eq(env.tend("snooze", tid, "soon", rc=2).rc, 2, "bad duration")
        env.tend("snooze", tid, "0", env=ALICE)
        check(tid in [i["thread"] for i in queue(env)], "back in the queue")
        eq(actions(env, tid).count("snooze"), 2, "snoozes logged")
    finally:
        env.close()


def test_log_names_os_user():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        env.tend("--as", "somebody", "assign", tid, "somebody")
        e = [e for e in log(env) if e["action"] == "assign"]
        eq(len(e), 1, "assign entries")
        for key in ("time", "agent", "os_user", "action", "thread", "draft", "detail"):
            check(key in e[0], "log --json lacks %r" % key)
        eq((e[0]["agent"], e[0]["os_user"], e[0]["thread"]), ("somebody", os_user(), tid),
           "who")
        check("somebody (as %s)" % os_user() in env.tend("log", tid).out, "human log")
        eq(env.tend("log", "999", rc=1).err, "tend: no thread 999\n", "unknown thread")
    finally:
        env.close()


def test_usage_errors():
    env = imported()
    try:
        for args in (["approve"], ["approve", "abc"], ["approve", "1", "2"], ["edit"],
                     ["snooze", "1"], ["assign", "1"], ["queue", "extra"], ["log", "x"],
                     ["approve", "--json", "1"], ["show", "--reason", "x", "1"]):
            r = env.tend(*args, rc=2)
            check(r.err.startswith("tend "), "%r: %r" % (args, r.err))
        eq(env.tend("approve", "999", rc=1, env=ALICE).err, "tend: no thread 999\n", "no thread")
    finally:
        env.close()


def test_no_store_is_not_created():
    env = Env()
    try:
        r = env.tend("approve", "1", rc=1, env=ALICE)
        check("no store at" in r.err, r.err)
        check(not os.path.exists(env.store), "approve created a store")
    finally:
        env.close()


def customer_writes_later(env, tid, msgid, text, seconds):
    """A follow-up from the thread's customer, arriving seconds from now."""
    th = env.show(tid)
    cust = th["customer"]
    eml = ("From: %s <%s>\nTo: support@shop.example\nSubject: Re: %s\nDate: %s\n"
           "Message-ID: <%s>\nIn-Reply-To: <%s>\n\n%s\n"
           % (cust["name"], cust["email"], th["subject"],
              email.utils.formatdate(time.time() + seconds), msgid,
              th["messages"][0]["message_id"], text))
    eq(env.import_(env.write(msgid + ".eml", eml))["stored"], 1, "follow-up stored")


def test_note():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        r = env.tend("note", tid, "Called", "her:", "she wants NOTE-4471", env=ALICE)
        eq(r.out, "Added an internal note to thread %d (never sent to the customer).\n" % tid,
           "note output")
        customer_writes_later(env, tid, "later-%d@example.com" % tid, "Any news on this?",
                              seconds=1)
        time.sleep(2)  # the second note is written after the customer's follow-up arrived
        env.tend("note", tid, env=dict(ALICE, EDITOR="sed -i '1i From the editor: NOTE-4472'",
                                       VISUAL=""))
        out = env.tend("show", tid).out
        heads = re.findall(r"^── \d+ ── (.*)$", out, re.M)
        eq(len(heads), 4, "entries: %r" % heads)
        check(heads[1].startswith("Internal note by alice · ") and
              heads[1].endswith(" (never sent)"), heads[1])
        check(heads[3].startswith("Internal note by alice · "), heads[3])
        check(re.search(r"\(never sent\)\n\nCalled her: she wants NOTE-4471\n", out), out)
        check("\n\nFrom the editor: NOTE-4472\n" in out, out)
        check(out.index("NOTE-4471") < out.index("Any news on this?") < out.index("NOTE-4472"),
              "time order: %s" % out)
        show = env.show(tid)
        eq([e["kind"] for e in show["conversation"]], ["customer", "note", "customer", "note"],
           "conversation kinds")
        note = show["conversation"][1]
        eq((note["agent"], note["os_user"], note["body"]),
           ("alice", os_user(), "Called her: she wants NOTE-4471"), "the note in JSON")
        check(RFC3339.match(note["time"]), note["time"])
        eq(show["conversation"][0]["message_id"], show["messages"][0]["message_id"],
           "a customer entry names its message")
        eq(len(show["messages"]), 2, "notes are not messages")
        check("NOTE-447" not in show["draft"]["body"], "a note in the draft")
        notes = [e for e in log(env, tid) if e["action"] == "note"]
        eq([(e["agent"], e["detail"]) for e in notes],
           [("alice", "Called her: she wants NOTE-4471"),
            ("alice", "From the editor: NOTE-4472")], "audited")
        check(re.search(r"  note +#%d +Called her: she wants NOTE-4471\n" % tid,
                        env.tend("log", tid).out), env.tend("log", tid).out)
        eq(env.tend("note", rc=2).err,
           "tend note: expected a thread ID\nusage: tend note [--as AGENT] ID [TEXT...]\n",
           "no ID")
        eq(env.tend("note", "x", "y", rc=2).err.splitlines()[0],
           "tend note: \"x\" is not a thread ID", "bad ID")
        eq(env.tend("note", "999", "hi", rc=1, env=ALICE).err, "tend: no thread 999\n",
           "no thread")
        eq(env.tend("note", tid, " ", rc=1, env=ALICE).err,
           "tend: empty note: nothing was saved\n", "blank")
        eq(env.tend("note", tid, rc=1, env=dict(ALICE, EDITOR="true", VISUAL="")).err,
           "tend: empty note: nothing was saved\n", "nothing written in the editor")
        eq(len(env.show(tid)["conversation"]), 4, "refused notes saved nothing")
    finally:
        env.close()


SHOP = ("store: store\naccounts:\n  - name: support\n    address: support@shop.example\n"
        "agents:\n  - {login: alice, name: Alice Smith}\n")


def test_reply_from_another_mail_program():
    env = imported(SHOP)
    try:
        tid = queue(env)[0]["thread"]
        first = env.show(tid)["messages"][0]
        reply = ("From: Shop Support <support@shop.example>\nTo: %s\nSubject: Re: %s\n"
                 "Date: %s\nMessage-ID: <phone-1@shop.example>\nIn-Reply-To: <%s>\n\n"
                 "As promised on the phone: the refund of 45 GBP went out today.\n"
                 % (first["from"]["email"], first["subject"],
                    email.utils.formatdate(time.time() + 60), first["message_id"]))
        env.json("import", "--json", "--sent", env.write("sent.eml", reply))
        eq([t["state"] for t in env.threads() if t["id"] == tid], ["answered"],
           "our reply from the Sent folder answers")
        eq(env.json("stats", "--json")["total"]["answered"], 1, "and counts as answered")
        show = env.show(tid)
        eq([e["kind"] for e in show["conversation"]], ["customer", "ours"], "kinds")
        check("refund of 45 GBP" in show["conversation"][1]["body"], show["conversation"][1])
        out = env.tend("show", tid).out
        check("\n── 2 ── Our reply, written outside tend: Shop Support <support@shop.example>"
              in out, out)
        check("the refund of 45 GBP went out today" in out, out)
    finally:
        env.close()


def test_outbox_json_has_bodies():
    env = imported(AGENTS)
    try:
        tid = queue(env)[0]["thread"]
        env.tend("approve", tid, env=ALICE)
        body = draft(env, tid)["body"]
        items = [o for o in env.json("outbox", "--json") if o["thread"] == tid]
        eq([(o["kind"], o["body"]) for o in items], [("reply", body)], "outbox --json")
        check("Alice Smith" in body, body)
    finally:
        env.close()


def call_me(env, msgid, age):
    """A customer (one per msgid) asking for a call, written age seconds ago; imported."""
    eml = ("From: Anna Meier <%s>\nTo: support@shop.example\n"
           "Subject: Please call me\nMessage-ID: <%s>\nDate: %s\n\nPlease call me back.\n"
           % (msgid.replace("@", ".at@"), msgid, email.utils.formatdate(time.time() - age)))
    env.import_(env.write(msgid + ".eml", eml))
    return [t["id"] for t in env.threads() if "%s" % msgid in t["message_ids"]][0]


def test_no_deadline_in_the_past():
    """{{deadline}} is empty once it has passed (its default shows), and a draft made while
    it was ahead cannot be approved still promising it once it has gone."""
    env = Env(config=AGENTS)
    try:
        env.write("templates/call.txt", "We will call you by {{deadline|as soon as we can}}.\n")
        env.write("rules.yaml", "version: 1\nsla: {urgent: 5m, high: 5m, normal: 5m, low: 5m}\n"
                  "rules:\n  - name: call\n    match: {body: '(?i)call me'}\n"
                  "    template: call\n")
        t0 = time.monotonic()
        old = call_me(env, "old@example.com", 3 * 86400)
        took = time.monotonic() - t0
        body = draft(env, old)["body"]
        check("We will call you by as soon as we can." in body, body)
        # five minutes to answer, most of them gone: the draft names a time a few seconds
        # ahead, as many as importing must have to make the draft before that time (the
        # first import took `took`); then the test waits for that time to pass
        ahead = round(3 * SLOW + 4 * took)
        tid = call_me(env, "new@example.com", 300 - ahead)
        body = draft(env, tid)["body"]
        check("as soon as we can" not in body, "a time ahead is promised: %r" % body)
        promised = re.search(r"We will call you by (.*)\.", body).group(1)
        deadline = calendar.timegm(time.strptime(env.show(tid)["deadline"],
                                                 "%Y-%m-%dT%H:%M:%SZ"))
        time.sleep(max(0, deadline - time.time()) + 1)
        out = env.tend("show", tid).out
        check('The draft promises "%s", a time that has passed: change it with `tend edit %d`.'
              % (promised, tid) in out, out)
        r = env.tend("approve", tid, rc=1, env=ALICE)
        eq(r.err, 'tend: thread %d: the draft promises "%s", a time that has passed: change '
           "it with `tend edit %d`\n" % (tid, promised, tid), "approval refused")
        env.tend("edit", tid, env=dict(ALICE, VISUAL="",
                                       EDITOR="sed -i 's/by %s/today/'" % promised))
        env.tend("approve", tid, env=ALICE)
        eq(draft(env, tid)["state"], "approved", "approved once the text is changed")
    finally:
        env.close()


FORM = bytes(range(256)) * 3


def mail_with_files():
    """A customer's message with a PDF (base64) and a text file (plain) attached."""
    return ("From: Anna Meier <anna@example.com>\r\nTo: support@shop.example\r\n"
            "Subject: My return form\r\nMessage-ID: <form1@example.com>\r\n"
            "Date: Mon, 30 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
            "Content-Type: text/plain\r\n\r\nHere is the form.\r\n--XX\r\n"
            "Content-Type: application/pdf\r\n"
            "Content-Disposition: attachment; filename=\"form.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" +
            base64.encodebytes(FORM).decode().replace("\n", "\r\n") +
            "--XX\r\nContent-Type: text/plain; name=notes.txt\r\n"
            "Content-Disposition: attachment; filename=notes.txt\r\n\r\n"
            "order 10460\r\n--XX--\r\n").encode()


def test_message_attachments():
    """`tend show` numbers a message's attachments; `tend attachment MSG N` writes one to a
    pipe, to a file (never over one without --force) or into a directory under its name."""
    env = Env(config=AGENTS)
    try:
        env.write("in/form.eml", mail_with_files())
        env.import_(env.path("in/form.eml"))
        show = env.tend("show", 1).out
        check("Attachment 1: form.pdf (application/pdf, 768 bytes): tend attachment 1 1\n"
              in show, "tend show: %r" % show)
        check("Attachment 2: notes.txt (text/plain, 11 bytes): tend attachment 1 2\n" in show,
              "tend show: %r" % show)
        p = subprocess.run([TEND, "-c", env.config, "attachment", "1", "1"],
                           capture_output=True, check=True)
        eq(p.stdout, FORM, "tend attachment 1 1 | ...")
        out = env.tend("attachment", "1", "1", "-o", env.path("saved.pdf")).out
        eq(out, "Wrote 768 bytes to %s.\n" % env.path("saved.pdf"), "-o FILE")
        with open(env.path("saved.pdf"), "rb") as f:
            eq(f.read(), FORM, "the file written")
        again = env.tend("attachment", "1", "2", "-o", env.path("saved.pdf"), rc=1)
        check("saved.pdf exists: nothing was written (--force replaces it)" in again.err,
              "no overwrite: %r" % again)
        env.tend("attachment", "1", "2", "-o", env.path("saved.pdf"), "--force")
        with open(env.path("saved.pdf"), "rb") as f:
            eq(f.read(), b"order 10460", "--force replaced it")
        os.mkdir(env.path("dir"))
        env.tend("attachment", "1", "1", "-o", env.path("dir"))
        eq(os.listdir(env.path("dir")), ["form.pdf"], "-o DIR: under its own name")
        r = env.tend("attachment", "1", "3", rc=1)
        eq(r.err, "tend: message 1 has no attachment 3 (it has 2)\n", "no such attachment")
    finally:
        env.close()


def test_big_message_attachments():
    """A message of 2 MB, kept in a file of its own in the store's blobs/ (not in data.mdb):
    `tend show` lists its attachment, `tend attachment` writes it byte for byte, `tend raw`
    prints the message as it came, and `tend search --reindex` finds its words."""
    env = Env(config=AGENTS)
    try:
        log = bytes((i * 7 + i // 251) % 256 for i in range(1500 * 1000))
        eml = ("From: Kim Lee <kim.lee@example.com>\r\nTo: support@shop.example\r\n"
               "Subject: The whole log\r\nMessage-ID: <biglog@example.com>\r\n"
               "Date: Mon, 30 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
               "Content-Type: text/plain\r\n\r\nThe app crashes, quokkaword, log attached.\r\n"
               "--XX\r\nContent-Type: application/octet-stream; name=app.log\r\n"
               "Content-Disposition: attachment; filename=app.log\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\n" +
               base64.encodebytes(log).decode().replace("\n", "\r\n") +
               "--XX--\r\n").encode()
        env.write("in/big.eml", eml)
        env.import_(env.path("in/big.eml"))
        blobs = os.listdir(os.path.join(env.store, "blobs"))
        eq(len(blobs), 1, "files in blobs/")
        check(os.path.getsize(os.path.join(env.store, "data.mdb")) < len(eml),
              "the message is not in data.mdb")
        show = env.tend("show", 1).out
        check("Attachment 1: app.log (application/octet-stream, 1500000 bytes): "
              "tend attachment 1 1\n" in show, "tend show: %r" % show)
        p = subprocess.run([TEND, "-c", env.config, "attachment", "1", "1"],
                           capture_output=True, check=True)
        eq(p.stdout, log, "tend attachment 1 1 | ...")
        eq(env.raw(1), eml, "tend raw 1")
        r = env.tend("search", "--reindex", "--json", "quokkaword")
        eq([h["subject"] for h in json.loads(r.out)], ["The whole log"], "search --reindex")
    finally:
        env.close()


def test_draft_attach_detach():
    """`tend attach` adds files to the draft (shown, numbered, audited), `tend detach` removes
    one; a draft's files together stay under limits.attachments."""
    env = imported(config=AGENTS + "limits:\n  attachments: 1K\n")
    try:
        tid = queue(env)[0]["thread"]
        env.write("a.pdf", b"%PDF" + bytes(600))
        env.write("b.txt", "hello\n")
        env.write("big.bin", bytes(500))
        out = env.tend("attach", tid, env.path("a.pdf"), env.path("b.txt"), env=ALICE).out
        eq(out, "Attached 2 files to the draft of thread %d (`tend show %d` lists them).\n"
           % (tid, tid), "tend attach")
        show = env.tend("show", tid).out
        check("Attachment 1: a.pdf (application/pdf, 604 bytes)\n"
              "Attachment 2: b.txt (text/plain, 6 bytes)\n" in show, "tend show: %r" % show)
        r = env.tend("attach", tid, env.path("big.bin"), env=ALICE, rc=1)
        eq(r.err, "tend: cannot attach big.bin: the draft's attachments would come to 1110 "
           "bytes, more than the 1024 allowed (limits.attachments in tend.yaml); nothing was "
           "attached\n", "over the limit")
        r = env.tend("attach", tid, env.path("missing.pdf"), env=ALICE, rc=1)
        check("cannot attach %s: No such file or directory; nothing was attached"
              % env.path("missing.pdf") in r.err, "a missing file: %r" % r)
        r = env.tend("attach", tid, env.path("."), env=ALICE, rc=1)
        check("not a regular file" in r.err, "a directory: %r" % r)
        eq(len(draft(env, tid)["attachments"]), 2, "nothing attached by a refusal")
        env.tend("detach", tid, "1", env=ALICE)
        eq([a["filename"] for a in draft(env, tid)["attachments"]], ["b.txt"], "after detach")
        r = env.tend("detach", tid, "2", env=ALICE, rc=1)
        eq(r.err, "tend: thread %d: the draft has no attachment 2 (it has 1)\n" % tid,
           "detach a number not there")
        eq([a for a in actions(env, tid) if a in ("attach", "detach")],
           ["attach", "attach", "detach"], "audit trail")
        env.tend("attach", tid, env.path("big.bin"), env=ALICE)
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
