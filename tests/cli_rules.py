#!/usr/bin/python3
"""Rules and drafts as operators and agents meet them: `tend rules check/test/replay`, and the
tags and drafts that importing the sample mail with the sample rules produces."""

import os

from tendtest import Env, check, eq, run, sample_mail


def sample(name):
    return os.path.join(sample_mail(), name)


def with_rules():
    env = Env(config="store: store\naccounts:\n  - name: support\n"
                     "    address: support@shop.example\n    from_name: Shop Support\n")
    env.use_sample_rules()
    return env


def by_subject(env, part):
    hits = [t for t in env.threads() if part in t["subject"]]
    eq(len(hits), 1, "threads with %r in the subject" % part)
    return env.show(hits[0]["id"])


def test_sample_rules_check_ok():
    env = with_rules()
    try:
        r = env.tend("rules", "check")
        check(r.out.startswith(env.path("rules.yaml") + ": OK ("), r.out)
    finally:
        env.close()


def test_rules_check_reports_every_error_with_position():
    env = Env()
    try:
        env.write("templates/refund.txt", "Hello {{customer.name}}, order {{oder}}.\n")
        env.write("rules.yaml", "version: 1\n"
                  "rules:\n"
                  "  - name: refund\n"
                  "    match: {subject: '(?i)refund)'}\n"
                  "    capture: {order: '(?<order>\\d+)'}\n"
                  "    template: refund\n"
                  "    priority: hihg\n"
                  "  - name: refund\n"
                  "    match: {body: 'x'}\n"
                  "    tempalte: nothing\n")
        r = env.tend("rules", "check", rc=1)
        path = env.path("rules.yaml")
        for want in (
                path + ':4:33: bad regex in rule "refund" subject: unmatched closing parenthesis',
                path + ':7:15: "priority" must be one of urgent, high, normal, low',
                path + ':8:11: duplicate rule name "refund" (first used at 3:11)',
                path + ':10:5: unknown key "tempalte"',
                'templates/refund.txt:1:34: unknown variable "oder"'):
            check(want in r.err, "missing %r in:\n%s" % (want, r.err))
        check(r.err.strip().endswith("5 errors"), r.err)
        # A broken file changes nothing: import refuses to run with it.
        r = env.tend("import", sample_mail(), rc=1)
        check("has errors" in r.err, r.err)
    finally:
        env.close()


def test_rules_test_explains_german_refund():
    env = with_rules()
    try:
        r = env.tend("rules", "test", sample("08-rueckerstattung-de.eml"))
        check("rule refund: matched" in r.out, r.out)
        check('matched "Rückerstattung"' in r.out or "Rückerstattung" in r.out, r.out)
        j = env.json("rules", "test", "--json", sample("08-rueckerstattung-de.eml"))
        names = [m["name"] for m in j["rules"]]
        check("refund" in names, names)
        check(j["draft"] is not None and "Jürgen" in j["draft"]["body"], j["draft"])
        j = env.json("rules", "test", "--json", sample("12-out-of-office.eml"))
        check(j["automated"] and j["draft"] is None, j)
    finally:
        env.close()


def test_multi_concern_draft_answers_each_concern_once():
    env = with_rules()
    try:
        env.import_(sample_mail())
        th = by_subject(env, "voucher, new address")
        d = th["draft"]
        eq(d["parts"], ["voucher", "address_change", "order_change_too_late"], "parts")
        reply = d["body"].split(" wrote:\n")[0]
        paragraphs = [p for p in reply.split("\n\n") if p.strip()]
        eq(len(paragraphs), len(set(paragraphs)), "paragraphs that repeat")
        # Greeting, one paragraph or more per concern, closing, and the quote's attribution.
        check(len(paragraphs) >= 6, "paragraphs: %r" % paragraphs)
        check("SPRING10" in reply, "the voucher code is named")
        check("Brighton" in reply or "address" in reply, "the address change is answered")
        check(d["body"].startswith("Hello Sophie,"), d["body"][:40])
        check("10488" in d["body"], "the captured order number")
        eq(d["subject"], "Re: Order #10488 - voucher, new address and one item to remove [#%d]"
           % th["id"], "subject")
        eq([a["email"] for a in d["to"]], ["sophie.laurent@example.com"], "to")
        eq(d["cc"], [], "cc: never our own address")
        check(set(["voucher", "address"]) <= set(th["tags"]), th["tags"])
    finally:
        env.close()


def test_html_only_and_german_mail_are_tagged():
    env = with_rules()
    try:
        env.import_(sample_mail())
        # The subject asks for the refund: it comes first, though cancel's rule comes first.
        eq(by_subject(env, "Rückerstattung")["draft"]["parts"], ["refund", "cancel"], "German")
        check("refund" in by_subject(env, "Rückerstattung")["tags"], "refund tag")
        eq(by_subject(env, "delivery of my sofa")["draft"]["parts"], ["delivery_info"], "HTML")
    finally:
        env.close()


def test_automatic_mail_gets_no_draft():
    env = with_rules()
    try:
        env.import_(sample_mail())
        th = by_subject(env, "Automatic reply")
        eq(th["state"], "ignored", "state")
        check(th["draft"] is None, "draft: %r" % th["draft"])
        q = env.json("queue", "--json")
        check(all("Automatic reply" not in i["subject"] for i in q), "queue")
        eq(len(q), len(env.threads()) - 1, "every other conversation is in the queue")
    finally:
        env.close()


def test_replay_shows_what_a_changed_file_would_do():
    env = with_rules()
    try:
        env.import_(sample_mail())
        r = env.tend("rules", "replay")
        check(r.out.startswith("0 of 11 conversations"), r.out)
        with open(env.path("rules.yaml")) as f:
            text = f.read()
        changed = env.write("changed.yaml", text.replace("tags: [voucher]", "tags: [coupon]"))
        j = env.json("rules", "replay", "--json", changed)
        subjects = sorted(x["subject"] for x in j)
        eq(len(j), 2, "conversations tagged differently: %r" % subjects)
        for x in j:
            check("voucher" in x["before"]["tags"] and "coupon" in x["after"]["tags"], x)
    finally:
        env.close()


def test_rules_check_reports_broken_sections():
    env = Env()
    try:
        env.write("templates/refund.txt",
                  "About your refund{{#order}} for the order {{order}}:\n"
                  "{{#order}}x{{/oder}}\n")
        env.write("rules.yaml", "version: 1\n"
                  "rules:\n"
                  "  - name: refund\n"
                  "    match: {subject: '(?i)refund'}\n"
                  "    capture: {order: '(?<order>\\d+)'}\n"
                  "    template: refund\n")
        r = env.tend("rules", "check", rc=1)
        for want in (
                'templates/refund.txt:2:12: "{{/oder}}" where "{{/order}}" was expected, to close'
                ' "{{#order}}" of line 2, column 1',
                'templates/refund.txt:1:18: section "{{#order}}" is never closed (no'
                ' "{{/order}}")'):
            check(want in r.err, "missing %r in:\n%s" % (want, r.err))
        check(r.err.strip().endswith("2 errors"), r.err)
        # A section on a variable the rule cannot fill is found like any other variable.
        env.write("templates/refund.txt", "{{^code}}\nNo voucher.\n{{/code}}\n")
        r = env.tend("rules", "check", rc=1)
        check('templates/refund.txt:1:4: unknown variable "code" (rule "refund" knows: order,'
              in r.err, r.err)
        env.write("templates/refund.txt",
                  "About your refund{{#order}} for the order {{order}}{{/order}}:\n")
        r = env.tend("rules", "check")
        check(": OK (" in r.out, r.out)
    finally:
        env.close()


def mail(msgid, sender, subject, body, date, reply_to_id=None):
    h = ["From: %s" % sender, "To: support@shop.example", "Subject: %s" % subject,
         "Date: %s" % date, "Message-ID: <%s>" % msgid]
    if reply_to_id:
        h += ["In-Reply-To: <%s>" % reply_to_id, "References: <%s>" % reply_to_id]
    return "\n".join(h) + "\n\n" + body + "\n"


CUSTOMER = "Mia Berg <mia@example.org>"


def test_rules_test_puts_parts_in_the_customers_order():
    env = with_rules()
    try:
        # Delivery first, then the order change, then the voucher; the complaint is pinned.
        eml = env.write("three.eml", mail(
            "c1@example.org", CUSTOMER, "A few questions",
            "Will the driver carry it upstairs? Please remove the lamp from my order 10490.\n"
            "My voucher code SPRING10 was not accepted.\n"
            "I have been waiting and still have no answer to my last mail.",
            "Tue, 1 Dec 2026 10:00:00 +0100"))
        r = env.tend("rules", "test", eml)
        check("draft: greeting + slow-answer + delivery-info + order-change + voucher + "
              "closing\n" in r.out, r.out)
        check("parts in the customer's order: slow_answer (place: first), delivery_info "
              "(body, character 10), order_change (body, character 43), voucher (body, "
              "character 83)\n" in r.out, r.out)
        body = r.out.split("\nSubject: ")[1]
        order = [body.index(w) for w in ("sorry", "driver", "24 hours", "SPRING10")]
        eq(order, sorted(order), "where each part starts in the draft")
    finally:
        env.close()


def test_parts_both_in_the_subject_go_by_the_body():
    env = Env(config="store: store\n")
    try:
        for name in ("cancel", "voucher", "refund"):
            env.write("templates/%s.txt" % name, "About the %s." % name)
        # The file names cancel first; the customer raised the voucher first. The refund is
        # in the subject only: it stays at the start.
        env.write("rules.yaml", "version: 1\nrules:\n"
                  "  - {name: cancel, template: cancel, match: {any: [{subject: '(?i)cancel'},"
                  " {body: '(?i)please cancel'}]}}\n"
                  "  - {name: voucher, template: voucher, match: {any: [{subject: '(?i)voucher'},"
                  " {body: '(?i)voucher'}]}}\n"
                  "  - {name: refund, template: refund, match: {any: [{subject: '(?i)refund'},"
                  " {body: '(?i)my refund'}]}}\n")
        eml = env.write("t.eml", mail(
            "t1@example.org", CUSTOMER, "voucher + cancellation + refund",
            "Two things. I never got my birthday voucher.\nAlso please cancel order 10601.",
            "Tue, 1 Dec 2026 10:00:00 +0100"))
        r = env.tend("rules", "test", eml)
        check("draft: built-in greeting + refund + voucher + cancel + built-in closing\n" in r.out,
              r.out)
        check("parts in the customer's order: refund (subject), voucher (subject; body, "
              "character 37), cancel (subject; body, character 51)\n" in r.out, r.out)
        j = env.json("rules", "test", "--json", eml)
        body = j["draft"]["body"]
        order = [body.index("About the " + w) for w in ("refund", "voucher", "cancel")]
        eq(order, sorted(order), "where each part starts in the draft")
    finally:
        env.close()

def sample_message(env, name, subject, body, frm="Anna Berg <anna@example.com>"):
    return env.write(name, "From: %s\nTo: support@shop.example\nSubject: %s\n"
                     "Message-ID: <%s@example.com>\nDate: Mon, 30 Nov 2026 09:00:00 +0000\n\n%s"
                     % (frm, subject, name, body))


def test_sample_drafts_keep_sentences_whole_without_a_capture():
    env = with_rules()
    try:
        env.import_(sample_message(env, "a.eml", "Returning the table",
                                   "Hello, I would like to return the table, it is too big.\n"))
        env.import_(sample_message(env, "b.eml", "Returning the shelf",
                                   "Hello, I would like to return the shelf from order 10455.\n"))
        out = env.tend("show", by_subject(env, "the table")["id"]).out
        check("About returning your order: I'm sorry" in out, out)
        check("you wrote about" not in out and "{{#" not in out and "{{/" not in out, out)
        out = env.tend("show", by_subject(env, "the shelf")["id"]).out
        check("About returning the order 10455: I'm sorry" in out, out)
    finally:
        env.close()


def test_follow_up_draft_takes_the_order_number_from_the_first_message():
    env = with_rules()
    try:
        env.import_(env.write("mail/1.eml", mail(
            "f1@example.org", CUSTOMER, "Change to my order",
            "Could you change order 10490? The table should be 120 cm wide.",
            "Tue, 1 Dec 2026 10:00:00 +0100")))
        env.import_(env.write("mail/2.eml", mail(
            "f2@shop.example", "Shop Support <support@shop.example>", "Re: Change to my order",
            "We will ask the workshop.", "Tue, 1 Dec 2026 12:00:00 +0100", "f1@example.org")))
        env.import_(env.write("mail/3.eml", mail(
            "f3@example.org", CUSTOMER, "Re: Change to my order",
            "Any news? I would also like to swap the legs on my order for oak ones.",
            "Wed, 2 Dec 2026 09:00:00 +0100", "f2@shop.example")))
        th = by_subject(env, "Change to my order")
        d = th["draft"]
        eq(d["parts"], ["order_change"], "parts")
        check("About the changes to the order 10490:" in d["body"], d["body"])
        first = [m["id"] for m in th["messages"] if "f1@example.org" in m["message_id"]][0]
        want = "order = 10490 (from message %d, 1 Dec)" % first
        eq(d["captures"], [want], "captures")
        r = env.tend("show", th["id"])
        check("Captured: " + want + "\n" in r.out, r.out)
        # rules test finds the conversation a follow-up belongs to, and says the same.
        r = env.tend("rules", "test", env.path("mail/3.eml"))
        check('capture order = "10490" (from message %d, 1 Dec)\n' % first in r.out, r.out)
        j = env.json("rules", "test", "--json", env.path("mail/3.eml"))
        eq(j["rules"][-1]["captured_from"], {"order": "message %d, 1 Dec" % first}, "json")
    finally:
        env.close()


def test_formal_greeting_with_a_section():
    env = with_rules()
    try:
        env.write("templates/greeting.txt",
                  "{{#customer.title}}\n"
                  "Dear {{customer.title}} {{customer.last_name}},\n"
                  "{{/customer.title}}\n"
                  "{{^customer.title}}\n"
                  "Hello {{customer.first_name|there}},\n"
                  "{{/customer.title}}\n")
        env.import_(sample_message(env, "a.eml", "Returning the table", "Can I return it?\n",
                                   frm='"Berg, Dr. Anna" <anna@example.com>'))
        env.import_(sample_message(env, "b.eml", "Returning the shelf", "Can I return it?\n",
                                   frm="shelf@example.com"))
        d = by_subject(env, "the table")["draft"]
        check(d["body"].startswith("Dear Dr. Berg,\n\nAbout returning"), d["body"][:60])
        d = by_subject(env, "the shelf")["draft"]
        check(d["body"].startswith("Hello there,\n\nAbout returning"), d["body"][:60])
    finally:
        env.close()


def test_priority_of_a_rule_without_one_is_normal():
    env = with_rules()
    try:
        # delivery_info says no priority; a rule with priority low matches too.
        with open(env.path("rules.yaml")) as f:
            text = f.read()
        text = text.replace("rules:\n", "rules:\n  - {name: note, match: {body: driver}, "
                            "priority: low}\n", 1)
        env.write("rules.yaml", text)
        eml = env.write("d.eml", mail("p1@example.org", CUSTOMER, "Hello",
                                      "Will the driver carry it upstairs?",
                                      "Tue, 1 Dec 2026 10:00:00 +0100"))
        j = env.json("rules", "test", "--json", eml)
        eq(sorted(m["name"] for m in j["rules"]), ["delivery_info", "note"], "rules")
        eq(j["priority"], "normal", "priority")
    finally:
        env.close()


RETURNS_RULES = ("version: 1\n"
                 "rules:\n"
                 "  - name: returns\n"
                 "    match: {subject: '(?i)return'}\n"
                 "    template: returns\n"
                 "    attach: [files/returns-form.pdf]\n")


def test_rule_attaches_a_file():
    """A rule's `attach:` puts the file in every draft its part is in (a copy: changing the file
    later changes no draft written before); an agent's own attachment stays when the draft is
    written again; `tend detach` can take the rule's file out."""
    env = Env()
    try:
        env.write("templates/returns.txt", "Please fill in the form attached.\n")
        env.write("files/returns-form.pdf", b"%PDF-1.4 form")
        env.write("rules.yaml", RETURNS_RULES)
        check(env.tend("rules", "check").out.startswith(env.path("rules.yaml") + ": OK"),
              "rules check")
        env.write("in/1.eml", mail("r1@example.org", CUSTOMER, "Return my lamp", "How?",
                                   "Tue, 1 Dec 2026 10:00:00 +0100"))
        env.import_(env.path("in/1.eml"))
        d = env.show(1)["draft"]
        eq([(a["filename"], a["content_type"], a["size"], a["rule"]) for a in d["attachments"]],
           [("returns-form.pdf", "application/pdf", 13, "returns")], "the rule's file")
        check("Attachment 1: returns-form.pdf (application/pdf, 13 bytes) from rule returns\n"
              in env.tend("show", 1).out, "tend show names the rule")
        env.write("mine.txt", "mine\n")
        env.tend("attach", "--as", "alice", 1, env.path("mine.txt"))
        env.write("files/returns-form.pdf", b"%PDF-1.4 form, second edition")
        env.write("in/2.eml", mail("r2@example.org", CUSTOMER, "Re: Return my lamp", "Hello?",
                                   "Tue, 1 Dec 2026 11:00:00 +0100", "r1@example.org"))
        env.import_(env.path("in/2.eml"))
        eq([(a["filename"], a["size"], a["rule"]) for a in env.show(1)["draft"]["attachments"]],
           [("mine.txt", 5, None), ("returns-form.pdf", 29, "returns")],
           "written again: the agent's file first, the rule's as it is now")
        env.tend("detach", "--as", "alice", 1, "2")
        eq([a["filename"] for a in env.show(1)["draft"]["attachments"]], ["mine.txt"],
           "the rule's file detached")
    finally:
        env.close()


def test_rules_check_refuses_bad_attachments():
    """`tend rules check` names every `attach:` that cannot be: missing, leading out of the
    rules directory, through a symbolic link, a directory, too big."""
    env = Env()
    try:
        env.write("templates/returns.txt", "Please fill in the form attached.\n")
        env.write("secret.txt", "not for customers\n")
        os.makedirs(env.path("files/dir"))
        os.symlink(env.path("secret.txt"), env.path("files/link.pdf"))
        os.symlink(env.path("."), env.path("linkdir"))
        with open(env.path("files/big.bin"), "wb") as f:
            f.truncate(11 << 20)
        env.write("rules.yaml", RETURNS_RULES.replace(
            "[files/returns-form.pdf]", "[files/missing.pdf, ../secret.txt, /etc/passwd, "
            "files/link.pdf, linkdir/secret.txt, files/dir, files/big.bin]"))
        r = env.tend("rules", "check", rc=1)
        where = env.path("rules.yaml") + ":6:"
        for want in ('rule "returns": attach "files/missing.pdf": cannot read it: No such file',
                     'attach "../secret.txt": it leads out of the rules file\'s directory',
                     'attach "/etc/passwd": not a path relative to the rules file\'s directory',
                     'attach "files/link.pdf": it is reached through a symbolic link',
                     'attach "linkdir/secret.txt": it is reached through a symbolic link',
                     'attach "files/dir": not a regular file',
                     'attach "files/big.bin": it has 11534336 bytes, more than the 10485760'):
            check(where in r.err and want in r.err, "missing %r in:\n%s" % (want, r.err))
        check(r.err.strip().endswith("7 errors"), r.err)
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
