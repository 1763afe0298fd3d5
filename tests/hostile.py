#!/usr/bin/python3
"""Hostile cases (issue 14): what a hostile customer, a careless colleague or a group member
of a shared store can do to tend, each tried against the real binaries (and, where the hole is
in talking to servers, against a real dovecot and SMTP server). Every test here failed before
its fix. The suite runs this file in every build: normal, ASan+UBSan, and with tend and tendd
under valgrind.

The sections follow the items of the issue; keep new cases in their item's section."""

import os

from tendtest import Env, check, eq, run, sample_mail  # noqa: F401


# ---- 1. A forged mail from our own address ---------------------------------------------------


# ---- 2. A Reply-To that redirects a conversation's reply -------------------------------------


# ---- 3. Symlinks and strangers' files in a group-shared store --------------------------------


# ---- 4. Mass recipients ----------------------------------------------------------------------


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
        terminal_output(env, "approve", tid)
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


# ---- 7. The SMTP URL -------------------------------------------------------------------------


# ---- 8. Deeply nested rules ------------------------------------------------------------------


# ---- 9. A mailbox without a Sent folder ------------------------------------------------------


if __name__ == "__main__":
    run(globals())
