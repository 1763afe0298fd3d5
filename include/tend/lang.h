/*
 * lang: the language a customer writes in, told by libexttextcat from the text's n-grams, and
 * the dates and quoted-reply lines of a draft written in a language.
 *
 * The classifier is loaded once per process (its fingerprints take milliseconds to read) and
 * shared by every thread under a lock. Day and month names are tables here: a draft does not
 * depend on which locales the machine has installed.
 */
#ifndef TEND_LANG_H
#define TEND_LANG_H

#include <stddef.h>
#include <stdint.h>

#include "tend/util.h"

/* What lang_detect decided. */
struct lang_guess {
	char code[8]; /* ISO 639-1, e.g. "de" */
	/* Empty when the text told; else why code is the default language: "the text is too
	 * short to tell", "the language identifier could not choose between nl, de". */
	char note[96];
};

/*
 * Detects the language of text among the common European languages, the extra ones and
 * fallback (each an ISO 639-1 code). When the text is too short, the identifier cannot tell, or
 * it names more than one language, out->code is fallback (en when that is no code) and
 * out->note says why.
 */
void lang_detect(const char *text, const struct strvec *extra, const char *fallback,
                 struct lang_guess *out);

/* True when s can be a language code: two or three lowercase ASCII letters. */
bool lang_code_ok(const char *s);

/* The language's English name ("German"), or NULL when tend does not know it. */
const char *lang_name(const char *code);

/*
 * t written for a draft in lang (en when lang is NULL or has no table), in zone (NULL: local
 * time), with the zone's abbreviation: "Wednesday 2 December, 11:10 CET", "Mittwoch,
 * 2. Dezember, 11:10 CET". Writes at most size bytes into buf, always terminated.
 */
void lang_format_deadline(char *buf, size_t size, const char *lang, int64_t t, const char *zone);

/*
 * The line above a quoted message, in lang: "On Wed, 2 Dec 2026 at 11:10 CET, WHO wrote:",
 * "Am Mittwoch, 2. Dezember 2026 um 11:10 CET schrieb WHO:"; without the date when date is 0.
 * Caller frees.
 */
char *lang_quote_line(const char *lang, int64_t date, const char *zone, const char *who);

#endif
