#!/usr/bin/python3
"""Changed rules and templates reach open drafts on request: `tend rules replay` names the
drafts that would read differently, `tend redraft ID|--all` writes them again (an agent's edit
kept aside), on mail that `tend import` drafted with the sample rules."""

import os

from cli_review import complete
from tendtest import Env, check, eq, run, sample_mail

ALICE = {"TEND_AGENT": "alice"}
NEW_VOUCHER = "NEW VOUCHER TEXT: we looked up {{code|your code}} for you.\n"


def imported():
    env = Env(config="store: store\naccounts:\n  - name: support\n"
                     "    address: support@shop.example\n    from_name: Shop Support\n"
                     "agents:\n  - {login: alice, name: Alice Smith}\n")
    env.use_sample_rules()
    env.import_(sample_mail())
    return env


def tagged(env, tag):
    """The conversations tagged tag, in id order."""
    return sorted(t["id"] for t in env.threads() if tag in t["tags"])


def open_ids(env):
    return sorted(i["thread"] for i in env.json("queue", "--json", "--all"))


def change_voucher(env, tag=False):
    """A new voucher template; with tag, the voucher rule tags "invoice" as well."""
    env.write("templates/voucher.txt", NEW_VOUCHER)
    if tag:
        with open(env.path("rules.yaml")) as f:
            text = f.read()
        check("tags: [voucher]" in text, "the sample voucher rule")
        env.write("rules.yaml", text.replace("tags: [voucher]", "tags: [voucher, invoice]"))


def edit_to(env, tid, text):
    """`tend edit` as alice, the draft's text replaced by text."""
    ed = env.write("ed.sh", "#!/bin/sh\n/usr/bin/python3 - \"$1\" <<'EOF'\nimport sys\n"
                   "p = sys.argv[1]\ns = open(p).read()\n"
                   "open(p, 'w').write(s[:s.index('\\n\\n') + 2] + %r + s[s.index('# ----'):])\n"
                   "EOF\n" % (text + "\n\n"))
    os.chmod(ed, 0o755)
    r = env.tend("edit", tid, env=dict(ALICE, EDITOR=ed, VISUAL=""))
    eq(r.out, "Saved the draft of thread %d.\n" % tid, "edit")


def test_replay_names_the_drafts_that_would_change():
    env = imported()
    try:
        vouchers = tagged(env, "voucher")
        check(len(vouchers) >= 2, "voucher conversations: %r" % vouchers)
        change_voucher(env)  # the template only: no tag changes
        r = env.tend("rules", "replay")
        ids = ", ".join(str(i) for i in vouchers)
        check("%d open drafts would read differently: %s.\n" % (len(vouchers), ids) in r.out,
              r.out)
        check("`tend redraft --all`" in r.out, r.out)
        check(r.out.startswith("thread %d  " % vouchers[0]), r.out)
        check("  draft     its text would change\n" in r.out, r.out)
        j = env.json("rules", "replay", "--json")
        eq(sorted(x["thread"] for x in j if x["draft_would_change"]), vouchers, "JSON")
        env.tend("redraft", "--all", env=ALICE)
        r = env.tend("rules", "replay")
        check("would read differently" not in r.out, "after the redraft:\n" + r.out)
    finally:
        env.close()


def test_redraft_all_writes_text_and_tags_anew():
    env = imported()
    try:
        vouchers = tagged(env, "voucher")
        others = [i for i in open_ids(env) if i not in vouchers]
        change_voucher(env, tag=True)
        r = env.tend("redraft", "--all", env=ALICE)
        want = ["%d: redrafted (tags: +invoice)" % i for i in vouchers]
        want += ["%d: unchanged" % i for i in others]
        eq(sorted(r.out.splitlines()), sorted(want), "what redraft --all did")
        for tid in vouchers:
            out = env.tend("show", tid, env=ALICE).out
            check("NEW VOUCHER TEXT: we looked up" in out, out)
            check("invoice" in env.show(tid)["tags"], env.show(tid)["tags"])
            entry = [e for e in env.json("log", "--json", tid) if e["action"] == "redraft"]
            eq([(e["agent"], e["detail"]) for e in entry],
               [("alice", "redrafted (tags: +invoice)")], "audit")
        eq(tagged(env, "invoice"), vouchers, "tagged invoice")
        r = env.tend("redraft", "--all", env=ALICE)
        eq(r.out, "".join("%d: unchanged\n" % i for i in sorted(vouchers + others)), "again")
    finally:
        env.close()


def test_redraft_sets_priority_and_deadline():
    env = imported()
    try:
        before = {i["thread"]: i for i in env.json("queue", "--json", "--all")}
        vouchers = tagged(env, "voucher")
        with open(env.path("rules.yaml")) as f:
            text = f.read()
        env.write("rules.yaml", text.replace("tags: [voucher]\n",
                                             "tags: [voucher]\n    priority: urgent\n"))
        r = env.tend("redraft", "--all", env=ALICE)
        for tid in vouchers:
            was = before[tid]["priority"]
            check("%d: text unchanged (priority: %s -> urgent)\n" % (tid, was) in r.out, r.out)
        after = {i["thread"]: i for i in env.json("queue", "--json", "--all")}
        for tid in vouchers:
            eq(after[tid]["priority"], "urgent", "priority of %d" % tid)
            check(after[tid]["due"] < before[tid]["due"], "deadline of %d: %s, was %s"
                  % (tid, after[tid]["due"], before[tid]["due"]))
    finally:
        env.close()


def test_redraft_keeps_an_agents_edit_aside():
    env = imported()
    try:
        tid = tagged(env, "voucher")[0]
        edit_to(env, tid, "My own answer about the voucher.")
        # The rules would write what they wrote: the edit stays.
        eq(env.tend("redraft", tid, env=ALICE).out, "%d: unchanged\n" % tid, "no change")
        eq(env.show(tid)["draft"]["body"], "My own answer about the voucher.\n", "edit kept")
        change_voucher(env)
        r = env.tend("redraft", tid, env=ALICE)
        eq(r.out, "%d: redrafted; your edit is kept aside, see `tend show %d`\n" % (tid, tid),
           "redraft of an edited draft")
        r = env.tend("approve", tid, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d: `tend redraft` wrote this draft again and set your edit "
           "aside; run `tend show %d` first\n" % (tid, tid), "approve before show")
        out = env.tend("show", tid, env=ALICE).out
        check("Your earlier edit, set aside when `tend redraft` wrote the draft again from "
              "the rules:\n    My own answer about the voucher.\n" in out, out)
        check("NEW VOUCHER TEXT" in out.split("The draft now:")[1], out)
        env.tend("approve", tid, env=ALICE)
    finally:
        env.close()


def test_redraft_refuses_what_is_not_open():
    env = imported()
    try:
        a, b = open_ids(env)[:2]
        env.tend("resolve", a, env=ALICE)
        r = env.tend("redraft", a, rc=1, env=ALICE)
        eq(r.err, "tend: thread %d is resolved: only an open conversation's draft is "
           "redrafted (`tend reopen %d` drafts it anew)\n" % (a, a), "resolved")
        env.tend("approve", b, env=ALICE)
        r = env.tend("redraft", b, rc=1, env=ALICE)
        check(r.err.startswith("tend: thread %d: the draft was approved by alice" % b), r.err)
        r = env.tend("redraft", "--all", env=ALICE)
        check("%d:" % a not in r.out and "%d:" % b not in r.out, r.out)
        r = env.tend("redraft", "999", rc=1, env=ALICE)
        eq(r.err, "tend: no thread 999\n", "unknown thread")
        r = env.tend("redraft", "--all", str(a), rc=2, env=ALICE)
        eq(r.err, "tend redraft: --all takes no thread ID\n"
           "usage: tend redraft [--as AGENT] ID | --all\n", "usage")
    finally:
        env.close()


def test_completion():
    env = imported()
    try:
        eq(complete(env, "redr"), ["redraft"], "the command")
        eq(complete(env, "redraft", "--al"), ["--all"], "its option")
        eq(sorted(int(w) for w in complete(env, "redraft", "")), open_ids(env), "the open drafts")
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
