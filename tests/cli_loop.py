#!/usr/bin/python3
"""`tend review`, the one-key loop, through a pseudo-terminal that types the keys: five drafts
approved (with the preview), edited, snoozed, rejected and taken, then the outbox and the audit
trail; the terminal's mode after q and after SIGINT; colour and NO_COLOR; help; and the refusal
without a terminal. Hostile names on the loop's screen are in tests/hostile.py."""

import re
import signal
import termios

from cli_review import actions, complete, draft, queue
from tendtest import TEND, Env, check, display_width, eq, pty_session, run, sample_mail

CONFIG = ("store: store\naccounts:\n  - name: support\n    address: support@shop.example\n"
          "    from_name: Shop Support\n    smtp:\n      url: smtp://localhost:1\n"
          "agents:\n  - {login: alice, name: Alice Smith}\n  - {login: bob}\n"
          "review: {undo: 0}\n")
ALICE = {"TEND_AGENT": "alice"}
KEYS = b"a e s r v n t j k o q ? "  # the end of the status line: the loop waits for a key
ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def imported():
    env = Env(config=CONFIG)
    env.import_(sample_mail())
    return env


def editor(env, text):
    """An $EDITOR that puts text where the draft's body is, keeping the recipients."""
    return "python3 " + env.write("editor.py", (
        "import sys\n"
        "f = sys.argv[1]\n"
        "old = open(f).read()\n"
        "head = old[:old.find('\\n\\n') + 2]\n"
        "cut = old.find('# ------------------------ >8')\n"
        "open(f, 'w').write(head + %r + '\\n' + old[cut:])\n" % text))


def review(env, answers, args=(), rows=500, job=False, **environ):
    """tend review on a pseudo-terminal, answering in turn: a Terminal."""
    import os
    e = dict(os.environ, **ALICE)
    e.pop("NO_COLOR", None)
    e.update(environ)
    return pty_session([TEND, "-c", env.config, "review"] + list(args), answers, rows=rows,
                       cols=100, environ=e, timeout=60, job=job)


def restored(t):
    check(t.lflag & termios.ECHO and t.lflag & termios.ICANON,
          "the terminal is left without echo or line editing: lflag %#x" % t.lflag)


def test_five_drafts():
    env = imported()
    try:
        waiting = [q["thread"] for q in queue(env)]
        t1, t2, t3, t4, t5 = waiting[:5]
        t = review(env, [
            (KEYS, b"a"), (b"Send this reply? [y/N] ", b"y"),
            (KEYS, b"e"),
            (KEYS, b"j"),
            (KEYS, b"s"), (b"Enter: not)? ", b"2h\r"),
            (KEYS, b"r"), (b"(Enter: do not)? ", b"Wrong product\r"),
            (KEYS, b"t"),
            (KEYS, b"q"),
        ], EDITOR=editor(env, "Edited in the review loop."), VISUAL="")
        text = t.text()
        eq(t.rc, 0, "status; stderr %r; the terminal showed %r" % (t.err, text[-3000:]))
        restored(t)
        for said in ["Approved thread %d: queued for sending." % t1,
                     "Saved the draft of thread %d." % t2,
                     "Snoozed thread %d until" % t3,
                     "Rejected the draft of thread %d" % t4,
                     "Thread %d is yours: assigned to you, and you are on it." % t5,
                     "Reviewed 4 of %d conversations." % len(waiting)]:
            check(said in text, "%r not shown: %r" % (said, text[-3000:]))
        check("1/%d · %d left" % (len(waiting), len(waiting) - 1) in text,
              "the status line: %r" % text[:3000])
        box = env.json("outbox", "--json")
        eq([o["thread"] for o in box], [t1], "the outbox holds the approved reply alone")
        check("Alice Smith" in draft(env, t1)["body"], "signed as approval signs")
        check("Edited in the review loop." in draft(env, t2)["body"], draft(env, t2)["body"])
        eq(draft(env, t2)["state"], "proposed", "the edited draft waits")
        eq(env.show(t2)["claim"]["agent"], "alice", "an edit keeps the claim after moving on")
        waiting = [q["thread"] for q in queue(env)]
        check(t3 not in waiting and t2 in waiting, "snoozed: %r" % waiting)
        eq(draft(env, t4)["body"], "", "rejected: an empty draft to write")
        eq((env.show(t5)["claim"]["agent"], env.show(t5)["assignee"]), ("alice", "alice"),
           "taken")
        for tid, action in [(t1, "approve"), (t2, "edit"), (t3, "snooze"), (t4, "reject"),
                            (t5, "assign")]:
            check(action in actions(env, tid), "%s of %d: %r" % (action, tid,
                                                                 actions(env, tid)))
        check("Wrong product" in str([e for e in env.json("log", "--json", t4)]), "reason")
        eq(env.show(t3)["claim"], None, "the claimant's snooze ends the claim")
    finally:
        env.close()


def test_viewing_claims_and_another_agents_claim_asks():
    env = imported()
    try:
        tid, tid2 = [q["thread"] for q in queue(env)][:2]
        claims = []

        def look(p):  # what a colleague sees now; then a redraw, for the next key
            claims.append((env.show(tid)["claim"], env.show(tid2)["claim"]))
            p.send_signal(signal.SIGWINCH)
        t = review(env, [(KEYS, look), (KEYS, b"j"), (KEYS, look), (KEYS, b"q")])
        eq(t.rc, 0, t.err)
        eq([(a and a["agent"], b and b["agent"]) for a, b in claims],
           [("alice", None), (None, "alice")],
           "the conversation on the screen is claimed; the one passed by is given back")
        eq((env.show(tid)["claim"], env.show(tid2)["claim"]), (None, None),
           "quitting gives back the conversation only looked at")
        check("release" not in actions(env, tid), "looking leaves no trace: %r"
              % actions(env, tid))
        env.tend("show", "--take", str(tid), env=ALICE)
        t = review(env, [(KEYS, b"v"), (b"Act on it all the same? [y/N] ", b"n"),
                         (KEYS, b"q")], TEND_AGENT="bob")
        text = t.text()
        check("alice is on it" in text, text[-2000:])
        check("Left thread %d to them: nothing was changed." % tid in text, text[-2000:])
        eq(env.show(tid)["state"], "open", "not resolved")
        t = review(env, [(KEYS, b"v"), (b"Act on it all the same? [y/N] ", b"y"),
                         (b"needs nothing more? [y/N] ", b"y"), (KEYS, b"q")],
                   TEND_AGENT="bob")
        check("Resolved thread %d" % tid in t.text(), t.text()[-2000:])
        eq(env.show(tid)["state"], "resolved", "resolved once confirmed")
    finally:
        env.close()


def test_an_editor_that_fails_keeps_the_text():
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        before = draft(env, tid)["body"]
        t = review(env, [(KEYS, b"e"), (KEYS, b"q")], EDITOR="false", VISUAL="")
        text = t.text()
        check("the editor (false) exited with status 1: nothing was saved (your text is in "
              in text, text[-2000:])
        eq(draft(env, tid)["body"], before, "the draft is unchanged")
        restored(t)
    finally:
        env.close()


PDF = ("From: Anna Meier <anna@example.com>\nTo: support@shop.example\nSubject: My invoice\n"
       "Message-ID: <pdf-1@example.com>\nDate: Mon, 30 Nov 2026 09:00:00 +0000\n"
       "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
       "Content-Type: text/plain\n\nThe invoice is attached.\n--b\nContent-Type: "
       "application/pdf\nContent-Disposition: attachment; filename=invoice.pdf\n"
       "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n")


def test_open_an_attachment():
    import os
    env = Env(config=CONFIG)
    try:
        env.import_(env.write("pdf.eml", PDF))
        saved = env.path("saved.pdf")
        pick = [(KEYS, b"o"), (b"Enter: none)? ", b"1\r")]
        t = review(env, pick + [(b"directory)? ", saved.encode() + b"\r"), (KEYS, b"q")],
                   DISPLAY="", WAYLAND_DISPLAY="")
        text = t.text()
        check("Attachment 1: invoice.pdf (application/pdf, 9 bytes)" in text, text[-2000:])
        check("Wrote 9 bytes to %s." % saved in text, text[-2000:])
        eq(open(saved, "rb").read(), b"%PDF-1.4\n", "the bytes")
        # with a display, xdg-open gets a private copy
        os.chmod(env.write("bin/xdg-open", "#!/bin/sh\necho \"$1\" > %s\n"
                           % env.path("opened")), 0o755)
        t = review(env, pick + [(KEYS, b"q")], DISPLAY=":0",
                   PATH=env.path("bin") + ":" + os.environ["PATH"], TMPDIR=env.path(""))
        opened = open(env.path("opened")).read().strip()
        check("Opened %s" % opened in t.text(), t.text()[-2000:])
        eq(open(opened, "rb").read(), b"%PDF-1.4\n", "the copy")
        eq(os.stat(os.path.dirname(opened)).st_mode & 0o777, 0o700, "a private directory")
    finally:
        env.close()


def test_a_taken_name_asks_for_another():
    """Saving over a file is refused; the loop has no --force, so it asks for another name."""
    env = Env(config=CONFIG)
    try:
        env.import_(env.write("pdf.eml", PDF))
        saved, other = env.write("saved.pdf", "mine\n"), env.path("other.pdf")
        taken = "%s exists: nothing was written; another name (Enter: not saved)? " % saved
        t = review(env, [(KEYS, b"o"), (b"Enter: none)? ", b"1\r"),
                         (b"directory)? ", saved.encode() + b"\r"),
                         (taken.encode(), other.encode() + b"\r"), (KEYS, b"o"),
                         (b"Enter: none)? ", b"1\r"), (b"directory)? ", saved.encode() + b"\r"),
                         (taken.encode(), b"\r"), (KEYS, b"q")],
                   DISPLAY="", WAYLAND_DISPLAY="")
        text = t.text()
        eq(t.rc, 0, "status; the terminal showed %r" % text[-2000:])
        check("--force" not in text, "an option the loop does not have: %r" % text[-2000:])
        check("Wrote 9 bytes to %s." % other in text, text[-2000:])
        check("Not saved." in text, text[-2000:])
        eq(open(saved).read(), "mine\n", "the file that was there is untouched")
        eq(open(other, "rb").read(), b"%PDF-1.4\n", "the bytes, under the other name")
        r = env.tend("attachment", "1", "1", "-o", saved, rc=1)  # the command has --force
        check("%s exists: nothing was written (--force replaces it)" % saved in r.err, r.err)
    finally:
        env.close()


def test_own_claim_reads_as_yours():
    """alice took the conversation: the loop says she is on it as hers and never asks her to
    confirm acting on her own claim; bob sees her name."""
    env = imported()
    try:
        tid = queue(env)[0]["thread"]
        env.tend("show", "--take", str(tid), env=ALICE)
        t = review(env, [(KEYS, b"v"), (b"needs nothing more? [y/N] ", b"n"), (KEYS, b"q")])
        text = t.text()
        eq(t.rc, 0, "status; the terminal showed %r" % text[-2000:])
        check("you are on it (1 min)" in text, text[:3000])
        check("alice is on it" not in text, "her own claim as another's: %r" % text[:3000])
        check("all the same" not in text, "asked to act on her own claim: %r" % text[-2000:])
        t = review(env, [(KEYS, b"q")], TEND_AGENT="bob")
        check("alice is on it (1 min)" in t.text() and "you are on it" not in t.text(),
              t.text()[:3000])
    finally:
        env.close()


WIDE = ("From: 山田太郎 <taro@example.jp>\nTo: support@shop.example\nSubject: ケトル\n"
        "Message-ID: <wide-1@example.jp>\nDate: Mon, 30 Nov 2026 09:00:00 +0000\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\n"
        + "".join("%d 電気ケトルが壊れました。返金をお願いします。三回目の連絡です。"
                  "電気ケトルが壊れました。返金をお願いします。三回目\n" % i for i in range(12)))


def test_wide_text_is_paged_by_columns():
    """A line of CJK text takes two columns a character: a page counts the rows the terminal
    gives it, so that nothing scrolls off the top before the agent read it."""
    env = Env(config=CONFIG)
    try:
        env.import_(env.write("wide.eml", WIDE.encode("utf-8")))
        t = review(env, [(b"-- more: space", b"x"), (KEYS, b"q")], rows=20)
        eq(t.rc, 0, t.err)
        first = t.text().split("\x1b[2J", 1)[1].split("-- more", 1)[0]
        rows = sum(max(1, -(-display_width(line) // 100)) for line in first.split("\n")[:-1])
        check(rows <= 19, "the first page takes %d rows of 20: %r" % (rows, first))
        check("電気ケトルが壊れました" in first, first)
    finally:
        env.close()


def test_sigint_restores_the_terminal():
    env = imported()
    try:
        t = review(env, [(KEYS, lambda p: p.send_signal(signal.SIGINT))])
        eq(t.rc, -signal.SIGINT, "dies by the signal; stderr %r" % t.err)
        restored(t)
    finally:
        env.close()


def stopped(pid):
    """True once the process is stopped (state T in /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def test_stop_continue_and_resize():
    import fcntl
    import os
    import struct
    import time
    from tendtest import wait_until
    seen = {}

    def stop(p):
        p.send_signal(signal.SIGTSTP)
        wait_until(lambda: stopped(p.pid), 20, "tend review to stop")
        fd = os.open("/proc/%d/fd/0" % p.pid, os.O_RDWR | os.O_NOCTTY)
        seen["lflag"] = termios.tcgetattr(fd)[3]
        os.close(fd)
        p.send_signal(signal.SIGCONT)

    def resize(p):
        fd = os.open("/proc/%d/fd/0" % p.pid, os.O_RDWR | os.O_NOCTTY)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 500, 60, 0, 0))
        os.close(fd)
        time.sleep(0.2)
        p.send_signal(signal.SIGWINCH)

    # valgrind does not stop its program for a stop signal's default action: there, only the
    # new width is tried
    stops = os.environ.get("TEND_VALGRIND") != "1"
    env = imported()
    try:
        t = review(env, ([(KEYS, stop)] if stops else []) + [(KEYS, resize), (KEYS, b"q")],
                   job=True)
        eq(t.rc, 0, t.err)
        check(not stops or seen["lflag"] & termios.ECHO and seen["lflag"] & termios.ICANON,
              "stopped: the terminal as it was")
        eq(t.shown.count(b"\x1b[2J"), 3 if stops else 2,
           "drawn, again after fg, again at the new width")
        restored(t)
    finally:
        env.close()


def test_no_color_and_help():
    env = imported()
    try:
        t = review(env, [(KEYS, b"q")], TERM="xterm")
        check(b"\x1b[7m" in t.shown, "colour on a terminal")
        t = review(env, [(KEYS, b"?"), (b"press a key to go back", b"x"), (KEYS, b"n"),
                         (b"Enter: none): ", b"called her back\r"), (KEYS, b"k"),
                         (KEYS, b"q")], TERM="xterm", NO_COLOR="1")
        extra = set(ESCAPE.findall(t.shown)) - {b"\x1b[H", b"\x1b[2J", b"\x1b[K"}
        eq(extra, set(), "NO_COLOR: only what clears the screen")
        text = t.text()
        check("a  approve" in text and "o  open an attachment" in text, "help: %r" % text)
        check("This is the first conversation." in text, "k at the first: %r" % text)
        tid = queue(env)[0]["thread"]
        check("note" in actions(env, tid), actions(env, tid))
        r = env.tend("help", "review")
        check(r.out.startswith("usage: tend review") and "t  take it" in r.out, r.out)
        eq(complete(env, "rev"), ["review"], "completed")
        eq(complete(env, "review", "--m"), ["--mine"], "its options")
        eq(complete(env, "help", "revi"), ["review"], "help completes a command")
    finally:
        env.close()


def test_a_long_conversation_is_paged():
    env = imported()
    try:
        t = review(env, [(b"-- more: space", b" "), (b"-- more: space", b"x"), (KEYS, b"q")],
                   rows=12)
        eq(t.rc, 0, t.err)
        first = t.text().split("\x1b[2J", 1)[1].split("-- more", 1)[0]
        check(first.count("\n") <= 11, "the first page is longer than the screen: %r" % first)
        check(t.text().rstrip().endswith("conversations."), t.text()[-500:])
    finally:
        env.close()


def test_refuses_without_a_terminal():
    env = imported()
    try:
        trail = env.json("log", "--json")
        r = env.tend("review", rc=2, env=ALICE)
        check("needs a terminal" in r.err and "`tend approve ID`" in r.err
              and "`tend queue`" in r.err, r.err)
        eq(env.json("log", "--json"), trail, "nothing recorded")
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
