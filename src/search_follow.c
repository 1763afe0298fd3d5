/*
 * search: a thread that keeps the index caught up while a writer (`tend import`) goes on
 * storing, so that the index costs the import its own time only where the import leaves a core
 * idle (waiting for the disk, or for the reading thread). Each commit the writer tells about
 * wakes it; it catches up with what is committed by then (search_update), so one catch-up may
 * take in several commits. It never reads what is not committed, and the store stays what the
 * index is derived from: an import that dies leaves an index that lags, as before.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "search_int.h"

struct search_follower {
	struct store *store;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool poked; /* commits to catch up with */
	bool stop;  /* no more: catch up (when poked) and end */
	int rc;     /* the first failure, with err */
	char *err;
};

/* Waits for a poke; false when told to stop with nothing more to do. */
static bool wait_poke(struct search_follower *f, bool *last)
{
	pthread_mutex_lock(&f->lock);
	while (!f->poked && !f->stop)
		pthread_cond_wait(&f->wake, &f->lock);
	bool poked = f->poked;
	f->poked = false;
	*last = f->stop;
	pthread_mutex_unlock(&f->lock);
	return poked;
}

static void *follow(void *arg)
{
	struct search_follower *f = arg;
	struct search *x = NULL;
	bool last = false;
	pthread_setname_np(pthread_self(), "tend-index"); /* as ps -L and perf show it */
	while (f->rc == 0 && !last && wait_poke(f, &last)) {
		if (x ==
		    NULL) /* opened at the first commit: an import that stores nothing makes none */
			f->rc = search_open(f->store, true, &x, &f->err);
		if (f->rc == 0)
			f->rc = search_update(x, NULL, &f->err);
	}
	search_close(x);
	return NULL;
}

struct search_follower *search_follow_start(struct store *s)
{
	struct search_follower *f = xcalloc(1, sizeof(*f));
	f->store = s;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	if ((errno = pthread_create(&f->tid, NULL, follow, f)) != 0)
		fatal("search index: cannot start its thread");
	return f;
}

static void tell(struct search_follower *f, bool poke)
{
	pthread_mutex_lock(&f->lock);
	f->poked = f->poked || poke;
	f->stop = f->stop || !poke;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

void search_follow_poke(struct search_follower *f)
{
	if (f)
		tell(f, true);
}

int search_follow_finish(struct search_follower *f, bool catch_up, char **err)
{
	*err = NULL;
	if (f == NULL)
		return 0;
	if (catch_up)
		tell(f, true);
	tell(f, false);
	pthread_join(f->tid, NULL);
	int rc = f->rc;
	*err = f->err;
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->wake);
	free(f);
	return rc;
}
