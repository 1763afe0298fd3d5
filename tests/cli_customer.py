#!/usr/bin/python3
"""Who the customer is (issue 15): mail from web forms and shop platforms, whose customer is in
Reply-To, and a customer's history in `tend show` and `tend customer`, with the real binaries."""

from tendtest import Env, check, eq, run

SHOP = "store: store\naccounts:\n  - name: support\n    address: support@shop.example\n"


def mail(frm, subject, msgid, body, date="Mon, 30 Nov 2026 09:00:00 +0000", extra=""):
    return ("From: %s\nTo: support@shop.example\nSubject: %s\nMessage-ID: <%s>\nDate: %s\n%s\n%s"
            % (frm, subject, msgid, date, extra, body)).encode()


def form(msgid, reply_to, body, frm="Shop Website <noreply@platform.example>",
         subject="Contact form: Order question", date="Mon, 30 Nov 2026 09:00:00 +0000"):
    return mail(frm, subject, msgid, body, date=date, extra="Reply-To: %s\n" % reply_to)


def thread_of(env, msgid):
    for t in env.threads():
        if msgid in t["message_ids"]:
            return t
    raise AssertionError("no thread holds <%s>" % msgid)


def test_contact_form_customers_are_apart():
    env = Env(config=SHOP)
    try:
        env.import_(env.write("a.eml", form("f1@platform.example", "Anna Oak <anna@example.com>",
                                            "Name: Anna Oak\nWhere is my order 48211?\n")))
        env.import_(env.write("b.eml", form("f2@platform.example", "Ben Birch <ben@example.org>",
                                            "Name: Ben Birch\nWhere is my order 48212?\n")))
        a, b = thread_of(env, "f1@platform.example"), thread_of(env, "f2@platform.example")
        check(a["id"] != b["id"], "two customers of one form in one conversation")
        eq((a["customer"]["email"], b["customer"]["email"]), ("anna@example.com", "ben@example.org"),
           "customers")
        for t, first, email in ((a, "Anna", "anna@example.com"), (b, "Ben", "ben@example.org")):
            d = env.show(t["id"])["draft"]
            eq([x["email"] for x in d["to"]], [email], "the draft's To")
            check(d["body"].startswith("Hello %s," % first), d["body"][:80])
        queue = env.tend("queue").out  # the queue names customers; --json has the address
        check("  Anna Oak  " in queue and "  Ben Birch  " in queue, queue)
        eq(sorted(i["customer"]["email"] for i in env.json("queue", "--json")),
           ["anna@example.com", "ben@example.org"], "the customers in queue --json")
        out = env.tend("show", a["id"]).out
        check("Through a form: noreply@platform.example sent it for anna@example.com" in out, out)
        # Anna writes through the form again: her conversation, by subject, not Ben's.
        env.import_(env.write("a2.eml", form("f3@platform.example", "anna@example.com",
                                             "Any news?\n", date="Mon, 30 Nov 2026 10:00:00 +0000")))
        eq(thread_of(env, "f3@platform.example")["id"], a["id"], "Anna's second form mail")
        eq(len(thread_of(env, "f2@platform.example")["message_ids"]), 1, "Ben's conversation")
    finally:
        env.close()


def test_form_name_line_names_a_customer_without_one():
    env = Env(config=SHOP)
    try:
        env.import_(env.write("a.eml", form(
            "n1@platform.example", "fatima.rahman@example.org",
            "New message from the contact form\n\nName: Fatima Rahman\n"
            "Email: fatima.rahman@example.org\n\nMessage:\nPlease cancel my order.\n")))
        env.import_(env.write("b.eml", form(
            "n2@platform.example", "i.krause@example.de",
            "Neue Nachricht\n\nName: Frau Ingrid Krause\nBestellnummer: 10511\n",
            subject="Kontaktformular: Lieferung")))
        # A name in Reply-To is the customer's own: the form's line does not replace it.
        env.import_(env.write("c.eml", form(
            "n3@platform.example", "Ben Birch <ben@example.org>", "Name: Somebody Else\nHi\n",
            subject="Contact form: Hello")))
        for msgid, first, whole in (("n1", "Fatima", "Fatima Rahman"),
                                    ("n2", "Ingrid", "Frau Ingrid Krause"),
                                    ("n3", "Ben", "Ben Birch")):
            t = thread_of(env, msgid + "@platform.example")
            eq(t["customer"]["name"], whole, "the customer's name")
            d = env.show(t["id"])["draft"]
            check(d["body"].startswith("Hello %s," % first), d["body"][:80])
        queue = env.tend("queue").out
        check("Fatima Rahman " in queue, queue)  # the name, as the queue shows customers
    finally:
        env.close()


def test_configured_form_senders_and_plain_mail():
    env = Env(config=SHOP + "form_senders: [orders@shop-platform.example, '@forms.example']\n")
    try:
        for n, frm in enumerate(("Shop <orders@shop-platform.example>", "web@forms.example",
                                 "Contact <wordpress@shop.example>"), 1):
            env.import_(env.write("f%d.eml" % n, form("f%d@x" % n, "c%d@example.com" % n,
                                                      "Question %d\n" % n, frm=frm)))
            eq(thread_of(env, "f%d@x" % n)["customer"]["email"], "c%d@example.com" % n, frm)
        # A person's own Reply-To does not make someone else the customer; a form without one
        # address in Reply-To keeps its sender.
        env.import_(env.write("p.eml", mail("Anna <anna@example.com>", "Hi", "p@x", "Hello\n",
                                            extra="Reply-To: anna@work.example\n")))
        eq(thread_of(env, "p@x")["customer"]["email"], "anna@example.com", "a person")
        env.import_(env.write("two.eml", form("two@x", "a@example.com, b@example.com", "Hi\n")))
        eq(thread_of(env, "two@x")["customer"]["email"], "noreply@platform.example", "two")
    finally:
        env.close()


def test_customer_history():
    env = Env(config=SHOP)
    try:
        subjects = ["Voucher expired", "Table delivery", "Invoice please"]
        for n, subject in enumerate(subjects, 1):
            env.import_(env.write("m%d.eml" % n, mail(
                "Anna Oak <anna@example.com>", subject, "m%d@example.com" % n, "Text %d\n" % n,
                date="Mon, %d Nov 2026 09:00:00 +0000" % (10 + n))))
        # The first is answered (our reply, from an archive of sent mail).
        env.json("import", "--json", "--sent", env.write("r.eml", mail(
            "support@shop.example", "Re: Voucher expired", "r1@shop.example", "Done.\n",
            date="Mon, 12 Nov 2026 09:00:00 +0000", extra="In-Reply-To: <m1@example.com>\n")))
        env.import_(env.write("o.eml", mail("Ben <ben@example.org>", "Voucher expired",
                                            "b1@example.org", "Mine too\n")))
        ids = [thread_of(env, "m%d@example.com" % n)["id"] for n in (1, 2, 3)]
        hist = env.show(ids[2])["customer_history"]
        eq([(h["id"], h["state"]) for h in hist], [(ids[1], "open"), (ids[0], "answered")],
           "open first, then the rest, newest first")
        out = env.tend("show", ids[2]).out
        check("Other conversations of this customer:" in out and "Table delivery" in out, out)
        check("Mine too" not in out, "another customer's conversation")
        c = env.json("customer", "--json", "ANNA@example.com")
        eq([t["id"] for t in c["conversations"]], [ids[2], ids[1], ids[0]], "tend customer")
        first = [t for t in c["conversations"] if t["id"] == ids[0]][0]
        eq([(m["message_id"], m["ours"]) for m in first["messages"]],
           [("m1@example.com", False), ("r1@shop.example", True)], "messages exchanged")
        human = env.tend("customer", "anna@example.com").out
        check(human.startswith("3 conversations with anna@example.com") and "  us  " in human,
              human)
        eq(env.tend("customer", "nobody@example.com").out,
           "No conversations with nobody@example.com.\n", "none")
    finally:
        env.close()


def test_greeting_uses_the_customers_first_name():
    env = Env(config=SHOP)
    try:
        names = (("MR JOHN SMITH", "Hello John,"), ("Dr. Anna Berg", "Hello Anna,"),
                 ('"Kowalski, ANNA"', "Hello Anna,"), ("Frau", "Hello there,"),
                 ("sean o'brien", "Hello Sean,"))
        for n, (name, _) in enumerate(names):
            env.import_(env.write("n%d.eml" % n, mail("%s <c%d@example.com>" % (name, n),
                                                      "Question %d" % n, "n%d@x" % n, "Hi\n")))
        for n, (name, greeting) in enumerate(names):
            out = env.tend("show", thread_of(env, "n%d@x" % n)["id"]).out
            check("\n" + greeting + "\n" in out, "%s: %s" % (name, out))
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
