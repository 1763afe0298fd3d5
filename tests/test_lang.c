/*
 * test_lang: telling the customer's language, and dates and quote lines written in it.
 */
#include "tend/lang.h"
#include "tend/message.h"

#include "t.h"

/* What a customer might write, a few sentences each, in the languages tend has dates for. */
static const struct {
	const char *code, *text;
} paragraphs[] = {
    {"en", "Hello, I ordered a winter jacket last week and it still has not arrived. The "
           "tracking page has said the parcel is on its way for five days now. Could you "
           "please tell me where my order is and when I can expect it?"},
    {"de", "Guten Tag, ich habe letzte Woche eine Winterjacke bestellt und sie ist bis heute "
           "nicht angekommen. Die Sendungsverfolgung zeigt seit fünf Tagen an, dass das Paket "
           "unterwegs ist. Können Sie mir bitte sagen, wo meine Bestellung bleibt?"},
    {"fr", "Bonjour, j'ai commandé une veste d'hiver la semaine dernière et je ne l'ai "
           "toujours pas reçue. Le suivi indique depuis cinq jours que le colis est en route. "
           "Pourriez-vous me dire où en est ma commande et quand je vais la recevoir ?"},
    {"es", "Hola, la semana pasada pedí una chaqueta de invierno y todavía no ha llegado. El "
           "seguimiento dice desde hace cinco días que el paquete está en camino. ¿Podrían "
           "decirme dónde está mi pedido y cuándo lo voy a recibir?"},
    {"it", "Buongiorno, la settimana scorsa ho ordinato una giacca invernale e non è ancora "
           "arrivata. Il tracciamento dice da cinque giorni che il pacco è in viaggio. "
           "Potreste dirmi dove si trova il mio ordine e quando lo riceverò?"},
    {"nl", "Goedendag, vorige week heb ik een winterjas besteld en die is nog steeds niet "
           "aangekomen. De track-and-trace zegt al vijf dagen dat het pakket onderweg is. "
           "Kunt u mij vertellen waar mijn bestelling blijft en wanneer ik hem kan verwachten?"},
};

static void test_detects_paragraphs(void)
{
	for (size_t i = 0; i < NELEM(paragraphs); i++) {
		struct lang_guess g;
		lang_detect(paragraphs[i].text, NULL, "en", &g);
		T_EQ_STR(g.code, paragraphs[i].code);
		T_EQ_STR(g.note, "");
	}
}

/*
 * Short mails, where textcat finds two or three languages about as likely (Spanish and
 * Portuguese, French behind Portuguese, English and German): told by their common words.
 */
static void test_short_mails(void)
{
	static const struct {
		const char *code, *text;
	} mails[] = {
	    {"es", "Buenos días,\n\nMi pedido 10519 tenía que llegar hace dos semanas y todavía no "
	           "ha\nllegado. ¿Cuándo lo van a entregar?\n\nSaludos,\nCarlos"},
	    {"es",
	     "Hola, tengo un cupón (INVIERNO10) que no pude usar en el pedido 10688.\n¿Me lo "
	     "pueden aplicar? Además, por favor envíen el pedido a mi nueva\ndirección: Calle "
	     "Mayor 12, 28013 Madrid. Gracias, María"},
	    {"es", "Hola, quiero cancelar mi pedido 10684. Gracias."},
	    {"pt", "Bom dia, gostaria de cancelar a minha encomenda 10684. Obrigada."},
	    {"fr", "Bonjour, je voudrais annuler ma commande 10640. Merci."},
	    {"en", "Hi, my order 10512 still has not arrived. When will it ship?"},
	    {"nl", "Ik wil mijn bestelling annuleren. Bedankt!"},
	    {"it", "Buongiorno, vorrei annullare il mio ordine 10690. Grazie."},
	};
	for (size_t i = 0; i < NELEM(mails); i++) {
		struct lang_guess g;
		lang_detect(mails[i].text, NULL, "de", &g);
		T_EQ_STR(g.code, mails[i].code);
		T_EQ_STR(g.note, "");
	}
}

/* A mail written in capitals is told as the same mail in small letters. */
static void test_capitals(void)
{
	struct lang_guess g;
	lang_detect(
	    "HELLO, MY VOUCHER CODE XMAS25 DOES NOT WORK ON THE WEBSITE. IT SAYS\nNOT VALID "
	    "FOR THIS PRODUCT (THE OAK BENCH). PLEASE HELP.\nSARAH",
	    NULL, "de", &g);
	T_EQ_STR(g.code, "en");
	T_EQ_STR(g.note, "");
	lang_detect("ICH HABE MEINE BESTELLUNG 10526 NOCH NICHT ERHALTEN. WANN KOMMT SIE ENDLICH? "
	            "BITTE UM RÜCKMELDUNG.",
	            NULL, "en", &g);
	T_EQ_STR(g.code, "de");
	T_EQ_STR(g.note, "");
}

/* Links, paths, addresses and order codes say nothing: the words around them tell. */
static void test_links_and_codes_left_out(void)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 8; i++)
		buf_printf(&b, "https://track.example/parcel/DE%d0815/status?id=AB%d-4711&x=1\n", i,
		           i);
	buf_puts(&b, "C:\\Users\\anna\\Rechnung_10526.pdf order#10526 anna.berg@example.de\n");
	buf_puts(&b,
	         "Guten Tag, das Paket liegt seit einer Woche im Depot und wird nicht zugestellt. "
	         "Können Sie bitte nachsehen, was da los ist?");
	struct lang_guess g;
	lang_detect(b.data, NULL, "en", &g);
	T_EQ_STR(g.code, "de");
	T_EQ_STR(g.note, "");
	buf_free(&b);
}

/* Names of products and places, none of the common words: the tie stays, and is told. */
static void test_tie_without_words_falls_back(void)
{
	struct lang_guess g;
	lang_detect("Mesa Lisboa carvalho natural entrega montagem", NULL, "de", &g);
	T_EQ_STR(g.code, "de");
	T_EQ_STR(g.note, "the language identifier could not choose between pt, es");
}

/* A word or two is no evidence: the shop's default language, and why. */
static void test_short_text_falls_back(void)
{
	struct lang_guess g;
	lang_detect("Danke!", NULL, "fr", &g);
	T_EQ_STR(g.code, "fr");
	T_EQ_STR(g.note, "the text is too short to tell");
	lang_detect("", NULL, "en", &g);
	T_EQ_STR(g.code, "en");
	T_EQ_STR(g.note, "the text is too short to tell");
	lang_detect(NULL, NULL, "nonsense!", &g);
	T_EQ_STR(g.code, "en");
}

/* Numbers and codes are no language either. */
static void test_unknown_falls_back(void)
{
	struct lang_guess g;
	lang_detect("OT-20417 OT-20418 4711 0815 #12 ## 99 XZ-1 QQ-2", NULL, "de", &g);
	T_EQ_STR(g.code, "de");
	T_OK(g.note[0] != '\0');
}

/* A template language outside the common ones is a candidate too. */
static void test_extra_candidates(void)
{
	struct strvec extra = STRVEC_INIT;
	strvec_push(&extra, "sv");
	struct lang_guess g;
	lang_detect("Hej, jag beställde en vinterjacka förra veckan och den har fortfarande inte "
	            "kommit fram. Kan ni berätta var min beställning är och när jag kan vänta mig "
	            "den?",
	            &extra, "en", &g);
	T_EQ_STR(g.code, "sv");
	/* and again without it: the handle is rebuilt for the other list of candidates */
	lang_detect(paragraphs[1].text, NULL, "en", &g);
	T_EQ_STR(g.code, "de");
	strvec_free(&extra);
}

static void test_code_ok(void)
{
	T_OK(lang_code_ok("de"));
	T_OK(lang_code_ok("nds"));
	T_OK(!lang_code_ok("DE"));
	T_OK(!lang_code_ok("d"));
	T_OK(!lang_code_ok("de-AT"));
	T_OK(!lang_code_ok("../x"));
	T_OK(!lang_code_ok(NULL));
	T_EQ_STR(lang_name("fr"), "French");
	T_OK(lang_name("xx") == NULL);
}

/* 2026-12-02 10:10 UTC: a Wednesday; 11:10 in Berlin (CET), 05:10 in New York (EST). */
#define WED 1796206200

static void test_deadline_per_language(void)
{
	static const struct {
		const char *lang, *want;
	} cases[] = {
	    {"en", "Wednesday 2 December, 11:10 CET"},
	    {"de", "Mittwoch, 2. Dezember, 11:10 CET"},
	    {"fr", "mercredi 2 décembre, 11:10 CET"},
	    {"es", "miércoles, 2 de diciembre, 11:10 CET"},
	    {"it", "mercoledì 2 dicembre, 11:10 CET"},
	    {"nl", "woensdag 2 december, 11:10 CET"},
	    {"xx", "Wednesday 2 December, 11:10 CET"},
	};
	char buf[96];
	for (size_t i = 0; i < NELEM(cases); i++) {
		lang_format_deadline(buf, sizeof(buf), cases[i].lang, WED, "Europe/Berlin");
		T_EQ_STR(buf, cases[i].want);
	}
	lang_format_deadline(buf, sizeof(buf), "en", WED, "America/New_York");
	T_EQ_STR(buf, "Wednesday 2 December, 05:10 EST");
	lang_format_deadline(buf, sizeof(buf), NULL, WED, "UTC");
	T_EQ_STR(buf, "Wednesday 2 December, 10:10 UTC");
	/* summer time has its own name */
	lang_format_deadline(buf, sizeof(buf), "de", WED - 150 * 86400, "Europe/Berlin");
	T_EQ_STR(buf, "Sonntag, 5. Juli, 12:10 CEST");
}

static void test_quote_line_per_language(void)
{
	static const struct {
		const char *lang, *want;
	} cases[] = {
	    {"en", "On Wed, 2 Dec 2026 at 11:10 CET, Anna <a@x.example> wrote:"},
	    {"de", "Am Mittwoch, 2. Dezember 2026 um 11:10 CET schrieb Anna <a@x.example>:"},
	    {"fr", "Le mercredi 2 décembre 2026 à 11:10 CET, Anna <a@x.example> a écrit :"},
	    {"es", "El miércoles, 2 de diciembre de 2026 a las 11:10 CET, Anna <a@x.example> "
	           "escribió:"},
	    {"it", "Il giorno mercoledì 2 dicembre 2026 alle 11:10 CET Anna <a@x.example> ha "
	           "scritto:"},
	    {"nl", "Op woensdag 2 december 2026 om 11:10 CET schreef Anna <a@x.example>:"},
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		char *s =
		    lang_quote_line(cases[i].lang, WED, "Europe/Berlin", "Anna <a@x.example>");
		T_EQ_STR(s, cases[i].want);
		free(s);
	}
	char *s = lang_quote_line("de", 0, "Europe/Berlin", "a@x.example");
	T_EQ_STR(s, "a@x.example schrieb:");
	free(s);
}

/* A customer who answers above our quote: tend reads only their new words, in every language. */
static void test_quote_line_is_recognised(void)
{
	static const char *const langs[] = {"en", "de", "fr", "es", "it", "nl"};
	for (size_t i = 0; i < NELEM(langs); i++) {
		char *line = lang_quote_line(langs[i], WED, "Europe/Berlin", "Shop <s@x.example>");
		char *text =
		    xasprintf("Thanks, that helps.\n\n%s\n> Hello Anna,\n> we will.\n", line);
		char *got = message_new_text(text);
		T_EQ_STR(got, "Thanks, that helps.");
		free(got);
		free(text);
		free(line);
	}
}

T_MAIN(T_CASE(test_detects_paragraphs), T_CASE(test_short_mails), T_CASE(test_capitals),
       T_CASE(test_links_and_codes_left_out), T_CASE(test_tie_without_words_falls_back),
       T_CASE(test_short_text_falls_back), T_CASE(test_unknown_falls_back),
       T_CASE(test_extra_candidates), T_CASE(test_code_ok), T_CASE(test_deadline_per_language),
       T_CASE(test_quote_line_per_language), T_CASE(test_quote_line_is_recognised))
