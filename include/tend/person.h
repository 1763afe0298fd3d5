/*
 * person: a customer's display name ("MR JOHN SMITH", "Berg, Dr. Anna", "Sig.ra Maria Rossi")
 * read as the parts a greeting needs: the honorific as written, the first name and the last
 * name, with names written all in capitals or all in lower case put into their usual case.
 */
#ifndef TEND_PERSON_H
#define TEND_PERSON_H

/* The parts of a name; each NULL when the name does not have it. */
struct person {
	char *title; /* "Dr.", "Frau Dr.", "Mme": the honorifics before the name, as written */
	char *first; /* "Anna": the first given name that is not an initial */
	char *last;  /* "Berg", "van der Berg": the last word with the particles before it */
};

/*
 * Reads display_name (UTF-8, may be NULL) into *p; free with person_free. Honorifics of
 * English, German, French, Spanish, Italian and Dutch are recognised with or without their dot,
 * in any case; "Last, First" is turned round; a trailing "Jr." or "III" is left out. A name
 * that is an address, empty or only a title gives no first name; a title with one word
 * ("Mr Smith") gives a last name only.
 */
void person_parse(const char *display_name, struct person *p);

void person_free(struct person *p);

/* The longest name person_form_name takes, in bytes: a longer value is not a name. */
#define PERSON_FORM_NAME_MAX 200

/*
 * The sender's name as a web form's text gives it, for form mail whose Reply-To has no
 * display name: the value of the first line "Name: Anna Berg" (or "Nom :", "Nombre:",
 * "Nome:", "Naam:", "Full name:", "Ihr Name:", ...; any case), blanks trimmed. NULL when no
 * line gives one, or the value is empty, longer than PERSON_FORM_NAME_MAX or holds control
 * bytes. Caller frees.
 */
char *person_form_name(const char *text);

#endif
