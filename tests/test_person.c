/*
 * test_person: customers' display names as mail clients, web shops and people write them, into
 * the title, first name and last name a greeting uses.
 */
#include "t.h"
#include "tend/person.h"
#include "tend/util.h"

struct name_case {
	const char *in;
	const char *title, *first, *last; /* NULL: none */
};

static const struct name_case cases[] = {
    /* The reports: capitals and a title taken for the first name. */
    {"MR JOHN SMITH", "Mr", "John", "Smith"},
    {"Dr. Anna Berg", "Dr.", "Anna", "Berg"},
    /* Plain names, and no name at all. */
    {"Anna Kowalski", NULL, "Anna", "Kowalski"},
    {"Anna", NULL, "Anna", NULL},
    {"", NULL, NULL, NULL},
    {"   ", NULL, NULL, NULL},
    {"anna.kowalski@example.com", NULL, NULL, NULL},
    {"Anna Kowalski <anna@example.com>", NULL, NULL, NULL},
    /* Only a title, or a title with one word: a last name, no first name. */
    {"Mr", "Mr", NULL, NULL},
    {"Mrs. Smith", "Mrs.", NULL, "Smith"},
    {"Frau Dr.", "Frau Dr.", NULL, NULL},
    /* Honorifics of six languages, with or without the dot, in any case. */
    {"Ms Jane Doe", "Ms", "Jane", "Doe"},
    {"miss jane doe", "Miss", "Jane", "Doe"},
    {"Mx. Sam Lee", "Mx.", "Sam", "Lee"},
    {"Prof. Dr. Hans Müller", "Prof. Dr.", "Hans", "Müller"},
    {"Herr Jürgen Weiß", "Herr", "Jürgen", "Weiß"},
    {"FRAU ANNA BERG", "Frau", "Anna", "Berg"},
    {"M. Jean Dupont", "M.", "Jean", "Dupont"},
    {"Mme Claire Martin", "Mme", "Claire", "Martin"},
    {"Mlle. Élodie Roux", "Mlle.", "Élodie", "Roux"},
    {"Sr. Juan García", "Sr.", "Juan", "García"},
    {"Sra. María López", "Sra.", "María", "López"},
    {"srta lucía ruiz", "Srta", "Lucía", "Ruiz"},
    {"Sig. Marco Rossi", "Sig.", "Marco", "Rossi"},
    {"Sig.ra Maria Bianchi", "Sig.ra", "Maria", "Bianchi"},
    {"Dott.ssa Giulia Verdi", "Dott.ssa", "Giulia", "Verdi"},
    {"Dhr. Jan de Vries", "Dhr.", "Jan", "de Vries"},
    {"Mevr. Anke van der Berg", "Mevr.", "Anke", "van der Berg"},
    {"De heer Pieter Bakker", "De heer", "Pieter", "Bakker"},
    {"Mr. & Mrs. John Smith", "Mr. & Mrs.", "John", "Smith"},
    /* Degrees that belong to the title: "Dr. med." is not Dr. Med. */
    {"Dr. med. Katrin Vogel", "Dr. med.", "Katrin", "Vogel"},
    {"Prof. Dr. rer. nat. Hans Weber", "Prof. Dr. rer. nat.", "Hans", "Weber"},
    {"DR. MED. DENT. ANNA BERG", "Dr. med. dent.", "Anna", "Berg"},
    {"Dr. Nat Berg", "Dr.", "Nat", "Berg"},
    {"Vogel, Dr. med. Katrin", "Dr. med.", "Katrin", "Vogel"},
    /* "Last, First", with titles on either side. */
    {"Kowalski, Anna", NULL, "Anna", "Kowalski"},
    {"\"Berg, Dr. Anna\"", "Dr.", "Anna", "Berg"},
    {"SMITH, JOHN", NULL, "John", "Smith"},
    {"van der Berg, Jan", NULL, "Jan", "van der Berg"},
    {"John Smith, Jr.", NULL, "John", "Smith"},
    {"Smith, John, PhD", NULL, "John", "Smith"},
    /* Case: capitals and lower case fixed, mixed case left as the customer wrote it. */
    {"ANNE-MARIE DUBOIS", NULL, "Anne-Marie", "Dubois"},
    {"sean o'brien", NULL, "Sean", "O'Brien"},
    {"JAMES MCDONALD", NULL, "James", "McDonald"},
    {"Ronald McDonald", NULL, "Ronald", "McDonald"},
    {"Jean DUPONT", NULL, "Jean", "Dupont"},
    {"JAN VAN DER BERG", NULL, "Jan", "van der Berg"},
    {"Jan van der Berg", NULL, "Jan", "van der Berg"},
    {"ÅSA ÖBERG", NULL, "Åsa", "Öberg"},
    {"ŁUKASZ ŻÓŁTOWSKI", NULL, "Łukasz", "Żółtowski"},
    {"ДМИТРИЙ ИВАНОВ", NULL, "Дмитрий", "Иванов"},
    {"DeShawn Jones", NULL, "DeShawn", "Jones"},
    {"李小龙", NULL, "李小龙", NULL},
    /* Initials, quotes, comments, and names that look like particles or titles. */
    {"J. Robert Smith", NULL, "Robert", "Smith"},
    {"J. Smith", NULL, NULL, "Smith"},
    {"'Anna Berg'", NULL, "Anna", "Berg"},
    {"Anna Berg (Acme GmbH)", NULL, "Anna", "Berg"},
    {"Van Morrison", NULL, "Van", "Morrison"},
    {"Maria de la Cruz", NULL, "Maria", "de la Cruz"},
    {"Don Johnson", NULL, "Don", "Johnson"},
    {"John Smith III", NULL, "John", "Smith"},
};

static void test_names(void)
{
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct name_case *c = &cases[i];
		struct person p;
		person_parse(c->in, &p);
		char *got = xasprintf("%s | %s | %s", p.title ? p.title : "-",
		                      p.first ? p.first : "-", p.last ? p.last : "-");
		char *want = xasprintf("%s | %s | %s", c->title ? c->title : "-",
		                       c->first ? c->first : "-", c->last ? c->last : "-");
		if (strcmp(got, want) != 0)
			T_FAIL("%s: got \"%s\", want \"%s\"", c->in, got, want);
		free(got);
		free(want);
		person_free(&p);
	}
}

/* Bytes that are not UTF-8 pass through unharmed, and NULL is no name. */
static void test_odd_input(void)
{
	struct person p;
	person_parse(NULL, &p);
	T_OK(p.title == NULL && p.first == NULL && p.last == NULL);
	person_parse("ANNA \xff\xfe BERG", &p);
	T_EQ_STR(p.first, "Anna");
	T_EQ_STR(p.last, "Berg");
	person_free(&p);
	person_parse("M\xc3", &p);
	T_EQ_STR(p.title, NULL);
	person_free(&p);
}

/* A web form's "Name:" line, in the six languages; other lines and hostile values are none. */
static void test_form_name(void)
{
	static const struct {
		const char *text, *want;
	} forms[] = {
	    {"New message\n\nName: Fatima Rahman\nEmail: f@example.org\n", "Fatima Rahman"},
	    {"Name: BERG, ANNA-LENA\r\nOrder number: 10633\r\n", "BERG, ANNA-LENA"},
	    {"Nom : Mme Élise Fournier\nE-mail : e@example.fr\n", "Mme Élise Fournier"},
	    {"NOMBRE: Lucía Fernández\n", "Lucía Fernández"},
	    {"  Vollständiger Name:\tFrau Ingrid Krause  \n", "Frau Ingrid Krause"},
	    {"Naam: Jan de Vries", "Jan de Vries"},
	    {"Message:\nMy name: is not a field\nName: Anna Berg\n", "Anna Berg"},
	    {"Name:\nName:   \n", NULL},
	    {"Username: anna\nNamed: x\n", NULL},
	    {"Name: Anna \x1b[31mBerg\n", NULL},
	    {"", NULL},
	};
	for (size_t i = 0; i < NELEM(forms); i++) {
		char *got = person_form_name(forms[i].text);
		if ((got == NULL) != (forms[i].want == NULL) ||
		    (got != NULL && strcmp(got, forms[i].want) != 0))
			T_FAIL("%zu: got \"%s\", want \"%s\"", i, got ? got : "(none)",
			       forms[i].want ? forms[i].want : "(none)");
		free(got);
	}
	char *long_name = xcalloc(PERSON_FORM_NAME_MAX + 8, 1);
	memcpy(long_name, "Name: ", 6);
	memset(long_name + 6, 'a', PERSON_FORM_NAME_MAX + 1);
	T_EQ_STR(person_form_name(long_name), NULL);
	free(long_name);
	T_EQ_STR(person_form_name(NULL), NULL);
}

T_MAIN(T_CASE(test_names), T_CASE(test_odd_input), T_CASE(test_form_name))
