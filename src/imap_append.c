/*
 * imap: the two commands the sender needs: APPEND a copy of a reply to the Sent folder, and
 * look in that folder for a reply by its Message-ID. See include/tend/imap.h.
 */
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "imap_int.h"
#include "tend/imap.h"
#include "tend/util.h"

static struct mailimap_flag_list *seen_flag(void)
{
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
	struct mailimap_flag *f = mailimap_flag_new_seen();
	if (fl == NULL || f == NULL || mailimap_flag_list_add(fl, f) != MAILIMAP_NO_ERROR)
		fatalx("out of memory");
	return fl;
}

static int append_once(struct imap *im, const char *folder, const char *data, size_t len)
{
	struct mailimap_flag_list *fl = seen_flag();
	int r = mailimap_append(im->s, folder, fl, NULL, data, len);
	mailimap_flag_list_free(fl);
	return r;
}

/*
 * The server refused the APPEND with [TRYCREATE] (RFC 3501 7.1): the folder does not exist and
 * may be created. libetpan keeps response codes in imap_response_info, made afresh for each
 * response it reads; imap_response is only the text after the code.
 */
static bool try_create(const struct imap *im)
{
	const struct mailimap_response_info *info = im->s->imap_response_info;
	return info != NULL && info->rsp_trycreate;
}

/* s as an IMAP quoted string, or NULL when it cannot be one (8-bit or control bytes). */
static char *quoted(const char *s)
{
	struct buf b = BUF_INIT;
	buf_putc(&b, '"');
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
			buf_free(&b);
			return NULL;
		}
		if (*p == '"' || *p == '\\')
			buf_putc(&b, '\\');
		buf_putc(&b, *p);
	}
	buf_putc(&b, '"');
	return buf_steal(&b);
}

/*
 * Sends one command line (without tag or CRLF) and reads the answer: libetpan's
 * mailimap_custom_command would end the line with a space, which strict servers refuse.
 */
static int command(struct imap *im, const char *line)
{
	int r = mailimap_send_current_tag(im->s);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	mailstream *st = im->s->imap_stream;
	if (mailstream_write(st, line, strlen(line)) < 0 || mailstream_write(st, "\r\n", 2) < 0 ||
	    mailstream_flush(st) == -1 || mailimap_read_line(im->s) == NULL)
		return MAILIMAP_ERROR_STREAM;
	struct mailimap_response *resp = NULL;
	if ((r = mailimap_parse_response(im->s, &resp)) != MAILIMAP_NO_ERROR)
		return r;
	int state = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
	mailimap_response_free(resp);
	return state == MAILIMAP_RESP_COND_STATE_OK ? MAILIMAP_NO_ERROR : MAILIMAP_ERROR_CREATE;
}

/*
 * CREATE folder, marked \Sent where the server offers RFC 6154's CREATE-SPECIAL-USE (a server
 * that refuses the mark, say because another folder has it, gets a plain CREATE), then
 * SUBSCRIBE so that mail programs list it. Returns libetpan's result of the CREATE.
 */
static int create_sent(struct imap *im, const char *folder)
{
	int r = MAILIMAP_ERROR_CREATE;
	char *q = mailimap_has_extension(im->s, "CREATE-SPECIAL-USE") ? quoted(folder) : NULL;
	if (q != NULL) {
		char *cmd = xasprintf("CREATE %s (USE (\\Sent))", q);
		r = command(im, cmd);
		free(cmd);
		free(q);
	}
	if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_ERROR_STREAM)
		r = mailimap_create(im->s, folder);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	log_info("%s: created the folder %s for copies of sent replies", im->peer, folder);
	if (mailimap_subscribe(im->s, folder) != MAILIMAP_NO_ERROR)
		log_warnx("%s: SUBSCRIBE %s failed: mail programs may not list it", im->peer,
		          folder);
	return r;
}

int imap_append(struct imap *im, const char *folder, const char *data, size_t len, char **err)
{
	int r = append_once(im, folder, data, len);
	char *what = NULL;
	if (r == MAILIMAP_ERROR_APPEND && try_create(im)) {
		r = create_sent(im, folder);
		if (r != MAILIMAP_NO_ERROR)
			what = xasprintf("the folder %s does not exist, and CREATE %s", folder,
			                 folder);
		else
			r = append_once(im, folder, data, len);
	}
	if (r == MAILIMAP_NO_ERROR)
		return IMAP_OK;
	if (what == NULL)
		what = xasprintf("APPEND to %s", folder);
	int code = imap_fail(im, r, IMAP_EFOLDER, err, what);
	free(what);
	return code;
}

/* A Message-ID that can go into a quoted IMAP string as is. */
static bool searchable(const char *msgid)
{
	for (const char *p = msgid; *p; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f || *p == '"' || *p == '\\')
			return false;
	return *msgid != '\0';
}

/* libetpan 1.9.4 keeps no [NONEXISTENT] code from a refused EXAMINE: a LIST asks instead. */
bool imap_folder_missing(struct imap *im, const char *folder)
{
	if (strpbrk(folder, "%*") != NULL) /* LIST would take them for wildcards */
		return false;
	clist *list = NULL;
	if (mailimap_list(im->s, "", folder, &list) != MAILIMAP_NO_ERROR)
		return false;
	bool missing = list == NULL || clist_count(list) == 0;
	if (list != NULL)
		mailimap_list_result_free(list);
	return missing;
}

int imap_find_message_id(struct imap *im, const char *folder, const char *msgid, bool *found,
                         char **err)
{
	*found = false;
	if (!searchable(msgid)) {
		*err = xasprintf("%s: cannot search for the Message-ID <%s>", im->peer, msgid);
		return IMAP_EPROTO;
	}
	struct imap_folder f;
	int rc = imap_examine(im, folder, &f, err);
	if (rc == IMAP_EFOLDER && imap_folder_missing(im, folder)) {
		free(*err); /* nothing was ever copied there: the reply is not there */
		*err = NULL;
		return IMAP_OK;
	}
	if (rc != IMAP_OK)
		return rc;
	char *value = xasprintf("<%s>", msgid);
	struct mailimap_search_key *key =
	    mailimap_search_key_new_header(xstrdup("Message-ID"), value);
	clist *res = NULL;
	int r = mailimap_uid_search(im->s, NULL, key, &res);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(im, r, IMAP_EFOLDER, err, "UID SEARCH HEADER Message-ID");
	*found = clist_count(res) > 0;
	mailimap_search_result_free(res);
	return IMAP_OK;
}
