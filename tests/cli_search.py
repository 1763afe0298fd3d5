#!/usr/bin/python3
"""`tend search` with the real binaries, on the sample mail: an order number in an old
conversation, parts of addresses, newest first, --limit, --json, queries that hold FTS5 syntax,
and an index that is deleted, behind, broken or rebuilt with --reindex."""

import glob
import json
import os
import shutil
import sqlite3

from tendtest import Env, check, eq, run, sample_mail

OURS = "store: store\naccounts:\n  - name: support\n    address: support@shop.example\n"


def imported(config=None):
    env = Env(config=config)
    env.import_(sample_mail())
    return env


def search(env, *args, **kw):
    return env.json("search", "--json", *args, **kw)


def later_mail(env, name, subject, body, date="Tue, 01 Dec 2026 10:00:00 +0000"):
    """A new customer's message, later than all of the sample mail; imports it."""
    eml = ("From: Nadia Novak <nadia.novak@example.com>\nTo: support@shop.example\n"
           "Subject: %s\nDate: %s\nMessage-ID: <%s@example.com>\n\n%s\n"
           % (subject, date, name, body))
    s = env.import_(env.write(name + ".eml", eml))
    eq(s["stored"], 1, "stored")


def index_files(env):
    return sorted(glob.glob(os.path.join(env.store, "search.sqlite*")))


def test_order_number_in_an_old_conversation():
    """Martin Kowalski's order #10455, two weeks and eleven conversations back, is found by
    its number as written, by part of his address, and by words of his text."""
    env = imported()
    try:
        later_mail(env, "later", "Where is my parcel?", "Order #20981 has not come.")
        hits = search(env, "10455")
        eq(len(hits), 1, "conversations with 10455: %r" % hits)
        h = hits[0]
        eq(h["subject"], "Return of dining table - order #10455", "subject")
        eq(h["customer"], {"name": "Martin Kowalski", "email": "m.kowalski@example.net"},
           "customer")
        eq((h["state"], h["kind"], h["date"]), ("open", "message", "2026-11-18T09:15:22Z"),
           "state, kind, date")
        eq(h["line"], "The oak dining table from order #10455 arrived on Monday. It's well",
           "the line that holds the number")
        for q in ("#10455", "kowalski@", "m.kowalski@example", "oak dining table",
                  "\"dining table\" 10455"):
            eq([x["thread"] for x in search(env, q)], [h["thread"]], "tend search %s" % q)
        eq(search(env, "kowalski@")[0]["line"], "Martin Kowalski <m.kowalski@example.net>",
           "an address query shows the address")
        out = env.tend("search", "10455").out.splitlines()
        eq(out[0].split(), ["THREAD", "STATE", "DATE", "CUSTOMER", "SUBJECT"], "header")
        check(out[1].split()[:2] == [str(h["thread"]), "open"], "row: %r" % out)
        check("Return of dining table - order #10455" in out[1], "subject in %r" % out[1])
        eq(out[2].strip(), "message: The oak dining table from order #10455 arrived on Monday. "
           "It's well", "the line under it")
        eq(search(env, "rueckerstattung"), [], "ue is not ü")
        eq([x["subject"] for x in search(env, "ruckerstattung")],
           ["Rückerstattung für Bestellung #10471"], "diacritics folded")
    finally:
        env.close()


def test_newest_first_and_limit():
    env = imported()
    try:
        hits = search(env, "order")
        check(len(hits) >= 8, "conversations about an order: %r" % hits)
        dates = [h["date"] for h in hits]
        eq(dates, sorted(dates, reverse=True), "newest first")
        eq(len({h["thread"] for h in hits}), len(hits), "one row per conversation")
        eq(search(env, "order", "--limit", "2"), hits[:2], "--limit 2")
        eq(search(env, "order", "--limit", "0"), hits, "--limit 0")
        out = env.tend("search", "--limit", "3", "order").out
        eq(len([x for x in out.splitlines() if x.lstrip().startswith("message: ")]), 3,
           "three conversations shown:\n" + out)
        check("Only the 3 most recent are shown: --limit N for more, 0 for all." in out, out)
        r = env.tend("search", "no-such-word-anywhere")
        eq(r.out, "No conversation matches \"no-such-word-anywhere\".\n", "nothing found")
    finally:
        env.close()


def test_queries_are_words_never_syntax():
    """What an agent types is never FTS5 syntax: quotes, stars, NEAR(, colons and parentheses
    are not obeyed and break nothing; a query with no word is a usage error."""
    env = imported()
    try:
        for args in (["\""], ["*"], ["(", ")"], [":"], ["\"\""]):
            r = env.tend("search", *args, rc=2)
            check("nothing to search for" in r.err, "%r" % r)
        r = env.tend("search", rc=2)
        check("no QUERY given" in r.err and "usage: tend search" in r.err, "%r" % r)
        r = env.tend("search", "--limit", "many", "order", rc=2)
        check("--limit wants a number" in r.err, "%r" % r)
        want = [h["thread"] for h in search(env, "10455")]
        for q in ("10455*", "\"10455", "10455\"", "(10455)", "+10455", "^10455"):
            eq([h["thread"] for h in search(env, q)], want, "tend search %s" % q)
        eq([h["thread"] for h in search(env, "--", "-10455")], want, "tend search -- -10455")
        for q in ("10455 OR 99999", "NEAR(10455 dining)", "subject:10455", "10455 NOT dining"):
            eq(search(env, q), [], "tend search %s (no operators)" % q)
    finally:
        env.close()


def test_index_deleted_behind_and_broken():
    """The index is the store's shadow: deleted, it is made again; left behind (a writer that
    died after its commit), it catches up; broken, it is built again. Searching finds the
    newest mail every time."""
    env = imported()
    try:
        for f in index_files(env):
            os.unlink(f)
        eq(len(search(env, "10455")), 1, "found after the index was deleted")
        check(os.path.exists(os.path.join(env.store, "search.sqlite")), "index made again")
        old = env.path("old-index")
        shutil.copy(os.path.join(env.store, "search.sqlite"), old)
        later_mail(env, "behind", "Bench", "The oak bench OT-55123 is wobbly.")
        shutil.copy(old, os.path.join(env.store, "search.sqlite"))
        hits = search(env, "OT-55123")
        eq([h["subject"] for h in hits], ["Bench"], "the mail the index was behind on")
        with open(os.path.join(env.store, "search.sqlite"), "r+b") as f:
            f.write(b"not a database" * 1000)
        r = env.tend("search", "--json", "wobbly")
        eq(len(r.out) > 2 and "Bench" in r.out, True, "found after the damage: %r" % r)
        check("building it again" in r.err, "said so: %r" % r)
    finally:
        env.close()


def test_import_of_many_batches_indexed_by_the_import():
    """An import of 2,500 messages commits three batches, and the index is filled beside it,
    batch by batch: when the import has ended, the index holds every message without a search
    catching it up (its mark names the last message), from the first batch to the last."""
    env = Env()
    try:
        box = []
        for i in range(2500):
            box.append("From c%d@example.org Mon Nov 30 00:00:00 2026\nFrom: c%d@example.org\n"
                       "To: support@shop.example\nSubject: Question %d\n"
                       "Date: Mon, 30 Nov 2026 %02d:%02d:00 +0000\nMessage-ID: <q%d@example.org>"
                       "\n\nMy code is ZX%dQ.\n\n" % (i, i, i, i // 60 % 24, i % 60, i, i))
        eq(env.import_(env.write("many.mbox", "".join(box)))["stored"], 2500, "stored")
        db = sqlite3.connect(os.path.join(env.store, "search.sqlite"))
        mark = db.execute("SELECT value FROM meta WHERE name = 'message'").fetchone()
        entries = db.execute("SELECT count(*) FROM entry").fetchone()
        db.close()
        eq((mark, entries), ((2500,), (2500,)), "the index's mark and entries after the import")
        for i in (0, 999, 1000, 2499):
            eq([h["subject"] for h in search(env, "zx%dq" % i)], ["Question %d" % i],
               "message %d" % i)
    finally:
        env.close()


def test_reindex():
    env = imported()
    try:
        r = env.tend("search", "--reindex")
        check(r.out.startswith("Indexed 12 entries from the store in ") and
              "the index takes" in r.out, "%r" % r)
        r = env.tend("search", "--reindex", "--json", "10455")
        eq(len(json.loads(r.out)), 1, "the query after --reindex")
        check(r.err.startswith("Indexed 12 entries"), "the note goes to stderr: %r" % r)
    finally:
        env.close()


# The words table as tend made it before it filed the beginnings of words (schema version 1).
OLD_WORDS = ("CREATE VIRTUAL TABLE words USING fts5(subject, people, body, "
             "tokenize='unicode61 remove_diacritics 2', content='', columnsize=0)")


def words_table(env):
    db = sqlite3.connect(os.path.join(env.store, "search.sqlite"))
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'words'").fetchone()[0]
    db.close()
    return sql


def test_index_of_an_older_tend_is_built_again():
    """An index an older tend made (its words table without the beginnings of words, schema
    version 1) is built again by the first search, which says so and finds what the store
    holds; the index is then the same as a new one. The old table is left empty while the
    index's marks say it holds every message: only a rebuild finds anything."""
    env = imported()
    try:
        new = words_table(env)
        db = sqlite3.connect(os.path.join(env.store, "search.sqlite"))
        db.executescript("DROP TABLE words; %s; PRAGMA user_version = 1;" % OLD_WORDS)
        db.close()
        r = env.tend("search", "--json", "kowa*")
        eq([h["subject"] for h in json.loads(r.out)], ["Return of dining table - order #10455"],
           "a word's beginning, after the rebuild")
        check("of another version (1); building it again" in r.err, "said so: %r" % r)
        eq(words_table(env), new, "the words table, as a new index makes it")
        eq(len(search(env, "10455")), 1, "a number")
        eq(len(search(env, "kow*")), 1, "three letters")
    finally:
        env.close()


def test_failing_index_never_fails_an_import():
    """An index that cannot be written (here a directory in its place) leaves the import
    whole: every message stored, exit status 0, one warning; search catches up once the
    index can be made again."""
    env = Env()
    try:
        env.import_(os.path.join(sample_mail(), "01-voucher-expired.eml"))
        for f in index_files(env):
            os.unlink(f)
        os.makedirs(os.path.join(env.store, "search.sqlite"))
        with open(os.path.join(env.store, "search.sqlite", "keep"), "w") as f:
            f.write("x")
        r = env.tend("import", "--json", sample_mail())
        eq(json.loads(r.out)["stored"], 11, "stored")
        check("search.sqlite is a directory; refusing to open it" in r.err and
              "the mail is stored" in r.err, "the warning: %r" % r)
        eq(len(env.threads()), 11, "threads")
        r = env.tend("search", "10455", rc=1)
        check("search.sqlite is a directory" in r.err, "%r" % r)
        shutil.rmtree(os.path.join(env.store, "search.sqlite"))
        eq(len(search(env, "10455")), 1, "found once the index could be made")
    finally:
        env.close()


def test_our_sent_mail_found_as_reply():
    """Mail we sent from another program, imported with --sent, is searchable as our reply."""
    env = imported(OURS)
    try:
        eml = ("From: Shop Support <support@shop.example>\nTo: m.kowalski@example.net\n"
               "Subject: Re: Return of dining table - order #10455\n"
               "Date: Thu, 19 Nov 2026 10:00:00 +0100\nMessage-ID: <ours-1@shop.example>\n"
               "In-Reply-To: <3E7A91C4-55B2-4F0D-8C1E-A09B6D2F7E11@example.net>\n\n"
               "We will collect the table on Friday, collection number CX-7781.\n")
        env.tend("import", "--sent", env.write("ours.eml", eml))
        hits = search(env, "CX-7781")
        eq([(h["kind"], h["subject"]) for h in hits],
           [("reply", "Return of dining table - order #10455")], "our reply")
        eq(hits[0]["line"], "We will collect the table on Friday, collection number CX-7781.",
           "its line")
    finally:
        env.close()


def test_note_found():
    """An internal note is searchable as soon as it is written, and after a reindex."""
    env = imported()
    try:
        tid = search(env, "10455")[0]["thread"]
        env.tend("note", tid, "Called him: pick-up code PK-5521 agreed",
                 env={"TEND_AGENT": "alice"})
        hits = search(env, "PK-5521")
        eq([(h["thread"], h["kind"]) for h in hits], [(tid, "note")], "the note's conversation")
        eq(hits[0]["line"], "Called him: pick-up code PK-5521 agreed", "its line")
        env.tend("search", "--reindex")
        eq([h["kind"] for h in search(env, "PK-5521")], ["note"], "after --reindex")
    finally:
        env.close()


def test_index_files_have_the_stores_mode():
    env = imported()
    try:
        names = [os.path.basename(f) for f in index_files(env)]
        eq(names, ["search.sqlite", "search.sqlite-shm", "search.sqlite-wal"], "files")
        for f in index_files(env):
            eq(oct(os.stat(f).st_mode & 0o7777), oct(0o600), f)
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
