#!/usr/bin/python3
"""Who the customer is, end to end (issue 15): two customers of one shop's contact form reach
tendd through a real dovecot, become two conversations, and each approved reply reaches its own
customer at the real SMTP server, greeting them by name."""

from daemon_send import Rig
from tendtest import check, eq, run


def form_mail(n, name, addr):
    return ("From: Shop Website <noreply@platform.example>\r\nTo: support@shop.example\r\n"
            "Reply-To: %s <%s>\r\nSubject: Contact form: Order question\r\n"
            "Message-ID: <form%d@platform.example>\r\nDate: Mon, 30 Nov 2026 09:0%d:00 +0000\r\n"
            "\r\nName: %s\r\nMessage: Where is my order 4821%d?\r\n"
            % (name, addr, n, n, name, n)).encode()


def test_contact_form_pair_replies_reach_each_customer():
    r = Rig()
    try:
        r.dv.append("INBOX", form_mail(1, "Anna Oak", "anna@example.com"))
        r.dv.append("INBOX", form_mail(2, "Ben Birch", "ben@example.org"))
        r.once()
        threads = {t["customer"]["email"]: t["id"] for t in r.env.threads()}
        eq(sorted(threads), ["anna@example.com", "ben@example.org"], "conversations")
        for tid in threads.values():
            r.approve(tid)
        r.once()
        msgs = r.srv.wait_for(2)
        got = sorted((m.rcpt_tos[0], m.msg.get_content().split("\n")[0]) for m in msgs)
        eq([(a, line.strip()) for a, line in got],
           [("anna@example.com", "Hello Anna,"), ("ben@example.org", "Hello Ben,")],
           "who got which reply")
        for m in msgs:
            eq(len(m.rcpt_tos), 1, "recipients of %s" % m.rcpt_tos)
            check("noreply@platform.example" not in str(m.msg["To"]), str(m.msg["To"]))
    except Exception as e:
        raise r.fail_context(e)
    finally:
        r.close()


if __name__ == "__main__":
    run(globals(), needs_localhost=True)
