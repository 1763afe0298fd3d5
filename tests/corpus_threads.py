#!/usr/bin/python3
"""Threading compared with other implementations on real mail.

With the subject fallback off, tend's grouping must equal notmuch 0.37's (the partitions
shipped in ../shared/corpora as *.threads.json) and the REFERENCES answers of dovecot's
imaptest cases.
"""

import email.parser
import email.policy
import json
import mailbox
import os
import re

from tendtest import Env, Failure, check, corpora_missing, corpus, eq, run


def describe_difference(got, want):
    g = {tuple(x) for x in got}
    w = {tuple(x) for x in want}
    only_g = sorted(g - w)
    only_w = sorted(w - g)
    lines = ["%d threads differ (%d only in tend, %d only in the expected answer)"
             % (len(only_g) + len(only_w), len(only_g), len(only_w))]
    for t in only_g[:5]:
        lines.append("  tend:     %s" % (list(t)[:6],))
    for t in only_w[:5]:
        lines.append("  expected: %s" % (list(t)[:6],))
    return "\n".join(lines)


def compare_with_notmuch(path, answer):
    with open(corpus(answer)) as f:
        want = sorted(sorted(t) for t in json.load(f))
    env = Env(subject_fallback=False)
    try:
        s = env.import_(corpus(path))
        eq(s["quarantined"], 0, "quarantined messages")
        got = env.partition()
        if got != want:
            raise Failure(describe_difference(got, want))
        return s
    finally:
        env.close()


def test_notmuch_default_equals_notmuch():
    s = compare_with_notmuch("notmuch/default", "notmuch/default.threads.json")
    eq(s["stored"], 52, "messages stored")


def test_notmuch_lkml_equals_notmuch():
    s = compare_with_notmuch("notmuch/lkml", "notmuch/lkml.threads.json")
    eq(s["stored"], 176, "messages stored")


def test_bench_archive_equals_notmuch():
    s = compare_with_notmuch("bench/r-package-devel", "bench/r-package-devel.threads.json")
    eq(s["stored"], 11111, "distinct messages stored")


# --- dovecot imaptest RFC 5256 cases -------------------------------------------------------

def parse_thread_answer(text):
    """'(3 2)(1 (4 5))' -> [[3, 2], [1, 4, 5]]: the members of each top-level thread."""
    groups, depth, cur = [], 0, []
    for tok in re.findall(r"\(|\)|\d+", text):
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth == 0:
                groups.append(cur)
                cur = []
        else:
            cur.append(int(tok))
    return groups


def first_references_case(name):
    """(messages used, expected groups) for the first THREAD REFERENCES answer of a case."""
    with open(corpus("imaptest-thread", name)) as f:
        lines = f.read().splitlines()
    if not any("THREAD=REFERENCES" in line for line in lines):
        return None
    appended, use_all = 0, any(line.strip() == "messages: all" for line in lines)
    for i, line in enumerate(lines):
        if line.startswith("ok append"):
            appended += 1
        if line.lower().startswith("ok thread references"):
            answer = lines[i + 1].split(None, 2)[2]
            return (None if use_all else appended), parse_thread_answer(answer)
    return None


def identities(mbox_path, count):
    """Per position (1-based), what makes two messages the same message to tend."""
    out = {}
    parser = email.parser.BytesParser(policy=email.policy.compat32)
    for i, msg in enumerate(mailbox.mbox(mbox_path), 1):
        if count is not None and i > count:
            break
        raw = msg.as_bytes()
        mid = parser.parsebytes(raw, headersonly=True).get("Message-ID")
        m = re.search(r"<([^>]*)>", mid or "")
        out[i] = ("id", m.group(1)) if m else ("content", raw.split(b"\n\n", 1)[-1],
                                                tuple(sorted(msg.items())))
    return out


def canonical_groups(groups, ident):
    """Merges groups that hold the same message; returns a sorted partition of first positions."""
    first = {}
    for pos in sorted(ident):
        first.setdefault(ident[pos], pos)
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x
    for g in groups:
        canon = [first[ident[p]] for p in g]
        for c in canon[1:]:
            parent[find(c)] = find(canon[0])
        find(canon[0])
    out = {}
    for c in parent:
        out.setdefault(find(c), set()).add(c)
    return sorted(sorted(g) for g in out.values())


def tend_groups(env, mbox_path):
    groups = []
    for t in env.threads():
        positions = []
        for m in env.show(t["id"])["messages"]:
            src = m["source"]
            check(src.startswith(mbox_path + "#"), "source %r" % src)
            positions.append(int(src.rsplit("#", 1)[1]))
        groups.append(positions)
    return groups


# Where tend deliberately differs from RFC 5256 REFERENCES threading, the grouping it gives
# instead, and why. tend groups by connected References/In-Reply-To, as notmuch does.
DEVIATIONS = {
    # Message 2 references <a@b> and <c@b>; message 3 (<c@b>) references message 2. RFC 5256
    # breaks the loop by cutting <a@b> off; the messages still name each other, so for tend and
    # notmuch all three are one conversation.
    "thread": [[1, 2, 3]],
    # "foo" and "Re: foo" share no reference; RFC 5256 joins roots with the same base subject.
    # tend joins by subject only with subject_fallback on, and only for the same sender (here
    # there is no From at all): strangers writing "Refund" must not share a conversation.
    "thread4": [[1], [2]],
}


def check_imaptest_case(name):
    case = first_references_case(name)
    if case is None:
        return False
    count, expected = case
    mbox_src = corpus("imaptest-thread", name + ".mbox")
    ident = identities(mbox_src, count)
    env = Env(subject_fallback=False)
    try:
        path = mbox_src
        if count is not None:
            # Only the first `count` messages were appended when the server answered.
            path = env.write("case.mbox", b"".join(
                b"From user@domain  Fri Feb 22 15:06:23 2008\n" + m.as_bytes() + b"\n"
                for i, m in enumerate(mailbox.mbox(mbox_src), 1) if i <= count))
        env.import_(path)
        got = canonical_groups(tend_groups(env, path), ident)
        want = canonical_groups(DEVIATIONS.get(name, expected), ident)
        eq(got, want, "%s: threads as first positions" % name)
    finally:
        env.close()
    return True


def test_imaptest_references_cases():
    names = sorted(f for f in os.listdir(corpus("imaptest-thread")) if not f.endswith(".mbox"))
    checked = [n for n in names if check_imaptest_case(n)]
    check(len(checked) >= 8, "only %d REFERENCES cases found: %r" % (len(checked), checked))


if __name__ == "__main__":
    run(globals(), skip=corpora_missing())
