/*
 * lang: language detection with libexttextcat, and dates and quote lines per language.
 *
 * textcat compares the text's n-gram profile with one fingerprint per language. Asked among all
 * 160 of its languages it loads for a tenth of a second and takes Scots for English; asked among
 * the languages a shop can meet it loads in milliseconds and tells them apart better. So the
 * handle is built for a list of candidates (a configuration file written to a memfd), once per
 * process, and again only when the list changes (new rules with new template languages).
 */
#include "tend/lang.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <textcat.h>
#include <time.h>
#include <unistd.h>

/* Where Debian's libexttextcat-data puts the fingerprints (and fpdb.conf). */
#define FP_DIR "/usr/share/libexttextcat/"

/* Past this many bytes of words a text says nothing more about its language, and costs time:
 * textcat sorts every n-gram of what it reads, 0.9 million instructions for 700 bytes, half
 * as many for 400, which tell the same languages on the bench mail and the archive. */
#define SAMPLE_MAX 400
/* Fewer words than this and textcat guesses: "Danke!" comes out as Dutch or German. */
#define MIN_WORDS 4
/* How far into the text its words are looked for: past it, a text with few of them (a log
 * pasted in) is told by those. */
#define SCAN_MAX 16384
/* Longer is no word but a run of letters (base64, a hash): left out of the sample. */
#define MAX_WORD 40

/* The languages every detection considers, besides the shop's template languages. */
static const char *const common[] = {"en", "de", "fr", "es", "it", "nl", "pt"};

static const struct {
	const char *code, *name;
} names[] = {
    {"en", "English"}, {"de", "German"},    {"fr", "French"},     {"es", "Spanish"},
    {"it", "Italian"}, {"nl", "Dutch"},     {"pt", "Portuguese"}, {"da", "Danish"},
    {"sv", "Swedish"}, {"nb", "Norwegian"}, {"fi", "Finnish"},    {"pl", "Polish"},
    {"cs", "Czech"},   {"hu", "Hungarian"}, {"el", "Greek"},      {"tr", "Turkish"},
    {"ru", "Russian"}, {"ro", "Romanian"},
};

/*
 * Frequent words of customer mail, for when textcat finds several languages equally likely: a
 * short Spanish mail scores as close to Portuguese as to Spanish, a short French one closer to
 * Portuguese. A word several lists share counts for each of them, so it decides nothing.
 */
static const struct {
	const char *code, *words; /* " word word ... " */
} common_words[] = {
    {"en", " the and you your my is are was have has not with for this that please thanks thank "
           "would could will it to of when where what hi hello "},
    {"de", " und ich die der das ist nicht mit sie ein eine einen auf bitte für mein meine meinen "
           "noch danke wir haben habe wann wo kommt hallo guten "},
    {"fr", " le la les et je est pas vous une des pour avec mon ma mes merci bonjour que sur ne "
           "du au votre suis ai "},
    {"es", " el los las y es está por para con una mi mis pero gracias hola muy del ha he usted "
           "todavía cuándo dónde qué quiero tengo buenos buenas hace "},
    {"pt", " o os as um uma não é e em do da dos das com meu minha obrigado obrigada olá você "
           "ainda mas ao quando gostaria bom encomenda "},
    {"it", " il lo gli e è non di che per con una un mio mia grazie sono ho ancora della del "
           "buongiorno vorrei cosa devo "},
    {"nl", " het een ik is niet van met voor mijn nog dank bedankt graag wij zijn op dat u "
           "wanneer hallo heb "},
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handle;        /* textcat's, for the candidates in loaded_for */
static candidate_t *scores; /* textcat's full output for handle */
static char *loaded_for;    /* "en de fr ...", or NULL before the first load */
static bool load_failed;    /* for loaded_for: said once, not at every message */

bool lang_code_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return n == 2 || n == 3;
}

const char *lang_name(const char *code)
{
	for (size_t i = 0; code && i < NELEM(names); i++)
		if (strcmp(names[i].code, code) == 0)
			return names[i].name;
	return NULL;
}

static void add_candidate(struct strvec *sv, const char *code)
{
	if (lang_code_ok(code) && !strvec_contains(sv, code))
		strvec_push(sv, code);
}

/*
 * textcat reads its configuration from a file: one in memory, so nothing is left behind. It
 * lists the candidates that have a fingerprint (a template language may have none).
 */
static void *load(const struct strvec *codes)
{
	int fd = memfd_create("tend-textcat", MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	void *h = NULL;
	int n = 0;
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return NULL;
	}
	for (size_t i = 0; i < codes->n; i++) {
		char *path = xasprintf(FP_DIR "%s.lm", codes->v[i]);
		if (access(path, R_OK) == 0 &&
		    fprintf(f, "%s.lm %s\n", codes->v[i], codes->v[i]) > 0)
			n++;
		free(path);
	}
	if (n > 0 && fflush(f) == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		h = special_textcat_Init(path, FP_DIR);
	}
	fclose(f);
	return h;
}

/* Makes handle the one for these candidates; false when textcat cannot be loaded. */
static bool ensure_handle(const struct strvec *codes)
{
	struct buf key = BUF_INIT;
	for (size_t i = 0; i < codes->n; i++)
		buf_printf(&key, "%s%s", i ? " " : "", codes->v[i]);
	if (loaded_for == NULL || strcmp(loaded_for, key.data ? key.data : "") != 0) {
		if (handle != NULL) {
			textcat_ReleaseClassifyFullOutput(handle, scores);
			textcat_Done(handle);
		}
		handle = load(codes);
		scores = handle ? textcat_GetClassifyFullOutput(handle) : NULL;
		free(loaded_for);
		loaded_for = buf_steal(&key);
		load_failed = handle == NULL;
		if (load_failed)
			log_warnx(
			    "lang: cannot load the language fingerprints in %s; drafts are in "
			    "the default language",
			    FP_DIR);
	}
	buf_free(&key);
	return handle != NULL;
}

static bool is_letter(char c)
{
	return isalpha((unsigned char)c) || (unsigned char)c >= 0x80;
}

/* True for a word of prose: no digit, path, address, markup or code character in it. */
static bool prose_word(const char *w, size_t n)
{
	bool letter = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (isdigit(c) || (c < 0x80 && strchr("/\\@=_<>{}[]$~|#*^`%+&", c)))
			return false;
		letter |= is_letter(w[i]);
	}
	return letter && n <= MAX_WORD;
}

/*
 * A text written in capitals, lowered: the fingerprints are of text as people write it, in
 * which "THE" and "NOT" are rare, so "PLEASE HELP" in capitals looked like German or
 * Portuguese. Latin-1's capitals (À to Þ) are lowered too.
 */
static void lower_shouting(char *s, size_t n)
{
	size_t upper = 0, lower = 0;
	for (size_t i = 0; i < n; i++) {
		upper += s[i] >= 'A' && s[i] <= 'Z';
		lower += s[i] >= 'a' && s[i] <= 'z';
	}
	if (upper <= lower)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			s[i] = (char)(c + 32);
		else if (c == 0xc3 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		         (unsigned char)s[i + 1] <= 0x9e && (unsigned char)s[i + 1] != 0x97) {
			i++;
			s[i] = (char)((unsigned char)s[i] + 0x20);
		}
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/*
 * The words of prose among the text's first SCAN_MAX bytes, up to SAMPLE_MAX bytes of them,
 * into out (SAMPLE_MAX + 1 bytes): an order number, a URL, a path or a line of code tells
 * nothing of the language and would take the place of words that do. Returns the length;
 * *words: how many words it holds.
 */
static size_t sample(const char *text, char *out, size_t *words)
{
	size_t len = strnlen(text, SCAN_MAX), n = 0;
	if (len == SCAN_MAX) /* a word cut there, maybe inside a character, is left out */
		while (len > 0 && !is_blank(text[len - 1]))
			len--;
	*words = 0;
	for (size_t i = 0; i < len;) {
		size_t k = 0;
		while (i + k < len && !is_blank(text[i + k]))
			k++;
		if (k && prose_word(text + i, k)) {
			if (n + k + 1 > SAMPLE_MAX)
				break;
			memcpy(out + n, text + i, k);
			n += k;
			out[n++] = ' ';
			(*words)++;
		}
		for (i += k; i < len && is_blank(text[i]); i++)
			;
	}
	out[n] = '\0';
	lower_shouting(out, n);
	return n;
}

static void set_fallback(struct lang_guess *out, const char *fallback, const char *note)
{
	snprintf(out->code, sizeof(out->code), "%s", lang_code_ok(fallback) ? fallback : "en");
	snprintf(out->note, sizeof(out->note), "%s", note);
}

/* How many of text's first n bytes' words are among code's common words. */
static int common_hits(const char *code, const char *text, size_t n)
{
	const char *list = NULL;
	for (size_t i = 0; i < NELEM(common_words); i++)
		if (strcmp(common_words[i].code, code) == 0)
			list = common_words[i].words;
	int hits = 0;
	char word[32];
	for (size_t i = 0; list && i < n;) {
		size_t k = 0;
		word[k++] = ' ';
		for (; i < n && is_letter(text[i]); i++)
			if (k < sizeof(word) - 2)
				word[k++] = (char)tolower((unsigned char)text[i]);
		word[k++] = ' ';
		word[k] = '\0';
		hits += k > 2 && strstr(list, word) != NULL;
		while (i < n && !is_letter(text[i]))
			i++;
	}
	return hits;
}

/*
 * Among the k languages textcat found equally likely, the one whose common words the text
 * uses clearly most (two at least, more than any other's), or -1.
 */
static int break_tie(const candidate_t *c, int k, const char *text, size_t n)
{
	int best = -1, most = 0, second = 0;
	for (int i = 0; i < k; i++) {
		int hits = common_hits(c[i].name, text, n);
		if (hits > most) {
			second = most;
			most = hits;
			best = i;
		} else if (hits > second) {
			second = hits;
		}
	}
	return most >= 2 && most > second ? best : -1;
}

static void set_code(struct lang_guess *out, const char *code, const char *fallback)
{
	if (strlen(code) < sizeof(out->code))
		snprintf(out->code, sizeof(out->code), "%s", code);
	else
		set_fallback(out, fallback, "the language identifier could not tell");
}

/* textcat's k candidates (best first; valid under the lock) into out. */
static void read_result(const candidate_t *c, int k, const char *text, size_t n,
                        const char *fallback, struct lang_guess *out)
{
	if (k == TEXTCAT_RESULT_SHORT) {
		set_fallback(out, fallback, "the text is too short to tell");
		return;
	}
	if (k <= 0) {
		set_fallback(out, fallback, "the language identifier could not tell");
		return;
	}
	int pick = k == 1 ? 0 : break_tie(c, k, text, n);
	if (pick >= 0) {
		set_code(out, c[pick].name, fallback);
		return;
	}
	struct buf b = BUF_INIT;
	buf_puts(&b, "the language identifier could not choose between ");
	for (int i = 0; i < k; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", c[i].name);
	set_fallback(out, fallback, b.data);
	buf_free(&b);
}

void lang_detect(const char *text, const struct strvec *extra, const char *fallback,
                 struct lang_guess *out)
{
	memset(out, 0, sizeof(*out));
	size_t words;
	char prose[SAMPLE_MAX + 1];
	size_t n = sample(text ? text : "", prose, &words);
	if (words < MIN_WORDS) {
		set_fallback(out, fallback, "the text is too short to tell");
		return;
	}
	struct strvec codes = STRVEC_INIT;
	for (size_t i = 0; i < NELEM(common); i++)
		add_candidate(&codes, common[i]);
	for (size_t i = 0; extra && i < extra->n; i++)
		add_candidate(&codes, extra->v[i]);
	add_candidate(&codes, fallback);
	pthread_mutex_lock(&lock);
	if (ensure_handle(&codes) && scores != NULL)
		read_result(scores, textcat_ClassifyFull(handle, prose, n, scores), prose, n,
		            fallback, out);
	else
		set_fallback(out, fallback, "no language identifier (fingerprints not found)");
	pthread_mutex_unlock(&lock);
	strvec_free(&codes);
}

/* ---- dates ---- */

/*
 * How a language writes a deadline and a quote line. In the formats: %A day, %a short day,
 * %d day of the month, %B month, %b short month, %Y year, %H:%M time, %Z the zone's
 * abbreviation, %W who wrote.
 */
struct lang_dates {
	const char *code;
	const char *days[7], *short_days[7]; /* Sunday first, as struct tm */
	const char *months[12], *short_months[12];
	const char *deadline, *quote, *quote_undated;
};

static const struct lang_dates tables[] = {
    {"en",
     {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
     {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
     {"January", "February", "March", "April", "May", "June", "July", "August", "September",
      "October", "November", "December"},
     {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
     "%A %d %B, %H:%M %Z",
     "On %a, %d %b %Y at %H:%M %Z, %W wrote:",
     "%W wrote:"},
    {"de",
     {"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"},
     {"So.", "Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa."},
     {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
      "November", "Dezember"},
     {"Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.",
      "Dez."},
     "%A, %d. %B, %H:%M %Z",
     "Am %A, %d. %B %Y um %H:%M %Z schrieb %W:",
     "%W schrieb:"},
    {"fr",
     {"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"},
     {"dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."},
     {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
      "octobre", "novembre", "décembre"},
     {"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
      "déc."},
     "%A %d %B, %H:%M %Z",
     "Le %A %d %B %Y à %H:%M %Z, %W a écrit :",
     "%W a écrit :"},
    {"es",
     {"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"},
     {"dom.", "lun.", "mar.", "mié.", "jue.", "vie.", "sáb."},
     {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
      "octubre", "noviembre", "diciembre"},
     {"ene.", "feb.", "mar.", "abr.", "may.", "jun.", "jul.", "ago.", "sept.", "oct.", "nov.",
      "dic."},
     "%A, %d de %B, %H:%M %Z",
     "El %A, %d de %B de %Y a las %H:%M %Z, %W escribió:",
     "%W escribió:"},
    {"it",
     {"domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"},
     {"dom", "lun", "mar", "mer", "gio", "ven", "sab"},
     {"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
      "ottobre", "novembre", "dicembre"},
     {"gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"},
     "%A %d %B, %H:%M %Z",
     "Il giorno %A %d %B %Y alle %H:%M %Z %W ha scritto:",
     "%W ha scritto:"},
    {"nl",
     {"zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag"},
     {"zo", "ma", "di", "wo", "do", "vr", "za"},
     {"januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
      "oktober", "november", "december"},
     {"jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"},
     "%A %d %B, %H:%M %Z",
     "Op %A %d %B %Y om %H:%M %Z schreef %W:",
     "%W schreef:"},
};

static const struct lang_dates *table_for(const char *lang)
{
	for (size_t i = 0; lang && i < NELEM(tables); i++)
		if (strcmp(tables[i].code, lang) == 0)
			return &tables[i];
	return &tables[0];
}

static void put_field(struct buf *b, const struct lang_dates *l, const struct tm *tm, char f,
                      const char *who)
{
	int wd = tm->tm_wday >= 0 && tm->tm_wday < 7 ? tm->tm_wday : 0;
	int mon = tm->tm_mon >= 0 && tm->tm_mon < 12 ? tm->tm_mon : 0;
	switch (f) {
	case 'A':
		buf_puts(b, l->days[wd]);
		break;
	case 'a':
		buf_puts(b, l->short_days[wd]);
		break;
	case 'B':
		buf_puts(b, l->months[mon]);
		break;
	case 'b':
		buf_puts(b, l->short_months[mon]);
		break;
	case 'd':
		buf_printf(b, "%d", tm->tm_mday);
		break;
	case 'Y':
		buf_printf(b, "%d", tm->tm_year + 1900);
		break;
	case 'H':
		buf_printf(b, "%02d", tm->tm_hour);
		break;
	case 'M':
		buf_printf(b, "%02d", tm->tm_min);
		break;
	case 'Z':
		buf_puts(b, tm->tm_zone && *tm->tm_zone ? tm->tm_zone : "UTC");
		break;
	case 'W':
		buf_puts(b, who ? who : "");
		break;
	default:
		buf_putc(b, '%'), buf_putc(b, f);
		break;
	}
}

/* fmt expanded for t (0: no date needed) in zone. */
static void expand(struct buf *b, const struct lang_dates *l, const char *fmt, int64_t t,
                   const char *zone, const char *who)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (t)
		local_time_in(zone, t, &tm);
	for (const char *p = fmt; *p; p++) {
		if (*p == '%' && p[1]) {
			put_field(b, l, &tm, *++p, who);
			continue;
		}
		buf_putc(b, *p);
	}
}

void lang_format_deadline(char *buf, size_t size, const char *lang, int64_t t, const char *zone)
{
	struct buf b = BUF_INIT;
	const struct lang_dates *l = table_for(lang);
	expand(&b, l, l->deadline, t, zone, NULL);
	snprintf(buf, size, "%s", b.data ? b.data : "");
	buf_free(&b);
}

char *lang_quote_line(const char *lang, int64_t date, const char *zone, const char *who)
{
	struct buf b = BUF_INIT;
	const struct lang_dates *l = table_for(lang);
	expand(&b, l, date ? l->quote : l->quote_undated, date, zone, who);
	return buf_steal(&b);
}
