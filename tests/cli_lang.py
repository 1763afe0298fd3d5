#!/usr/bin/python3
"""The customer's language as agents and operators meet it: the language `tend show` names, a
draft from templates/<lang>/ with its quote line in that language, `lang:` in rules, and
`tend rules check` on the translated templates."""

import os

from tendtest import Env, check, eq, run, sample_mail

CONFIG = ("store: store\naccounts:\n  - name: support\n"
          "    address: support@shop.example\n    from_name: Shop Support\n")


def mail(subject, body, sender="Claire Dubois <claire@example.fr>", msgid="m1@example.fr"):
    return ("From: %s\nTo: support@shop.example\nSubject: %s\n"
            "Date: Wed, 02 Dec 2026 10:10:00 +0000\nMessage-ID: <%s>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n"
            % (sender, subject, msgid, body)).encode()


FRENCH = ("Bonjour, j'ai commandé une table sur mesure il y a trois semaines et je n'ai "
          "toujours aucune nouvelle de la livraison. Pourriez-vous me dire quand elle "
          "arrivera ? Merci d'avance.")
ENGLISH = ("Hello, I ordered a table made to measure three weeks ago and I have heard "
           "nothing about the delivery since. Could you tell me when it will arrive?")
GERMAN = ("Guten Tag, ich habe vor drei Wochen einen Tisch nach Maß bestellt und seitdem "
          "nichts mehr von der Lieferung gehört. Können Sie mir sagen, wann er kommt?")


def with_sample_rules():
    env = Env(config=CONFIG)
    env.use_sample_rules()
    return env


def only_thread(env):
    ts = env.threads()
    eq(len(ts), 1, "threads")
    return ts[0]["id"]


def test_german_mail_gets_a_german_draft():
    env = with_sample_rules()
    try:
        env.import_(os.path.join(sample_mail(), "08-rueckerstattung-de.eml"))
        tid = only_thread(env)
        th = env.show(tid)
        body = th["draft"]["body"]
        check(body.startswith("Hallo Jürgen,\n"), body[:60])
        check("Zu Ihrer Rückerstattung für die Bestellung 10471" in body, body)
        check("\n\nMit freundlichen Grüßen\n" in body, body)
        # The shop's zone (business_hours: Europe/Berlin) with its name, in German.
        check("\nAm Freitag, 20. November 2026 um 09:27 CET schrieb Jürgen Weiß "
              "<juergen.weiss@example.org>:\n> Sehr geehrte" in body, body)
        check("Hello" not in body and "wrote:" not in body, body)
        r = env.tend("show", tid)
        check("Language: de (German)\n" in r.out, r.out)
        eq(th["messages"][0].get("lang"), "de", "the message's language")
        eq(th["messages"][0].get("lang_note"), None, "told, not the default")
    finally:
        env.close()


def test_french_mail_gets_french_templates_and_english_stays():
    env = with_sample_rules()
    try:
        env.write("in/fr.eml", mail("Livraison de ma table", FRENCH))
        env.write("in/en.eml", mail("Delivery of my table", ENGLISH, "Tom Reed <tom@example.com>",
                                    "m2@example.com"))
        env.import_(env.path("in"))
        for t in env.threads():
            th = env.show(t["id"])
            body = th["draft"]["body"]
            if th["messages"][0]["from"]["email"] == "claire@example.fr":
                check(body.startswith("Bonjour Claire,\n"), body[:40])
                check("\n\nBien cordialement,\n" in body, body)
                check("\nLe mercredi 2 décembre 2026 à 11:10 CET, Claire Dubois "
                      "<claire@example.fr> a écrit :\n" in body, body)
            else:
                check(body.startswith("Hello Tom,\n"), body[:40])
                check("\nOn Wed, 2 Dec 2026 at 11:10 CET, Tom Reed <tom@example.com> "
                      "wrote:\n" in body, body)
                eq(th["messages"][0].get("lang"), "en", "the English message's language")
    finally:
        env.close()


def test_short_text_gets_the_default_language_and_says_so():
    env = with_sample_rules()
    try:
        with open(env.path("rules.yaml")) as f:
            rules = f.read()
        check("\nlanguage: en\n" in rules, "the sample sets the default language")
        env.write("rules.yaml", rules.replace("\nlanguage: en\n", "\nlanguage: de\n"))
        env.write("in/short.eml", mail("Frage", "Danke!"))
        env.import_(env.path("in/short.eml"))
        tid = only_thread(env)
        th = env.show(tid)
        check(th["draft"]["body"].startswith("Hallo Claire,\n"), th["draft"]["body"][:40])
        r = env.tend("show", tid)
        check("Language: de (the default: the text is too short to tell)\n" in r.out, r.out)
        eq(th["messages"][0].get("lang"), "de", "the default language")
        eq(th["messages"][0].get("lang_note"), "the text is too short to tell", "why")
    finally:
        env.close()


def test_show_names_the_language_of_every_customer_message():
    # Imported together, only the follow-up gets a draft, and only its language is told then;
    # `tend show` tells the first message's when it shows it.
    env = with_sample_rules()
    try:
        env.write("in/1.eml", mail("Livraison", FRENCH))
        follow = mail("Re: Livraison", GERMAN, msgid="m2@example.fr").replace(
            b"MIME-Version:", b"In-Reply-To: <m1@example.fr>\nMIME-Version:")
        env.write("in/2.eml", follow)
        env.import_(env.path("in/1.eml"), env.path("in/2.eml"))
        tid = only_thread(env)
        th = env.show(tid)
        eq([m.get("lang") for m in th["messages"]], ["fr", "de"], "the messages' languages")
        eq([m.get("lang_note") for m in th["messages"]], [None, None], "told, not the default")
        check(th["draft"]["body"].startswith("Hallo Claire,\n"), th["draft"]["body"][:40])
        r = env.tend("show", tid)
        check("Language: fr (French)\n" in r.out and "Language: de (German)\n" in r.out, r.out)
    finally:
        env.close()


RULES = """version: 1
rules:
  - name: german
    match: {lang: de}
    tags: [german]
  - name: romance
    match: {lang: [fr, es, it]}
    tags: [romance]
"""


def test_lang_condition_in_rules():
    env = Env(config=CONFIG)
    try:
        env.write("rules.yaml", RULES)
        env.write("in/de.eml", mail("Lieferung", GERMAN, "Jonas <jonas@example.de>",
                                    "m1@example.de"))
        env.write("in/fr.eml", mail("Livraison", FRENCH))
        env.write("in/en.eml", mail("Delivery", ENGLISH, "Tom <tom@example.com>",
                                    "m3@example.com"))
        env.import_(env.path("in"))
        tags = {t["subject"]: t["tags"] for t in env.threads()}
        eq(tags, {"Lieferung": ["german"], "Livraison": ["romance"], "Delivery": []}, "tags")
        r = env.tend("rules", "test", env.path("in/de.eml"))
        check("rule german: matched" in r.out, r.out)
        check("lang de: held (the text is in de)" in r.out, r.out)
        check("\nlanguage: de\n" in r.out, r.out)
        j = env.json("rules", "test", "--json", env.path("in/fr.eml"))
        eq(j["lang"], "fr", "rules test --json")
        env.write("rules.yaml", RULES.replace("lang: de", "lang: German"))
        r = env.tend("rules", "check", rc=1)
        check(':4:19: "lang" must be a language code (ISO 639-1, like de or fr) or a list of '
              'them' in r.err, r.err)
    finally:
        env.close()


def test_rules_check_checks_language_templates():
    env = with_sample_rules()
    try:
        env.write("templates/de/refund.txt", "Zur Bestellung {{oder}}.\n")
        env.write("templates/fr/greeting.txt", "Bonjour {{customer.frist_name}},\n")
        r = env.tend("rules", "check", rc=1)
        for want in ('templates/de/refund.txt:1:18: unknown variable "oder" (rule "refund" '
                     'knows: order,',
                     'templates/fr/greeting.txt:1:11: unknown variable "customer.frist_name"'):
            check(want in r.err, "missing %r in:\n%s" % (want, r.err))
        check(r.err.strip().endswith("2 errors"), r.err)
    finally:
        env.close()


if __name__ == "__main__":
    run(globals())
