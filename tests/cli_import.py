#!/usr/bin/python3
"""`tend import`, `tend threads`, `tend show` and `tend raw`, driven as a user would."""

import json
import os
import stat

from tendtest import Env, check, corpus, eq, need_corpora, run, sample_mail


def sample_files():
    d = sample_mail()
    return sorted(f for f in os.listdir(d) if f.endswith(".eml"))


def find_thread(threads, subject_part):
    hits = [t for t in threads if subject_part.lower() in t["subject"].lower()]
    check(len(hits) == 1, "expected one thread with %r in its subject, got %r"
          % (subject_part, [t["subject"] for t in threads]))
    return hits[0]


def test_sample_mail_import_summary():
    env = Env()
    try:
        n = len(sample_files())
        check(n >= 10, "sample mail has %d messages" % n)
        s = env.import_(sample_mail())
        eq(s["messages"], n, "messages found")
        eq(s["stored"], n, "messages stored")
        eq(s["duplicates"], 0, "duplicates")
        eq(s["quarantined"], 0, "quarantined")
        threads = env.threads()
        # One sample message is a customer's follow-up to another: one thread fewer.
        eq(len(threads), n - 1, "threads")
        eq(s["threads_touched"], n - 1, "threads touched")
        for t in threads:
            for key in ("id", "subject", "customer", "state", "tags", "message_ids"):
                check(key in t, "threads --json lacks %r: %r" % (key, t))
            check(all("<" not in m for m in t["message_ids"]), "brackets in %r" % t)
    finally:
        env.close()


def test_reimport_adds_nothing():
    env = Env()
    try:
        env.import_(sample_mail())
        before = env.partition()
        s = env.import_(sample_mail())
        eq(s["stored"], 0, "stored on the second import")
        eq(s["duplicates"], len(sample_files()), "duplicates on the second import")
        eq(env.partition(), before, "threads after re-import")
    finally:
        env.close()


def test_human_summary_and_listing():
    env = Env()
    try:
        r = env.tend("import", sample_mail())
        check("stored" in r.out and "duplicates" in r.out and "quarantined" in r.out
              and "threads" in r.out, "summary:\n%s" % r.out)
        r = env.tend("threads")
        lines = r.out.splitlines()
        check(lines[0].split()[:3] == ["ID", "LAST", "MSGS"], "header: %r" % lines[0])
        eq(len(lines), len(sample_files()), "lines (header + one per thread)")
        check("\033[" not in r.out, "colour codes written to a pipe")
    finally:
        env.close()


def test_follow_up_joins_its_thread_with_reason():
    env = Env()
    try:
        env.import_(sample_mail())
        multi = [t for t in env.threads() if len(t["message_ids"]) == 2]
        eq(len(multi), 1, "threads with two messages")
        th = env.show(multi[0]["id"])
        msgs = th["messages"]
        eq(len(msgs), 2, "messages shown")
        eq(msgs[0]["joined"]["reason"], "new", "first message's reason")
        eq(msgs[1]["joined"]["reason"], "references", "follow-up's reason")
        check(msgs[0]["message_id"] in msgs[1]["joined"]["detail"],
              "detail names the parent: %r" % msgs[1]["joined"])
        check(msgs[0]["date"] <= msgs[1]["date"], "messages oldest first")
        for key in ("message_id", "from", "date", "subject", "text"):
            check(key in msgs[0], "show --json message lacks %r" % key)
        eq(th["draft"]["state"], "proposed", "draft state")
        eq(th["draft"]["stale"], False, "draft is stale")
        r = env.tend("show", str(th["id"]))
        check("Joined: references" in r.out, "human show says why:\n%s" % r.out)
    finally:
        env.close()


def test_german_quoted_printable_and_html_text():
    env = Env()
    try:
        env.import_(sample_mail())
        texts = [m["text"] for t in env.threads() for m in env.show(t["id"])["messages"]]
        check(any("Rückerstattung" in x for x in texts),
              "no decoded 'Rückerstattung' in any message text")
        check(not any("=FC" in x or "=C3=BC" in x for x in texts),
              "quoted-printable left undecoded")
        check(not any("<p>" in x.lower() or "<div" in x.lower() or "<br" in x.lower()
                      for x in texts), "HTML tags left in text")
    finally:
        env.close()


def test_attachment_listed():
    env = Env()
    try:
        env.import_(sample_mail())
        atts = [a for t in env.threads() for m in env.show(t["id"])["messages"]
                for a in m["attachments"]]
        check(len(atts) >= 1, "no attachment found in the sample mail")
        check(all(a["size"] > 0 and "/" in a["content_type"] for a in atts), repr(atts))
    finally:
        env.close()


def test_unparseable_message_quarantined_raw():
    env = Env()
    try:
        garbage = b"\x00\x01\x02 this is not a mail message\n\x89PNG\r\n\x1a\n" * 10
        p = env.write("mail/garbage.eml", garbage)
        s = env.import_(p)
        eq(s["quarantined"], 1, "quarantined")
        eq(s["stored"], 0, "stored")
        q = env.json("threads", "--quarantined", "--json")
        eq(len(q), 1, "quarantined listing")
        eq(q[0]["source"], p, "source")
        eq(q[0]["size"], len(garbage), "size")
        check(q[0]["reason"], "a reason is given")
        eq(env.raw(q[0]["id"]), garbage, "raw bytes of the quarantined message")
        eq(env.threads(), [], "threads")
        s = env.import_(p)
        eq(s["duplicates"], 1, "re-importing a quarantined message")
        eq(len(env.json("threads", "--quarantined", "--json")), 1, "quarantined after re-import")
    finally:
        env.close()


def test_mbox_crlf_copy_is_duplicate():
    need_corpora()
    env = Env()
    try:
        s = env.import_(corpus("mail-box", "mbox.src"))
        eq(s["messages"], 45, "messages in mbox.src")
        eq(s["stored"] + s["duplicates"] + s["quarantined"], 45, "all accounted for")
        eq(s["quarantined"], 0, "quarantined")
        s2 = env.import_(corpus("mail-box", "mbox.win"))
        eq(s2["messages"], 45, "messages in the CRLF copy")
        eq(s2["stored"], 0, "stored from the CRLF copy")
    finally:
        env.close()


def test_store_is_private():
    env = Env()
    try:
        env.import_(sample_mail())
        st = os.stat(env.store)
        eq(stat.S_IMODE(st.st_mode), 0o700, "store directory mode")
        for f in os.listdir(env.store):
            m = stat.S_IMODE(os.stat(os.path.join(env.store, f)).st_mode)
            check(m & 0o077 == 0, "%s is mode %o" % (f, m))
    finally:
        env.close()


def test_reading_without_a_store():
    env = Env()
    try:
        r = env.tend("threads", rc=1)
        check("store" in r.err and env.store in r.err, "error names the store:\n%r" % r)
        check(len(r.err.strip().splitlines()) == 1, "one-line reason:\n%r" % r)
    finally:
        env.close()


def test_usage_errors():
    env = Env()
    try:
        env.tend("frobnicate", rc=2)
        env.tend("show", "abc", rc=2)
        env.tend("show", rc=2)
        env.tend("import", rc=2)
        env.tend("threads", "--bogus", rc=2)
        r = env.tend("--help")
        check("import" in r.out and "threads" in r.out and "show" in r.out, r.out)
    finally:
        env.close()


def test_show_unknown_thread():
    env = Env()
    try:
        env.import_(sample_mail())
        r = env.tend("show", "99999", rc=1)
        eq(r.err.strip(), "tend: no thread 99999", "error")
    finally:
        env.close()


def test_unreadable_path_reported():
    env = Env()
    try:
        missing = env.path("no-such-dir")
        r = env.tend("import", missing, rc=1)
        check(missing in r.err and "No such file" in r.err, "error names the path:\n%r" % r)
    finally:
        env.close()


def mail(msgid, subject, extra=""):
    return ("From: Customer <c@example.com>\nTo: support@shop.example\nMessage-ID: <%s>\n"
            "Subject: %s\nDate: Mon, 30 Nov 2026 09:00:00 +0000\n%s\nHello.\n"
            % (msgid, subject, extra))


def test_unreadable_file_among_messages():
    """A file that cannot be read in the middle of a directory is named, in order, and the
    messages around it are stored (the reading thread passes the error on, not the store)."""
    env = Env()
    try:
        env.write("mail/a.eml", mail("a@x", "First"))
        os.symlink(env.path("gone.eml"), env.path("mail/b.eml"))
        env.write("mail/c.eml", mail("c@x", "Third"))
        r = env.tend("import", "--json", env.path("mail"), rc=1)
        eq(r.err.strip(), "tend: cannot read %s: No such file or directory"
           % env.path("mail/b.eml"), "error")
        s = json.loads(r.out)
        eq((s["messages"], s["stored"], s["unreadable"]), (2, 2, 1), "messages, stored, unreadable")
        eq(sorted(t["subject"] for t in env.threads()), ["First", "Third"], "threads")
    finally:
        env.close()


def test_first_message_rules_hold_when_threading_disagrees_with_the_headers():
    """The rules run on the reading thread before threading, guessing that a message naming no
    other starts a conversation; rules that ask first_message must still see what threading
    decided: a reply to a message never stored starts one, a follow-up that names none joins
    one by its subject."""
    env = Env(subject_fallback=True)
    try:
        env.write("rules.yaml", "version: 1\nrules:\n"
                  "  - name: new\n    match: {first_message: true}\n    tags: [new]\n"
                  "  - name: followup\n    match: {first_message: false}\n"
                  "    tags: [followup]\n")
        env.write("mail/1.eml", mail("a@x", "Broken kettle"))
        env.write("mail/2.eml", mail("b@x", "Re: My old order",
                                     "In-Reply-To: <never-seen@x>\nReferences: <never-seen@x>\n"))
        env.write("mail/3.eml", mail("c@x", "Re: Broken kettle"))
        env.import_(env.path("mail"))
        tags = {t["subject"]: sorted(t["tags"]) for t in env.threads()}
        eq(tags, {"Broken kettle": ["followup", "new"], "Re: My old order": ["new"]}, "tags")
    finally:
        env.close()


def test_config_errors_reported_with_position():
    env = Env(config="store: store\nthreading:\n  subject_falback: false\n")
    try:
        r = env.tend("threads", rc=1)
        check("tend.yaml:3:3:" in r.err and "subject_falback" in r.err,
              "file:line:column in:\n%r" % r)
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
