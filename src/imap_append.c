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

/* The server's answer asks for the folder to be created first (RFC 3501 TRYCREATE). */
static bool try_create(const struct imap *im)
{
	const char *said = im->s->imap_response;
	return said != NULL && strstr(said, "TRYCREATE") != NULL;
}

int imap_append(struct imap *im, const char *folder, const char *data, size_t len, char **err)
{
	int r = append_once(im, folder, data, len);
	if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_ERROR_STREAM && try_create(im)) {
		if (mailimap_create(im->s, folder) == MAILIMAP_NO_ERROR)
			log_info("%s: created the folder %s for copies of sent replies", im->peer,
			         folder);
		r = append_once(im, folder, data, len);
	}
	if (r == MAILIMAP_NO_ERROR)
		return IMAP_OK;
	char *what = xasprintf("APPEND to %s", folder);
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
