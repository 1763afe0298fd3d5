#!/usr/bin/python3
"""Hostile cases (issue 14): what a hostile customer, a careless colleague or a group member
of a shared store can do to tend, each tried against the real binaries (and, where the hole is
in talking to servers, against a real dovecot and SMTP server). Every test here failed before
its fix. The suite runs this file in every build: normal, ASan+UBSan, and with tend and tendd
under valgrind.

The sections follow the items of the issue; keep new cases in their item's section."""

import os
import re

from tendtest import Env, check, eq, run, sample_mail  # noqa: F401

# A shop with one support address, and agents who approve.
SHOP = ("store: store\naccounts:\n  - name: support\n    address: support@shop.example\n"
        "agents:\n  - {login: alice, name: Alice Smith}\n")
ALICE = {"TEND_AGENT": "alice"}
ANNA = "anna@example.com"


def mail(frm, subject, msgid, body="Hello, my voucher SHOP-1234 has expired. Can I use it?\n",
         to="Shop Support <support@shop.example>", extra=""):
    """A message as bytes: From, To, Subject, Message-ID and Date, extra header lines, body."""
    return ("From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s>\n"
            "Date: Mon, 30 Nov 2026 09:00:00 +0000\n%s\n%s"
            % (frm, to, subject, msgid, extra, body)).encode()


def anna_writes(env, subject="Voucher expired", extra=""):
    """Anna's first message; returns her thread's id."""
    env.import_(env.write("anna.eml", mail("Anna Meier <%s>" % ANNA, subject, "a1@example.com",
                                           extra=extra)))
    return thread_of(env, "a1@example.com")


def thread_of(env, msgid):
    for t in env.threads():
        if msgid in t["message_ids"]:
            return t["id"]
    raise AssertionError("no thread holds <%s>" % msgid)


def state(env, tid):
    return [t for t in env.threads() if t["id"] == tid][0]["state"]


def queued(env):
    return [q["thread"] for q in env.json("queue", "--json")]


def message(env, tid, msgid):
    return [m for m in env.show(tid)["messages"] if m["message_id"] == msgid][0]


# ---- 1. A forged mail from our own address ---------------------------------------------------

def forged(env, name, subject, msgid, extra="", body="Your problem is solved. Thank you!\n"):
    """A message claiming to come from our support address, imported as any mail is."""
    return env.import_(env.write(name, mail("Shop Support <support@shop.example>", subject,
                                            msgid, body=body, to="Anna Meier <%s>" % ANNA,
                                            extra=extra)))


def test_forged_token_from_our_address_closes_nothing():
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env)
        eq(queued(env), [tid], "Anna's draft in the queue")
        forged(env, "forged.eml", "Re: [#%d] Voucher expired" % tid, "forged1@evil.example")
        eq(queued(env), [tid], "the queue after a forged reply")
        eq(state(env, tid), "open", "Anna's conversation")
        other = thread_of(env, "forged1@evil.example")
        check(other != tid, "a forged mail joined thread %d by its token" % tid)
        m = message(env, other, "forged1@evil.example")
        eq((m["unverified"], m["ours"]), (True, False), "the forged mail's marks")
        out = env.tend("show", other).out
        check("Unverified sender: claims to come from support@shop.example" in out, out)
        check("it answers nothing and closes nothing" in out, out)
    finally:
        env.close()


def test_forged_reference_keeps_an_approved_reply():
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env)
        env.tend("approve", tid, env=ALICE)
        forged(env, "forged.eml", "Re: Voucher expired", "forged2@evil.example",
               extra="In-Reply-To: <a1@example.com>\nReferences: <a1@example.com>\n")
        eq(thread_of(env, "forged2@evil.example"), tid, "joined by its references")
        out = [o for o in env.json("outbox", "--json", "--all") if o["thread"] == tid]
        eq([o["state"] for o in out], ["approved"], "Anna's approved reply in the outbox")
        eq(state(env, tid), "open", "Anna's conversation")
        m = message(env, tid, "forged2@evil.example")
        check(m["unverified"] and "nothing vouches" in m["sender_note"], m)
        # An open draft stays in the queue, marked.
        anna2 = mail("Anna Meier <%s>" % ANNA, "Re: Voucher expired", "a2@example.com",
                     extra="In-Reply-To: <a1@example.com>\n", body="Any news?\n")
        env.import_(env.write("anna2.eml", anna2))
        forged(env, "forged3.eml", "Re: Voucher expired", "forged3@evil.example",
               extra="In-Reply-To: <a2@example.com>\n")
        item = [q for q in env.json("queue", "--json") if q["thread"] == tid]
        eq(len(item), 1, "Anna's new draft still queued")
        eq(item[0]["unverified"], True, "queue --json marks the thread")
        check("unverified mail from us" in env.tend("queue").out, env.tend("queue").out)
        check("draft" in env.show(tid) and env.show(tid)["draft"]["state"] == "proposed",
              "the draft was superseded")
    finally:
        env.close()


def test_our_address_is_never_a_participant():
    """Anna wrote to us with our address in Cc; a forged mail with the token still does not
    join (before, every address of a customer's mail became a participant, ours included)."""
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env, extra="Cc: Support <SUPPORT@shop.example>\n")
        forged(env, "forged.eml", "[#%d]" % tid, "forged4@evil.example")
        check(thread_of(env, "forged4@evil.example") != tid, "joined by token")
        eq(queued(env), [tid], "queue")
    finally:
        env.close()


def test_sent_mail_imported_with_sent_answers():
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env)
        reply = env.write("reply.eml", mail(
            "Shop Support <support@shop.example>", "Re: Voucher expired", "r1@shop.example",
            to="Anna Meier <%s>" % ANNA, extra="In-Reply-To: <a1@example.com>\n",
            body="Dear Anna, the voucher is extended.\n"))
        env.import_(reply)
        eq(state(env, tid), "open", "our reply imported as inbox mail: unverified")
        env2 = Env(config=SHOP)
        try:
            tid2 = anna_writes(env2)
            env2.json("import", "--json", "--sent", reply)
            eq(state(env2, tid2), "answered", "our reply imported with --sent")
            eq(queued(env2), [], "queue")
            m = message(env2, tid2, "r1@shop.example")
            eq((m["ours"], m["unverified"]), (True, False), "marks")
            check("tend import --sent" in env2.tend("show", tid2).out, "show says why")
        finally:
            env2.close()
    finally:
        env.close()


def test_authentication_results_of_a_trusted_server():
    ok = "Authentication-Results: mx.shop.example;\n dkim=pass (2048-bit key) header.d=shop.example header.s=s1;\n spf=pass smtp.mailfrom=shop.example\n"
    cases = [
        # (tend.yaml addition, header lines, counts as ours)
        ("", ok, False),  # nobody trusted: no Authentication-Results believed
        ("authserv_id: mx.shop.example\n", ok, True),
        ("authserv_id: [other.example, mx.shop.example]\n",
         "Authentication-Results: mx.shop.example; dmarc=pass header.from=shop.example\n", True),
        ("authserv_id: mx.shop.example\n",
         "Authentication-Results: mx.evil.example; dkim=pass header.d=shop.example\n", False),
        ("authserv_id: mx.shop.example\n",
         "Authentication-Results: mx.shop.example; dkim=pass header.d=evil.example\n", False),
        ("authserv_id: mx.shop.example\n",
         "Authentication-Results: mx.shop.example; dkim=fail header.d=shop.example\n", False),
        # Our server's verdict on top, the sender's forgery below it: only the top one counts.
        ("authserv_id: mx.shop.example\n",
         "Authentication-Results: mx.shop.example; dmarc=fail header.from=shop.example\n" + ok,
         False),
        ("authserv_id: mx.shop.example\n",
         "Authentication-Results: mx.shop.example (comment; dkim=pass); none\n" + ok, False),
    ]
    for top, headers, ours in cases:
        env = Env(config=SHOP + top)
        try:
            tid = anna_writes(env)
            forged(env, "reply.eml", "Re: Voucher expired", "r2@shop.example", extra=(
                headers + "In-Reply-To: <a1@example.com>\n"))
            m = message(env, tid, "r2@shop.example")
            eq((m["ours"], state(env, tid)), (ours, "answered" if ours else "open"),
               "%r with %r" % (top, headers))
        finally:
            env.close()


def test_copies_of_our_replies_and_the_sent_folder():
    """Against a real dovecot and SMTP server, with tendd reading INBOX and Sent: the copy of
    a reply tend sent is ours and changes nothing; a customer sending it back does not close
    their follow-up; our Message-ID with other words is unverified; a reply written in another
    mail program and filed in Sent answers the customer."""
    from daemon_send import CUSTOMER, Rig, customer_mail, first_draft, only_message
    r = Rig(imap={"folders": ["INBOX", "Sent"]})
    try:
        tid, _ = first_draft(r)
        r.approve(tid)
        r.once()
        sent = only_message(r)
        ours = r.outbox(tid)["message_id"]
        r.once()  # fetches the copy tend put in Sent
        m = message(r.env, tid, ours)
        eq((m["ours"], m["unverified"]), (True, False), "the Sent copy")
        check("a copy of the reply tend sent" in m["sender_note"], m)
        eq(state(r.env, tid), "answered", "after the copy")
        r.customer_writes(customer_mail(msgid="c2@example.com", subject="Re: Voucher expired",
                                        extra="In-Reply-To: <%s>\r\n" % ours))
        eq(state(r.env, tid), "open", "Anna wrote again")
        # Anna sends our reply back to us, byte for byte: a copy, and nothing changes.
        r.dv.append("INBOX", sent.data.replace(
            b"Message-ID: <%s>" % ours.encode(), b"Message-ID: <%s>" % ours.encode()))
        r.once()
        eq(state(r.env, tid), "open", "after our reply came back in the inbox")
        # The same Message-ID with other words is not our reply.
        other = sent.data.replace(b"Alice Smith", b"Alice Smith. PS: refund approved")
        r.dv.append("INBOX", other)
        r.once()
        eq(state(r.env, tid), "open", "after a doctored copy")
        check(r.env.show(tid)["draft"]["state"] == "proposed", "Anna's draft was superseded")
        # A reply from another mail program, filed in Sent, answers her.
        r.dv.append("Sent", (
            "From: Shop Support <support@shop.example>\r\nTo: %s\r\nSubject: Re: Voucher\r\n"
            "Message-ID: <thunderbird1@shop.example>\r\nIn-Reply-To: <c2@example.com>\r\n"
            "Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nDone, Anna.\r\n" % CUSTOMER).encode())
        r.once()
        eq(state(r.env, tid), "answered", "after our reply from another program")
        out = r.env.tend("show", tid).out
        check("From us: it was fetched from the Sent folder" in out, out)
        eq(r.srv.count(), 1, "messages sent")
    except Exception as e:
        raise r.fail_context(e)
    finally:
        r.close()


# ---- 2. A Reply-To that redirects a conversation's reply -------------------------------------

def test_reply_to_outside_the_conversation_is_not_followed():
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env)
        env.import_(env.write("redirect.eml", mail(
            "Anna Meier <%s>" % ANNA, "Re: [#%d] Voucher expired" % tid, "a2@example.com",
            extra="Reply-To: Mallory <mallory@evil.example>\n",
            body="Please send the voucher code to my new address.\n")))
        eq(thread_of(env, "a2@example.com"), tid, "joined Anna's thread by token")
        d = env.show(tid)["draft"]
        eq([a["email"] for a in d["to"]], [ANNA], "the draft's To")
        eq([a["email"] for a in d["reply_to_held"]], ["mallory@evil.example"], "held")
        eq(message(env, tid, "a2@example.com")["reply_to_held"], True, "message mark")
        out = env.tend("show", tid, env=ALICE).out
        check("Reply-To (not followed): Mallory <mallory@evil.example>" in out, out)
        check("asked for replies to go to Mallory <mallory@evil.example>" in out, out)
        check("Reply-To not followed" in env.tend("queue").out, env.tend("queue").out)
        r = env.tend("approve", tid, env=ALICE)
        check("the reply to Anna Meier <%s> is queued" % ANNA in r.out, r.out)
        check("asked for replies to go to Mallory <mallory@evil.example>" in r.out, r.out)
        # Mallory did not become a participant: her own mail with the token starts anew.
        env.import_(env.write("mallory.eml", mail("mallory@evil.example", "[#%d]" % tid,
                                                  "m1@evil.example")))
        check(thread_of(env, "m1@evil.example") != tid, "Mallory joined by token")
    finally:
        env.close()


def test_reply_to_by_subject_is_not_followed():
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env)
        env.import_(env.write("redirect.eml", mail(
            "Anna Meier <%s>" % ANNA, "Re: Voucher expired", "a2@example.com",
            extra="Reply-To: mallory@evil.example\n")))
        eq(thread_of(env, "a2@example.com"), tid, "joined Anna's thread by subject")
        eq([a["email"] for a in env.show(tid)["draft"]["to"]], [ANNA], "the draft's To")
    finally:
        env.close()
    # What is not hostile keeps working: a Reply-To that already takes part, and a reply that
    # proves it knows the conversation (its References).
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env, extra="Cc: Ben Meier <ben@example.com>\n")
        env.import_(env.write("a2.eml", mail(
            "Anna Meier <%s>" % ANNA, "[#%d] one more thing" % tid, "a2@example.com",
            extra="Reply-To: ben@example.com\n")))
        eq([a["email"] for a in env.show(tid)["draft"]["to"]], ["ben@example.com"], "to Ben")
        env.import_(env.write("a3.eml", mail(
            "Anna Meier <%s>" % ANNA, "Re: Voucher expired", "a3@example.com",
            extra="In-Reply-To: <a2@example.com>\nReply-To: anna@work.example\n")))
        eq([a["email"] for a in env.show(tid)["draft"]["to"]], ["anna@work.example"],
           "a reply by references")
    finally:
        env.close()


# ---- 3. Symlinks and strangers' files in a group-shared store --------------------------------

import grp  # noqa: E402
import pwd  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from tendtest import TEND, TENDD, Daemon, tend_for_others, wrap  # noqa: E402

# The store is shared with `users`; the group member is `nobody`, in `users` for the occasion.
# Every case runs as root (as the suite does here and in CI), which is also who the attack is
# aimed at: a member who can make root's `tend import` follow a link owns root's files.
SHARED = "store: store\ngroup: users\n"
WARNING = "(someone may be trying to take over files: remove it and check who made it)"


def _as_root():
    if os.geteuid() != 0:
        print("# skipped: the cases of item 3 change users, which needs root")
        return False
    return True


def _users_gid():
    return grp.getgrnam("users").gr_gid


def _shared_env(config=SHARED):
    """A shared store with mail in it, its directory reachable by the group member."""
    env = Env(config=config)
    os.chmod(env.dir, 0o755)  # mkdtemp's 0700 would keep the member out of everything
    os.chmod(env.config, 0o644)
    env.tend("import", os.path.join(sample_mail(), "06-refund-request.eml"))
    return env


def _secret(env, name="secret"):
    """A root-only file outside the store: what a planted link points at."""
    d = env.path("private")
    os.makedirs(d, mode=0o700, exist_ok=True)
    p = os.path.join(d, name)
    if name == "secret":
        with open(p, "w") as f:
            f.write("root's secret\n")
        os.chmod(p, 0o600)
    return p


def _fingerprint(path):
    """What must not change about a file: mode, owner, group and contents."""
    st = os.lstat(path)
    with open(path, "rb") as f:
        return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, f.read())


def _member(argv, **kw):
    """Runs argv as the group member: nobody, with users among its groups."""
    nobody = pwd.getpwnam("nobody")
    return subprocess.run(argv, capture_output=True, user=nobody.pw_uid, group=nobody.pw_gid,
                          extra_groups=[_users_gid()], timeout=600, **kw)


def _member_tend(env, *args):
    """Runs tend with env's config as the group member; returns (exit status, stderr)."""
    p = _member(wrap([tend_for_others(), "-c", env.config] + list(args)))
    return p.returncode, p.stderr.decode()


def _plant_link(env, name, target):
    """Puts a link to target in place of store/name (as root, or a store made before the
    sticky bit); returns the link's path."""
    path = os.path.join(env.store, name)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)
    return path


def _member_tries(store, name, target):
    """As the group member, tries to put a link to target in place of store/name, by removing
    the file and by renaming a link of the member's own over it. Returns what happened."""
    code = """if 1:
        import os, sys
        store, name, target = sys.argv[1:]
        path, mine = os.path.join(store, name), os.path.join(store, "mine-" + name)
        os.symlink(target, mine)
        for what, fn in (("rename", lambda: os.rename(mine, path)),
                         ("unlink", lambda: os.unlink(path))):
            try:
                fn()
                print(what, "done")
            except OSError as e:
                print(what, e.strerror)
        """
    p = _member(["/usr/bin/python3", "-c", code, store, name, target])
    check(p.returncode == 0, "member's script failed: %s" % p.stderr.decode())
    return p.stdout.decode()


def test_shared_store_is_sticky():
    """A shared store is 03770: its members write in it but cannot replace each other's files,
    so none of them can swap lock.mdb, data.mdb or tendd.pid for a link."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        env.tendd("--once")
        st = os.stat(env.store)
        eq(oct(stat.S_IMODE(st.st_mode)), oct(0o3770), "mode of the shared store")
        eq(st.st_gid, _users_gid(), "group of the shared store")
        for name in ("data.mdb", "lock.mdb"):
            st = os.stat(os.path.join(env.store, name))
            eq((oct(stat.S_IMODE(st.st_mode)), st.st_gid), (oct(0o660), _users_gid()), name)
        secret = _secret(env)
        before = _fingerprint(secret)
        for name in ("lock.mdb", "data.mdb", "tendd.pid"):
            got = _member_tries(env.store, name, secret)
            eq(got, "rename Operation not permitted\nunlink Operation not permitted\n",
               "the member replacing %s" % name)
            check(not os.path.islink(os.path.join(env.store, name)), "%s is no link" % name)
        env.tend("queue")
        eq(_fingerprint(secret), before, "the secret")
    finally:
        env.close()


def test_private_store_is_0700():
    env = _shared_env(config="store: store\n")
    try:
        eq(oct(stat.S_IMODE(os.stat(env.store).st_mode)), oct(0o700), "mode of a private store")
        for name in ("data.mdb", "lock.mdb"):
            mode = stat.S_IMODE(os.stat(os.path.join(env.store, name)).st_mode)
            eq(oct(mode), oct(0o600), name)
    finally:
        env.close()


def _refused(env, name, what, *commands):
    """Each command exits 1 naming store/name and what is wrong with it."""
    want = "%s/%s %s; refusing" % (env.store, name, what)
    for argv in commands:
        r = env.run(*argv, rc=1)
        check(want in r.err and WARNING in r.err, "%s: expected %r:\n%r" % (argv, want, r))


def test_planted_link_refused():
    """lock.mdb or data.mdb replaced with a link to a root-only file (on a store made before the
    sticky bit, or by root's own mistake): tend and tendd refuse to open the store, naming the
    link, and the file it points to keeps its mode, owner and contents."""
    if not _as_root():
        return
    for name in ("lock.mdb", "data.mdb"):
        env = _shared_env()
        try:
            secret = _secret(env)
            before = _fingerprint(secret)
            path = _plant_link(env, name, secret)
            _refused(env, name, "is a symbolic link",
                     (TEND, "import", os.path.join(sample_mail(), "06-refund-request.eml")),
                     (TEND, "queue"), (TENDD, "--once"))
            eq(_fingerprint(secret), before, "the file %s points to" % name)
            check(os.path.islink(path), "the link is left for the operator to inspect")
        finally:
            env.close()


def test_planted_dangling_link_creates_nothing():
    """A link to a file that does not exist yet: nothing is created through it."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        target = _secret(env, "made-by-tend")
        _plant_link(env, "lock.mdb", target)
        _refused(env, "lock.mdb", "is a symbolic link", (TEND, "queue"), (TENDD, "--once"))
        check(not os.path.exists(target), "tend created %s through the link" % target)
    finally:
        env.close()


def test_planted_pidfile_link_refused():
    """tendd.pid linked to a root-only file: tendd does not truncate it or write its pid."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        secret = _secret(env)
        before = _fingerprint(secret)
        _plant_link(env, "tendd.pid", secret)
        _refused(env, "tendd.pid", "is a symbolic link", (TENDD, "--once"))
        eq(_fingerprint(secret), before, "the file tendd.pid points to")
        r = env.tend("status")
        check("not running" in r.out.split("\n")[0], "tend status:\n%r" % r)
    finally:
        env.close()


def test_strangers_files_refused():
    """A member's own file in place of lock.mdb, and a hard link to root's file as data.mdb, are
    refused as well: the one is not the store's to use, the other not the store's to change."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        lock = os.path.join(env.store, "lock.mdb")
        os.chown(lock, pwd.getpwnam("nobody").pw_uid, _users_gid())
        _refused(env, "lock.mdb", "belongs to nobody, not to the store's owner root",
                 (TEND, "queue"))
        os.chown(lock, 0, _users_gid())
        secret = _secret(env)
        os.chmod(secret, 0o660)
        before = _fingerprint(secret)
        data = os.path.join(env.store, "data.mdb")
        os.unlink(data)
        os.link(secret, data)
        _refused(env, "data.mdb", "has 2 hard links", (TEND, "queue"), (TENDD, "--once"))
        eq(_fingerprint(secret), before, "the file data.mdb is a link of")
    finally:
        env.close()


def test_old_shared_store_gets_sticky_bit():
    """A store shared before the sticky bit (02770) gets it the next time its owner opens it;
    until then a member who is not its owner is refused and told why."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        os.chmod(env.store, 0o2770)
        rc, err = _member_tend(env, "queue")
        eq(rc, 1, "exit status of a member's tend queue:\n%s" % err)
        check("lacks the sticky bit" in err and "chmod +t %s" % env.store in err, err)
        env.tend("queue")
        eq(oct(stat.S_IMODE(os.stat(env.store).st_mode)), oct(0o3770), "mode once fixed")
        rc, err = _member_tend(env, "queue")
        eq(rc, 0, "a member's tend queue after the fix:\n%s" % err)
    finally:
        env.close()


def test_member_does_not_create_store_files():
    """A member could swap a file of their own for a link whenever they like (the sticky bit
    protects only from others), so a member does not create lock.mdb: the store's owner does."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        lock = os.path.join(env.store, "lock.mdb")
        os.unlink(lock)
        rc, err = _member_tend(env, "queue")
        eq(rc, 1, "exit status of a member's tend queue:\n%s" % err)
        check("store %s has no lock.mdb, and only its owner (root) may create it" % env.store
              in err, err)
        check(not os.path.lexists(lock), "the member created lock.mdb")
        env.tend("queue")
        eq(os.stat(lock).st_uid, 0, "owner of lock.mdb")
        rc, err = _member_tend(env, "queue")
        eq(rc, 0, "a member's tend queue:\n%s" % err)
    finally:
        env.close()


def test_store_that_is_a_link_refused():
    """The store directory itself may not be a link (tend never makes one); a link among its
    parents is the operator's own layout and works."""
    env = Env(config="store: store\n")
    try:
        os.mkdir(env.path("elsewhere"), 0o700)
        os.symlink(env.path("elsewhere"), env.store)
        r = env.tend("queue", rc=1)
        check("store %s is a symbolic link" % env.store in r.err, "%r" % r)
        r = env.tend("import", os.path.join(sample_mail(), "06-refund-request.eml"), rc=1)
        check(os.listdir(env.path("elsewhere")) == [], "a store was made through the link")
        env.write("tend.yaml", "store: parent/store\n")
        os.symlink(env.path("elsewhere"), env.path("parent"))
        env.tend("import", os.path.join(sample_mail(), "06-refund-request.eml"))
        check(os.path.exists(env.path("elsewhere/store/data.mdb")), "store behind a link")
    finally:
        env.close()


def test_planted_socket_file_kept():
    """A file or a link named tendd.sock is not removed to make way for the daemon's socket:
    tendd says what is in the way and sends from its regular scans instead."""
    if not _as_root():
        return
    env = _shared_env(config=SHARED + "accounts:\n  - name: support\n"
                      "    address: support@shop.example\n"
                      "    smtp:\n      url: smtp://127.0.0.1:9\n")
    try:
        secret = _secret(env)
        sock = os.path.join(env.store, "tendd.sock")
        for plant in ("file", "link"):
            if plant == "file":
                with open(sock, "w") as f:
                    f.write("notes\n")
            else:
                _plant_link(env, "tendd.sock", secret)
            before = _fingerprint(sock)
            d = Daemon(env, name="tendd-%s.stderr" % plant)
            try:
                what = "a regular file" if plant == "file" else "a symbolic link"
                d.wait_until(lambda: "tendd.sock is %s" % what in d.stderr(), 10,
                             "tendd to refuse tendd.sock")
            finally:
                d.stop()
                d.close()
            eq(_fingerprint(sock), before, "the %s named tendd.sock" % plant)
        eq(os.readlink(sock), secret, "the link")
    finally:
        env.close()



# ---- 4. Mass recipients ----------------------------------------------------------------------

def mass_mail(n, msgid="mass@example.com", subject="Order 48213"):
    cc = ",\n ".join("person%d@example.org" % i for i in range(n))
    return mail("Anna Meier <%s>" % ANNA, subject, msgid, extra="Cc: %s\n" % cc)


def test_mass_cc_is_read_in_part_and_not_copied_on_the_reply():
    env = Env(config=SHOP)
    try:
        s = env.import_(env.write("mass.eml", mass_mail(40000)))
        eq(s["stored"], 1, "stored")
        tid = thread_of(env, "mass@example.com")
        th = env.show(tid)
        m = th["messages"][0]
        eq(len(m["cc"]), 1000, "Cc addresses read (limits.addresses)")
        check(any("more than 1000 addresses" in w for w in m["warnings"]), m["warnings"])
        d = th["draft"]
        eq((d["recipients"], d["cc_withheld"], [a["email"] for a in d["to"]]),
           (1, 1000, [ANNA]), "the draft goes to Anna alone")
        out = env.tend("show", tid).out
        check("Recipients: 1\n" in out, out[-2000:])
        check("named 1000 more addresses in To and Cc" in out, out[-2000:])
        check("1000 Cc left out" in env.tend("queue").out, env.tend("queue").out)
        raw = env.raw(m["id"])
        check(b"person39999@example.org" in raw, "the raw message keeps every address")
    finally:
        env.close()


def test_approval_refused_above_max_recipients():
    env = Env(config=SHOP)
    try:
        env.import_(env.write("cc.eml", mail(
            "Anna Meier <%s>" % ANNA, "Party order", "p1@example.com",
            extra="Cc: b@example.com, c@example.com, d@example.com\n")))
        tid = thread_of(env, "p1@example.com")
        eq(env.show(tid)["draft"]["recipients"], 4, "To and Cc")
        check(re.search(r"\b4 recipients\]", env.tend("queue").out), env.tend("queue").out)
        env.write("tend.yaml", SHOP + "review: {max_recipients: 3}\n")
        r = env.tend("approve", tid, env=ALICE, rc=1)
        eq(r.err, "tend: thread %d: the reply would go to 4 addresses, more than "
           "review.max_recipients (3) in tend.yaml allows\n" % tid, "refusal")
        eq(env.show(tid)["draft"]["state"], "proposed", "not approved")
        env.write("tend.yaml", SHOP)
        r = env.tend("approve", tid, env=ALICE)
        check("(4 recipients: 1 in To, 3 in Cc)" in r.out, r.out)
    finally:
        env.close()


def test_mass_cc_reply_goes_to_the_customer_alone():
    """A customer Cc'd 5,000 addresses: the approved reply reaches the SMTP server with one
    RCPT TO (before, 5,001 without a word)."""
    from daemon_send import CUSTOMER, Rig, only_message
    r = Rig()
    try:
        cc = ",\n ".join("person%d@example.org" % i for i in range(5000))
        r.customer_writes(mail("Anna Meier <%s>" % CUSTOMER, "Order 48213", "mass@example.com",
                               extra="Cc: %s\n" % cc).replace(b"\n", b"\r\n"))
        tid = thread_of(r.env, "mass@example.com")
        out = r.approve(tid).out
        check("(1 recipient)" in out and "named 1000 more addresses" in out, out)
        r.once()
        eq(only_message(r).rcpt_tos, [CUSTOMER], "RCPT TO")
    except Exception as e:
        raise r.fail_context(e)
    finally:
        r.close()


# ---- 5. Terminal escapes in what a customer wrote --------------------------------------------

import json  # noqa: E402 (kept in this section, so that sections merge cleanly)
import re  # noqa: E402
import subprocess  # noqa: E402

from tendtest import TEND, Failure, wrap  # noqa: E402

ESC_AGENTS = "store: store\nagents:\n  - {login: alice, name: Alice Smith}\n"

# What a hostile sender puts in a message: OSC 52 (writes the clipboard), OSC 8 (a hidden
# link), SGR 8 (hidden text), CSI as the 8-bit C1 byte and as U+009B, and a bell.
OSC52 = b"\x1b]52;c;ZXZpbA==\x07"
OSC8 = b"\x1b]8;;http://evil.example/\x1b\\"
HIDE = b"\x1b[8m"
HOSTILE_MAIL = (
    b"From: \"" + OSC52 + b"Anna " + HIDE + b"Evil\" <anna@example.com>\n"
    b"To: Support <support@shop.example>\n"
    b"Subject: Refund " + HIDE + b"hidden\x1b[0m order 12345 =?utf-8?q?=1B]52;c;eA=3D=3D=07x?="
    b" =?iso-8859-2?q?=9B2J?= =?utf-8?q?=C2=9B31m?= \x9b latin\n"
    b"Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
    b"Message-ID: <escapes-1@example.com>\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=\"b\"\n\n"
    b"--b\nContent-Type: text/plain; charset=utf-8\n\n"
    b"Please refund order 12345. " + OSC8 + b"click\x1b]8;;\x1b\\ \xc2\x9b8m" + OSC52 + b"\n"
    b"--b\nContent-Type: text/plain; charset=iso-8859-2\n\nRaw C1 \x9b2J here.\n"
    b"--b\nContent-Type: text/plain; charset=windows-1252\n\nAnd \x9b and \x1b[8m here.\n"
    b"--b\nContent-Type: text/html; charset=utf-8\n\n<p>HTML &#155;2J and &#27;[8m " + HIDE +
    b"x</p>\n"
    b"--b\nContent-Type: message/rfc822\n\n"
    b"From: \"Fwd " + HIDE + b"Name\" <fwd@example.com>\n"
    b"Subject: forwarded " + OSC52 + b"subject =?utf-8?q?=C2=9B2J?=\n"
    b"Date: Sun, 22 Nov 2026 10:00:00 +0000\n\n"
    b"Forwarded body " + OSC8 + b"\n"
    b"--b\nContent-Type: application/pdf; name=\"invoice" + HIDE + b".pdf\"\n"
    b"Content-Disposition: attachment; filename=\"invoice" + OSC52 + b".pdf\"\n"
    b"Content-Transfer-Encoding: base64\n\nJVBERi0=\n"
    b"--b\nContent-Type: application/pdf\n"
    b"Content-Disposition: attachment; filename*=utf-8''r%C2%9B2J%1B%5D52%3Bc%3Bx%07.pdf\n"
    b"Content-Transfer-Encoding: base64\n\nJVBERi0=\n"
    b"--b--\n")

# The bounce of a reply to that thread: its Diagnostic-Code ends up in `show`, `queue`, `log`.
HOSTILE_BOUNCE = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\n"
    b"To: support@shop.example\n"
    b"Subject: Undelivered Mail Returned to Sender\n"
    b"Date: Mon, 23 Nov 2026 11:00:00 +0000\n"
    b"Message-ID: <escapes-bounce@mx.example>\n"
    b"Auto-Submitted: auto-replied\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\n\n"
    b"--r\nContent-Type: text/plain\n\nDelivery failed.\n"
    b"--r\nContent-Type: message/delivery-status\n\n"
    b"Reporting-MTA: dns; mx.example\n\n"
    b"Final-Recipient: rfc822; anna@example.com\nAction: failed\nStatus: 5.1.1\n"
    b"Diagnostic-Code: smtp; 550 " + OSC52 + b"user " + HIDE + b"unknown \x9b2J\n\n"
    b"--r\nContent-Type: text/rfc822-headers\n\n"
    b"Message-ID: <escapes-1@example.com>\n"
    b"--r--\n")

# Any C0 or C1 control but line feed and tab, as a code point of the decoded output.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_output(env, *args, what=None):
    """What `tend ARGS` writes to stdout and stderr, checked to be UTF-8 without a control
    character but line feed and tab (a raw 0x9b byte is not UTF-8 and fails here too)."""
    argv = wrap([TEND, "-c", env.config] + [str(a) for a in args])
    p = subprocess.run(argv, capture_output=True, timeout=600,
                       env=dict(os.environ, TEND_AGENT="alice"))
    check(p.returncode == 0, "%s failed: %r" % (" ".join(argv), p.stderr))
    for name, data in (("stdout", p.stdout), ("stderr", p.stderr)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Failure("%s of tend %s is not UTF-8 (%s): %r" % (
                name, " ".join(map(str, args)), e, data))
        m = CONTROL.search(text)
        check(m is None, "%s of tend %s holds control character U+%04X: %r" % (
            name, what or " ".join(map(str, args)), ord(m.group()) if m else 0, text))
    return p.stdout.decode("utf-8")


def hostile_env():
    env = Env(config=ESC_AGENTS)
    env.use_sample_rules()
    env.write("hostile.eml", HOSTILE_MAIL)
    terminal_output(env, "import", env.path("hostile.eml"))
    return env


def test_escapes_removed_when_parsed():
    env = hostile_env()
    try:
        th = env.threads()[0]
        check(not CONTROL.search(json.dumps(th, ensure_ascii=False)), th)
        m = env.show(th["id"])["messages"][0]
        for key, value in (("subject", m["subject"]), ("from", m["from"]["name"]),
                           ("text", m["text"]), ("new_text", m["new_text"]),
                           ("attachments", json.dumps(m["attachments"], ensure_ascii=False))):
            check(not CONTROL.search(value), "%s holds a control character: %r" % (key, value))
        # removed, not the words around them; a line break in a header is a space
        check(m["subject"].startswith("Refund [8mhidden[0m order 12345"), m["subject"])
        check("Evil" in m["from"]["name"] and "Anna" in m["from"]["name"], m["from"])
        check("Please refund order 12345." in m["text"], m["text"])
        check("Raw C1 2J here." in m["text"], m["text"])
        check("Subject: forwarded ]52;c;ZXZpbA==subject 2J" in m["text"], m["text"])
        check('From: "Fwd [8mName" <fwd@example.com>' in m["text"], m["text"])
        names = [a["filename"] for a in m["attachments"]]
        eq(names, ["invoice]52;c;ZXZpbA==.pdf", "r2J]52;c;x.pdf"], "attachment names")
    finally:
        env.close()


def test_escapes_not_printed():
    env = hostile_env()
    try:
        tid = env.threads()[0]["id"]
        env.write("bounce.eml", HOSTILE_BOUNCE)
        terminal_output(env, "import", env.path("bounce.eml"))
        out = terminal_output(env, "show", tid)
        check("Refund" in out and "Please refund order 12345." in out, out)
        check("Bounced: mail to anna@example.com came back (550 ]52;c;ZXZpbA==user [8munknown"
              in out, out)
        terminal_output(env, "show", "--json", tid)
        check(not CONTROL.search(json.dumps(env.show(tid), ensure_ascii=False)), "show --json")
        out = terminal_output(env, "queue")
        check("bounced: anna@example.com" in out, out)
        for args in (("threads",), ("threads", "--json"), ("queue", "--json"), ("log",),
                     ("log", "--json"), ("status",), ("stats",),
                     ("rules", "test", env.path("hostile.eml")),
                     ("rules", "test", "--json", env.path("hostile.eml")), ("rules", "replay")):
            terminal_output(env, *args)
        # the address bounced: refused, and the refusal quotes the bounce safely
        argv = wrap([TEND, "-c", env.config, "approve", str(tid)])
        p = subprocess.run(argv, capture_output=True, timeout=600,
                           env=dict(os.environ, TEND_AGENT="alice"))
        eq(p.returncode, 1, "approve refused: %r" % p.stderr)
        check(b"bounced before" in p.stderr and not CONTROL.search(p.stderr.decode()),
              "the refusal: %r" % p.stderr)
        terminal_output(env, "approve", "--bounced-ok", tid)
        out = terminal_output(env, "outbox")
        check("Refund" in out, out)
        terminal_output(env, "outbox", "--json")
        terminal_output(env, "log", tid)
    finally:
        env.close()


def test_raw_not_to_a_terminal():
    """`tend raw` stays byte for byte, so it does not write escapes to a terminal."""
    import pty
    import select
    env = hostile_env()
    try:
        eq(env.raw(1), HOSTILE_MAIL, "tend raw into a pipe")
        master, slave = pty.openpty()
        try:
            p = subprocess.run(wrap([TEND, "-c", env.config, "raw", "1"]), stdout=slave,
                               stderr=subprocess.PIPE, timeout=600)
            shown = b""
            while select.select([master], [], [], 0)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(slave)
            os.close(master)
        eq(p.returncode, 1, "exit status of tend raw on a terminal")
        eq(p.stderr.decode(), "tend: message 1 holds terminal control characters: not written "
           "to a terminal; read it with `tend raw 1 | less` or redirect it to a file\n",
           "tend raw on a terminal")
        eq(shown, b"", "what the terminal got")
    finally:
        env.close()

# ---- 6. The second person, and agents bound to OS users --------------------------------------

def os_user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def reviewed(config):
    """An environment whose queue holds the sample mail's drafts; the thread of one of them."""
    env = Env(config=config)
    env.import_(sample_mail())
    return env, env.json("queue", "--json")[0]["thread"]


def edit_as(env, tid, agent):
    # "Edited." starts the text, below the To: and Cc: lines and their blank line
    env.tend("edit", tid, env={"TEND_AGENT": agent,
                               "EDITOR": "sed -i '0,/^$/s/^$/\\nEdited./'",
                               "VISUAL": ""})
    eq(env.show(tid)["draft"]["body"].startswith("Edited."), True, "the edit was saved")


def draft_state(env, tid):
    return env.show(tid)["draft"]["state"]


def test_second_person_is_not_another_agent_of_one_os_user():
    env, tid = reviewed("store: store\nagents: [{login: alice}, {login: bob}]\n"
                        "review: {require_second_person: true}\n")
    try:
        edit_as(env, tid, "alice")
        want = ("tend: thread %d: OS user %s made the last edit to this draft (as agent alice), "
                "and tend.yaml (review: require_second_person) asks for another person to "
                "approve it, not another agent of the same OS user\n" % (tid, os_user()))
        eq(env.tend("--as", "bob", "approve", tid, rc=1).err, want, "--as bob")
        eq(env.tend("approve", tid, rc=1, env={"TEND_AGENT": "bob"}).err, want, "TEND_AGENT")
        eq(draft_state(env, tid), "proposed", "nothing approved")
        check("approve" not in [e["action"] for e in env.json("log", "--json", tid)],
              "an approval was logged")
    finally:
        env.close()


def test_agents_bound_to_os_users():
    env, tid = reviewed("store: store\nagents:\n  - {login: alice, user: nobody}\n"
                        "  - {login: bob, user: %s}\n" % os_user())
    try:
        want = ('tend: agent "alice" is bound to OS user nobody in %s, and you are %s\n'
                % (env.config, os_user()))
        eq(env.tend("--as", "alice", "approve", tid, rc=1).err, want, "--as alice")
        eq(env.tend("approve", "--as", "alice", tid, rc=1).err, want, "approve --as alice")
        eq(env.tend("approve", tid, rc=1, env={"TEND_AGENT": "alice"}).err, want,
           "TEND_AGENT=alice")
        eq(env.tend("assign", tid, "bob", rc=1, env={"TEND_AGENT": "alice"}).err, want,
           "assign as alice")
        eq(draft_state(env, tid), "proposed", "nothing approved")
        # Unnamed, or named by $USER (which anybody sets), the caller acts as their own agent.
        env.tend("--as", "bob", "assign", tid, "alice")
        # assigned to alice: without a terminal to ask on, bob approves it with --force
        env.tend("approve", "--force", tid, env={"USER": "alice", "TEND_AGENT": ""})
        d = env.show(tid)["draft"]
        eq((d["state"], d["approved_by"]), ("approved", "bob"), "approved by the caller's agent")
        r = env.tendd("--check-config", ok=False)
        eq(r.rc, 0, "check-config:\n%r" % r)
        env.write("tend.yaml", "store: store\nagents:\n  - {login: alice, user: no-such-user}\n")
        r = env.tendd("--check-config", rc=1)
        check('tend.yaml:3:26: user "no-such-user" does not exist on this system' in r.err,
              r.err)
    finally:
        env.close()


def as_nobody(env, *args):
    """Runs tend as the unprivileged user nobody (the tests run as root), like a colleague
    with a shell account in the store's group."""
    import subprocess
    from tendtest import Result, tend_for_others, wrap
    argv = [tend_for_others(), "-c", env.config] + [str(a) for a in args]
    e = dict(os.environ, HOME="/", USER="nobody")
    e.pop("TEND_AGENT", None)
    p = subprocess.run(wrap(argv), capture_output=True, env=e, timeout=1800, user="nobody",
                       group="nogroup", extra_groups=[], cwd="/")
    return Result(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def test_second_person_is_another_os_user():
    check(os.getuid() == 0, "this test runs tend as another user, which takes root")
    env, tid = reviewed("store: store\ngroup: nogroup\nagents:\n"
                        "  - {login: alice, user: %s}\n  - {login: bob, user: nobody}\n"
                        "review: {require_second_person: true}\n" % os_user())
    try:
        os.chmod(env.dir, 0o755)
        edit_as(env, tid, "alice")
        r = env.tend("--as", "bob", "approve", tid, rc=1)
        check('agent "bob" is bound to OS user nobody' in r.err, r.err)
        r = as_nobody(env, "approve", tid)
        check(r.rc == 0, "nobody could not approve:\n%r" % r)
        d = env.show(tid)["draft"]
        eq((d["state"], d["approved_by"]), ("approved", "bob"), "approved by the second person")
        who = [(e["agent"], e["os_user"]) for e in env.json("log", "--json", tid)
               if e["action"] in ("edit", "approve")]
        eq(who, [("alice", os_user()), ("bob", "nobody")], "the audit trail")
    finally:
        env.close()


# ---- 7. The SMTP URL -------------------------------------------------------------------------

def smtp_config(url, user=True):
    cfg = ("store: store\naccounts:\n  - name: support\n    address: support@shop.example\n"
           "    smtp:\n      url: \"%s\"\n" % url)
    if user:
        cfg += "      user: support\n      password_file: smtp.pass\n"
    return cfg


def test_smtp_url_is_read_as_libcurl_reads_it():
    env = Env()
    try:
        env.write("smtp.pass", "secret\n")
        where = "%s:6:12: account \"support\": the smtp url " % env.config
        for url, why in [
                ("smtp://192.0.2.2?@127.0.0.1", 'has a query (from "?" on), which SMTP URLs do '
                 "not take; libcurl reads the host as 192.0.2.2"),
                ("smtp://a@b@127.0.0.1", 'has user info (before "@"), which tend does not '
                 "take there, and libcurl cannot read it (Bad hostname)"),
                ("smtp://user:pw@127.0.0.1", 'has user info (before "@"), which tend does not '
                 'take there: the user goes in "user", the password in password_file or '
                 "password_command"),
                ("smtp://127.0.0.1/#x", 'has a fragment (from "#" on), which SMTP URLs do not '
                 "take"),
                ("smtp://127.0.0.1:2525?", 'has a query (from "?" on), which SMTP URLs do not '
                 "take; libcurl reads the host as 127.0.0.1")]:
            env.write("tend.yaml", smtp_config(url))
            r = env.tendd("--check-config", rc=1)
            eq(r.err, where + why + "\n%s: 1 error\n" % env.config, url)
            check("pw" not in r.err.replace("password", ""), "the password was printed")
            r = env.tendd("--once", rc=1)
            check(where + why in r.err and "has errors: not starting" in r.err, repr(r))
        for url in ["smtp://127.0.0.1:2525", "smtps://smtp.shop.example", "smtp://[::1]:25",
                    "smtp://smtp.shop.example:587"]:
            env.write("tend.yaml", smtp_config(url))
            env.tendd("--check-config")
    finally:
        env.close()


def own_address():
    """An IPv4 address of this machine other than loopback, or None."""
    import subprocess
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                             capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    for line in out.splitlines():
        f = line.split()
        if "inet" in f:
            return f[f.index("inet") + 1].split("/")[0]
    return None


class PlainSmtp:
    """An SMTP server without TLS that offers AUTH: it records every line a client sends."""

    def __init__(self, host, port=0):
        import socket
        import threading
        self.lines, self.conns = [], 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.done = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import socket
        while not self.done:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.conns += 1
            with c:
                self.talk(c.makefile("rwb"))

    def talk(self, f):
        f.write(b"220 plain.example ESMTP\r\n")
        f.flush()
        state = None  # "data" inside DATA, "auth" when the credentials come next
        for line in f:
            self.lines.append(line.decode("latin-1").rstrip("\r\n"))
            words = line.upper().split()
            verb = words[0] if words else b""
            if state == "data":
                state, out = (None, b"250 queued") if line == b".\r\n" else ("data", None)
            elif state == "auth" or (verb == b"AUTH" and len(words) > 2):
                state, out = None, b"235 ok"
            elif verb == b"AUTH":
                state, out = "auth", b"334 "
            elif verb == b"EHLO":
                out = b"250-plain.example\r\n250 AUTH PLAIN LOGIN"
            elif verb == b"DATA":
                state, out = "data", b"354 go on"
            else:
                out = b"221 bye" if verb == b"QUIT" else b"250 ok"
            if out is not None:
                f.write(out + b"\r\n")
                f.flush()
            if verb == b"QUIT" and state is None:
                return

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


def approved_reply(env):
    env.json("import", "--json", sample_mail())
    tid = env.json("queue", "--json")[0]["thread"]
    env.tend("approve", tid, env={"TEND_AGENT": "alice"})
    return tid


def test_plain_smtp_never_to_another_host():
    addr = own_address()
    if addr is None:  # no address but loopback: nothing to listen on but what is allowed
        return
    # The disguise of the issue: a URL without a port, so libcurl goes to port 25 of addr
    # while tend used to read the host as 127.0.0.1 and allow plain text. Port 25 takes root
    # and a free port; without them only the second half runs.
    try:
        srv = PlainSmtp(addr, 25)
    except OSError:
        srv = None
    env = Env(config=smtp_config("smtp://%s?@127.0.0.1" % addr))
    try:
        env.write("smtp.pass", "secret\n")
        approved_reply(env)
        if srv is not None:
            env.tendd("--once", ok=False)
            eq((srv.conns, srv.lines), (0, []), "what the server at %s:25 heard" % addr)
            srv.close()
        # Without the disguise the host is not loopback: STARTTLS or nothing, never AUTH.
        srv = PlainSmtp(addr)
        env.write("tend.yaml", smtp_config("smtp://%s:%d" % (addr, srv.port)))
        env.tendd("--once", ok=False)
        check(srv.conns >= 1, "tendd did not try to send at all")
        check(not [ln for ln in srv.lines if ln.upper().startswith(("AUTH", "MAIL"))],
              "sent in the clear to %s: %r" % (addr, srv.lines))
    finally:
        if srv is not None:
            srv.close()
        env.close()


# ---- 8. Deeply nested rules ------------------------------------------------------------------

def nested_rules(kind, n, leaf="{subject: '(?i)voucher'}"):
    """A rules file whose one rule nests kind (not, any or all) n deep around leaf, written in
    flow style on line 4, as an attacker would (block style needs n*n bytes of indentation)."""
    if kind == "not":
        match = "{not: " * n + leaf + "}" * n
    else:
        match = ("{%s: [" % kind) * n + leaf + "]}" * n
    return ("version: 1\nrules:\n  - name: deep\n    match: %s\n    tags: [deep]\n" % match)


YAML_DEPTH = r"rules\.yaml:4:\d+: mappings and lists nest deeper than 200 levels here\n"


def test_deep_rules_are_refused_with_their_place():
    import re
    env = Env()
    try:
        for kind in ("not", "any", "all"):
            env.write("rules.yaml", nested_rules(kind, 30000))
            r = env.tend("rules", "check", rc=1)
            check(re.search(YAML_DEPTH, r.err), "%s 30000 deep:\n%r" % (kind, r))
            # Deep enough to be read, too deep to be a rule: the 65th level is refused.
            env.write("rules.yaml", nested_rules(kind, 65))
            col = 12 + (6 if kind == "not" else 7) * 64 + 1
            r = env.tend("rules", "check", rc=1)
            eq(r.err, "%s:4:%d: \"%s\" in rule \"deep\" nests conditions deeper than 64 "
               "levels (any, all and not inside one another)\n%s: 1 error\n"
               % (env.path("rules.yaml"), col, kind, env.path("rules.yaml")), kind + " 65")
        # An alias that holds itself nests without end.
        env.write("rules.yaml", "version: 1\nrules:\n  - name: loop\n"
                  "    match: &m {any: [{subject: x}, {not: *m}]}\n")
        r = env.tend("rules", "check", rc=1)
        check("rules.yaml:4:16: \"any\" in rule \"loop\" nests conditions deeper than 64 "
              "levels" in r.err, repr(r))
        env.write("rules.yaml", nested_rules("not", 30000))
        r = env.tend("import", sample_mail(), rc=1)
        check(re.search(YAML_DEPTH, r.err), repr(r))
        eq(env.threads(), [], "threads imported with rules that were refused")
    finally:
        env.close()


def test_rules_nested_64_deep_still_work():
    env = Env()
    try:
        env.use_sample_rules()
        rules = env.path("rules.yaml")
        with open(rules) as f:
            sample = f.read()
        # 64 levels of not (an even number) around the subject: the subject is what counts.
        extra = ["  - name: deep_%s\n    match: %s\n    tags: [deep_%s]\n"
                 % (kind, nested_rules(kind, 64).split("match: ")[1].split("\n")[0], kind)
                 for kind in ("not", "any", "all")]
        env.write("rules.yaml", sample.rstrip("\n") + "\n" + "".join(extra))
        r = env.tend("rules", "check")
        check(r.out.endswith("OK (%d rules)\n" % (sample.count("\n  - name:") + 3)), r.out)
        env.import_(sample_mail())
        tags = [t["tags"] for t in env.threads() if "voucher" in t["tags"]]
        check(tags and all({"deep_not", "deep_any", "deep_all"} <= set(t) for t in tags),
              "voucher threads: %r" % tags)
    finally:
        env.close()


def test_aliases_that_multiply_conditions_are_refused():
    # Each rule's match is twice the one before, by alias: rule r16 alone stands for 131,071
    # conditions, and 40 rules would stand for two trillion.
    text = "version: 1\nrules:\n  - name: r0\n    match: &a0 {subject: x}\n"
    for i in range(1, 17):
        text += "  - name: r%d\n    match: &a%d {any: [*a%d, *a%d]}\n" % (i, i, i - 1, i - 1)
    env = Env()
    try:
        env.write("rules.yaml", text)
        r = env.tend("rules", "check", rc=1)
        eq(r.err, "%s:4:17: more than 100000 conditions in the file by rule \"r15\" (aliases "
           "repeat the conditions they name)\n%s: 1 error\n"
           % (env.path("rules.yaml"), env.path("rules.yaml")), "rules check")
    finally:
        env.close()


def test_deep_tend_yaml_is_refused_with_its_place():
    env = Env()
    try:
        for text, pos in [("store: store\nagents: " + "[" * 30000 + "]" * 30000 + "\n", "2:208"),
                          ("store: store\nlimits:\n  " + "- " * 30000 + "x\n", "3:401")]:
            env.write("tend.yaml", text)
            r = env.tendd("--check-config", rc=1)
            eq(r.err, "%s:%s: mappings and lists nest deeper than 200 levels here\n"
               "%s: 1 error\n" % (env.config, pos, env.config), "tendd --check-config")
            r = env.tend("queue", rc=1)
            check("%s:%s: mappings and lists nest" % (env.config, pos) in r.err, repr(r))
    finally:
        env.close()


def test_deep_rules_on_sighup_keep_the_old_ones():
    import signal
    from daemon_rules import mail, relabel, wait_for_subject
    from imapserver import Dovecot
    from tendtest import Daemon
    dv = Dovecot()
    env = daemon = None
    try:
        env = Env(config=dv.config(poll_interval="300s"))
        env.use_sample_rules()
        daemon = Daemon(env)
        voucher = mail("01-voucher-expired.eml")
        for i, (kind, n) in enumerate([("not", 30000), ("any", 65)]):
            env.write("rules.yaml", nested_rules(kind, n))
            daemon.signal(signal.SIGHUP)
            want = "has errors: keeping the rules loaded before"
            daemon.wait_until(lambda: daemon.stderr().count(want) == i + 1, 10, repr(want))
            check(("rules.yaml:4:" in daemon.stderr()) and "deeper than" in daemon.stderr(),
                  "no place or reason in the log:\n" + daemon.tail())
            subject = "Voucher %d" % i
            dv.append("INBOX", relabel(voucher, subject, "v%d@example.com" % i))
            tags = wait_for_subject(daemon, env, subject)
            check("voucher" in tags and "deep" not in tags, "the old rules: %r" % tags)
        check("nests conditions deeper than 64 levels" in daemon.stderr(), daemon.tail())
        eq(daemon.stop(), 0, "exit status after SIGTERM")
    finally:
        if daemon is not None:
            daemon.close()
        if env is not None:
            env.close()
        dv.close()


# ---- 9. A mailbox without a Sent folder ------------------------------------------------------
# Not hostile, only what a user starts from: tests/daemon_send.py starts every case from a
# mailbox without Sent (test_sent_folder_created, ..._special_use, ..._cannot_be_created, and
# the crash cases that search Sent for a reply's Message-ID).



# ---- 10. Forged delivery reports -------------------------------------------------------------

def test_forged_delivery_reports():
    """A delivery report is mail anyone can write who saw our reply's Message-ID (a customer,
    anyone in Cc). It brings the reply back to review only when it names an address the reply
    went to; and the reply then goes to an address the customer gave, never to a Reply-To
    that was not followed (issue 15)."""
    from daemon_send import CUSTOMER, Rig, customer_mail, dsn, only_message
    r = Rig()
    try:
        r.customer_writes()
        tid = r.thread_of("Voucher expired")["id"]
        r.customer_writes(customer_mail(
            msgid="c2@example.com", subject="Re: Voucher expired [#%d]" % tid,
            extra="Reply-To: Mallory <mallory@evil.example>\r\n"))
        d = r.env.show(tid)["draft"]
        eq([a["email"] for a in d["reply_to_held"]], ["mallory@evil.example"], "held")
        r.env.tend("show", "--as", "alice", tid)  # seen after Anna's second message
        r.approve(tid)
        r.once()
        eq(only_message(r).rcpt_tos, [CUSTOMER], "the reply went to Anna")
        ours = r.outbox(tid)["message_id"]
        r.customer_writes(dsn(ours, "mallory@evil.example"))
        eq(state(r.env, tid), "answered", "a report for an address we never wrote to")
        check(r.queue_item(tid) is None, "nothing came back")
        r.customer_writes(dsn(ours, CUSTOMER).replace(b"dsn1@", b"dsn2@"))
        d = r.env.show(tid)["draft"]
        eq((state(r.env, tid), d["state"], d["to"]), ("open", "proposed", []),
           "back, with nobody to send it to: not Mallory")
    except Exception as e:
        raise r.fail_context(e)
    finally:
        r.close()


# ---- 11. Our side of the conversation (issue 15) ---------------------------------------------
# A forged mail from our address is no reply of ours in the conversation; a colleague's note
# cannot talk to the terminal, and a note that is not text is refused. (That a note never
# reaches the SMTP server is tests/daemon_send.py's test_note_never_sent.)

def test_forged_mail_is_not_shown_as_ours():
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env)
        forged(env, "forged.eml", "Re: Voucher expired", "forged9@evil.example",
               extra="In-Reply-To: <a1@example.com>\n", body="Refund approved: 500 EUR.\n")
        eq(thread_of(env, "forged9@evil.example"), tid, "joined by its references")
        conv = env.show(tid)["conversation"]
        eq([e["kind"] for e in conv], ["customer", "customer"], "kinds: none of them ours")
        out = env.tend("show", tid).out
        check("Our reply" not in out, out)
        check("Unverified sender: claims to come from support@shop.example" in out, out)
    finally:
        env.close()


def test_note_cannot_talk_to_the_terminal():
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env)
        evil = (OSC52 + HIDE + b"called her " + OSC8).decode()
        env.tend("note", tid, evil, env=ALICE)
        for args in (("show", tid), ("log", tid)):
            r = subprocess.run(wrap([TEND, "-c", env.config] + [str(a) for a in args]),
                               capture_output=True, env=dict(os.environ, **ALICE))
            eq(r.returncode, 0, "tend %s" % " ".join(map(str, args)))
            check(b"\x1b" not in r.stdout and b"\x07" not in r.stdout,
                  "control bytes from a note: %r" % r.stdout)
            check(b"\\x1b]52;c;ZXZpbA==\\x07\\x1b[8mcalled her" in r.stdout, r.stdout)
        eq(env.show(tid)["conversation"][1]["body"], evil, "kept as written, for scripts")
        r = env.tend("note", tid, "caf\udce9 au lait", rc=1, env=ALICE)
        eq(r.err, "tend: the note is not UTF-8 text: nothing was saved\n", "not UTF-8")
        eq(len(env.show(tid)["conversation"]), 2, "nothing saved")
    finally:
        env.close()


# ---- 12. The search index in a group-shared store (issue 15) ---------------------------------
# STORE/search.sqlite and the -wal, -shm and -journal files SQLite opens by name beside it get
# what the store's own files get: never opened through a link, never a stranger's file, made
# only by the store's owner, 0660 for the group. (The cases change users: root only.)

INDEX = ("search.sqlite", "search.sqlite-wal", "search.sqlite-shm")
REFUND = os.path.join(sample_mail(), "06-refund-request.eml")


def _index_files(env):
    return sorted(n for n in os.listdir(env.store) if n.startswith("search.sqlite"))


def test_search_index_shared_with_the_group():
    """The owner's import makes the index 0660 for the group; a member searches it, and can
    neither remove nor replace its files."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        eq(_index_files(env), sorted(INDEX), "the index's files")
        for name in INDEX:
            st = os.lstat(os.path.join(env.store, name))
            eq((oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid),
               (oct(0o660), 0, _users_gid()), name)
        p = _member(wrap([tend_for_others(), "-c", env.config, "search", "--json", "refund"]))
        eq(p.returncode, 0, "a member's tend search: %s" % p.stderr.decode())
        check(b"Refund for cancelled order #10460" in p.stdout, p.stdout.decode())
        secret = _secret(env)
        before = _fingerprint(secret)
        for name in INDEX:
            got = _member_tries(env.store, name, secret)
            eq(got, "rename Operation not permitted\nunlink Operation not permitted\n",
               "the member replacing %s" % name)
        env.tend("search", "refund")
        eq(_fingerprint(secret), before, "the secret")
    finally:
        env.close()


def test_search_index_links_refused():
    """A link in place of the index or of a file SQLite opens beside it: `tend search` refuses
    it by name, an import stores its mail regardless and says why the index was left alone, and
    the file the link points to is untouched."""
    if not _as_root():
        return
    for name in INDEX + ("search.sqlite-journal",):
        env = _shared_env()
        try:
            secret = _secret(env)
            before = _fingerprint(secret)
            path = _plant_link(env, name, secret)
            _refused(env, name, "is a symbolic link", (TEND, "search", "refund"))
            r = env.tend("import", os.path.join(sample_mail(), "01-voucher-expired.eml"))
            check("%s is a symbolic link; refusing" % path in r.err, "import: %r" % r)
            eq(len(env.threads()), 2, "threads after the import")
            eq(_fingerprint(secret), before, "the file %s points to" % name)
            check(os.path.islink(path), "the link is left for the operator to inspect")
        finally:
            env.close()


def test_member_does_not_create_the_index():
    """A member could swap a file of their own for a link at any time, so only the store's
    owner makes the index's files; a member's own file in their place is refused."""
    if not _as_root():
        return
    env = _shared_env()
    try:
        for name in _index_files(env):
            os.unlink(os.path.join(env.store, name))
        rc, err = _member_tend(env, "search", "refund")
        eq(rc, 1, "exit status of a member's tend search:\n%s" % err)
        check("store %s has no search.sqlite, and only its owner (root) may create it"
              % env.store in err, err)
        eq(_index_files(env), [], "files the member made")
        code = "open(%r, 'w').write('a member wrote this')" % os.path.join(env.store,
                                                                        "search.sqlite-wal")
        p = _member(["/usr/bin/python3", "-c", code])
        eq(p.returncode, 0, "the member's file: %s" % p.stderr.decode())
        _refused(env, "search.sqlite-wal", "belongs to nobody, not to the store's owner root",
                 (TEND, "search", "refund"))
        os.unlink(os.path.join(env.store, "search.sqlite-wal"))
        env.tend("search", "refund")
        rc, err = _member_tend(env, "search", "refund")
        eq(rc, 0, "a member's tend search once the owner made the index:\n%s" % err)
    finally:
        env.close()


# ---- 13. Fact lookups (issue 16) -------------------------------------------------------------

# A lookup that captures the rest of a customer's line: whatever she writes there is its
# argument. Each lookup writes what it saw into seen.json (beside tend.yaml) for the test.
FACT_RULES = """version: 1
facts:
  order:
    command: [lookup, "{{order}}"]
    timeout: 2s
rules:
  - name: order
    match: {body: '(?i)order'}
    capture: {order: '(?i)order:\\s*(?<order>.+)'}
    template: order
"""
FACT_PREAMBLE = """#!/usr/bin/python3
import json, os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
def seen(**kw):
    with open(os.path.join(HERE, "seen.json"), "w") as f:
        json.dump(dict(kw, argv=sys.argv[1:], pid=os.getpid()), f)
"""


def facts_env(script, body="Hello, about my order: 10482\n"):
    """A shop whose rules look orders up with script (after FACT_PREAMBLE); Anna's mail
    imported. Returns the env, her thread and how long the import took."""
    import time
    env = Env(SHOP + "rules: rules.yaml\n")
    env.write("rules.yaml", FACT_RULES)
    env.write("templates/order.txt", "Order status: {{order.status|unknown}}.")
    os.chmod(env.write("lookup", FACT_PREAMBLE + script), 0o755)
    start = time.monotonic()
    env.import_(env.write("anna.eml", mail("Anna Meier <%s>" % ANNA, "My order", "a1@example.com",
                                           body=body)))
    return env, thread_of(env, "a1@example.com"), time.monotonic() - start


def seen(env):
    import json
    with open(env.path("seen.json")) as f:
        return json.load(f)


def gone(pid):
    """The process has ended (or is a zombie nobody reaped yet)."""
    import time
    for _ in range(100):
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(") ")[-1][:1] in "ZX":
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


def lookup_failed(env, tid, why):
    """The draft fell back to the rules without facts, and `tend show` tells the agent why."""
    eq(env.show(tid)["draft"]["lookup_failures"], ["Lookup order failed: " + why], "failures")
    check("Order status: unknown." in env.show(tid)["draft"]["body"], "the fallback")
    out = env.tend("show", tid).out
    check("Lookup order failed: %s: the draft follows the rules without its facts." % why in out,
          out)


def test_lookup_argument_with_shell_metacharacters_stays_one_argument():
    line = "$(touch pwned); rm -rf ~ `touch pwned2` | tee x && echo \"$HOME\" > y; * ?"
    env, tid, _ = facts_env('seen()\nprint(json.dumps({"status": "placed"}))\n',
                            body="Hello, about my order: %s\n" % line)
    try:
        eq(seen(env)["argv"], [line], "the lookup's arguments")
        for name in ("pwned", "pwned2", "x", "y"):
            check(not os.path.exists(env.path(name)), "a shell ran: %s exists" % name)
        check("Order status: placed." in env.show(tid)["draft"]["body"], "the fact is used")
        eq(env.show(tid)["draft"]["lookup_failures"], [], "failures")
    finally:
        env.close()


def test_lookup_printing_10_mb_is_a_failure():
    env, tid, took = facts_env('sys.stdout.write("{\\"status\\": \\"" + "x" * 10000000 + '
                               '"\\"}")\n')
    try:
        check(took < 20, "import took %.1f s" % took)
        lookup_failed(env, tid, "printed more than 64 KiB")
    finally:
        env.close()


def test_lookup_sleeping_forever_times_out():
    env, tid, took = facts_env("import time\nseen()\ntime.sleep(100000)\n")
    try:
        check(took < 20, "import took %.1f s" % took)
        lookup_failed(env, tid, "timed out after 2 s")
        check(gone(seen(env)["pid"]), "the lookup still runs")
    finally:
        env.close()


def test_lookup_child_keeping_stdout_open_does_not_hold_tend():
    env, tid, took = facts_env(
        "import subprocess, time\n"
        "child = subprocess.Popen(['/bin/sleep', '100000'])  # inherits stdout\n"
        "seen(child=child.pid)\n"
        'print(json.dumps({"status": "placed"}), flush=True)\n')
    try:
        check(took < 20, "import took %.1f s" % took)
        check("Order status: placed." in env.show(tid)["draft"]["body"], "the fact is used")
        check(gone(seen(env)["child"]), "the lookup's child still runs")
    finally:
        env.close()


def test_lookup_does_not_see_tends_environment():
    import json
    secrets = {"TEND_AGENT": "alice", "TEND_CONFIG": "/etc/secret.yaml",
               "TEND_PASSWORD": "hunter2", "IMAP_PASSWORD": "hunter2",
               "SMTP_PASS": "hunter2"}
    env = Env(SHOP + "rules: rules.yaml\n")
    try:
        env.write("rules.yaml", FACT_RULES)
        env.write("templates/order.txt", "Order status: {{order.status|unknown}}.")
        os.chmod(env.write("lookup", FACT_PREAMBLE + "seen(env=dict(os.environ))\n"
                           'print(json.dumps({"status": "placed"}))\n'), 0o755)
        path = env.write("anna.eml", mail("Anna Meier <%s>" % ANNA, "My order",
                                          "a1@example.com", body="my order: 10482\n"))
        env.tend("import", path, env=secrets)
        eq(seen(env)["env"], {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, "its environment")
        check("hunter2" not in json.dumps(seen(env)), "a secret leaked")
    finally:
        env.close()


# ---- 14. The queue cut to the terminal (issue 17) --------------------------------------------
# A customer's name and subject are cut to fit the terminal: the cut falls between characters
# (never inside a UTF-8 sequence or a wide character), and escapes are shown as text, at any
# width, through COLUMNS and on a pseudo-terminal.

WIDE_MAIL = (
    "From: \"\x1b]52;c;ZXZpbA==\x07山田\x1b[8m太郎\u0301 Évil\" <taro@example.jp>\n"
    "To: support@shop.example\n"
    "Subject: =?utf-8?b?" + __import__("base64").b64encode(
        "電気ケトルが壊れました\x1b[2J\u009b31m返金をお願いします。🫖🫖🫖 three times".encode())
    .decode() + "?=\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <wide@example.com>\n"
    "Content-Type: text/plain; charset=utf-8\n\nMy kettle broke. Refund please.\n")


def test_queue_cut_to_any_width_prints_no_control_and_no_half_character():
    from tendtest import display_width
    env = Env(config=ESC_AGENTS)
    try:
        env.write("wide.eml", WIDE_MAIL.encode("utf-8"))
        env.import_(env.path("wide.eml"))
        for cols in range(30, 121, 7):
            p = subprocess.run(wrap([TEND, "-c", env.config, "queue"]), capture_output=True,
                               timeout=600, env=dict(os.environ, COLUMNS=str(cols)))
            check(p.returncode == 0, p.stderr)
            try:
                text = p.stdout.decode("utf-8")
            except UnicodeDecodeError as e:
                raise Failure("queue at %d columns is not UTF-8 (%s): %r" % (cols, e, p.stdout))
            m = CONTROL.search(text)
            check(m is None, "queue at %d columns holds U+%04X: %r" % (
                cols, ord(m.group()) if m else 0, text))
            check("\ufffd" not in text, "a character cut in two at %d: %r" % (cols, text))
            for line in text.splitlines():  # from 58 columns on, every line fits
                check(cols < 58 or display_width(line) <= cols,
                      "%r is wider than %d columns" % (line, cols))
        rc, text, err = env.in_pty(["queue"], cols=50, env={"NO_COLOR": "1"})
        check(rc == 0, err)
        check(not CONTROL.search(text.replace("\r\n", "\n")), "on a terminal: %r" % text)
        check("]52;c;" in text and "\u2026" in text, text)
    finally:
        env.close()


# ---- 15. Attachments (issue 17) --------------------------------------------------------------

# File names an agent may be handed: line ends and a header after them, quotes, terminal
# escapes, and a name of 254 bytes.
EVIL_NAMES = ["invoice\r\nBcc: victim@example.com\r\n\r\nhi.pdf",
              'say "hello"; filename=other.exe',
              "clip\x1b]52;c;ZXZpbA==\x07board\x9b2J.txt",
              "L" * 250 + ".pdf"]


def test_attached_file_names_cannot_add_headers():
    """Files with hostile names attached and sent: the SMTP server gets one recipient, no
    header a name tried to add, each file under a name without control characters; `tend show`
    prints no escape sequence."""
    from daemon_send import CUSTOMER, Rig, first_draft, only_message
    r = Rig()
    try:
        tid, _ = first_draft(r)
        os.mkdir(r.env.path("evil"))
        paths = []
        for i, name in enumerate(EVIL_NAMES):
            path = os.path.join(r.env.path("evil"), name).encode("utf-8", "surrogateescape")
            with open(path, "wb") as f:
                f.write(b"file %d\n" % i)
            paths.append(path)
        subprocess.run(wrap([TEND, "-c", r.env.config, "attach", "--as", "alice",
                             str(tid)]) + paths, check=True, capture_output=True)
        show = subprocess.run(wrap([TEND, "-c", r.env.config, "show", str(tid)]),
                              check=True, capture_output=True).stdout
        check(b"\x1b" not in show and b"\x9b" not in show and b"\xc2\x9b" not in show,
              "an escape reached the terminal: %r" % show)
        r.approve(tid)
        r.once()
        m = only_message(r)
        eq(m.rcpt_tos, [CUSTOMER], "RCPT TO")
        for part in [m.msg] + list(m.msg.walk()):
            for name in part.keys():
                check(name.lower() not in ("bcc", "filename"), "a header got in: %r" % name)
        names = [p.get_filename() for p in m.msg.iter_attachments()]
        eq(len(names), 4, "attachments: %r" % names)
        for n in names:
            check(not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in n), "name %r" % n)
        check(names[0].startswith("invoice") and "Bcc" in names[0], "kept, harmless: %r" % names)
        eq(names[1], "say _hello_; filename=other.exe", "quotes")
        check(len(names[3].encode()) <= 200 and names[3].endswith(".pdf"), "long: %r" % names[3])
        eq([p.get_payload(decode=True) for p in m.msg.iter_attachments()],
           [b"file %d\n" % i for i in range(4)], "the files")
    except Exception as e:
        raise r.fail_context(e)
    finally:
        r.close()


def customer_file_mail(filename):
    """A customer's message with one attachment called filename (an RFC 2231 value)."""
    return ("From: Anna Meier <anna@example.com>\nTo: support@shop.example\n"
            "Subject: Files\nMessage-ID: <files1@example.com>\n"
            "Date: Mon, 30 Nov 2026 09:00:00 +0000\nMIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\n"
            "see the file\n--B\nContent-Type: application/octet-stream\n"
            "Content-Disposition: attachment; filename*=utf-8''%s\n"
            "Content-Transfer-Encoding: base64\n\nAAEC\x1bG5vdA==\n--B--\n" % filename).encode()


def test_attachment_out_cannot_climb_or_follow_links():
    """`tend attachment` with a customer's file called ../../x: -o DIR writes inside DIR only;
    -o never follows a symbolic link nor replaces a file without --force; binary bytes never
    go to a terminal."""
    import pty
    env = Env(ESC_AGENTS)
    try:
        env.import_(env.write("files.eml", customer_file_mail("..%2F..%2Fcron%1B%5B31m")))
        os.makedirs(env.path("a/b"))
        out = env.tend("attachment", 1, 1, "-o", env.path("a/b")).out
        eq(os.listdir(env.path("a/b")), ["cron[31m"], "written inside the directory")
        check("\x1b" not in out, "no escape in: %r" % out)
        eq(sorted(os.listdir(env.path("a"))), ["b"], "nothing above it")
        env.write("victim", "precious\n")
        os.symlink(env.path("victim"), env.path("link"))
        for args in (("-o", env.path("link")), ("-o", env.path("link"), "--force"),
                     ("-o", env.path("victim"))):
            r = env.tend("attachment", 1, 1, *args, rc=1)
            check("nothing was written" in r.err, "refused: %r" % r)
        with open(env.path("victim")) as f:
            eq(f.read(), "precious\n", "the file behind the link")
        pid, fd = pty.fork()
        if pid == 0:
            argv = wrap([TEND, "-c", env.config, "attachment", "1", "1"])
            os.execvp(argv[0], argv)
        got = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
        _, status = os.waitpid(pid, 0)
        eq(os.waitstatus_to_exitcode(status), 1, "exit status on a terminal")
        check(b"not written to a terminal" in got and b"\x00\x01" not in got, "%r" % got)
    finally:
        env.close()


def test_rule_attach_through_a_link_is_refused():
    """A colleague who can write beside the rules links a rule's form to a secret file: the
    rules are refused, and no draft carries the secret."""
    env = Env(SHOP + "rules: rules.yaml\n")
    try:
        env.write("templates/voucher.txt", "See the form.\n")
        env.write("secret.txt", "the shop's private key\n")
        os.makedirs(env.path("files"))
        os.symlink(env.path("secret.txt"), env.path("files/form.pdf"))
        env.write("rules.yaml", "version: 1\nrules:\n  - name: voucher\n"
                  "    match: {body: '(?i)voucher'}\n    template: voucher\n"
                  "    attach: [files/form.pdf]\n")
        r = env.tend("rules", "check", rc=1)
        check('attach "files/form.pdf": it is reached through a symbolic link' in r.err, r.err)
        r = env.tend("import", env.write("anna.eml", mail("Anna Meier <%s>" % ANNA, "Voucher",
                                                          "a1@example.com")), rc=1)
        check("has errors" in r.err, r.err)
    finally:
        env.close()


# ---- 16. A contact form's name line (issue 16) ----------------------------------------------
# A form's Reply-To without a name takes the name from the form's "Name:" line, which the
# customer typed: terminal controls in it never reach the terminal or the draft, and a name
# longer than any name is no name ("Hello there,").

def form_mail(msgid, reply_to, name):
    return ("From: Shop Website <noreply@platform.example>\nTo: support@shop.example\n"
            "Subject: Contact form %s\nMessage-ID: <%s>\nReply-To: %s\n"
            "Date: Mon, 30 Nov 2026 09:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n"
            % (msgid, msgid, reply_to)).encode() + b"Name: " + name + b"\nWhere is my order?\n"


def test_form_name_cannot_talk_to_the_terminal():
    env = Env(config=SHOP)
    env.use_sample_rules()
    try:
        for n, name in ((1, OSC52 + b"Evil " + HIDE + b"Person"), (2, b"Anna " * 100)):
            path = env.write("f%d.eml" % n, form_mail("f%d@platform.example" % n,
                                                      "c%d@example.com" % n, name))
            terminal_output(env, "import", path)
        queue = terminal_output(env, "queue")
        check("Person " in queue and "c2@example.com" in queue, queue)
        for n in (1, 2):
            tid = thread_of(env, "f%d@platform.example" % n)
            terminal_output(env, "show", tid)
            d = env.show(tid)["draft"]
            check(not CONTROL.search(d["body"]), d["body"][:80])
        d2 = env.show(thread_of(env, "f2@platform.example"))["draft"]["body"]
        check(d2.startswith("Hello there,"), d2[:40])
    finally:
        env.close()


# ---- 17. Recipients typed in the edit file (issue 17) ----------------------------------------

def edit_recipients(env, tid, python, rc=0):
    """`tend edit` as alice with an editor running python on the file's text s; returns the
    result and the files left in $TMPDIR."""
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


def test_edit_block_adds_no_header():
    """A colleague who types a header into the To:/Cc: block, or hides one behind a carriage
    return, gets a refusal naming the line; the draft keeps its recipients."""
    env = Env(config=SHOP)
    try:
        tid = anna_writes(env)
        before = env.show(tid)["draft"]
        cases = [
            ("s = s.replace('\\nCc:', '\\nBcc: eve@example.org\\nCc:', 1)",
             'line 2, "Bcc: eve@example.org", is not a To: or Cc: line: only the recipients '
             'can be changed there'),
            ("s = s.replace('\\nCc:', '\\nReply-To: eve@example.org\\nCc:', 1)",
             'line 2, "Reply-To: eve@example.org", is not a To: or Cc: line: only the '
             'recipients can be changed there'),
            ("s = s.replace('\\nCc:', '\\nCc: a@example.org\\rBcc: eve@example.org', 1)",
             'line 2, "Cc: a@example.org Bcc: eve@example.org", has a control character in '
             'it'),
            ("s = s.replace('\\nCc:', "
             "'\\nCc: \"x\\r\\nBcc: eve@example.org\" <a@example.org>', 1)",
             'line 3, "Bcc: eve@example.org\" <a@example.org>", is not a To: or Cc: line: '
             'only the recipients can be changed there'),
            ("s = s.replace('\\nCc:', '\\nCc: <eve@example.org>\\x1b[2J', 1)",
             'line 2, "Cc: <eve@example.org>\\x1b[2J", has a control character in it'),
        ]
        for python, why in cases:
            r, kept = edit_recipients(env, tid, python, rc=1)
            eq(len(kept), 1, "the file is kept: %s" % why)
            eq(r.err, "tend: %s; nothing was saved (your text is in %s)\n" % (why, kept[0]),
               "stderr")
            eq(env.show(tid)["draft"], before, "the draft is unchanged: %s" % why)
    finally:
        env.close()


def test_edit_block_hostile_name_reads_back():
    """A customer's name with a line break and a Bcc: in it is one line of the block, quoted;
    when the agent changes Cc, it reads back as the same single recipient."""
    env = Env(config=SHOP)
    try:
        evil = "=?utf-8?q?Eve=0D=0ABcc=3A_x=40example=2Ecom=2C_y=40example=2Ecom?="
        env.import_(env.write("eve.eml", mail("%s <eve@example.com>" % evil, "Refund",
                                              "e1@example.com")))
        tid = thread_of(env, "e1@example.com")
        to = env.show(tid)["draft"]["to"]
        eq([a["email"] for a in to], ["eve@example.com"], "the draft's To")
        r, kept = edit_recipients(env, tid, "import re\n"
                                  "s = re.sub(r'(?m)^Cc:$', 'Cc: jane@example.org', s)")
        eq(kept, [], "saved")
        d = env.show(tid)["draft"]
        eq([(a["name"], a["email"]) for a in d["to"]], [(to[0]["name"], "eve@example.com")],
           "To reads back as it was")
        eq([a["email"] for a in d["cc"]], ["jane@example.org"], "Cc")
    finally:
        env.close()


# ---- 18. Approval that cannot misfire (issue 17) --------------------------------------------

from tendtest import on_terminal  # noqa: E402 (kept in this section, so that sections merge)

PREVIEW_ACCOUNT = ("accounts:\n  - name: support\n    address: support@shop.example\n"
                   "    from_name: Shop Support\n    smtp:\n      url: smtp://localhost:1\n")


def approve_on_terminal(env, tid, answer):
    """`tend approve TID` on a pseudo-terminal, answering the question: (status, shown)."""
    rc, shown, _ = on_terminal([TEND, "-c", env.config, "approve", str(tid)], answer,
                               env={"TEND_AGENT": "alice"}, stderr=subprocess.STDOUT)
    return rc, shown


def test_preview_shows_no_escapes():
    """The preview shows the customer's name and subject (escapes and all, in the To and
    Subject fields) without a control character reaching the terminal."""
    env = hostile_env()
    try:
        env.write("tend.yaml", ESC_AGENTS + PREVIEW_ACCOUNT)
        tid = env.threads()[0]["id"]
        rc, shown = approve_on_terminal(env, tid, b"n\n")
        text = shown.decode("utf-8").replace("\r\n", "\n")
        eq(rc, 1, "not approved: %r" % text)
        check("\nSubject: Re: Refund " in text and "Send this reply? [y/N] " in text, text)
        m = CONTROL.search(text)
        check(m is None, "control character U+%04X in the preview: %r" % (
            ord(m.group()) if m else 0, text))
        eq(env.show(tid)["draft"]["state"], "proposed", "nothing approved")
    finally:
        env.close()


def test_customer_cannot_block_approval():
    """A customer who writes template braces or a placeholder-like text gets an answer: the
    quoted message under the reply is not checked."""
    env = Env(config=ESC_AGENTS)
    try:
        env.use_sample_rules()
        env.write("m.eml", b"From: Anna <anna@example.com>\nTo: support@shop.example\n"
                  b"Subject: Refund order 12345\nMessage-ID: <braces@example.com>\n"
                  b"Date: Mon, 23 Nov 2026 10:00:00 +0000\n\n"
                  b"Please refund order 12345. {{customer.first_name}} {{#x}} "
                  b"[URGENT REFUND NOW]\n")
        env.import_(env.path("m.eml"))
        tid = env.threads()[0]["id"]
        body = env.show(tid)["draft"]["body"]
        check("> Please refund order 12345. {{customer.first_name}}" in body, body)
        out = env.tend("approve", tid, env={"TEND_AGENT": "alice"}).out
        check(out.startswith("Approved thread %d" % tid), out)
    finally:
        env.close()


# ---- 19. The review loop (issue 17) ---------------------------------------------------------
# `tend review` draws the conversation itself (status line, claim, what a key did, the list of
# attachments): a name, subject or file name that talks to the terminal is shown as text there
# too, and nothing but the screen's own clearing reaches the terminal as a sequence.

SCREEN = (b"\r\x1b[K", b"\x1b[H", b"\x1b[2J")  # what the loop sends to clear the screen


def test_review_loop_shows_escapes_as_text():
    import termios
    from tendtest import TEND, pty_session
    env = Env(config=ESC_AGENTS)
    try:
        body = ("--b\nContent-Type: text/plain\n\nSee the file.\n--b\nContent-Type: "
                "application/pdf\nContent-Disposition: attachment; filename=\"bill\x1b]52;c;"
                "ZXZpbA==\x07\x1b[2J.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0x\n"
                "--b--\n")
        env.import_(env.write("evil.eml", mail(
            "\"\x1b]0;pwned\x07Evil\x1b[2J\x9b31m Corp\" <evil@example.com>",
            "Refund\x1b[8m hidden\x1b]8;;http://x.example/\x07", "evil@example.com", body,
            extra="MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n")))
        t = pty_session([TEND, "-c", env.config, "review"],
                        [(b"o q ? ", b"o"), (b"Enter: none)? ", b"\r"), (b"o q ? ", b"q")],
                        rows=200, environ=dict(os.environ, TEND_AGENT="alice", NO_COLOR="1"),
                        timeout=60)
        check(t.rc == 0, t.err)
        shown = t.shown
        for seq in SCREEN:
            shown = shown.replace(seq, b"")
        text = shown.decode("utf-8").replace("\r\n", "\n")
        m = CONTROL.search(text)
        check(m is None, "U+%04X reached the terminal: %r" % (ord(m.group()) if m else 0, text))
        check("Evil" in text and "bill" in text and "Attachment 1:" in text, text)
        check(t.lflag & termios.ECHO, "echo restored")
    finally:
        env.close()



# ---- 20. The metrics file (issue 18) --------------------------------------------------------
# tendd writes metrics_file into a directory node_exporter reads, which others may write to
# too. A link planted at the temporary name must not make tendd write through it (into a file
# of the daemon's user the planter cannot touch), and the file is replaced, never written in
# place.


def test_metrics_file_link_at_temporary_name_is_not_followed():
    env = Env(config="store: store\nmetrics_file: metrics/tend.prom\n")
    try:
        os.makedirs(env.path("metrics"))
        victim = env.write("victim", "precious\n")
        os.symlink(victim, env.path("metrics/tend.prom.tmp"))
        env.tendd("--once")
        with open(victim) as f:
            eq(f.read(), "precious\n", "the link's target")
        check(not os.path.lexists(env.path("metrics/tend.prom.tmp")), "the link is gone")
        st = os.lstat(env.path("metrics/tend.prom"))
        check(stat.S_ISREG(st.st_mode), "the metrics file is a file of its own")
        eq(stat.S_IMODE(st.st_mode), 0o644, "its mode")
        with open(env.path("metrics/tend.prom")) as f:
            check("# TYPE tend_conversations gauge" in f.read(), "the figures are written")
    finally:
        env.close()


# ---- 21. Big messages' files in blobs/ (issue 18) --------------------------------------------
# A message of 1 MiB or more is kept in store/blobs/<its SHA-256>, a directory that members of
# a shared store may write in. What a member puts there (a link to root's file, a file of the
# member's under the name a message will take) is neither followed nor used: the message is
# stored and read back as it came.

import hashlib  # noqa: E402


def _big_mail(n, msgid):
    """A message of about 2 MB, as bytes; n makes its content its own."""
    line = "line %d of a long log, as customers attach them to their questions\n" % n
    return mail("Big Sender <big@example.com>", "The whole log %d" % n, msgid,
                body=line * (2 * 1000 * 1000 // len(line)))


def _blob(env, data):
    return os.path.join(env.store, "blobs", hashlib.sha256(data).hexdigest())


def _message_id(env, msgid):
    tid = thread_of(env, msgid)
    return message(env, tid, msgid)["id"]


def test_shared_store_blobs_follow_nothing():
    if not _as_root():
        return
    env = _shared_env()
    try:
        a = _big_mail(1, "big1@example.com")
        env.import_(env.write("a.eml", a))
        blobs = os.path.join(env.store, "blobs")
        st = os.stat(blobs)
        eq((oct(stat.S_IMODE(st.st_mode)), st.st_gid), (oct(0o1770), _users_gid()), "blobs/")
        st = os.lstat(_blob(env, a))
        eq((oct(stat.S_IMODE(st.st_mode)), st.st_gid), (oct(0o640), _users_gid()), "a blob")
        secret = _secret(env)
        before = _fingerprint(secret)
        got = _member_tries(blobs, os.path.basename(_blob(env, a)), secret)
        eq(got, "rename Operation not permitted\nunlink Operation not permitted\n",
           "the member replacing a blob")
        # Files planted under the names the next messages will take.
        b, c = _big_mail(2, "big2@example.com"), _big_mail(3, "big3@example.com")
        code = ("import sys; open(sys.argv[1], 'wb').write(b'x' * int(sys.argv[2])); "
                "import os; os.symlink(sys.argv[3], sys.argv[4])")
        p = _member(["/usr/bin/python3", "-c", code, _blob(env, b), str(len(b)), secret,
                     _blob(env, c)])
        check(p.returncode == 0, p.stderr.decode())
        r = env.tend("import", env.write("b.eml", b), env.write("c.eml", c))
        check("belongs to nobody, not to the store's owner root; refusing to use it" in r.err,
              r.err)
        check("is a symbolic link; refusing to use it" in r.err, r.err)
        for data, msgid in ((a, "big1@example.com"), (b, "big2@example.com"),
                            (c, "big3@example.com")):
            eq(env.raw(_message_id(env, msgid)), data, "tend raw of <%s>" % msgid)
            st = os.lstat(_blob(env, data))
            check(stat.S_ISREG(st.st_mode) and st.st_uid == 0, "%s is root's" % msgid)
        eq(_fingerprint(secret), before, "the secret")
        # The member reads them, and the member's own big message goes into data.mdb.
        code, err = _member_tend(env, "raw", str(_message_id(env, "big1@example.com")))
        eq((code, err), (0, ""), "tend raw as the member")
        d = _big_mail(4, "big4@example.com")
        files = sorted(os.listdir(blobs))
        code, err = _member_tend(env, "import", env.write("d.eml", d))
        eq(code, 0, "tend import as the member: %s" % err)
        eq(sorted(os.listdir(blobs)), files, "blobs/ after the member's import")
        eq(env.raw(_message_id(env, "big4@example.com")), d, "the member's message")
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
