#!/usr/bin/python3
"""Changing a draft (issue 17). The file `tend edit` opens: the To: and Cc: lines above the
text, checked as the sender checks them, and the reply goes where the agent said (read back
from a real SMTP server); a refused save, or an editor that fails, keeps the agent's file.
`tend draft ID --add TEMPLATE / --remove N`: a part by hand."""

import os

from daemon_send import CUSTOMER, first_draft, only_message, rig
from tendtest import Env, check, eq, run, sample_mail

ALICE = {"TEND_AGENT": "alice"}
SHOP = ("store: store\naccounts:\n  - name: support\n    address: support@shop.example\n"
        "review:\n  max_recipients: 3\n")


def edit(env, tid, python, rc=0):
    """`tend edit` as alice with an editor that runs python on the file's text s and writes s
    back; returns (the result, the files left in $TMPDIR)."""
    ed = env.write("ed.sh", "#!/bin/sh\n/usr/bin/python3 - \"$1\" <<'EOF'\nimport sys\n"
                   "p = sys.argv[1]\ns = open(p).read()\n%s\nopen(p, 'w').write(s)\nEOF\n"
                   % python)
    os.chmod(ed, 0o755)
    tmp = env.path("tmp")
    os.makedirs(tmp, exist_ok=True)
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    r = env.tend("edit", tid, rc=rc, env=dict(ALICE, EDITOR=ed, VISUAL="", TMPDIR=tmp))
    return r, [os.path.join(tmp, f) for f in os.listdir(tmp)]


def set_line(field, value):
    """Python for edit(): the field's line (To or Cc) becomes value."""
    return ("import re\ns = re.sub(r'(?m)^%s:.*$', lambda m: %r, s, count=1)"
            % (field, "%s: %s" % (field, value)))


def sample(config=SHOP):
    env = Env(config=config)
    env.import_(sample_mail())
    return env, env.json("queue", "--json")[0]["thread"]


def addrs(d, field):
    return [(a["name"], a["email"]) for a in d[field]]


def test_file_starts_with_recipients():
    env, tid = sample()
    try:
        d = env.show(tid)["draft"]
        seen = env.path("seen.txt")
        r, kept = edit(env, tid, "open(%r, 'w').write(s)" % seen)
        eq((r.out, kept), ("No changes.\n", []), "left as it was")
        to = d["to"][0]
        head = "To: %s <%s>\nCc:\n\n" % (to["name"], to["email"])
        text = open(seen).read()
        eq(text[:len(head) + len(d["body"])], head + d["body"], "recipients, then the text")
    finally:
        env.close()


def test_recipients_saved_shown_and_logged():
    env, tid = sample()
    try:
        before = env.show(tid)["draft"]
        r, kept = edit(env, tid, set_line("Cc", '"Doe, Jane" <jane@example.org>,\n'
                                          '  bob@example.net'))
        eq((r.out, kept), ("Saved the draft of thread %d.\n" % tid, []), "saved")
        d = env.show(tid)["draft"]
        eq(addrs(d, "to"), addrs(before, "to"), "To unchanged")
        eq(addrs(d, "cc"), [("Doe, Jane", "jane@example.org"), (None, "bob@example.net")],
           "Cc")
        eq(d["body"], before["body"], "text unchanged")
        eq((before["recipients_by"], d["recipients_by"]), (None, "alice"), "set by hand")
        check("Cc: Doe, Jane <jane@example.org>, bob@example.net\nRecipients: 3\n"
              in env.tend("show", tid).out, "show")
        entry = [e for e in env.json("log", "--json", tid) if e["action"] == "edit"]
        check('\n-Cc:\n+Cc: "Doe, Jane" <jane@example.org>,\n+  bob@example.net\n'
              in entry[0]["detail"], entry)
        # the file shows them as saved, and leaving them alone changes nothing
        r, kept = edit(env, tid, "s = s.replace('Hello', 'Hi', 1)")
        eq(addrs(env.show(tid)["draft"], "cc"), addrs(d, "cc"), "Cc after a text edit")
    finally:
        env.close()


def test_bad_recipients_refused_and_file_kept():
    env, tid = sample()
    try:
        before = env.show(tid)["draft"]
        cases = [
            (set_line("Cc", "jane@"), 'Cc: "jane@" is not one email address (write '
             'local@domain, or a name and <local@domain>; a comma between addresses)'),
            (set_line("Cc", "jane@example.org bob@example.net"),
             'Cc: "jane@example.org bob@example.net" is not one email address (write '
             'local@domain, or a name and <local@domain>; a comma between addresses)'),
            (set_line("To", "Jane <jane@exa mple.org>"),
             'To: "Jane <jane@exa mple.org>" is not one email address (write local@domain, '
             'or a name and <local@domain>; a comma between addresses)'),
            (set_line("Cc", "jürgen@example.org"),
             'Cc: "jürgen@example.org" is not a plain email address (local@domain)'),
            (set_line("Cc", "Support <support@shop.example>"),
             'Cc: "support@shop.example" is our own address'),
            (set_line("Cc", "a@example.org, b@example.org, c@example.org"),
             "the reply would go to 4 addresses, more than review.max_recipients (3) in "
             "tend.yaml allows"),
            (set_line("To", "") + "\n" + set_line("Cc", ""),
             "the reply has no recipient: name one in To: or Cc:"),
        ]
        for python, why in cases:
            r, kept = edit(env, tid, "s = s.replace('Hello', 'Hi', 1)\n" + python, rc=1)
            eq(len(kept), 1, "the file is kept: %s" % why)
            eq(r.err, "tend: %s; nothing was saved (your text is in %s)\n" % (why, kept[0]),
               "stderr")
            check("Hi" in open(kept[0]).read(), "the agent's text is in the file")
            eq(os.stat(kept[0]).st_mode & 0o777, 0o600, "private")
            eq(env.show(tid)["draft"], before, "the draft is unchanged: %s" % why)
    finally:
        env.close()


def test_a_long_bad_line_is_cut_at_a_character():
    """The refused line is quoted cut after 60 bytes: never inside a UTF-8 character, which
    would show as an escape ("\\xe6") in the message."""
    env, tid = sample()
    try:
        line = "X-Note: " + "電気ケトル" * 6  # byte 60 falls inside the 18th character
        r, kept = edit(env, tid, "s = %r + '\\n' + s\n" % line, rc=1)
        eq(r.err, 'tend: line 1, "%s...", is not a To: or Cc: line: only the recipients can be '
           "changed there; nothing was saved (your text is in %s)\n" % (line[:8 + 17], kept[0]),
           "stderr")
    finally:
        env.close()


def test_block_then_blank_line_then_text():
    """A blank line ends the recipients; a file without them saves nothing. (Lines that try
    to add a header are in hostile.py.)"""
    env, tid = sample()
    try:
        before = env.show(tid)["draft"]
        cases = [
            ("s = s.replace('Cc:\\n\\n', 'Cc:\\n', 1)",
             'line 3, "%s", is neither a To: nor a Cc: line: a blank line must separate '
             'them from the text' % before["body"].splitlines()[0]),
            ("s = s[s.index('\\n\\n') + 2:]",
             "the To: and Cc: lines are gone from the top of the file; they must come first, "
             "then a blank line, then the text"),
        ]
        for python, why in cases:
            r, kept = edit(env, tid, python, rc=1)
            eq(len(kept), 1, "the file is kept: %s" % why)
            eq(r.err, "tend: %s; nothing was saved (your text is in %s)\n" % (why, kept[0]),
               "stderr")
            eq(env.show(tid)["draft"], before, "the draft is unchanged: %s" % why)
    finally:
        env.close()


def test_failing_editor_keeps_recipients_and_text():
    env, tid = sample()
    try:
        before = env.show(tid)["draft"]
        r, kept = edit(env, tid, set_line("Cc", "jane@example.org") +
                       "\nopen(p, 'w').write(s)\nsys.exit(1)", rc=1)
        eq(len(kept), 1, "kept")
        check(r.err.endswith("exited with status 1: nothing was saved (your text is in %s)\n"
                             % kept[0]), r.err)
        check("\nCc: jane@example.org\n" in open(kept[0]).read(), "the agent's Cc is kept")
        eq(env.show(tid)["draft"], before, "nothing saved")
    finally:
        env.close()


@rig()
def test_edited_recipients_receive_the_reply(r):
    tid, show = first_draft(r)
    edit(r.env, tid, set_line("To", "Anna M. <%s>, %s" % (CUSTOMER, "anna@home.example")) +
         "\n" + set_line("Cc", '"Doe, Jane" <jane@example.org>'))
    r.approve(tid)
    r.once()
    m = only_message(r)
    eq(m.rcpt_tos, [CUSTOMER, "anna@home.example", "jane@example.org"], "RCPT TO")
    eq([(a.display_name, a.addr_spec) for a in m.msg["To"].addresses],
       [("Anna M.", CUSTOMER), ("", "anna@home.example")], "To")
    eq([(a.display_name, a.addr_spec) for a in m.msg["Cc"].addresses],
       [("Doe, Jane", "jane@example.org")], "Cc")
    eq(r.outbox(tid)["state"], "sent", "sent")



def with_rules():
    env = Env(config="store: store\nrules: rules.yaml\naccounts:\n  - name: support\n"
              "    address: support@shop.example\n")
    env.use_sample_rules()
    env.import_(sample_mail())
    tid = [t["id"] for t in env.threads() if "order #10455" in t["subject"]][0]
    return env, tid


def parts(env, tid):
    return env.show(tid)["draft"]["parts"]


def test_part_added_and_removed():
    env, tid = with_rules()
    try:
        eq(parts(env, tid), ["return_custom"], "the rules' part")
        r = env.tend("draft", tid, "--add", "cancel", env=ALICE)
        eq(r.out, "Thread %d: added part 2 of 2, cancel (template cancel).\n" % tid, "add")
        d = env.show(tid)["draft"]
        eq(d["parts"], ["return_custom", "cancel"], "after the customer's concerns")
        # the cancel template's text, with the order number captured from the conversation
        check("You asked us to cancel the order 10455." in d["body"], d["body"])
        out = env.tend("show", tid).out
        check("Answers: 1. return_custom, 2. cancel (added by hand)\n" in out, out)
        r = env.tend("draft", tid, "--remove", "1", env=ALICE)
        eq(r.out, "Thread %d: removed part 1, return_custom.\n" % tid, "remove")
        d = env.show(tid)["draft"]
        eq((d["parts"], d["parts_added"], d["parts_removed"]),
           (["cancel"], ["cancel"], ["return_custom"]), "parts after --remove")
        check("made-to-measure pieces that are not faulty" not in d["body"], d["body"])
        check("Removed by hand: return_custom\n" in env.tend("show", tid).out, "show")
        # the rules keep to the agent's choice when they write the draft again
        env.tend("redraft", tid, env=ALICE)
        eq(parts(env, tid), ["cancel"], "parts after tend redraft")
        log = [(e["action"], e["detail"]) for e in env.json("log", "--json", tid)
               if e["action"] == "part"]
        eq(log, [("part", "added part 2 of 2, cancel (template cancel)"),
                 ("part", "removed part 1, return_custom")], "audit")
    finally:
        env.close()


def test_part_refused():
    env, tid = with_rules()
    try:
        before = env.show(tid)["draft"]
        cases = [
            (["--add", "nope"], 'no rule in %s has the template "nope"'
             % env.path("rules.yaml")),
            (["--add", "return-custom"],
             "thread %d: the draft has that part already (part 1, return_custom)" % tid),
            (["--remove", "2"], "thread %d: the draft has 1 part (`tend show %d` numbers "
             "them); there is no part 2" % (tid, tid)),
        ]
        for args, why in cases:
            r = env.tend("draft", tid, *args, rc=1, env=ALICE)
            eq(r.err, "tend: %s\n" % why, "stderr")
        for args in (["--remove", "0"], ["--remove", "x"], [], ["--add", "a", "--remove", "1"]):
            env.tend("draft", tid, *args, rc=2, env=ALICE)
        eq(env.show(tid)["draft"], before, "nothing changed")
        # a draft edited by hand: its text is the agent's
        edit(env, tid, "s = s.replace('Hello', 'Hi', 1)")
        r = env.tend("draft", tid, "--add", "cancel", rc=1, env=ALICE)
        eq(r.err, "tend: thread %d: the draft was edited by hand; adding or removing a part "
           "would write it again from the templates over your text: change it with `tend "
           "edit %d`\n" % (tid, tid), "edited")
        # an approved one
        other = [q["thread"] for q in env.json("queue", "--json") if q["thread"] != tid][0]
        env.tend("approve", other, env=ALICE)
        r = env.tend("draft", other, "--remove", "1", rc=1, env=ALICE)
        check(r.err.startswith("tend: thread %d: the draft was approved by alice" % other),
              r.err)
        check("part" not in [e["action"] for e in env.json("log", "--json")], "nothing audited")
    finally:
        env.close()


def test_recipients_kept_when_the_customer_writes_again():
    env, tid = with_rules()
    try:
        edit(env, tid, set_line("Cc", "jane@example.org"))
        th = env.show(tid)
        last = th["messages"][-1]
        env.import_(env.write("again.eml", (
            "From: %s\nTo: support@shop.example\nSubject: Re: %s\n"
            "Date: Mon, 23 Nov 2026 23:59:00 +0000\nMessage-ID: <again@example.net>\n"
            "In-Reply-To: <%s>\n\nAnd please cancel order 10455 too.\n"
            % (th["customer"]["email"], th["subject"], last["message_id"]))))
        d = env.show(tid)["draft"]
        eq(d["parts"], ["return_custom", "cancel_too_late"], "the draft was written again")
        eq(addrs(d, "cc"), [(None, "jane@example.org")], "the agent's Cc is kept")
    finally:
        env.close()


if __name__ == "__main__":
    run(globals(), needs_localhost=True)
