#!/usr/bin/python3
"""Importing every corpus in ../shared/corpora: no crash, and nothing lost.

Every message found is stored, recognised as a duplicate of a stored one, or quarantined with a
reason; every message file and every mbox position can be found again in the store.
"""

import os
import re

from tendtest import Env, check, corpora_missing, corpus, eq, run

# Messages per mbox, from the corpora's own summaries (mimekit *-summary.txt, Mail::Box tests).
MBOXES = {
    "mail-box/mbox.src": 45,
    "mail-box/mbox.win": 45,
    "mimekit/mbox/content-length.mbox.txt": 29,
    "mimekit/mbox/issue1189.mbox.txt": 4,
    "mimekit/mbox/unmunged.mbox.txt": 2,
}


def files_under(*parts, pattern=None):
    root = corpus(*parts)
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "tmp" and not x.startswith("."))
        for f in sorted(files):
            if f.startswith(".") or (pattern and not re.search(pattern, f)):
                continue
            out.append(os.path.join(d, f))
    return out


def message_files():
    return (files_under("mime4j", "testmsgs", pattern=r"\.msg$")
            + files_under("mime4j", "mimetools-testmsgs", pattern=r"\.msg$")
            + files_under("mimekit", "messages")
            + files_under("cpython-email", pattern=r"^msg_\d+[a-z]?\.txt$")
            + files_under("bounces")
            + files_under("malformed")
            + files_under("mu")
            + files_under("notmuch", pattern=r"^(?!.*\.json$)"))


def message_id_of(path):
    """The Message-ID notmuch would read (first <...> of the header), or None."""
    with open(path, "rb") as f:
        head = f.read().replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    m = re.search(rb"(?im)^message-id:[ \t]*(.*(?:\n[ \t].*)*)", head)
    if not m:
        return None
    v = re.search(rb"<([^>]*)>", m.group(1))
    if not v:
        return None
    return re.sub(rb"[ \t\n]", b"", v.group(1)).decode("utf-8", "replace")


def store_view(env):
    """(sources of stored messages, their Message-IDs, quarantined sources)."""
    sources, ids = set(), set()
    for t in env.threads():
        for m in env.show(t["id"])["messages"]:
            sources.add(m["source"])
            ids.add(m["message_id"])
    q = env.json("threads", "--quarantined", "--json")
    for e in q:
        check(e["reason"], "quarantined without a reason: %r" % e)
    return sources, ids, {e["source"] for e in q}


def test_every_message_file_is_kept():
    files = message_files()
    check(len(files) > 500, "only %d corpus files found under %s" % (len(files), corpus()))
    env = Env()
    try:
        s = env.import_(*files)
        eq(s["files"], len(files), "files read")
        eq(s["unreadable"], 0, "unreadable files")
        eq(s["stored"] + s["duplicates"] + s["quarantined"], s["messages"], "accounted for")
        sources, ids, quarantined = store_view(env)
        lost = []
        for f in files:
            if f in sources or f in quarantined:
                continue
            if any(src.startswith(f + "#") for src in sources | quarantined):
                continue  # a file that turned out to be an mbox
            mid = message_id_of(f)
            if mid is not None and mid in ids:
                continue
            # Same message as another file (no Message-ID: same content): importing it
            # again must find it in the store.
            again = env.import_(f)
            if again["duplicates"] != again["messages"] or again["messages"] == 0:
                lost.append(f)
        check(not lost, "%d files neither stored, quarantined nor duplicates: %s"
              % (len(lost), lost[:10]))
        print("# %d files: %d stored, %d duplicates, %d quarantined"
              % (len(files), s["stored"], s["duplicates"], s["quarantined"]))
    finally:
        env.close()


def test_every_mbox_message_is_kept():
    env = Env()
    try:
        for rel, count in MBOXES.items():
            path = corpus(*rel.split("/"))
            s = env.import_(path)
            eq(s["messages"], count, "messages found in %s" % rel)
            eq(s["stored"] + s["duplicates"] + s["quarantined"], count, "accounted in " + rel)
        sources, ids, quarantined = store_view(env)
        for rel, count in MBOXES.items():
            if rel == "mail-box/mbox.win":
                continue  # the CRLF copy of mbox.src: all duplicates
            path = corpus(*rel.split("/"))
            for i in range(1, count + 1):
                src = "%s#%d" % (path, i)
                check(src in sources or src in quarantined, "%s is not in the store" % src)
    finally:
        env.close()


def test_hostile_messages_do_not_crash():
    env = Env()
    try:
        s = env.import_(corpus("mimekit", "messages", "stack-overflow.txt"))
        eq(s["stored"], 1, "the encoded-word bomb is stored")
        t = env.threads()[0]
        eq(env.show(t["id"])["messages"][0]["subject"], "Message Subject", "subject")
        deep = ("From: a@example.com\nMessage-ID: <deep@x>\nSubject: deep\n"
                + "".join('Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i)
                          for i in range(100000))
                + "Content-Type: text/plain\n\nhi\n")
        s = env.import_(env.write("deep.eml", deep))
        eq(s["quarantined"], 1, "100,000 nested parts are quarantined")
        q = env.json("threads", "--quarantined", "--json")
        check("nest" in q[0]["reason"].lower() or "depth" in q[0]["reason"].lower(),
              "reason: %r" % q[0]["reason"])
    finally:
        env.close()


if __name__ == "__main__":
    run(globals(), skip=corpora_missing())
