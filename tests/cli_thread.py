#!/usr/bin/python3
"""Threading as agents see it: which conversation a message joins, and why."""

from tendtest import Env, check, eq, run


def mail(msgid, subject="Question", sender="anna@example.com", refs=None, irt=None,
         date="Mon, 16 Nov 2026 10:00:00 +0000", body="Hello,\n\nplease help.\n"):
    h = ["From: Anna Kowalski <%s>" % sender, "To: support@shop.example",
         "Subject: %s" % subject, "Date: %s" % date]
    if msgid:
        h.append("Message-ID: <%s>" % msgid)
    if refs:
        h.append("References: " + " ".join("<%s>" % r for r in refs))
    if irt:
        h.append("In-Reply-To: <%s>" % irt)
    return ("\n".join(h) + "\n\n" + body).encode()


def add(env, name, data):
    return env.import_(env.write("mail/%s.eml" % name, data))


def thread_of(env, msgid):
    hits = [t for t in env.threads() if msgid in t["message_ids"]]
    eq(len(hits), 1, "threads holding <%s>" % msgid)
    return hits[0]


def joined(env, msgid):
    th = thread_of(env, msgid)
    for m in env.show(th["id"])["messages"]:
        if m["message_id"] == msgid:
            return m["joined"]
    raise AssertionError(msgid)


def test_reply_before_parent_joins_when_parent_arrives():
    env = Env(subject_fallback=False)
    try:
        add(env, "child", mail("child@x", refs=["root@x"], irt="root@x"))
        add(env, "root", mail("root@x"))
        eq(env.partition(), [["child@x", "root@x"]], "partition")
        eq(joined(env, "root@x")["reason"], "replied-to", "the parent's reason")
        check("root@x" in joined(env, "root@x")["detail"], "detail names the Message-ID")
    finally:
        env.close()


def test_message_linking_two_threads_merges_them():
    env = Env(subject_fallback=False)
    try:
        add(env, "a", mail("a@x", subject="Order 1"))
        add(env, "c", mail("c@x", subject="Re: Order 1", refs=["b@x"], irt="b@x"))
        eq(len(env.threads()), 2, "threads before the link arrives")
        old_c = thread_of(env, "c@x")["id"]
        add(env, "b", mail("b@x", subject="Re: Order 1", refs=["a@x"], irt="a@x"))
        eq(env.partition(), [["a@x", "b@x", "c@x"]], "partition after the link")
        survivor = thread_of(env, "a@x")["id"]
        check(survivor < old_c, "the older thread survives")
        # The merged-away id still leads to the conversation.
        eq(env.show(old_c)["id"], survivor, "show of the merged thread's id")
        r = env.tend("show", old_c)
        check("merged into thread %d" % survivor in r.out, r.out)
    finally:
        env.close()


def test_reference_loop_survives():
    env = Env(subject_fallback=False)
    try:
        add(env, "a", mail("a@x", refs=["b@x"]))
        add(env, "b", mail("b@x", refs=["a@x"]))
        add(env, "self", mail("self@x", refs=["self@x"]))
        eq(env.partition(), [["a@x", "b@x"], ["self@x"]], "partition")
    finally:
        env.close()


def test_subject_fallback_same_customer_within_window():
    env = Env(subject_fallback=True)
    try:
        add(env, "1", mail("1@x", subject="Voucher not working"))
        add(env, "2", mail("2@x", subject="Re: Voucher not working",
                           date="Tue, 17 Nov 2026 10:00:00 +0000"))
        add(env, "3", mail("3@x", subject="AW: voucher  NOT working", sender="bob@example.org",
                           date="Tue, 17 Nov 2026 11:00:00 +0000"))
        add(env, "4", mail("4@x", subject="Voucher not working",
                           date="Mon, 21 Dec 2026 10:00:00 +0000"))
        eq(env.partition(), [["1@x", "2@x"], ["3@x"], ["4@x"]], "partition")
        eq(joined(env, "2@x")["reason"], "subject", "reason")
    finally:
        env.close()


def test_subject_fallback_off():
    env = Env(subject_fallback=False)
    try:
        add(env, "1", mail("1@x", subject="Voucher not working"))
        add(env, "2", mail("2@x", subject="Re: Voucher not working"))
        eq(env.partition(), [["1@x"], ["2@x"]], "partition")
    finally:
        env.close()


def test_token_only_from_participants():
    env = Env(subject_fallback=False)
    try:
        add(env, "1", mail("1@x", subject="Broken table"))
        tid = thread_of(env, "1@x")["id"]
        add(env, "2", mail("2@x", subject="New photos [#%d]" % tid))
        add(env, "3", mail("3@x", subject="Let me in [#%d]" % tid, sender="mallory@example.net"))
        eq(sorted(thread_of(env, "1@x")["message_ids"]), ["1@x", "2@x"], "token from customer")
        eq(thread_of(env, "3@x")["message_ids"], ["3@x"], "token from a stranger")
        eq(joined(env, "2@x")["reason"], "token", "reason")
    finally:
        env.close()


def test_missing_message_id_gets_stable_synthetic_one():
    env = Env(subject_fallback=False)
    try:
        data = mail(None, subject="No id here")
        add(env, "lf", data)
        add(env, "crlf", data.replace(b"\n", b"\r\n"))
        threads = env.threads()
        eq(len(threads), 1, "a CRLF copy of an id-less message is the same message")
        eq(len(threads[0]["message_ids"]), 1, "messages")
        m = env.show(threads[0]["id"])["messages"][0]
        check(m["message_id"] and "<" not in m["message_id"], repr(m["message_id"]))
    finally:
        env.close()


def test_two_replies_to_unseen_parent_share_a_thread():
    env = Env(subject_fallback=False)
    try:
        add(env, "r1", mail(None, body="first reply\n", refs=["gone@x"]))
        add(env, "r2", mail(None, body="second reply\n", refs=["gone@x"]))
        threads = env.threads()
        eq(len(threads), 1, "threads")
        eq(len(threads[0]["message_ids"]), 2, "messages in it")
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
