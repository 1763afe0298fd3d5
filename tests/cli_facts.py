#!/usr/bin/python3
"""Facts (issue 16): lookups in rules.yaml as operators and agents meet them, with the sample
rules and their lookup over config/lookups/orders.json: the draft applies the policy the
facts decide, a failed lookup falls back to the rules without facts and tells the agent,
`tend rules test` shows the facts, `tend rules check` checks the lookups."""

import json
import os

from tendtest import Env, check, eq, run


def shop(orders=None):
    """The sample rules and lookup; orders (number -> fields) replace orders.json."""
    env = Env(config="store: store\naccounts:\n  - name: support\n"
                     "    address: support@shop.example\n    from_name: Shop Support\n"
                     "rules: rules.yaml\n")
    env.use_sample_rules()
    if orders is not None:
        env.write("lookups/orders.json", json.dumps(orders))
    return env


def order_mail(env, number, msgid, subject="Change to my order", date=None):
    """A customer's mail about order number, written date (an RFC 5322 date; None: now, so
    that an order placed_hours_ago was placed that long before the customer wrote)."""
    if date is None:
        import email.utils
        date = email.utils.formatdate()
    return env.write(msgid + ".eml", (
        "From: Priya Shah <priya@example.org>\nTo: support@shop.example\n"
        "Subject: %s\nMessage-ID: <%s>\nDate: %s\n\n"
        "Hello, could you please change the colour on my order #%s to natural oak?\n"
        "Thanks, Priya\n" % (subject, msgid, date, number)).encode())


def draft_of(env, msgid):
    for t in env.threads():
        if msgid in t["message_ids"]:
            return t["id"], env.show(t["id"])["draft"]
    raise AssertionError("no thread holds <%s>" % msgid)


IN_TIME = "within the 24 hours in which we can still change an order, so I have made the changes"
TOO_LATE = "so I cannot simply change it any more"
HEDGED = "If your request reached us within that time"


def test_order_placed_3_hours_ago_gets_the_in_time_answer():
    env = shop({"20001": {"status": "placed", "placed_hours_ago": 3},
                "20002": {"status": "paid", "placed_hours_ago": 30}})
    try:
        env.import_(order_mail(env, "20001", "in-time@example.org"),
                    order_mail(env, "20002", "late@example.org", subject="My other order"))
        tid, d = draft_of(env, "in-time@example.org")
        eq(d["parts"], ["order_change_in_time"], "parts inside the 24 hours")
        check(IN_TIME in d["body"] and HEDGED not in d["body"], d["body"])
        eq(d["lookup_failures"], [], "failures")
        check("Lookup" not in env.tend("show", tid).out, "a failure shown")
        tid, d = draft_of(env, "late@example.org")
        eq(d["parts"], ["order_change_too_late"], "parts outside the 24 hours")
        check(TOO_LATE in d["body"] and HEDGED not in d["body"], d["body"])
    finally:
        env.close()


def test_old_mail_is_judged_as_of_when_it_was_written():
    """`tend import` of mail written days ago: an order placed an hour before the customer
    asked was in time, however long ago that was (fact_age measures against the mail)."""
    import datetime
    import email.utils
    wrote = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) \
        - datetime.timedelta(days=5)
    placed = (wrote - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = (wrote - datetime.timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = shop({"20001": {"status": "placed", "placed_at": placed},
                "20002": {"status": "placed", "placed_at": late}})
    try:
        date = email.utils.format_datetime(wrote)
        path = order_mail(env, "20001", "old@example.org", date=date)
        env.import_(path, order_mail(env, "20002", "older@example.org",
                                     subject="My other order", date=date))
        tid, d = draft_of(env, "old@example.org")
        eq(d["parts"], ["order_change_in_time"], "parts of the order placed 1h before the mail")
        check(IN_TIME in d["body"], d["body"])
        tid, d = draft_of(env, "older@example.org")
        eq(d["parts"], ["order_change_too_late"], "parts of the order placed 25h before")
        out = env.tend("rules", "test", path).out
        check("fact_age order.placed_at '<24h': held (%s is 1h before the message's Date)"
              % placed in out, out)
    finally:
        env.close()


def test_failed_lookup_falls_back_and_tells_the_agent():
    env = shop({"20001": {"status": "placed", "placed_hours_ago": 3}})
    try:
        env.import_(order_mail(env, "99999", "unknown@example.org"))
        tid, d = draft_of(env, "unknown@example.org")
        eq(d["parts"], ["order_change"], "the rules without facts")
        check(HEDGED in d["body"], d["body"])
        why = "Lookup order failed: exited with status 1: no order 99999"
        eq(d["lookup_failures"], [why], "failures")
        check("Lookup" not in d["body"], "the customer is told: %s" % d["body"])
        out = env.tend("show", tid).out
        check(why + ": the draft follows the rules without its facts." in out, out)
        # A lookup that is not there any more: the same, with its reason.
        env.write("lookups/orders.json", "not json")
        env.import_(order_mail(env, "20001", "broken@example.org", subject="Another change"))
        _, d = draft_of(env, "broken@example.org")
        eq(d["parts"], ["order_change"], "the rules without facts")
        check(d["lookup_failures"][0].startswith("Lookup order failed: exited with status 1:"),
              d["lookup_failures"])
    finally:
        env.close()


def test_redraft_uses_the_facts_recorded_on_arrival():
    env = shop({"20001": {"status": "placed", "placed_hours_ago": 3}})
    try:
        env.import_(order_mail(env, "20001", "first@example.org"))
        # The shop's system is down when the customer writes again: the first message's
        # facts, recorded when it arrived, still decide its part of the new draft.
        env.write("lookups/orders.json", "{}")
        env.write("follow.eml", (
            "From: Priya Shah <priya@example.org>\nTo: support@shop.example\n"
            "Subject: Re: Change to my order\nMessage-ID: <second@example.org>\n"
            "In-Reply-To: <first@example.org>\nReferences: <first@example.org>\n"
            "Date: Wed, 02 Dec 2026 22:14:37 +0100\n\nAnd thank you for the quick help!\n"
            ).encode())
        env.import_(env.path("follow.eml"))
        _, d = draft_of(env, "second@example.org")
        check("order_change_in_time" in d["parts"], d["parts"])
    finally:
        env.close()


def test_sample_orders_were_placed_before_the_sample_mail():
    """The demo's story (contrib/demo: the sample mail, the sample rules and orders.json): a
    draft never says an order was placed after the customer wrote about it."""
    import datetime
    import re
    from tendtest import sample_mail
    env = shop()
    try:
        env.import_(sample_mail())
        said = []
        for t in env.threads():
            th = env.show(t["id"])
            body = (th.get("draft") or {}).get("body") or ""
            for placed in re.findall(r"placed (?:it )?on (\d{1,2} [A-Z][a-z]+ \d{4})", body):
                day = datetime.datetime.strptime(placed, "%d %B %Y").date()
                wrote = min(datetime.datetime.fromisoformat(m["date"].replace("Z", "+00:00"))
                            for m in th["messages"]).date()
                said.append(placed)
                check(day <= wrote, "thread %d: the draft says the order was placed on %s, "
                      "after the customer wrote on %s:\n%s" % (t["id"], placed, wrote, body))
        check(len(said) >= 2, "drafts that say when an order was placed: %r" % said)
    finally:
        env.close()
    # The demo appends the sample mail to dovecot now, and tendd judges it as of its arrival:
    # the same mail dated now. Every order is days old then; a draft that says an order is
    # with the workshop must not show a status that says otherwise.
    import email.utils
    env = shop()
    try:
        now = email.utils.formatdate(localtime=True)
        for name in sorted(os.listdir(sample_mail())):
            data = open(os.path.join(sample_mail(), name), "rb").read().decode()
            data = re.sub(r"(?m)^Date: .*$", "Date: " + now, data, count=1)
            env.write(name, data)
            env.import_(env.path(name))
        for t in env.threads():
            body = (env.show(t["id"]).get("draft") or {}).get("body") or ""
            check(not re.search(r"with our workshop \((placed|paid)\)", body),
                  "thread %d: the draft contradicts the order's status:\n%s" % (t["id"], body))
    finally:
        env.close()


def test_rules_test_shows_the_facts():
    env = shop({"20001": {"status": "placed", "placed_hours_ago": 3}})
    try:
        path = order_mail(env, "20001", "test@example.org")
        out = env.tend("rules", "test", path).out
        check('lookup order: "%s" "20001"\n' % env.path("lookups/shop-order") in out, out)
        check('  fact order.status = "placed"\n' in out, out)
        check("rule order_change_in_time: matched" in out, out)
        check("fact_age order.placed_at '<24h': held (" in out, out)
        j = env.json("rules", "test", "--json", path)
        eq(j["facts"]["order.status"], "placed", "facts in --json")
        eq(j["lookup_failures"], [], "failures in --json")
    finally:
        env.close()


def test_rules_check_checks_the_lookups():
    env = Env(config="store: store\nrules: rules.yaml\n")
    try:
        os.chmod(env.write("lookups/ok", "#!/bin/sh\necho '{}'\n"), 0o755)
        env.write("lookups/not-executable", "#!/bin/sh\n")
        env.write("templates/t.txt", "{{order.status}} {{shipment.status}}\n")
        env.write("rules.yaml", "version: 1\n"
                  "facts:\n"
                  "  order: {command: [lookups/ok, '{{order}}', '{{nothing}}'], timeout: 2m}\n"
                  "  missing: {command: [/nonexistent/lookup]}\n"
                  "  noexec: {command: [lookups/not-executable]}\n"
                  "  customer: {command: [lookups/ok]}\n"
                  "rules:\n"
                  "  - name: r\n"
                  "    match: {body: x, fact: {order.status: '^paid$', ship.x: y}, "
                  "fact_age: {order.placed_at: '24h'}}\n"
                  "    capture: {order: '(?<order>\\d+)'}\n"
                  "    template: t\n")
        r = env.tend("rules", "check", rc=1)
        path = env.path("rules.yaml")
        for want in (
                path + ':3:46: lookup "order": no rule captures "nothing"',
                path + ':3:71: "timeout" must be a duration of at most 60s',
                path + ':4:23: lookup "missing": no program /nonexistent/lookup',
                path + ':5:22: lookup "noexec": %s is not executable'
                % env.path("lookups/not-executable"),
                path + ':6:3: each name in "facts" must be a name of letters',
                path + ':9:53: fact in rule "r": "ship.x" is no fact',
                path + ':9:93: fact_age "order.placed_at" must be < or > and a duration',
                'templates/t.txt:1:20: unknown variable "shipment.status"'):
            check(want in r.err, "missing %r in:\n%s" % (want, r.err))
    finally:
        env.close()


def nested_writer(env, order_status="placed"):
    """A lookup that stores a mail in the same store itself (`tend import`) before it answers:
    it can only when nobody holds the store's write transaction while it runs. Its answer
    says how that went (nested = the exit status, err = what tend said)."""
    other = env.write("other.eml", b"From: Ola <ola@example.org>\nTo: support@shop.example\n"
                      b"Subject: Hello\nMessage-ID: <other@example.org>\n\nJust saying hi.\n")
    os.chmod(env.write("lookups/shop-order", """#!/usr/bin/python3
import datetime, json, subprocess, sys
r = subprocess.run([%r, "-c", %r, "import", %r], capture_output=True, text=True, timeout=15)
placed = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=3)
print(json.dumps({"status": %r, "placed_at": placed.strftime("%%Y-%%m-%%dT%%H:%%M:%%SZ"),
                  "nested": r.returncode, "err": r.stderr[-200:]}))
""" % (os.environ["TEND_BIN"], env.config, other, order_status)), 0o755)
    env.write("rules.yaml", open(env.path("rules.yaml")).read().replace(
        "timeout: 5s", "timeout: 30s"))


def test_lookup_runs_outside_the_write_transaction():
    env = shop()
    try:
        nested_writer(env)
        env.import_(order_mail(env, "20001", "outside@example.org"))
        _, d = draft_of(env, "outside@example.org")
        eq(d["lookup_failures"], [], "failures")
        eq(d["parts"], ["order_change_in_time"], "parts")
        check(any("other@example.org" in t["message_ids"] for t in env.threads()),
              "the lookup's own import")
    finally:
        env.close()


def test_our_own_mail_is_not_looked_up():
    env = shop()
    try:
        os.chmod(env.write("lookups/shop-order", "#!/bin/sh\ntouch %s\necho '{}'\n"
                           % env.path("ran")), 0o755)
        env.tend("import", "--sent", env.write("ours.eml", (
            "From: Shop Support <support@shop.example>\nTo: priya@example.org\n"
            "Subject: Re: Change to my order\nMessage-ID: <ours@shop.example>\n\n"
            "We changed the colour on your order #20001.\n").encode()))
        check(not os.path.exists(env.path("ran")), "the lookup ran for our own reply")
        env.import_(order_mail(env, "20001", "theirs@example.org", subject="Other"))
        check(os.path.exists(env.path("ran")), "the lookup did not run for the customer")
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
