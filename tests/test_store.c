/*
 * test_store: the LMDB store — records round-trip, keys, counters, schema checks, permissions,
 * transactions across processes, and a full map or disk.
 */
#include "tend/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <lmdb.h>
#include <msgpack.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"

/* A fresh temporary directory per test, removed by done(). */
static char base[64];

static const char *tmpdir(void)
{
	snprintf(base, sizeof(base), "/tmp/test_store.XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	return base;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void done(void)
{
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *store_path(void)
{
	return xasprintf("%s/store", tmpdir());
}

static struct store *open_rw(const char *dir)
{
	struct store *s = NULL;
	char *err = NULL;
	int rc = store_open(dir, NULL, &s, &err);
	if (rc != 0)
		T_FAIL("store_open %s: %d %s", dir, rc, err ? err : "");
	free(err);
	return s;
}

static struct store_txn *begin(struct store *s, bool write)
{
	struct store_txn *t = NULL;
	T_EQ_INT(store_begin(s, write, &t), 0);
	return t;
}

/* Writes key -> value into a database of the environment with LMDB itself, behind the store. */
static void lmdb_put(const char *dir, const char *db, const void *k, size_t kn, const void *v,
                     size_t vn)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	T_EQ_INT(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	T_EQ_INT(mdb_env_open(env, dir, 0, 0600), 0);
	T_EQ_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
	T_EQ_INT(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);
	MDB_val kv = {kn, (void *)k}, vv = {vn, (void *)v};
	T_EQ_INT(mdb_put(txn, dbi, &kv, &vv, 0), 0);
	T_EQ_INT(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void be64(unsigned char b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
}

/* Records with every field set */

static struct message_addr mkaddr(const char *name, const char *addr)
{
	struct message_addr a = {name ? xstrdup(name) : NULL, addr ? xstrdup(addr) : NULL};
	return a;
}

static void addrs_push(struct message_addrs *as, const char *name, const char *addr)
{
	as->v = xreallocarray(as->v, as->n + 1, sizeof(*as->v));
	as->v[as->n++] = mkaddr(name, addr);
}

static void attach(struct store_message *m, const char *name, const char *type, size_t size)
{
	m->attachments =
	    xreallocarray(m->attachments, m->nattachments + 1, sizeof(*m->attachments));
	struct message_attachment *a = &m->attachments[m->nattachments++];
	a->filename = name ? xstrdup(name) : NULL;
	a->content_type = type ? xstrdup(type) : NULL;
	a->size = size;
}

static struct store_message *full_message(uint64_t id)
{
	struct store_message *m = xcalloc(1, sizeof(*m));
	struct buf text = BUF_INIT;
	m->id = id;
	m->thread = 77;
	m->flags = STORE_MSG_OURS | STORE_MSG_AUTOMATED | 0x80000000u;
	m->message_id = xstrdup("abc.123@example.com");
	m->message_id_synthetic = true;
	for (int i = 0; i < 1000; i++)
		strvec_push_owned(&m->references, xasprintf("ref%d@example.com", i));
	strvec_push(&m->in_reply_to, "ref999@example.com");
	strvec_push(&m->in_reply_to, "");
	m->subject = xstrdup("Grüße — 返金 🎉 [#12]");
	m->from = mkaddr("Zoë Ölmann", "zoe@example.de");
	addrs_push(&m->to, NULL, "support@shop.example");
	addrs_push(&m->to, "", "b@example.com");
	for (int i = 0; i < 300; i++) {
		char *a = xasprintf("cc%d@example.com", i);
		addrs_push(&m->cc, i % 2 ? "Über Person" : NULL, a);
		free(a);
	}
	addrs_push(&m->reply_to, "Reply Desk", "reply@example.com");
	m->date = -3155760000LL; /* 1870: before the epoch */
	m->date_offset = -570;
	m->received = INT64_MAX;
	for (int i = 0; i < 5000; i++)
		buf_printf(&text, "line %d: naïve café ✓\n", i);
	m->text = buf_steal(&text);
	m->new_text = xstrdup("");
	m->text_from_html = true;
	attach(m, "rechnung ä.pdf", "application/pdf", 123456);
	attach(m, NULL, "image/png", 0);
	attach(m, "", "", SIZE_MAX);
	m->source = xstrdup("imap:support/INBOX:42:7");
	m->join_reason = 3;
	m->join_detail = xstrdup("References <x@y>");
	m->quarantine_reason = NULL;
	strvec_push(&m->warnings, "bare LF line endings");
	strvec_push(&m->warnings, "8-bit header: \xc3\xa4");
	m->raw_size = UINT64_MAX;
	return m;
}

static void check_strvec(const struct strvec *a, const struct strvec *b)
{
	T_EQ_INT(a->n, b->n);
	for (size_t i = 0; i < a->n && i < b->n; i++)
		T_EQ_STR(a->v[i], b->v[i]);
}

static void check_addr(const struct message_addr *a, const struct message_addr *b)
{
	T_EQ_STR(a->name, b->name);
	T_EQ_STR(a->addr, b->addr);
}

static void check_addrs(const struct message_addrs *a, const struct message_addrs *b)
{
	T_EQ_INT(a->n, b->n);
	for (size_t i = 0; i < a->n && i < b->n; i++)
		check_addr(&a->v[i], &b->v[i]);
}

static void check_message(const struct store_message *a, const struct store_message *b)
{
	T_EQ_INT(a->id, b->id);
	T_EQ_INT(a->thread, b->thread);
	T_EQ_INT(a->flags, b->flags);
	T_EQ_STR(a->message_id, b->message_id);
	T_EQ_INT(a->message_id_synthetic, b->message_id_synthetic);
	check_strvec(&a->references, &b->references);
	check_strvec(&a->in_reply_to, &b->in_reply_to);
	T_EQ_STR(a->subject, b->subject);
	check_addr(&a->from, &b->from);
	check_addrs(&a->to, &b->to);
	check_addrs(&a->cc, &b->cc);
	check_addrs(&a->reply_to, &b->reply_to);
	T_EQ_INT(a->date, b->date);
	T_EQ_INT(a->date_offset, b->date_offset);
	T_EQ_INT(a->received, b->received);
	T_EQ_STR(a->text, b->text);
	T_EQ_STR(a->new_text, b->new_text);
	T_EQ_INT(a->text_from_html, b->text_from_html);
	T_EQ_INT(a->nattachments, b->nattachments);
	for (size_t i = 0; i < a->nattachments && i < b->nattachments; i++) {
		T_EQ_STR(a->attachments[i].filename, b->attachments[i].filename);
		T_EQ_STR(a->attachments[i].content_type, b->attachments[i].content_type);
		T_OK(a->attachments[i].size == b->attachments[i].size);
	}
	T_EQ_STR(a->source, b->source);
	T_EQ_INT(a->join_reason, b->join_reason);
	T_EQ_STR(a->join_detail, b->join_detail);
	T_EQ_STR(a->quarantine_reason, b->quarantine_reason);
	check_strvec(&a->warnings, &b->warnings);
	T_OK(a->raw_size == b->raw_size);
}

static struct store_thread *full_thread(uint64_t id)
{
	struct store_thread *th = xcalloc(1, sizeof(*th));
	th->id = id;
	th->merged_into = 0;
	th->state = STORE_THREAD_CLOSED;
	th->subject = xstrdup("");
	th->customer = mkaddr(NULL, "kunde@example.de");
	th->created = INT64_MIN;
	th->updated = 1767225600;
	for (uint64_t i = 1; i <= 10000; i++)
		idvec_push(&th->messages, i * 3);
	idvec_push(&th->messages, UINT64_MAX);
	for (int i = 0; i < 50; i++)
		strvec_push_owned(&th->participants, xasprintf("p%d@example.com", i));
	strvec_push(&th->tags, "refund");
	strvec_push(&th->tags, "política");
	th->priority = -1;
	th->deadline = 1767229200;
	th->first_response = -5;
	return th;
}

static void check_thread(const struct store_thread *a, const struct store_thread *b)
{
	T_EQ_INT(a->id, b->id);
	T_EQ_INT(a->merged_into, b->merged_into);
	T_EQ_INT(a->state, b->state);
	T_EQ_STR(a->subject, b->subject);
	check_addr(&a->customer, &b->customer);
	T_EQ_INT(a->created, b->created);
	T_EQ_INT(a->updated, b->updated);
	T_EQ_INT(a->messages.n, b->messages.n);
	if (a->messages.n == b->messages.n && a->messages.n)
		T_OK(memcmp(a->messages.v, b->messages.v, a->messages.n * sizeof(uint64_t)) == 0);
	check_strvec(&a->participants, &b->participants);
	check_strvec(&a->tags, &b->tags);
	T_EQ_INT(a->priority, b->priority);
	T_EQ_INT(a->deadline, b->deadline);
	T_EQ_INT(a->first_response, b->first_response);
}

/* Opening, permissions, schema */

static void test_open_creates_private_store(void)
{
	char *dir = store_path();
	mode_t old = umask(022);
	struct store *s = open_rw(dir);
	umask(old);
	struct stat st;
	T_EQ_INT(stat(dir, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0700);
	char *data = xasprintf("%s/data.mdb", dir), *lock = xasprintf("%s/lock.mdb", dir);
	T_EQ_INT(stat(data, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0600);
	T_EQ_INT(stat(lock, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0600);
	T_EQ_STR(s ? store_dir(s) : NULL, dir);
	store_close(s);
	/* Opening an existing store again works and keeps it private. */
	s = open_rw(dir);
	T_OK(s != NULL);
	store_close(s);
	free(data);
	free(lock);
	free(dir);
	done();
}

static void test_open_group_store(void)
{
	struct group *gr = getgrgid(getgid());
	T_OK(gr != NULL);
	if (gr == NULL)
		return;
	char *dir = store_path();
	char *group = xstrdup(gr->gr_name);
	struct store_options opt = {.group = group};
	struct store *s = NULL;
	char *err = NULL;
	mode_t old = umask(077);
	T_EQ_INT(store_open(dir, &opt, &s, &err), 0);
	umask(old);
	struct stat st;
	T_EQ_INT(stat(dir, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 03770);
	T_EQ_INT(st.st_gid, getgid());
	char *data = xasprintf("%s/data.mdb", dir), *lock = xasprintf("%s/lock.mdb", dir);
	T_EQ_INT(stat(data, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0660);
	T_EQ_INT(stat(lock, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0660);
	store_close(s);
	/* Without the group, a group-writable directory is refused. */
	T_OK(store_open(dir, NULL, &s, &err) < 0);
	T_CONTAINS(err, "group-writable");
	T_OK(s == NULL);
	free(err);
	err = NULL;
	T_OK(store_open(dir, &(struct store_options){.group = "no-such-group-xyz"}, &s, &err) < 0);
	T_CONTAINS(err, "no such group: no-such-group-xyz");
	free(err);
	free(group);
	free(data);
	free(lock);
	free(dir);
	done();
}

/* Planted files: what a group member of a store made before the sticky bit could leave. */

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, text, strlen(text)), (long long)strlen(text));
	close(fd);
}

/* The mode, size and first bytes of a file, to tell whether anything changed it. */
static char *fingerprint(const char *path)
{
	struct stat st;
	char head[32] = "";
	if (stat(path, &st) < 0)
		return xstrdup("(missing)");
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, head, sizeof(head) - 1) : -1;
	head[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return xasprintf("%o %jd %s", (unsigned)st.st_mode, (intmax_t)st.st_size, head);
}

/* Replaces dir/name with what plant makes, then expects store_open to refuse naming it. */
static void expect_refused(const char *dir, const char *name, const char *plant, const char *target,
                           const char *want)
{
	char *path = xasprintf("%s/%s", dir, name), *err = NULL;
	struct store *s = NULL;
	T_OK(unlink(path) == 0 || errno == ENOENT);
	if (strcmp(plant, "symlink") == 0)
		T_EQ_INT(symlink(target, path), 0);
	else if (strcmp(plant, "link") == 0)
		T_EQ_INT(link(target, path), 0);
	else if (strcmp(plant, "fifo") == 0)
		T_EQ_INT(mkfifo(path, 0600), 0);
	for (int ro = 0; ro < 2; ro++) {
		T_EQ_INT(store_open(dir, &(struct store_options){.readonly = ro}, &s, &err),
		         STORE_ERROR);
		char *line =
		    xasprintf("%s %s; refusing to open it (someone may be trying", path, want);
		T_CONTAINS(err, line);
		free(line);
		free(err);
		err = NULL;
	}
	T_OK(s == NULL);
	T_EQ_INT(unlink(path), 0);
	free(path);
}

static void test_open_refuses_planted_files(void)
{
	char *dir = store_path();
	store_close(open_rw(dir));
	char *secret = xasprintf("%s/secret", base), *gone = xasprintf("%s/gone", base);
	write_file(secret, "not the store's\n", 0600);
	char *before = fingerprint(secret);
	expect_refused(dir, "lock.mdb", "symlink", secret, "is a symbolic link");
	expect_refused(dir, "lock.mdb", "symlink", gone, "is a symbolic link");
	T_OK(access(gone, F_OK) < 0); /* nothing was created through the dangling link */
	expect_refused(dir, "lock.mdb", "fifo", NULL, "is a FIFO");
	char *data = xasprintf("%s/data.mdb", dir), *saved = xasprintf("%s/saved.mdb", base);
	T_EQ_INT(rename(data, saved), 0);
	write_file(data, "", 0600);
	expect_refused(dir, "data.mdb", "symlink", secret, "is a symbolic link");
	write_file(data, "", 0600);
	expect_refused(dir, "data.mdb", "link", secret, "has 2 hard links");
	char *after = fingerprint(secret);
	T_EQ_STR(after, before);
	/* Put back, the store opens again: a refusal changed nothing. */
	T_EQ_INT(rename(saved, data), 0);
	store_close(open_rw(dir));
	free(after);
	free(before);
	free(saved);
	free(data);
	free(gone);
	free(secret);
	free(dir);
	done();
}

static void test_open_refuses_strangers_file(void)
{
	if (geteuid() != 0) {
		printf("# skipped: giving a file to another user needs root\n");
		return;
	}
	char *dir = store_path();
	store_close(open_rw(dir));
	char *lock = xasprintf("%s/lock.mdb", dir), *err = NULL;
	struct store *s = NULL;
	T_EQ_INT(chown(lock, 65534, (gid_t)-1), 0);
	T_EQ_INT(store_open(dir, NULL, &s, &err), STORE_ERROR);
	T_CONTAINS(err, "lock.mdb belongs to");
	T_CONTAINS(err, "not to the store's owner root; refusing to open it");
	free(err);
	free(lock);
	free(dir);
	done();
}

static void test_open_store_behind_link(void)
{
	char *real = xasprintf("%s/real", tmpdir()), *dir = xasprintf("%s/store", base);
	T_EQ_INT(mkdir(real, 0700), 0);
	T_EQ_INT(symlink(real, dir), 0);
	struct store *s = NULL;
	char *err = NULL;
	for (int ro = 0; ro < 2; ro++) {
		T_EQ_INT(store_open(dir, &(struct store_options){.readonly = ro}, &s, &err),
		         STORE_ERROR);
		char *want = xasprintf("store %s is a symbolic link; refusing to use it", dir);
		T_CONTAINS(err, want);
		free(want);
		free(err);
		err = NULL;
	}
	/* A link before the last component is the operator's layout. */
	char *inner = xasprintf("%s/inner", dir);
	store_close(open_rw(inner));
	char *data = xasprintf("%s/inner/data.mdb", real);
	T_EQ_INT(access(data, F_OK), 0);
	free(data);
	free(inner);
	free(dir);
	free(real);
	done();
}

static void test_old_group_store_gets_sticky_bit(void)
{
	struct group *gr = getgrgid(getgid());
	T_OK(gr != NULL);
	if (gr == NULL)
		return;
	char *dir = store_path(), *group = xstrdup(gr->gr_name), *err = NULL;
	struct store_options opt = {.group = group};
	struct store *s = NULL;
	T_EQ_INT(store_open(dir, &opt, &s, &err), 0);
	store_close(s);
	T_EQ_INT(chmod(dir, 02770), 0);
	opt.readonly = true;
	T_EQ_INT(store_open(dir, &opt, &s, &err), 0);
	store_close(s);
	struct stat st;
	T_EQ_INT(stat(dir, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 03770);
	free(err);
	free(group);
	free(dir);
	done();
}

static void test_file_open(void)
{
	char *dir = store_path();
	store_close(open_rw(dir));
	char *pid = xasprintf("%s/tendd.pid", dir), *secret = xasprintf("%s/secret", base);
	char *err = NULL;
	int fd = store_file_open(dir, "tendd.pid", O_RDWR | O_CREAT, 0644, &err);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, "42\n", 3), 3);
	close(fd);
	/* Opened again, it is not truncated: that is the caller's to do once it holds the lock. */
	fd = store_file_open(dir, "tendd.pid", O_RDWR | O_CREAT, 0644, &err);
	struct stat st;
	T_OK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 3);
	close(fd);
	write_file(secret, "not the store's\n", 0600);
	char *before = fingerprint(secret);
	T_EQ_INT(unlink(pid), 0);
	T_EQ_INT(symlink(secret, pid), 0);
	T_EQ_INT(store_file_open(dir, "tendd.pid", O_RDWR | O_CREAT, 0644, &err), -1);
	T_CONTAINS(err, "tendd.pid is a symbolic link; refusing to open it");
	free(err);
	err = NULL;
	T_EQ_INT(store_file_open(dir, "tendd.pid", O_RDONLY, 0, &err), -1);
	T_CONTAINS(err, "tendd.pid is a symbolic link");
	char *after = fingerprint(secret);
	T_EQ_STR(after, before);
	free(after);
	free(before);
	free(err);
	free(secret);
	free(pid);
	free(dir);
	done();
}

static void test_socket_clear_and_chmod(void)
{
	char *dir = store_path();
	store_close(open_rw(dir));
	char *sock = xasprintf("%s/tendd.sock", dir), *err = NULL;
	T_EQ_INT(store_socket_clear(dir, "tendd.sock", &err), 0); /* nothing there */
	write_file(sock, "notes\n", 0600);
	T_OK(store_socket_clear(dir, "tendd.sock", &err) < 0);
	T_CONTAINS(err, "tendd.sock is a regular file; refusing to replace it");
	T_EQ_INT(access(sock, F_OK), 0);
	free(err);
	err = NULL;
	T_EQ_INT(unlink(sock), 0);
	T_EQ_INT(symlink(base, sock), 0);
	T_OK(store_socket_chmod(dir, "tendd.sock", 0600, &err) < 0);
	T_CONTAINS(err, "tendd.sock is a symbolic link; refusing to change it");
	T_EQ_INT(unlink(sock), 0);
	/* A socket of ours: its mode set, and removed as stale the next time. */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	T_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	T_EQ_INT(store_socket_chmod(dir, "tendd.sock", 0660, &err), 0);
	struct stat st;
	T_EQ_INT(lstat(sock, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0660);
	T_EQ_INT(store_socket_clear(dir, "tendd.sock", &err), 0);
	T_OK(lstat(sock, &st) < 0 && errno == ENOENT);
	free(err);
	free(sock);
	free(dir);
	done();
}

static void test_open_refuses_world_writable(void)
{
	char *dir = store_path();
	T_EQ_INT(mkdir(dir, 0700), 0);
	T_EQ_INT(chmod(dir, 0777), 0);
	struct store *s = NULL;
	char *err = NULL;
	T_OK(store_open(dir, NULL, &s, &err) < 0);
	T_CONTAINS(err, "writable by everyone");
	free(err);
	free(dir);
	done();
}

static void test_open_missing_parents(void)
{
	char *dir = xasprintf("%s/var/lib/store", tmpdir());
	struct store *s = NULL;
	char *err = NULL;
	T_EQ_INT(store_open(dir, NULL, &s, &err), 0);
	struct stat st;
	T_EQ_INT(stat(dir, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0700);
	store_close(s);
	free(err);
	free(dir);
	/* A parent that is a file cannot hold a store. */
	char *file = xasprintf("%s/plain", base);
	FILE *f = fopen(file, "w");
	if (f)
		fclose(f);
	dir = xasprintf("%s/plain/store", base);
	err = NULL;
	T_OK(store_open(dir, NULL, &s, &err) < 0);
	T_CONTAINS(err, dir);
	T_CONTAINS(err, "Not a directory");
	free(err);
	free(dir);
	free(file);
	done();
}

static void test_open_readonly_missing(void)
{
	char *dir = store_path();
	struct store *s = NULL;
	char *err = NULL;
	struct store_options ro = {.readonly = true};
	T_EQ_INT(store_open(dir, &ro, &s, &err), STORE_NOTFOUND);
	char *want = xasprintf("no store at %s (import some mail first)", dir);
	T_EQ_STR(err, want);
	free(err);
	err = NULL;
	/* An empty directory is no store either, and a read-only open leaves it alone. */
	T_EQ_INT(mkdir(dir, 0700), 0);
	T_EQ_INT(store_open(dir, &ro, &s, &err), STORE_NOTFOUND);
	T_EQ_STR(err, want);
	char *data = xasprintf("%s/data.mdb", dir);
	T_OK(access(data, F_OK) < 0);
	/* A data file that a writer created and never filled holds no store yet either. */
	free(err);
	err = NULL;
	write_file(data, "", 0600);
	T_EQ_INT(store_open(dir, &ro, &s, &err), STORE_NOTFOUND);
	T_EQ_STR(err, want);
	free(data);
	free(want);
	free(err);
	free(dir);
	done();
}

static void test_open_not_a_store(void)
{
	char *dir = store_path();
	struct store *s = NULL;
	char *err = NULL;
	char junk[8192];
	memset(junk, 'x', sizeof(junk));
	T_EQ_INT(mkdir(dir, 0700), 0);
	char *data = xasprintf("%s/data.mdb", dir);
	int fd = open(data, O_WRONLY | O_CREAT, 0600);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, junk, sizeof(junk)), sizeof(junk));
	close(fd);
	T_OK(store_open(dir, NULL, &s, &err) < 0);
	T_CONTAINS(err, "not an LMDB file");
	free(err);
	err = NULL;
	/* Someone's directory full of other things does not become a store. */
	char *file = xasprintf("%s/notes.txt", dir);
	T_EQ_INT(rename(data, file), 0);
	T_OK(store_open(dir, NULL, &s, &err) < 0);
	T_CONTAINS(err, "holds other files and no store");
	free(err);
	err = NULL;
	/* A file is not a directory. */
	T_OK(store_open(file, NULL, &s, &err) < 0);
	T_CONTAINS(err, "not a directory");
	free(err);
	free(file);
	free(data);
	free(dir);
	done();
}

static void write_schema(const char *dir, uint64_t v)
{
	unsigned char b[8];
	be64(b, v);
	lmdb_put(dir, "meta", "schema_version", strlen("schema_version"), b, 8);
}

static void test_schema_version_mismatch(void)
{
	char *dir = store_path();
	store_close(open_rw(dir));
	struct store *s = NULL;
	char *err = NULL;
	write_schema(dir, 7);
	T_OK(store_open(dir, NULL, &s, &err) < 0);
	char *want = xasprintf(
	    "store %s: schema version 7 is newer than this tend understands (%d); upgrade tend",
	    dir, STORE_SCHEMA_VERSION);
	T_EQ_STR(err, want);
	T_OK(s == NULL);
	free(err);
	err = NULL;
	T_OK(store_open(dir, &(struct store_options){.readonly = true}, &s, &err) < 0);
	T_EQ_STR(err, want);
	free(want);
	free(err);
	err = NULL;
	write_schema(dir, 0);
	T_OK(store_open(dir, NULL, &s, &err) < 0);
	T_CONTAINS(err, "schema version 0 is older than this tend understands");
	T_CONTAINS(err, "needs migrating");
	free(err);
	err = NULL;
	write_schema(dir, STORE_SCHEMA_VERSION);
	T_EQ_INT(store_open(dir, NULL, &s, &err), 0);
	store_close(s);
	free(dir);
	done();
}

static void test_not_a_tend_env(void)
{
	/* A valid LMDB environment that some other program made. */
	char *dir = store_path();
	T_EQ_INT(mkdir(dir, 0700), 0);
	lmdb_put(dir, NULL, "hello", 5, "world", 5);
	struct store *s = NULL;
	char *err = NULL;
	T_OK(store_open(dir, NULL, &s, &err) < 0);
	T_CONTAINS(err, "not a tend store");
	free(err);
	free(dir);
	done();
}

/* Records */

static void test_message_roundtrip(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_message *m = full_message(1);
	struct store_message empty = {.id = 2};
	struct store_message blank = {.id = 3, .message_id = "", .subject = "", .text = ""};
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_message(t, m), 0);
	T_EQ_INT(store_put_message(t, &empty), 0);
	T_EQ_INT(store_put_message(t, &blank), 0);
	struct store_message *got = NULL;
	T_EQ_INT(store_get_message(t, 1, &got), 0); /* inside the writing transaction */
	if (got)
		check_message(got, m);
	store_message_free(got);
	T_EQ_INT(store_commit(t), 0);
	store_close(s);

	s = open_rw(dir);
	t = begin(s, false);
	T_EQ_INT(store_get_message(t, 1, &got), 0);
	if (got)
		check_message(got, m);
	store_message_free(got);
	T_EQ_INT(store_get_message(t, 2, &got), 0);
	if (got) {
		check_message(got, &empty);
		T_OK(got->message_id == NULL && got->from.addr == NULL && got->to.v == NULL);
	}
	store_message_free(got);
	T_EQ_INT(store_get_message(t, 3, &got), 0);
	if (got)
		check_message(got, &blank);
	store_message_free(got);
	T_EQ_INT(store_get_message(t, 4, &got), STORE_NOTFOUND);
	T_OK(got == NULL);
	store_abort(t);
	store_message_free(m);
	store_message_free(NULL);
	store_close(s);
	free(dir);
	done();
}

static void test_message_update(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	struct store_message *m = full_message(5);
	for (uint64_t id = 1; id <= 6; id++) {
		struct store_message e = {.id = id, .subject = "x"};
		T_EQ_INT(store_put_message(t, &e), 0);
	}
	/* Not the last key: replaces the record in place. */
	T_EQ_INT(store_put_message(t, m), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	struct store_message *got = NULL;
	T_EQ_INT(store_get_message(t, 5, &got), 0);
	if (got)
		check_message(got, m);
	store_message_free(got);
	struct store_counts c;
	T_EQ_INT(store_count(t, &c), 0);
	T_EQ_INT(c.messages, 6);
	store_abort(t);
	store_message_free(m);
	store_close(s);
	free(dir);
	done();
}

/* What a draft reads of the messages it chooses among: the head, without the texts. */
static void test_message_head(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_message *m = full_message(1);
	m->priority = 2;
	m->ignore_reason = xstrdup("List-Id: <r-devel.r-project.org>");
	struct store_message bare = {.id = 2, .subject = "no head fields past the id"};
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_message(t, m), 0);
	T_EQ_INT(store_put_message(t, &bare), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	struct store_message *got = NULL;
	T_EQ_INT(store_get_message_head(t, 1, &got), 0);
	if (got) {
		T_EQ_INT(got->id, 1);
		T_EQ_INT(got->thread, 77);
		T_EQ_INT(got->flags, m->flags);
		T_OK(got->received == INT64_MAX);
		T_EQ_INT(got->join_reason, 3);
		T_EQ_INT(got->priority, 2);
		T_EQ_STR(got->ignore_reason, "List-Id: <r-devel.r-project.org>");
		T_OK(got->text == NULL && got->subject == NULL && got->references.n == 0);
	}
	store_message_free(got);
	T_EQ_INT(store_get_message_head(t, 2, &got), 0);
	if (got)
		T_OK(got->id == 2 && got->thread == 0 && got->ignore_reason == NULL);
	store_message_free(got);
	T_EQ_INT(store_get_message_head(t, 3, &got), STORE_NOTFOUND);
	T_OK(got == NULL);
	store_abort(t);
	store_message_free(m);
	store_close(s);
	free(dir);
	done();
}

static void test_thread_roundtrip(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_thread *th = full_thread(9);
	struct store_thread empty = {.id = 10};
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_thread(t, th), 0);
	T_EQ_INT(store_put_thread(t, &empty), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	struct store_thread *got = NULL;
	T_EQ_INT(store_get_thread(t, 9, &got), 0);
	if (got)
		check_thread(got, th);
	store_thread_free(got);
	T_EQ_INT(store_get_thread(t, 10, &got), 0);
	if (got) {
		check_thread(got, &empty);
		T_OK(got->subject == NULL && got->messages.v == NULL);
	}
	store_thread_free(got);
	T_EQ_INT(store_get_thread(t, 11, &got), STORE_NOTFOUND);
	T_OK(got == NULL);
	store_abort(t);
	store_thread_free(th);
	store_thread_free(NULL);
	store_close(s);
	free(dir);
	done();
}

static void test_draft_roundtrip(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_draft *d = xcalloc(1, sizeof(*d));
	d->id = 3;
	d->thread = 12;
	d->state = STORE_DRAFT_APPROVED;
	d->stale = true;
	d->body = xstrdup("Hello Anna,\n\nYour refund \xe2\x82\xac 20 is on its way.\n");
	d->subject = xstrdup("Re: Refund [#12]");
	d->to.v = xcalloc(1, sizeof(*d->to.v));
	d->to.v[0].name = xstrdup("Anna");
	d->to.v[0].addr = xstrdup("anna@example.com");
	d->to.n = 1;
	strvec_push(&d->references, "a@x");
	strvec_push(&d->parts, "refund");
	d->message_id = xstrdup("tend.12.3.00@shop.example");
	d->next_attempt = -5;
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_draft(t, d), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	struct store_draft *got = NULL;
	T_EQ_INT(store_get_draft(t, 3, &got), 0);
	if (got) {
		T_EQ_STR(got->body, d->body);
		T_EQ_STR(got->to.v[0].addr, "anna@example.com");
		T_EQ_STR(got->parts.v[0], "refund");
		T_EQ_INT(got->state, STORE_DRAFT_APPROVED);
		T_OK(got->stale && !got->edited && got->previous_body == NULL);
		T_EQ_INT(got->next_attempt, -5);
	}
	store_draft_free(got);
	T_EQ_INT(store_get_draft(t, 4, &got), STORE_NOTFOUND);
	store_abort(t);
	store_draft_free(d);
	store_close(s);
	free(dir);
	done();
}

struct seen {
	int64_t when[8];
	uint64_t id[8];
	size_t n;
};

static int collect_index(int64_t when, uint64_t draft, void *arg)
{
	struct seen *v = arg;
	if (v->n < 8) {
		v->when[v->n] = when;
		v->id[v->n++] = draft;
	}
	return 0;
}

static int collect_audit(const struct store_audit *a, void *arg)
{
	strvec_push(arg, a->action);
	return 0;
}

static void test_queue_and_audit_order(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	/* Time order, negative times included; deleting what is absent is fine. */
	T_EQ_INT(store_index_put(t, STORE_INDEX_QUEUE, 2000, 7), 0);
	T_EQ_INT(store_index_put(t, STORE_INDEX_QUEUE, -10, 9), 0);
	T_EQ_INT(store_index_put(t, STORE_INDEX_QUEUE, 1000, 8), 0);
	T_EQ_INT(store_index_put(t, STORE_INDEX_OUTBOX, 1, 1), 0);
	T_EQ_INT(store_index_del(t, STORE_INDEX_QUEUE, 1000, 8), 0);
	T_EQ_INT(store_index_del(t, STORE_INDEX_QUEUE, 1000, 8), 0);
	struct store_audit b = {.time = 50, .action = "approve", .thread = 1};
	struct store_audit a = {.time = 40, .action = "edit", .thread = 1, .detail = "-x\n+y\n"};
	T_EQ_INT(store_audit_append(t, &b), 0);
	T_EQ_INT(store_audit_append(t, &a), 0);
	T_OK(a.seq > b.seq);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	struct seen q = {0};
	T_EQ_INT(store_foreach_index(t, STORE_INDEX_QUEUE, collect_index, &q), 0);
	T_EQ_INT(q.n, 2);
	T_EQ_INT(q.when[0], -10);
	T_EQ_INT(q.id[0], 9);
	T_EQ_INT(q.id[1], 7);
	struct strvec actions = STRVEC_INIT;
	T_EQ_INT(store_foreach_audit(t, collect_audit, &actions), 0);
	T_EQ_INT(actions.n, 2);
	if (actions.n == 2)
		T_EQ_STR(actions.v[0], "edit"); /* by time, not by order of writing */
	strvec_free(&actions);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static void test_raw_bytes(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	char small[512];
	for (size_t i = 0; i < sizeof(small); i++)
		small[i] = (char)(i % 256); /* NULs, CRs, 8-bit bytes */
	size_t biglen = 5u << 20;
	char *big = xmalloc(biglen);
	for (size_t i = 0; i < biglen; i++)
		big[i] = (char)((i * 7919) >> 3);
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_raw(t, 1, small, sizeof(small)), 0);
	T_EQ_INT(store_put_raw(t, 2, big, biglen), 0);
	T_EQ_INT(store_put_raw(t, 3, "", 0), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	const char *raw = NULL;
	size_t len = 0;
	T_EQ_INT(store_get_raw(t, 1, &raw, &len), 0);
	T_EQ_INT(len, sizeof(small));
	T_OK(raw && memcmp(raw, small, sizeof(small)) == 0);
	T_EQ_INT(store_get_raw(t, 2, &raw, &len), 0);
	T_EQ_INT(len, biglen);
	T_OK(raw && memcmp(raw, big, biglen) == 0);
	T_EQ_INT(store_get_raw(t, 3, &raw, &len), 0);
	T_EQ_INT(len, 0);
	T_EQ_INT(store_get_raw(t, 4, &raw, &len), STORE_NOTFOUND);
	store_abort(t);
	free(big);
	store_close(s);
	free(dir);
	done();
}

static char *repeat(char c, size_t n, const char *suffix)
{
	char *s = xmalloc(n + strlen(suffix) + 1);
	memset(s, c, n);
	strcpy(s + n, suffix);
	return s;
}

/* Raw messages in blobs/ */

static int saved_stderr = -1;
static char capture_path[96];

/* What the code under test logs between capture_start and capture_end (caller frees). */
static void capture_start(void)
{
	fflush(stderr);
	snprintf(capture_path, sizeof(capture_path), "%s/stderr", base);
	int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_OK(fd >= 0);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static char *capture_end(void)
{
	char *text = NULL;
	size_t n;
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	if (read_file(capture_path, &text, &n) < 0)
		text = xstrdup("");
	return text;
}

/* A message of n bytes whose content depends on seed. */
static char *big_raw(size_t n, unsigned seed)
{
	char *raw = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		raw[i] = (char)(((i + seed) * 7919) >> 3);
	return raw;
}

static char *blob_path(const char *dir, const char *raw, size_t n)
{
	char hex[65];
	sha256_hex(raw, n, hex);
	return xasprintf("%s/blobs/%s", dir, hex);
}

/* Stores raw as message id in a transaction of its own. */
static void put_committed(struct store *s, uint64_t id, const char *raw, size_t n)
{
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_raw(t, id, raw, n), 0);
	T_EQ_INT(store_commit(t), 0);
}

/* Reads message id and compares it with raw; returns store_get_raw's code. */
static int get_same(struct store *s, uint64_t id, const char *raw, size_t n)
{
	struct store_txn *t = begin(s, false);
	const char *got = NULL;
	size_t len = 0;
	int rc = store_get_raw(t, id, &got, &len);
	if (rc == 0)
		T_OK(len == n && memcmp(got, raw, n) == 0);
	store_abort(t);
	return rc;
}

static void test_blob_roundtrip(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	size_t n = STORE_BLOB_MIN, small = STORE_BLOB_MIN - 1;
	char *a = big_raw(n, 1), *b = big_raw(n + 5, 2), *c = big_raw(small, 3);
	char *pa = blob_path(dir, a, n), *pb = blob_path(dir, b, n + 5);
	char *blobs = xasprintf("%s/blobs", dir), *data = xasprintf("%s/data.mdb", dir);
	put_committed(s, 1, a, n);
	/* Staged before the write transaction: the file is there, synced, before it begins. */
	struct store_blob staged;
	T_EQ_INT(store_blob_stage(s, b, n + 5, &staged), 0);
	T_EQ_INT(staged.len, n + 5);
	struct stat st;
	T_OK(stat(pb, &st) == 0 && st.st_size == (off_t)(n + 5) && (st.st_mode & 0777) == 0600);
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_raw_staged(t, 2, b, n + 5, &staged), 0);
	T_EQ_INT(store_put_raw(t, 3, c, small), 0);
	T_EQ_INT(store_commit(t), 0);
	T_OK(stat(blobs, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
	T_OK(stat(pa, &st) == 0 && st.st_size == (off_t)n);
	/* The big ones are not in LMDB's pages; the one under STORE_BLOB_MIN is. */
	T_OK(stat(data, &st) == 0 && st.st_size < (off_t)(2 * n));
	store_close(s);
	s = open_rw(dir);
	T_EQ_INT(get_same(s, 1, a, n), 0);
	T_EQ_INT(get_same(s, 2, b, n + 5), 0);
	T_EQ_INT(get_same(s, 3, c, small), 0);
	/* Several at once in one transaction, each mapped until it ends. */
	t = begin(s, false);
	const char *r1, *r2;
	size_t l1, l2;
	T_EQ_INT(store_get_raw(t, 1, &r1, &l1), 0);
	T_EQ_INT(store_get_raw(t, 2, &r2, &l2), 0);
	T_OK(l1 == n && memcmp(r1, a, n) == 0 && l2 == n + 5 && memcmp(r2, b, n + 5) == 0);
	store_abort(t);
	store_close(s);
	free(data);
	free(blobs);
	free(pb);
	free(pa);
	free(c);
	free(b);
	free(a);
	free(dir);
	done();
}

/* A store from before blobs/: big messages in raw, no blobs database. */
static void test_blobs_db_added_to_old_store(void)
{
	char *dir = store_path();
	size_t n = 2 * STORE_BLOB_MIN;
	char *a = big_raw(n, 8), *b = big_raw(n, 9);
	unsigned char k[8];
	store_close(open_rw(dir));
	be64(k, 1);
	lmdb_put(dir, "raw", k, 8, a, n);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	T_EQ_INT(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	T_EQ_INT(mdb_env_open(env, dir, 0, 0600), 0);
	T_EQ_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
	T_EQ_INT(mdb_dbi_open(txn, "blobs", 0, &dbi), 0);
	T_EQ_INT(mdb_drop(txn, dbi, 1), 0);
	T_EQ_INT(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	struct store *s = NULL;
	T_EQ_INT(store_open(dir, &(struct store_options){.readonly = true}, &s, NULL), 0);
	T_EQ_INT(get_same(s, 1, a, n), 0);
	T_EQ_INT(get_same(s, 2, b, n), STORE_NOTFOUND);
	store_close(s);
	s = open_rw(dir);
	put_committed(s, 2, b, n);
	T_EQ_INT(get_same(s, 1, a, n), 0);
	T_EQ_INT(get_same(s, 2, b, n), 0);
	char *pa = blob_path(dir, a, n), *pb = blob_path(dir, b, n);
	T_OK(access(pa, F_OK) < 0 && access(pb, F_OK) == 0); /* the old one stays where it was */
	store_close(s);
	free(pb);
	free(pa);
	free(b);
	free(a);
	free(dir);
	done();
}

/* A crash after the file and before the commit: the message fetched again reuses the file. */
static void test_blob_reuse_after_crash(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	size_t n = 2 * STORE_BLOB_MIN;
	char *a = big_raw(n, 4), *pa = blob_path(dir, a, n);
	struct store_blob staged;
	T_EQ_INT(store_blob_stage(s, a, n, &staged), 0);
	store_close(s); /* the crash: staged, never committed */
	struct stat before, after;
	T_EQ_INT(stat(pa, &before), 0);
	s = open_rw(dir);
	T_EQ_INT(get_same(s, 1, a, n), STORE_NOTFOUND);
	put_committed(s, 1, a, n);
	T_EQ_INT(stat(pa, &after), 0);
	T_OK(after.st_ino == before.st_ino); /* the same file, not written again */
	T_EQ_INT(get_same(s, 1, a, n), 0);
	/* A file a crash cut short (or anyone's mistake) is written again, not referenced. */
	T_EQ_INT(truncate(pa, 100), 0);
	capture_start();
	put_committed(s, 2, a, n);
	char *log = capture_end();
	T_CONTAINS(log, "has 100 bytes, not 2097152; writing it again");
	T_EQ_INT(get_same(s, 2, a, n), 0);
	T_EQ_INT(get_same(s, 1, a, n), 0);
	free(log);
	store_close(s);
	free(pa);
	free(a);
	free(dir);
	done();
}

/* Reading message 1 fails with STORE_CORRUPT, logging want; the others still read. */
static void expect_unreadable(struct store *s, const char *want, const char *a, size_t n)
{
	capture_start();
	struct store_txn *t = begin(s, false);
	const char *raw;
	size_t len;
	int rc = store_get_raw(t, 1, &raw, &len);
	store_abort(t);
	char *log = capture_end();
	T_EQ_INT(rc, STORE_CORRUPT);
	T_CONTAINS(log, "message 1 cannot be read: ");
	T_CONTAINS(log, want);
	T_EQ_INT(get_same(s, 2, a, n), 0);
	T_EQ_INT(get_same(s, 3, "small", 5), 0);
	free(log);
}

static void test_blob_errors(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	size_t n = STORE_BLOB_MIN;
	char *a = big_raw(n, 5), *b = big_raw(n, 6), *pb = blob_path(dir, b, n);
	char *secret = xasprintf("%s/secret", base), *saved = xasprintf("%s/saved", base);
	write_file(secret, "not the store's\n", 0600);
	char *before = fingerprint(secret);
	put_committed(s, 1, b, n);
	put_committed(s, 2, a, n);
	put_committed(s, 3, "small", 5);
	T_EQ_INT(rename(pb, saved), 0);
	expect_unreadable(s, "blobs/", a, n);
	T_EQ_INT(symlink(secret, pb), 0);
	expect_unreadable(s, "is a symbolic link; refusing to open it", a, n);
	T_EQ_INT(unlink(pb), 0);
	T_EQ_INT(link(saved, pb), 0);
	expect_unreadable(s, "has 2 hard links", a, n);
	T_EQ_INT(unlink(pb), 0);
	T_EQ_INT(mkfifo(pb, 0600), 0);
	expect_unreadable(s, "is a FIFO", a, n);
	T_EQ_INT(unlink(pb), 0);
	T_EQ_INT(rename(saved, pb), 0);
	T_EQ_INT(truncate(pb, n - 1), 0);
	expect_unreadable(s, "has 1048575 bytes, not the 1048576 recorded", a, n);
	if (geteuid() == 0) {
		T_EQ_INT(truncate(pb, n), 0);
		T_EQ_INT(chown(pb, 65534, (gid_t)-1), 0);
		expect_unreadable(s, "belongs to", a, n);
	}
	char *after = fingerprint(secret);
	T_EQ_STR(after, before);
	store_close(s);
	free(after);
	free(before);
	free(saved);
	free(secret);
	free(pb);
	free(b);
	free(a);
	free(dir);
	done();
}

/* blobs/ itself a link: refused, and nothing is written or read through it. */
static void test_blob_dir_link(void)
{
	char *dir = store_path();
	store_close(open_rw(dir));
	char *elsewhere = xasprintf("%s/elsewhere", base), *blobs = xasprintf("%s/blobs", dir);
	T_EQ_INT(mkdir(elsewhere, 0700), 0);
	T_EQ_INT(symlink(elsewhere, blobs), 0);
	struct store *s = open_rw(dir);
	size_t n = STORE_BLOB_MIN;
	char *a = big_raw(n, 7);
	struct store_txn *t = begin(s, true);
	capture_start();
	int rc = store_put_raw(t, 1, a, n);
	char *log = capture_end();
	store_abort(t);
	T_EQ_INT(rc, STORE_ERROR);
	T_CONTAINS(log, "blobs is a symbolic link; refusing to use it");
	DIR *d = opendir(elsewhere);
	int entries = 0;
	while (d && readdir(d))
		entries++;
	if (d)
		closedir(d);
	T_EQ_INT(entries, 2); /* . and .. */
	free(log);
	store_close(s);
	free(a);
	free(blobs);
	free(elsewhere);
	free(dir);
	done();
}

static void test_msgids(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	/* 400 bytes is the longest kept as it is; longer ones are hashed, and stay distinct. */
	char *at400 = repeat('a', 390, "@x.example");
	char *long1 = repeat('a', 5000, "@one.example");
	char *long2 = repeat('a', 5000, "@two.example");
	T_EQ_INT(strlen(at400), 400);
	struct store_txn *t = begin(s, true);
	struct store_msgid e = {.message = 1, .thread = 2};
	T_EQ_INT(store_put_msgid(t, "short@example.com", &e), 0);
	e = (struct store_msgid){.message = 3, .thread = 4};
	T_EQ_INT(store_put_msgid(t, at400, &e), 0);
	e = (struct store_msgid){.message = 0, .thread = 6};
	T_EQ_INT(store_put_msgid(t, long1, &e), 0);
	e = (struct store_msgid){.message = 7, .thread = 8};
	T_EQ_INT(store_put_msgid(t, long2, &e), 0);
	T_EQ_INT(store_put_msgid(t, "", &e), STORE_ERROR);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	struct store_msgid got;
	T_EQ_INT(store_get_msgid(t, "short@example.com", &got), 0);
	T_OK(got.message == 1 && got.thread == 2);
	T_EQ_INT(store_get_msgid(t, at400, &got), 0);
	T_OK(got.message == 3 && got.thread == 4);
	T_EQ_INT(store_get_msgid(t, long1, &got), 0);
	T_OK(got.message == 0 && got.thread == 6);
	T_EQ_INT(store_get_msgid(t, long2, &got), 0);
	T_OK(got.message == 7 && got.thread == 8);
	T_EQ_INT(store_get_msgid(t, "Short@example.com", &got), STORE_NOTFOUND);
	T_EQ_INT(store_get_msgid(t, "", &got), STORE_NOTFOUND);
	store_abort(t);
	free(at400);
	free(long1);
	free(long2);
	store_close(s);
	free(dir);
	done();
}

static int collect_cursor(const char *account, const char *folder, const struct store_cursor *c,
                          void *arg)
{
	buf_printf(arg, "%s/%s=%u:%u;", account, folder, c->uidvalidity, c->last_uid);
	return 0;
}

static void test_subjects_and_cursors(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	char *long_subject = repeat('s', 3000, "");
	char *long_addr = repeat('u', 600, "@example.com");
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_subject(t, "a@x", "refund", 5, 1000), 0);
	T_EQ_INT(store_put_subject(t, "a@x", "refund please", 6, -1), 0);
	T_EQ_INT(store_put_subject(t, "b@x", "refund", 7, INT64_MAX), 0);
	T_EQ_INT(store_put_subject(t, long_addr, long_subject, 8, 8), 0);
	T_EQ_INT(store_put_subject(t, "a@x", "refund", 9, 2000), 0); /* replaces */
	struct store_cursor c = {.uidvalidity = UINT32_MAX, .last_uid = 17};
	T_EQ_INT(store_put_cursor(t, "support", "INBOX", &c), 0);
	c = (struct store_cursor){.uidvalidity = 3, .last_uid = 0};
	T_EQ_INT(store_put_cursor(t, "support", "Archiv/Übersicht", &c), 0);
	c = (struct store_cursor){.uidvalidity = 1, .last_uid = 2};
	T_EQ_INT(store_put_cursor(t, "billing", "INBOX", &c), 0);
	T_EQ_INT(store_commit(t), 0);

	t = begin(s, false);
	uint64_t thread = 0;
	int64_t when = 0;
	T_EQ_INT(store_get_subject(t, "a@x", "refund", &thread, &when), 0);
	T_OK(thread == 9 && when == 2000);
	T_EQ_INT(store_get_subject(t, "a@x", "refund please", &thread, &when), 0);
	T_OK(thread == 6 && when == -1);
	T_EQ_INT(store_get_subject(t, "b@x", "refund", &thread, &when), 0);
	T_OK(thread == 7 && when == INT64_MAX);
	T_EQ_INT(store_get_subject(t, long_addr, long_subject, &thread, &when), 0);
	T_OK(thread == 8 && when == 8);
	T_EQ_INT(store_get_subject(t, "c@x", "refund", &thread, &when), STORE_NOTFOUND);
	T_EQ_INT(store_get_cursor(t, "support", "INBOX", &c), 0);
	T_OK(c.uidvalidity == UINT32_MAX && c.last_uid == 17);
	T_EQ_INT(store_get_cursor(t, "support", "Sent", &c), STORE_NOTFOUND);
	struct buf b = BUF_INIT;
	T_EQ_INT(store_foreach_cursor(t, collect_cursor, &b), 0);
	T_EQ_STR(b.data,
	         "billing/INBOX=1:2;support/Archiv/Übersicht=3:0;support/INBOX=4294967295:17;");
	buf_free(&b);
	store_abort(t);
	free(long_subject);
	free(long_addr);
	store_close(s);
	free(dir);
	done();
}

static int collect_status(const char *account, const char *folder, const struct store_status *st,
                          void *arg)
{
	buf_printf(arg, "%s/%s=%lld:%s;", account, folder, (long long)st->last_login,
	           st->last_error ? st->last_error : "-");
	return 0;
}

static void test_status_roundtrip(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_status in = {
	    .updated = 1700000100,
	    .last_login = -5,
	    .last_fetch = INT64_MAX,
	    .error_since = 1700000000,
	    .last_error = "certificate not trusted",
	    .uidvalidity = UINT32_MAX,
	    .uidnext = 13,
	    .exists = UINT64_MAX,
	    .waiting = 2,
	    .fetched = 11,
	};
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_status(t, "support", "INBOX", &in), 0);
	T_EQ_INT(store_commit(t), 0);
	struct store_status out;
	t = begin(s, false);
	T_EQ_INT(store_get_status(t, "support", "INBOX", &out), 0);
	T_EQ_INT(out.updated, in.updated);
	T_EQ_INT(out.last_login, -5);
	T_OK(out.last_fetch == INT64_MAX);
	T_EQ_INT(out.error_since, in.error_since);
	T_EQ_STR(out.last_error, "certificate not trusted");
	T_OK(out.last_error != in.last_error);
	T_OK(out.uidvalidity == UINT32_MAX && out.uidnext == 13);
	T_OK(out.exists == UINT64_MAX && out.waiting == 2 && out.fetched == 11);
	store_status_free(&out);
	T_OK(out.last_error == NULL);
	store_status_free(NULL);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static void test_status_null_error_and_absent(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	struct store_status in = {.updated = 1, .last_login = 2}, out;
	T_EQ_INT(store_put_status(t, "support", "", &in), 0);
	in.last_error = "gone";
	T_EQ_INT(store_put_status(t, "support", "INBOX", &in), 0);
	in.last_error = NULL; /* a success clears the error */
	T_EQ_INT(store_put_status(t, "support", "INBOX", &in), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	T_EQ_INT(store_get_status(t, "support", "", &out), 0);
	T_OK(out.last_error == NULL && out.last_login == 2);
	T_EQ_INT(store_get_status(t, "support", "INBOX", &out), 0);
	T_OK(out.last_error == NULL);
	out.last_login = 99;
	T_EQ_INT(store_get_status(t, "support", "Sent", &out), STORE_NOTFOUND);
	T_EQ_INT(out.last_login, 0);
	T_EQ_INT(store_get_status(t, "billing", "", &out), STORE_NOTFOUND);
	struct store_cursor c;
	T_EQ_INT(store_get_cursor(t, "support", "", &c), STORE_NOTFOUND);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static void test_status_order(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	struct store_status st = {.last_login = 1};
	T_EQ_INT(store_put_status(t, "support", "INBOX", &st), 0);
	T_EQ_INT(store_put_status(t, "support", "Archive", &st), 0);
	st.last_error = "auth failed";
	T_EQ_INT(store_put_status(t, "support", "", &st), 0);
	st = (struct store_status){.last_login = 3};
	T_EQ_INT(store_put_status(t, "sales", "INBOX", &st), 0);
	T_EQ_INT(store_put_status(t, "supportdesk", "", &st), 0);
	T_EQ_INT(store_put_status(t, "billing", "", &st), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	struct buf b = BUF_INIT;
	T_EQ_INT(store_foreach_status(t, collect_status, &b), 0);
	T_EQ_STR(b.data, "billing/=3:-;sales/INBOX=3:-;support/=1:auth failed;support/Archive=1:-;"
	                 "support/INBOX=1:-;supportdesk/=3:-;");
	buf_free(&b);
	/* The status records are not cursors. */
	T_EQ_INT(store_foreach_cursor(t, collect_cursor, &b), 0);
	T_OK(b.len == 0);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static int stop_status(const char *account, const char *folder, const struct store_status *st,
                       void *arg)
{
	(*(int *)arg)++;
	return 42;
}

/* A store made before the status database existed: read-only it looks empty; read-write adds it. */
static void test_status_db_added_to_old_store(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	struct store_cursor c = {.uidvalidity = 7, .last_uid = 9};
	T_EQ_INT(store_put_cursor(t, "support", "INBOX", &c), 0);
	T_EQ_INT(store_commit(t), 0);
	store_close(s);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	T_EQ_INT(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	T_EQ_INT(mdb_env_open(env, dir, 0, 0600), 0);
	T_EQ_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
	T_EQ_INT(mdb_dbi_open(txn, "status", 0, &dbi), 0);
	T_EQ_INT(mdb_drop(txn, dbi, 1), 0);
	T_EQ_INT(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	char *err = NULL;
	s = NULL;
	T_EQ_INT(store_open(dir, &(struct store_options){.readonly = true}, &s, &err), 0);
	T_OK(err == NULL);
	struct store_status st;
	int calls = 0;
	t = begin(s, false);
	T_EQ_INT(store_get_status(t, "support", "", &st), STORE_NOTFOUND);
	T_EQ_INT(store_foreach_status(t, stop_status, &calls), 0);
	T_EQ_INT(calls, 0);
	T_EQ_INT(store_get_cursor(t, "support", "INBOX", &c), 0);
	T_EQ_INT(c.last_uid, 9);
	store_abort(t);
	store_close(s);

	s = open_rw(dir);
	t = begin(s, true);
	st = (struct store_status){.last_login = 5};
	T_EQ_INT(store_put_status(t, "support", "", &st), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	T_EQ_INT(store_foreach_status(t, stop_status, &calls), 42);
	T_EQ_INT(calls, 1);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static int list_threads(uint64_t thread, void *arg)
{
	struct idvec *iv = arg;
	idvec_push(iv, thread);
	return 0;
}

static void customer_threads(struct store *s, const char *addr, struct idvec *iv)
{
	struct store_txn *t = begin(s, false);
	idvec_clear(iv);
	T_EQ_INT(store_foreach_customer_thread(t, addr, list_threads, iv), 0);
	store_abort(t);
}

/* A customer's conversations, newest first; a store from before the index is filled in. */
static void test_customers_index(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	static const char *const who[] = {"anna@x.example", "Bob@x.example", "ANNA@X.example",
	                                  "anna@x.example.org"};
	for (uint64_t i = 1; i <= 4; i++) {
		struct store_thread th = {.id = i, .customer = {NULL, (char *)who[i - 1]}};
		T_EQ_INT(store_put_thread(t, &th), 0);
		T_EQ_INT(store_put_customer(t, who[i - 1], i), 0);
	}
	T_EQ_INT(store_commit(t), 0);
	struct idvec iv = {0};
	customer_threads(s, "Anna@x.example", &iv);
	T_EQ_INT(iv.n, 2);
	if (iv.n == 2)
		T_OK(iv.v[0] == 3 && iv.v[1] == 1);
	customer_threads(s, "nobody@x.example", &iv);
	T_EQ_INT(iv.n, 0);
	store_close(s);

	/* As a store written before the index: the database and its mark gone. */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	T_EQ_INT(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	T_EQ_INT(mdb_env_open(env, dir, 0, 0600), 0);
	T_EQ_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
	T_EQ_INT(mdb_dbi_open(txn, "customers", 0, &dbi), 0);
	T_EQ_INT(mdb_drop(txn, dbi, 1), 0);
	T_EQ_INT(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	MDB_val k = {strlen("customers_indexed"), "customers_indexed"};
	T_EQ_INT(mdb_del(txn, dbi, &k, NULL), 0);
	T_EQ_INT(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	char *err = NULL;
	s = NULL;
	T_EQ_INT(store_open(dir, &(struct store_options){.readonly = true}, &s, &err), 0);
	customer_threads(s, "anna@x.example", &iv);
	T_EQ_INT(iv.n, 0); /* read-only: nothing to read yet, and no error */
	store_close(s);
	s = open_rw(dir);
	customer_threads(s, "anna@x.example", &iv);
	T_EQ_INT(iv.n, 2);
	customer_threads(s, "bob@x.example", &iv);
	T_EQ_INT(iv.n, 1);
	store_close(s);
	idvec_free(&iv);
	free(err);
	free(dir);
	done();
}

/* Notes: their own records, with their own counter; a thread lists them and its sent drafts. */
static void test_note_and_thread_lists(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	struct store_note n = {.thread = 4,
	                       .created = 1767225600,
	                       .agent = "bob",
	                       .os_user = "root",
	                       .text = "Called her: \x1b[31m refund on its way\n"};
	T_EQ_INT(store_next_id(t, STORE_COUNTER_NOTE, &n.id), 0);
	T_EQ_INT(n.id, 1);
	T_EQ_INT(store_put_note(t, &n), 0);
	struct store_thread th = {.id = 4};
	idvec_push(&th.sent, 9);
	idvec_push(&th.sent, 12);
	idvec_push(&th.notes, n.id);
	T_EQ_INT(store_put_thread(t, &th), 0);
	T_EQ_INT(store_commit(t), 0);
	idvec_free(&th.sent);
	idvec_free(&th.notes);

	t = begin(s, false);
	struct store_note *got = NULL;
	T_EQ_INT(store_get_note(t, 1, &got), 0);
	if (got) {
		T_EQ_INT(got->thread, 4);
		T_EQ_INT(got->created, 1767225600);
		T_EQ_STR(got->agent, "bob");
		T_EQ_STR(got->os_user, "root");
		T_EQ_STR(got->text, n.text);
	}
	store_note_free(got);
	store_note_free(NULL);
	T_EQ_INT(store_get_note(t, 2, &got), STORE_NOTFOUND);
	T_OK(got == NULL);
	struct store_thread *tg = NULL;
	T_EQ_INT(store_get_thread(t, 4, &tg), 0);
	T_OK(tg && tg->sent.n == 2 && tg->sent.v[0] == 9 && tg->sent.v[1] == 12);
	T_OK(tg && tg->notes.n == 1 && tg->notes.v[0] == 1);
	store_thread_free(tg);
	store_abort(t);
	t = begin(s, true);
	T_EQ_INT(store_next_id(t, STORE_COUNTER_NOTE, &n.id), 0);
	T_EQ_INT(n.id, 2); /* a counter of its own */
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

/* A store from before notes: read-only, it has none; opened for writing, it gets the database. */
static void test_notes_db_added_to_old_store(void)
{
	char *dir = store_path();
	store_close(open_rw(dir));
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	T_EQ_INT(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	T_EQ_INT(mdb_env_open(env, dir, 0, 0600), 0);
	T_EQ_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
	T_EQ_INT(mdb_dbi_open(txn, "notes", 0, &dbi), 0);
	T_EQ_INT(mdb_drop(txn, dbi, 1), 0);
	T_EQ_INT(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	char *err = NULL;
	struct store *s = NULL;
	T_EQ_INT(store_open(dir, &(struct store_options){.readonly = true}, &s, &err), 0);
	T_OK(err == NULL);
	struct store_txn *t = begin(s, false);
	struct store_note *got = NULL;
	T_EQ_INT(store_get_note(t, 1, &got), STORE_NOTFOUND);
	store_abort(t);
	store_close(s);

	s = open_rw(dir);
	t = begin(s, true);
	struct store_note n = {.id = 1, .thread = 1, .text = "x"};
	T_EQ_INT(store_put_note(t, &n), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	T_EQ_INT(store_get_note(t, 1, &got), 0);
	store_note_free(got);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

/* Counters and transactions */

static void test_counters_persist(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	uint64_t id = 0;
	for (uint64_t want = 1; want <= 3; want++) {
		T_EQ_INT(store_next_id(t, STORE_COUNTER_MESSAGE, &id), 0);
		T_EQ_INT(id, want);
	}
	T_EQ_INT(store_next_id(t, STORE_COUNTER_THREAD, &id), 0);
	T_EQ_INT(id, 1);
	T_EQ_INT(store_commit(t), 0);
	store_close(s);
	s = open_rw(dir);
	t = begin(s, true);
	T_EQ_INT(store_next_id(t, STORE_COUNTER_MESSAGE, &id), 0);
	T_EQ_INT(id, 4);
	T_EQ_INT(store_next_id(t, STORE_COUNTER_THREAD, &id), 0);
	T_EQ_INT(id, 2);
	store_abort(t); /* aborted ids are handed out again */
	t = begin(s, true);
	T_EQ_INT(store_next_id(t, STORE_COUNTER_THREAD, &id), 0);
	T_EQ_INT(id, 2);
	store_abort(t);
	/* A read transaction cannot advance a counter. */
	t = begin(s, false);
	T_EQ_INT(store_next_id(t, STORE_COUNTER_THREAD, &id), STORE_ERROR);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static int collect_msg(const struct store_message *m, void *arg)
{
	idvec_push(arg, m->id);
	return 0;
}

static int collect_seq(const struct store_audit *a, void *arg)
{
	idvec_push(arg, a->seq);
	return 0;
}

/* What the search index catches up with: counters read, and walks from a message, a time. */
static void test_counters_and_walks_from(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	uint64_t id = 0;
	T_EQ_INT(store_get_counter(t, STORE_COUNTER_MESSAGE, &id), 0);
	T_EQ_INT(id, 0);
	for (uint64_t i = 1; i <= 5; i++) {
		struct store_message m = {.id = i, .subject = "s"};
		T_EQ_INT(store_next_id(t, STORE_COUNTER_MESSAGE, &id), 0);
		T_EQ_INT(store_put_message(t, &m), 0);
	}
	int64_t times[] = {300, 100, 200, 400};
	for (size_t i = 0; i < NELEM(times); i++) {
		struct store_audit a = {.time = times[i], .agent = "a", .action = "x"};
		T_EQ_INT(store_audit_append(t, &a), 0);
	}
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	T_EQ_INT(store_get_counter(t, STORE_COUNTER_MESSAGE, &id), 0);
	T_EQ_INT(id, 5);
	T_EQ_INT(store_get_counter(t, STORE_COUNTER_AUDIT, &id), 0);
	T_EQ_INT(id, 4);
	struct idvec v = {0};
	T_EQ_INT(store_foreach_message_from(t, 3, collect_msg, &v), 0);
	T_EQ_INT(v.n, 3);
	T_EQ_INT(v.n ? v.v[0] : 0, 3);
	idvec_clear(&v);
	T_EQ_INT(store_foreach_message_from(t, 6, collect_msg, &v), 0);
	T_EQ_INT(v.n, 0);
	T_EQ_INT(store_foreach_audit_since(t, 200, collect_seq, &v), 0);
	T_EQ_INT(v.n, 3); /* times 200, 300, 400: sequences 3, 1, 4 */
	T_EQ_INT(v.n == 3 ? v.v[0] * 100 + v.v[1] * 10 + v.v[2] : 0, 314);
	idvec_clear(&v);
	T_EQ_INT(store_foreach_audit_since(t, INT64_MIN, collect_seq, &v), 0);
	T_EQ_INT(v.n, 4);
	idvec_free(&v);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

/* A file beside LMDB's for a library that opens it by name: made with the store's mode only
 * when asked, and checked as the store's own files are. */
static void test_file_prepare(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct stat st;
	char *err = NULL;
	T_EQ_INT(store_file_prepare(s, "index", false, &st, &err), STORE_NOTFOUND);
	T_OK(err == NULL);
	T_EQ_INT(store_file_prepare(s, "index", true, &st, &err), 0);
	T_OK(S_ISREG(st.st_mode) && st.st_size == 0);
	char *path = xasprintf("%s/index", dir);
	struct stat again;
	T_EQ_INT(stat(path, &again), 0);
	T_EQ_INT(again.st_mode & 07777, 0600);
	T_EQ_INT(again.st_ino, st.st_ino);
	/* One of ours with another mode gets the store's. */
	T_EQ_INT(chmod(path, 0644), 0);
	T_EQ_INT(store_file_prepare(s, "index", false, &st, &err), 0);
	T_EQ_INT(stat(path, &again), 0);
	T_EQ_INT(again.st_mode & 07777, 0600);
	/* A second name for it elsewhere: refused, and left as it is. */
	char *other = xasprintf("%s.other", dir);
	T_EQ_INT(link(path, other), 0);
	T_EQ_INT(store_file_prepare(s, "index", true, &st, &err), STORE_ERROR);
	T_CONTAINS(err, "index has 2 hard links; refusing to open it");
	free(err);
	err = NULL;
	T_EQ_INT(stat(path, &again), 0);
	T_EQ_INT(again.st_nlink, 2);
	unlink(other);
	free(other);
	unlink(path);
	T_EQ_INT(symlink("/etc/passwd", path), 0);
	T_EQ_INT(store_file_prepare(s, "index", true, &st, &err), STORE_ERROR);
	T_CONTAINS(err, "index is a symbolic link; refusing to open it");
	free(err);
	unlink(path);
	free(path);
	store_close(s);
	free(dir);
	done();
}

/* In a store shared with a group, the file is made for the group, as data.mdb is. */
static void test_file_prepare_group(void)
{
	struct group *gr = getgrgid(getgid());
	T_OK(gr != NULL);
	if (gr == NULL)
		return;
	char *dir = store_path(), *group = xstrdup(gr->gr_name), *err = NULL;
	struct store *s = NULL;
	mode_t old = umask(077);
	T_EQ_INT(store_open(dir, &(struct store_options){.group = group}, &s, &err), 0);
	umask(old);
	struct stat st;
	T_EQ_INT(store_file_prepare(s, "index", true, &st, &err), 0);
	char *path = xasprintf("%s/index", dir);
	T_EQ_INT(chmod(path, 0600), 0);
	T_EQ_INT(store_file_prepare(s, "index", false, &st, &err), 0);
	T_EQ_INT(stat(path, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0660);
	T_EQ_INT(st.st_gid, gr->gr_gid);
	store_close(s);
	free(path);
	free(group);
	free(dir);
	done();
}

static void test_abort_discards(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	struct store_message m = {.id = 1, .subject = "kept"};
	T_EQ_INT(store_put_message(t, &m), 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, true);
	m = (struct store_message){.id = 2, .subject = "dropped"};
	T_EQ_INT(store_put_message(t, &m), 0);
	T_EQ_INT(store_put_raw(t, 2, "x", 1), 0);
	T_EQ_INT(store_put_quarantine(t, 2), 0);
	store_abort(t);
	store_abort(NULL);
	t = begin(s, false);
	struct store_message *got = NULL;
	T_EQ_INT(store_get_message(t, 1, &got), 0);
	store_message_free(got);
	T_EQ_INT(store_get_message(t, 2, &got), STORE_NOTFOUND);
	struct store_counts c;
	T_EQ_INT(store_count(t, &c), 0);
	T_OK(c.messages == 1 && c.threads == 0 && c.quarantined == 0);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static int collect_thread(const struct store_thread *th, void *arg)
{
	buf_printf(arg, "%llu,", (unsigned long long)th->id);
	return 0;
}

static int stop_at_three(const struct store_thread *th, void *arg)
{
	(void)arg;
	return th->id == 3 ? 42 : 0;
}

static void put_link(struct store_txn *t, uint64_t id, uint64_t into)
{
	struct store_thread th = {.id = id, .merged_into = into, .subject = "s"};
	T_EQ_INT(store_put_thread(t, &th), 0);
}

static void test_foreach_skips_merged(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	for (uint64_t id = 1; id <= 12; id++)
		put_link(t, id, id == 2 ? 5 : id == 4 ? 2 : 0);
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	struct buf b = BUF_INIT;
	T_EQ_INT(store_foreach_thread(t, collect_thread, &b), 0);
	T_EQ_STR(b.data, "1,3,5,6,7,8,9,10,11,12,"); /* id order, not byte order of "10" */
	T_EQ_INT(store_foreach_thread(t, stop_at_three, NULL), 42);
	struct store_counts c;
	T_EQ_INT(store_count(t, &c), 0);
	T_EQ_INT(c.threads, 12);
	buf_free(&b);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static void test_resolve_thread(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	put_link(t, 1, 2);
	put_link(t, 2, 3);
	put_link(t, 3, 0);
	put_link(t, 4, 5); /* a loop */
	put_link(t, 5, 4);
	put_link(t, 6, 99); /* pointing nowhere */
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	uint64_t live = 0;
	T_EQ_INT(store_resolve_thread(t, 1, &live), 0);
	T_EQ_INT(live, 3);
	T_EQ_INT(store_resolve_thread(t, 3, &live), 0);
	T_EQ_INT(live, 3);
	T_EQ_INT(store_resolve_thread(t, 7, &live), STORE_NOTFOUND);
	T_EQ_INT(store_resolve_thread(t, 4, &live), STORE_CORRUPT);
	T_EQ_INT(store_resolve_thread(t, 6, &live), STORE_CORRUPT);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static int collect_id(uint64_t id, void *arg)
{
	buf_printf(arg, "%llu,", (unsigned long long)id);
	return 0;
}

static int collect_message(const struct store_message *m, void *arg)
{
	buf_printf(arg, "%llu:%s,", (unsigned long long)m->id, m->subject ? m->subject : "-");
	return 0;
}

static void test_quarantine_and_messages_in_order(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	uint64_t ids[] = {300, 1, 256, 2};
	for (size_t i = 0; i < NELEM(ids); i++) {
		struct store_message m = {.id = ids[i], .subject = "q"};
		T_EQ_INT(store_put_message(t, &m), 0);
		T_EQ_INT(store_put_quarantine(t, ids[i]), 0);
	}
	T_EQ_INT(store_commit(t), 0);
	t = begin(s, false);
	struct buf b = BUF_INIT;
	T_EQ_INT(store_foreach_quarantined(t, collect_id, &b), 0);
	T_EQ_STR(b.data, "1,2,256,300,");
	buf_reset(&b);
	T_EQ_INT(store_foreach_message(t, collect_message, &b), 0);
	T_EQ_STR(b.data, "1:q,2:q,256:q,300:q,");
	struct store_counts c;
	T_EQ_INT(store_count(t, &c), 0);
	T_OK(c.messages == 4 && c.quarantined == 4 && c.threads == 0);
	buf_free(&b);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

/* Bad records */

static void put_message_bytes(const char *dir, uint64_t id, const void *v, size_t n)
{
	unsigned char k[8];
	be64(k, id);
	lmdb_put(dir, "messages", k, 8, v, n);
}

static void test_corrupt_records(void)
{
	char *dir = store_path();
	store_close(open_rw(dir));
	/* version byte, then: a reserved byte; a truncated map; a map with key 4 an integer. */
	put_message_bytes(dir, 1, "\x01\xc1", 2);
	put_message_bytes(dir, 2, "\x01\x83\x01\x05", 4);
	put_message_bytes(dir, 3, "\x01\x81\x04\x05", 4);
	put_message_bytes(dir, 4, "\x02\x80", 2); /* unknown record version */
	put_message_bytes(dir, 5, "", 0);
	put_message_bytes(dir, 6, "\x01\x81\x01\x80", 4);     /* a map where the id goes */
	put_message_bytes(dir, 7, "\x01\x80\x00", 3);         /* bytes after the record */
	put_message_bytes(dir, 8, "\x01\x81\x0a\x91\x05", 5); /* to: [5] */
	put_message_bytes(dir, 9, "\x01\x81\x0e\xd3\x00\x00\x00\x01\x00\x00\x00\x00", 12);
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, false);
	for (uint64_t id = 1; id <= 9; id++) {
		struct store_message *m = (void *)1;
		int rc = store_get_message(t, id, &m);
		if (rc != STORE_CORRUPT)
			T_FAIL("message %llu: %d", (unsigned long long)id, rc);
		T_OK(m == NULL);
	}
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static int pack_write(void *data, const char *p, size_t n)
{
	buf_append(data, p, n);
	return 0;
}

static void test_unknown_keys_skipped(void)
{
	/* A record from a newer tend: keys this one does not know, a key twice, a string key. */
	char *dir = store_path();
	store_close(open_rw(dir));
	struct buf b = BUF_INIT;
	msgpack_packer pk;
	msgpack_packer_init(&pk, &b, pack_write);
	buf_putc(&b, 1);
	msgpack_pack_map(&pk, 6);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint8(&pk, 5);
	msgpack_pack_uint8(&pk, 99);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_double(&pk, 1.5);
	msgpack_pack_map(&pk, 0);
	msgpack_pack_uint8(&pk, 4);
	msgpack_pack_str_with_body(&pk, "first@x", 7);
	msgpack_pack_uint8(&pk, 4);
	msgpack_pack_str_with_body(&pk, "mid@x", 5);
	msgpack_pack_str_with_body(&pk, "note", 4);
	msgpack_pack_true(&pk);
	msgpack_pack_uint8(&pk, 10);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_uint8(&pk, 2);
	msgpack_pack_str_with_body(&pk, "to@x", 4);
	msgpack_pack_uint8(&pk, 7);
	msgpack_pack_nil(&pk);
	put_message_bytes(dir, 5, b.data, b.len);
	buf_free(&b);
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, false);
	struct store_message *m = NULL;
	T_EQ_INT(store_get_message(t, 5, &m), 0);
	if (m) {
		T_EQ_INT(m->id, 5);
		T_EQ_STR(m->message_id, "mid@x");
		T_EQ_INT(m->to.n, 1);
		if (m->to.n == 1)
			T_EQ_STR(m->to.v[0].addr, "to@x");
	}
	store_message_free(m);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

/* Processes */

/*
 * Other processes are this program run again with --child ROLE: exec'd rather than only forked,
 * they share nothing with this one but the files, as tend and tendd would.
 */
static char self[4096];

static pid_t spawn(const char *role, const char *dir, const char *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		execl(self, self, "--child", role, dir, arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void wait_child(pid_t pid, const char *what)
{
	int status;
	T_EQ_INT(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		T_FAIL("%s: child status %d", what, status);
}

/* Sees message 1 and not message 2. */
static int child_read(const char *dir)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_message *m = NULL;
	int rc = store_open(dir, &(struct store_options){.readonly = true}, &s, NULL);
	rc = rc ? rc : store_begin(s, false, &t);
	rc = rc ? rc : store_get_message(t, 1, &m);
	store_message_free(m);
	m = NULL;
	if (rc == 0 && store_get_message(t, 2, &m) != STORE_NOTFOUND)
		rc = 1;
	store_message_free(m);
	store_abort(t);
	store_close(s);
	return rc != 0;
}

/* Writes message ID with subject "from ID"; with a pipe fd, says so before it begins. */
static int child_write(const char *dir, uint64_t id, int fd)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	char subject[32];
	snprintf(subject, sizeof(subject), "from %llu", (unsigned long long)id);
	struct store_message m = {.id = id, .subject = subject};
	int rc = store_open(dir, NULL, &s, NULL);
	if (rc == 0 && fd >= 0 && write(fd, "x", 1) != 1)
		rc = 1;
	rc = rc ? rc : store_begin(s, true, &t);
	rc = rc ? rc : store_put_message(t, &m);
	rc = rc ? rc : store_commit(t);
	store_close(s);
	return rc != 0;
}

/* What each writer thread of test_writers_in_threads does: n transactions of one record each,
 * with a text of size bytes (over what the store keeps of its encoding buffer, or not). */
struct writer_arg {
	struct store *s;
	uint64_t first;
	int n;
	size_t size;
	int failed;
};

static void *writer_main(void *p)
{
	struct writer_arg *a = p;
	char *text = xmalloc(a->size + 1);
	memset(text, 'x', a->size);
	text[a->size] = '\0';
	for (int i = 0; i < a->n && !a->failed; i++) {
		struct store_txn *t = NULL;
		struct store_message m = {
		    .id = a->first + (uint64_t)i, .subject = "s", .text = text};
		a->failed = store_begin(a->s, true, &t);
		if (a->failed == 0 && (a->failed = store_put_message(t, &m)) == 0)
			a->failed = store_commit(t);
		else if (t)
			store_abort(t);
	}
	free(text);
	return NULL;
}

/*
 * tendd's account threads share one store and take turns writing: a transaction with a record
 * bigger than the encoding buffer the store keeps gave that buffer back after LMDB had let the
 * next writer in, which was already encoding into it (a double free under ASan).
 */
static void test_writers_in_threads(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct writer_arg big = {s, 1, 40, 5u << 20, 0}, small = {s, 1000, 400, 100, 0};
	pthread_t tb, ts;
	T_EQ_INT(pthread_create(&tb, NULL, writer_main, &big), 0);
	T_EQ_INT(pthread_create(&ts, NULL, writer_main, &small), 0);
	pthread_join(tb, NULL);
	pthread_join(ts, NULL);
	T_EQ_INT(big.failed, 0);
	T_EQ_INT(small.failed, 0);
	struct store_txn *t = begin(s, false);
	struct store_message *m = NULL;
	T_EQ_INT(store_get_message(t, 40, &m), 0);
	T_EQ_INT(m ? (long long)strlen(m->text) : -1, 5 << 20);
	store_message_free(m);
	store_abort(t);
	store_close(s);
	free(dir);
}

static void test_reader_during_write_in_other_process(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	struct store_message m = {.id = 1, .subject = "committed"};
	T_EQ_INT(store_put_message(t, &m), 0);
	T_EQ_INT(store_commit(t), 0);
	/* This process writes (uncommitted) while another one reads: it sees the last commit. */
	t = begin(s, true);
	m = (struct store_message){.id = 2, .subject = "pending"};
	T_EQ_INT(store_put_message(t, &m), 0);
	wait_child(spawn("read", dir, NULL), "reader during write");
	T_EQ_INT(store_commit(t), 0);
	/* And the other way round: a snapshot here is not disturbed by a commit there. */
	t = begin(s, false);
	wait_child(spawn("write", dir, "3"), "writer during read");
	struct store_message *got = NULL;
	T_EQ_INT(store_get_message(t, 3, &got), STORE_NOTFOUND);
	store_abort(t);
	t = begin(s, false);
	T_EQ_INT(store_get_message(t, 3, &got), 0);
	if (got)
		T_EQ_STR(got->subject, "from 3");
	store_message_free(got);
	store_abort(t);
	store_close(s);
	free(dir);
	done();
}

static void test_writer_waits_for_writer(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	int p[2];
	T_EQ_INT(pipe(p), 0);
	struct store_txn *t = begin(s, true);
	/* The child opens the store while we hold the write lock (that must not wait), then waits
	 * in store_begin until we commit: so it finds our message and writes after it. */
	char fd[16];
	snprintf(fd, sizeof(fd), "%d", p[1]);
	pid_t pid = spawn("write-after", dir, fd);
	char c;
	T_EQ_INT(read(p[0], &c, 1), 1);
	struct timespec ts = {0, 200 * 1000 * 1000};
	nanosleep(&ts, NULL);
	struct store_message m = {.id = 1, .subject = "first"};
	T_EQ_INT(store_put_message(t, &m), 0);
	T_EQ_INT(store_commit(t), 0);
	wait_child(pid, "second writer");
	t = begin(s, false);
	struct store_message *got = NULL;
	T_EQ_INT(store_get_message(t, 2, &got), 0);
	store_message_free(got);
	store_abort(t);
	close(p[0]);
	close(p[1]);
	store_close(s);
	free(dir);
	done();
}

/* Waits for the write lock, then checks that the writer before it committed message 1. */
static int child_write_after(const char *dir, int fd)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_message *first = NULL;
	struct store_message m = {.id = 2, .subject = "second"};
	int rc = store_open(dir, NULL, &s, NULL);
	if (rc == 0 && write(fd, "x", 1) != 1)
		rc = 1;
	rc = rc ? rc : store_begin(s, true, &t);
	rc = rc ? rc : store_get_message(t, 1, &first);
	rc = rc ? rc : store_put_message(t, &m);
	rc = rc ? rc : store_commit(t);
	if (rc && t)
		store_abort(t);
	store_message_free(first);
	store_close(s);
	return rc != 0;
}

static void test_readonly_store_from_other_process(void)
{
	char *dir = store_path();
	wait_child(spawn("write", dir, "1"), "creator");
	struct store *s = NULL;
	char *err = NULL;
	T_EQ_INT(store_open(dir, &(struct store_options){.readonly = true}, &s, &err), 0);
	free(err);
	if (s) {
		struct store_txn *t = begin(s, false);
		struct store_message *m = NULL;
		T_EQ_INT(store_get_message(t, 1, &m), 0);
		if (m)
			T_EQ_STR(m->subject, "from 1");
		store_message_free(m);
		store_abort(t);
		T_EQ_INT(store_begin(s, true, &t), STORE_ERROR);
		T_OK(t == NULL);
	}
	store_close(s);
	free(dir);
	done();
}

/* Running out of room */

static void test_map_full(void)
{
	char *dir = store_path();
	setenv("TEND_STORE_MAPSIZE", "1M", 1);
	struct store *s = open_rw(dir);
	size_t n = 64 << 10;
	char *blob = xcalloc(1, n);
	/* Commit by commit until it no longer fits: every commit before stays. */
	uint64_t last = 0;
	int rc = 0;
	for (uint64_t id = 1; id < 100 && rc == 0; id++) {
		struct store_txn *t = begin(s, true);
		rc = store_put_raw(t, id, blob, n);
		rc = rc ? (store_abort(t), rc) : store_commit(t);
		if (rc == 0)
			last = id;
	}
	T_EQ_INT(rc, STORE_FULL);
	T_OK(last > 3 && last < 20);
	/* In one transaction: the failure sticks, and commit reports it. */
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_raw(t, 1000, blob, n), STORE_FULL);
	struct store_message m = {.id = 1000};
	T_EQ_INT(store_put_message(t, &m), STORE_FULL);
	T_EQ_INT(store_commit(t), STORE_FULL);
	/* Small writes still fit, and the store is as it was. */
	t = begin(s, true);
	T_EQ_INT(store_put_message(t, &m), 0);
	T_EQ_INT(store_commit(t), 0);
	store_close(s);
	s = open_rw(dir);
	t = begin(s, false);
	const char *raw;
	size_t len;
	T_EQ_INT(store_get_raw(t, last, &raw, &len), 0);
	T_EQ_INT(len, n);
	T_EQ_INT(store_get_raw(t, last + 1, &raw, &len), STORE_NOTFOUND);
	T_EQ_INT(store_get_raw(t, 1000, &raw, &len), STORE_NOTFOUND);
	store_abort(t);
	store_close(s);
	unsetenv("TEND_STORE_MAPSIZE");
	setenv("TEND_STORE_MAPSIZE", "lots", 1);
	char *err = NULL;
	T_OK(store_open(dir, NULL, &s, &err) < 0);
	T_CONTAINS(err, "TEND_STORE_MAPSIZE");
	free(err);
	unsetenv("TEND_STORE_MAPSIZE");
	free(blob);
	free(dir);
	done();
}

/* In a child, with a file size limit standing in for a full disk: the commit fails cleanly. */
static int child_fill_disk(const char *dir)
{
	char *data = xasprintf("%s/data.mdb", dir);
	struct stat st;
	struct rlimit rl;
	int rc = stat(data, &st);
	free(data);
	if (rc < 0 || getrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 2;
	signal(SIGXFSZ, SIG_IGN);
	rl.rlim_cur = (rlim_t)st.st_size + 10000;
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 3;
	struct store *s = NULL;
	struct store_txn *t = NULL;
	size_t n = STORE_BLOB_MIN - 1; /* into LMDB's pages: it is the commit that fails */
	char *blob = xcalloc(1, n);
	rc = store_open(dir, NULL, &s, NULL);
	rc = rc ? rc : store_begin(s, true, &t);
	rc = rc ? rc : store_put_raw(t, 2, blob, n);
	rc = rc ? (store_abort(t), rc) : store_commit(t);
	free(blob);
	store_close(s);
	return rc == STORE_FULL ? 0 : 4;
}

static void test_disk_full_at_commit(void)
{
	char *dir = store_path();
	struct store *s = open_rw(dir);
	struct store_txn *t = begin(s, true);
	T_EQ_INT(store_put_raw(t, 1, "kept", 4), 0);
	T_EQ_INT(store_commit(t), 0);
	store_close(s);
	wait_child(spawn("fill-disk", dir, NULL), "disk full");
	s = open_rw(dir);
	t = begin(s, true);
	const char *raw;
	size_t len;
	T_EQ_INT(store_get_raw(t, 1, &raw, &len), 0);
	T_OK(len == 4 && memcmp(raw, "kept", 4) == 0);
	T_EQ_INT(store_get_raw(t, 2, &raw, &len), STORE_NOTFOUND);
	T_EQ_INT(store_put_raw(t, 2, "now", 3), 0);
	T_EQ_INT(store_commit(t), 0);
	store_close(s);
	free(dir);
	done();
}

static void test_idvec(void)
{
	struct idvec iv = {0};
	T_OK(!idvec_contains(&iv, 1));
	for (uint64_t i = 1; i <= 1000; i++)
		idvec_push(&iv, i * 2);
	T_EQ_INT(iv.n, 1000);
	T_OK(idvec_contains(&iv, 2000));
	T_OK(!idvec_contains(&iv, 3));
	T_OK(!idvec_contains(&iv, 0));
	idvec_push(&iv, 0);
	T_OK(idvec_contains(&iv, 0));
	idvec_clear(&iv);
	T_OK(!idvec_contains(&iv, 2000));
	for (uint64_t i = 1; i <= 100; i++) /* across the switch from scanning to hashing */
		idvec_push(&iv, i * 7);
	for (uint64_t i = 1; i <= 100; i++)
		T_OK(idvec_contains(&iv, i * 7) && !idvec_contains(&iv, i * 7 + 1));
	T_OK(!idvec_contains(&iv, 2000));
	idvec_free(&iv);
	T_OK(iv.v == NULL && iv.n == 0 && iv.cap == 0);
	idvec_free(&iv);
}

static void test_strerror(void)
{
	T_EQ_STR(store_strerror(STORE_OK), "success");
	T_CONTAINS(store_strerror(STORE_FULL), "full");
	T_CONTAINS(store_strerror(STORE_CORRUPT), "corrupt");
	T_EQ_STR(store_strerror(STORE_NOTFOUND), "not found");
	T_EQ_STR(store_strerror(-99), "store error");
}

static int run_child(int argc, char **argv)
{
	const char *role = argv[2], *dir = argv[3];
	if (strcmp(role, "read") == 0)
		return child_read(dir);
	if (strcmp(role, "write") == 0 && argc > 4)
		return child_write(dir, strtoull(argv[4], NULL, 10), -1);
	if (strcmp(role, "write-after") == 0 && argc > 4)
		return child_write_after(dir, atoi(argv[4]));
	if (strcmp(role, "fill-disk") == 0)
		return child_fill_disk(dir);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
	    T_CASE(test_open_creates_private_store),
	    T_CASE(test_open_group_store),
	    T_CASE(test_open_refuses_world_writable),
	    T_CASE(test_open_refuses_planted_files),
	    T_CASE(test_open_refuses_strangers_file),
	    T_CASE(test_open_store_behind_link),
	    T_CASE(test_writers_in_threads),
	    T_CASE(test_old_group_store_gets_sticky_bit),
	    T_CASE(test_file_open),
	    T_CASE(test_socket_clear_and_chmod),
	    T_CASE(test_open_missing_parents),
	    T_CASE(test_draft_roundtrip),
	    T_CASE(test_queue_and_audit_order),
	    T_CASE(test_open_readonly_missing),
	    T_CASE(test_open_not_a_store),
	    T_CASE(test_schema_version_mismatch),
	    T_CASE(test_not_a_tend_env),
	    T_CASE(test_message_roundtrip),
	    T_CASE(test_message_update),
	    T_CASE(test_message_head),
	    T_CASE(test_thread_roundtrip),
	    T_CASE(test_raw_bytes),
	    T_CASE(test_blob_roundtrip),
	    T_CASE(test_blob_reuse_after_crash),
	    T_CASE(test_blobs_db_added_to_old_store),
	    T_CASE(test_blob_errors),
	    T_CASE(test_blob_dir_link),
	    T_CASE(test_msgids),
	    T_CASE(test_subjects_and_cursors),
	    T_CASE(test_status_roundtrip),
	    T_CASE(test_status_null_error_and_absent),
	    T_CASE(test_status_order),
	    T_CASE(test_status_db_added_to_old_store),
	    T_CASE(test_customers_index),
	    T_CASE(test_note_and_thread_lists),
	    T_CASE(test_notes_db_added_to_old_store),
	    T_CASE(test_counters_persist),
	    T_CASE(test_counters_and_walks_from),
	    T_CASE(test_file_prepare),
	    T_CASE(test_file_prepare_group),
	    T_CASE(test_abort_discards),
	    T_CASE(test_foreach_skips_merged),
	    T_CASE(test_resolve_thread),
	    T_CASE(test_quarantine_and_messages_in_order),
	    T_CASE(test_corrupt_records),
	    T_CASE(test_unknown_keys_skipped),
	    T_CASE(test_reader_during_write_in_other_process),
	    T_CASE(test_writer_waits_for_writer),
	    T_CASE(test_readonly_store_from_other_process),
	    T_CASE(test_map_full),
	    T_CASE(test_disk_full_at_commit),
	    T_CASE(test_idvec),
	    T_CASE(test_strerror),
	};
	if (argc > 3 && strcmp(argv[1], "--child") == 0)
		return run_child(argc, argv);
	if (realpath(argv[0], self) == NULL) {
		perror(argv[0]);
		return 1;
	}
	return t_run(cases, NELEM(cases), argc, argv);
}
