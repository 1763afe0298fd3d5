/*
 * store: the LMDB environment, its named databases, and the records kept in them.
 *
 * Choices that are not obvious from the code:
 * - No MDB_WRITEMAP. Dirty pages are written with write(2) at commit, so a full disk shows up
 *   as an error there (STORE_FULL), with the previous commit intact, rather than as SIGBUS on a
 *   page fault; and a stray pointer cannot scribble on the database.
 * - MDB_NOTLS. Read transactions are not tied to the thread that began them, and one thread may
 *   hold several at once.
 * - A 256 GiB map. It is address space, not disk: the data file grows only as pages are
 *   written. Where mmap refuses that much (ulimit -v, valgrind), the map is twice the data file
 *   and at least 1 GiB: valgrind's bookkeeping costs time in proportion to the map.
 * - Keys that grow with time (ids) are written with MDB_APPEND when they are the largest yet,
 *   which makes LMDB fill pages instead of splitting them in half.
 * - Raw messages of STORE_BLOB_MIN bytes or more live in files of their own, blobs/<SHA-256>,
 *   and the blobs database records only the name and size. LMDB has one writer for every
 *   account of the daemon, and copying 50 MB into its pages and syncing them at commit holds
 *   it for seconds; a file is written and synced before the write transaction begins
 *   (store_blob_stage), and the commit then syncs a few bytes. The name is the content's
 *   hash, so a crash between the file and the commit leaves a file that the message, fetched
 *   again, reuses, and never a reference to a missing file. A reference has a database of its
 *   own rather than a mark inside raw, whose values are whatever bytes a message holds.
 *   Readers map the file for the life of their transaction, as LMDB maps its pages.
 */
#include "tend/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store_codec.h"

enum db {
	DB_META,
	DB_RAW,
	DB_MESSAGES,
	DB_MSGIDS,
	DB_THREADS,
	DB_QUARANTINE,
	DB_SUBJECTS,
	DB_CURSORS,
	DB_STATUS,
	DB_DRAFTS,
	DB_QUEUE,
	DB_OUTBOX,
	DB_AUDIT,
	DB_CUSTOMERS,
	DB_NOTES,
	DB_FILES,
	DB_BLOBS,
	DB_COUNT
};

static const char *const db_names[DB_COUNT] = {
    "meta",     "raw",       "messages", "msgids", "threads", "quarantine",
    "subjects", "cursors",   "status",   "drafts", "queue",   "outbox",
    "audit",    "customers", "notes",    "files",  "blobs",
};

/*
 * Databases added after schema version 1 was fixed. A store from before them gets them the
 * next time it is opened for writing; until then a read-only open sees them as empty.
 */
#define DB_LATER                                                                                   \
	((1u << DB_STATUS) | (1u << DB_CUSTOMERS) | (1u << DB_NOTES) | (1u << DB_FILES) |          \
	 (1u << DB_BLOBS))

/* meta keys; values are 8-byte big-endian integers. */
#define META_SCHEMA       "schema_version"
#define META_LAST_MESSAGE "last_message_id"
#define META_LAST_THREAD  "last_thread_id"
#define META_LAST_DRAFT   "last_draft_id"
#define META_LAST_AUDIT   "last_audit_seq"
#define META_LAST_NOTE    "last_note_id"
/* Set once the customers database lists every thread (stores from before it are filled in). */
#define META_CUSTOMERS "customers_indexed"

#define DEFAULT_MAPSIZE ((size_t)256 << 30)
/* The least map asked for where address space is short. */
#define SHORT_MAPSIZE ((size_t)1 << 30)
/* Longest Message-ID used as a key as it is; LMDB's limit is 511 bytes. */
#define MAX_PLAIN_KEY 400
/* Merged threads point to the thread they joined; a longer chain than this is a loop. */
#define MAX_MERGE_HOPS 64
/* Less free space than this after a short write means the disk is full. */
#define ROOM_MIN ((uint64_t)1 << 20)
/* Encode buffers larger than this are let go at the end of a transaction. */
#define ENC_KEEP (4u << 20)

/* Returned inside store_open when databases must be created in a write transaction. */
#define NEED_CREATE 1

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	unsigned absent; /* bits (1 << db) of DB_LATER databases a read-only open did not find */
	char *dir;
	bool readonly;
	char *group; /* the group the store is shared with, or NULL */
	gid_t gid;
	/* Scratch for encoding records; only the write transaction uses it, and there is one. */
	struct buf enc;
};

/* A blob file mapped by store_get_raw, unmapped when its transaction ends. */
struct blob_map {
	void *addr;
	size_t len;
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	bool write;
	int failed; /* the first write failure: LMDB refuses further work, so do we */
	struct blob_map *maps;
	size_t nmaps;
};

const char *store_strerror(int code)
{
	switch (code) {
	case STORE_OK:
		return "success";
	case STORE_NOTFOUND:
		return "not found";
	case STORE_FULL:
		return "the store is full (disk or map)";
	case STORE_CORRUPT:
		return "a record in the store is corrupt";
	default:
		return "store error";
	}
}

static void set_err(char **err, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* store_open's errors go to *err; a caller that passes no err gets them logged. */
static void set_err(char **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (err) {
		free(*err);
		*err = msg;
	} else {
		log_warnx("%s", msg);
		free(msg);
	}
}

/* Translates an LMDB or errno code into a STORE_ code, logging what happened. */
static int map_err(const struct store *s, int rc, const char *what)
{
	switch (rc) {
	case 0:
		return STORE_OK;
	case MDB_NOTFOUND:
		return STORE_NOTFOUND;
	case MDB_MAP_FULL:
		log_warnx("store %s: %s: the store's map is full", s->dir, what);
		return STORE_FULL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		log_warnx("store %s: %s: %s", s->dir, what, strerror(rc));
		return STORE_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		log_warnx("store %s: %s: %s", s->dir, what, mdb_strerror(rc));
		return STORE_CORRUPT;
	default:
		log_warnx("store %s: %s: %s", s->dir, what, mdb_strerror(rc));
		return STORE_ERROR;
	}
}

/* Is rc LMDB's or the system's way of saying there is no room? */
static bool lmdb_full(int rc)
{
	return rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT || rc == EFBIG;
}

static void be64_put(unsigned char b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
}

static uint64_t be64_get(const unsigned char b[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* Opening: the directory */

/*
 * The store directory while a store or one of its files is being opened: opened once, without
 * following a link, and used through its descriptor from then on.
 */
struct dir_ctx {
	const char *path;
	int fd;
	struct stat st; /* of the directory, kept up to date with its mode */
	const char *group;
	gid_t gid;
	bool readonly;
};

/* What to tell someone who finds a file refused. */
#define TAKEOVER "(someone may be trying to take over files: remove it and check who made it)"
#define DENIED   "permission denied (is it shared with a group you are not in?)"

static char *parent_of(const char *dir)
{
	const char *slash = strrchr(dir, '/');
	if (slash == NULL)
		return xstrdup(".");
	if (slash == dir)
		return xstrdup("/");
	return xstrndup(dir, (size_t)(slash - dir));
}

static int lookup_group(const char *dir, const char *name, gid_t *gid, char **err)
{
	struct group *gr = getgrnam(name);
	if (gr == NULL) {
		set_err(err, "store %s: no such group: %s", dir, name);
		return STORE_ERROR;
	}
	*gid = gr->gr_gid;
	return 0;
}

/* A user's name, or the number when it has none; caller frees. */
static char *user_name(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);
	return pw ? xstrdup(pw->pw_name) : xasprintf("%lu", (unsigned long)uid);
}

static char *group_name(gid_t gid)
{
	struct group *gr = getgrgid(gid);
	return gr ? xstrdup(gr->gr_name) : xasprintf("%lu", (unsigned long)gid);
}

static const char *kind_of(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFLNK:
		return "a symbolic link";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
	case S_IFBLK:
		return "a device";
	default:
		return "a regular file";
	}
}

/*
 * Is the entry name, with st from fstatat without following links, a file of the type we put
 * there, that nobody but us could have put there? A link would make us open (and LMDB truncate,
 * and us chmod) whatever it points to; a hard link shares its inode with a file elsewhere; and a
 * file that belongs to someone other than the caller, the directory's owner or root is a group
 * member's, who chose what it is. verb says what we refuse to do with it.
 */
static int check_entry(const struct dir_ctx *d, const char *name, const struct stat *st,
                       mode_t type, const char *verb, char **err)
{
	uid_t uid = st->st_uid;
	if ((st->st_mode & S_IFMT) != type) {
		set_err(err, "%s/%s is %s; refusing to %s it " TAKEOVER, d->path, name,
		        kind_of(st->st_mode), verb);
		return STORE_ERROR;
	}
	if (uid != geteuid() && uid != d->st.st_uid && uid != 0) {
		char *who = user_name(uid), *owner = user_name(d->st.st_uid);
		set_err(
		    err,
		    "%s/%s belongs to %s, not to the store's owner %s; refusing to %s it " TAKEOVER,
		    d->path, name, who, owner, verb);
		free(who);
		free(owner);
		return STORE_ERROR;
	}
	if (type == S_IFREG && st->st_nlink != 1) {
		set_err(err, "%s/%s has %ju hard links; refusing to %s it " TAKEOVER, d->path, name,
		        (uintmax_t)st->st_nlink, verb);
		return STORE_ERROR;
	}
	return 0;
}

/*
 * Opens the directory itself. Its last component may not be a symbolic link: tend never makes
 * one, and a link there could point the store, and everything we create or chmod in it, at
 * anybody's directory. Links among the components before it are the operator's own layout (a
 * /var/lib that lives on another disk) and are followed.
 */
static int open_dir(struct dir_ctx *d, char **err)
{
	struct stat st;
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->fd >= 0 && fstat(d->fd, &d->st) == 0)
		return 0;
	int e = errno;
	if (e == ENOENT && d->readonly) {
		set_err(err, "no store at %s (import some mail first)", d->path);
		return STORE_NOTFOUND;
	}
	if (e == EACCES || e == EPERM) {
		set_err(err, "store %s: " DENIED, d->path);
		return STORE_ERROR;
	}
	if ((e == ELOOP || e == ENOTDIR) && lstat(d->path, &st) == 0 && S_ISLNK(st.st_mode))
		set_err(err,
		        "store %s is a symbolic link; refusing to use it (tend never makes one: "
		        "name the directory it points to in tend.yaml, or remove the link and "
		        "check who made it)",
		        d->path);
	else if (e == ENOTDIR && lstat(d->path, &st) == 0)
		set_err(err, "store %s: not a directory", d->path);
	else
		set_err(err, "store %s: %s", d->path, strerror(e));
	return STORE_ERROR;
}

/*
 * A directory that others can write lets them replace the database under us. Sharing with a
 * group is fine when the configuration says so; sharing with everyone never is.
 */
static int check_dir_safe(const char *dir, const struct stat *st, const char *group, char **err)
{
	if (!S_ISDIR(st->st_mode)) {
		set_err(err, "store %s: not a directory", dir);
		return STORE_ERROR;
	}
	if (st->st_mode & S_IWOTH) {
		set_err(err, "store %s: the directory is writable by everyone; chmod o-w it", dir);
		return STORE_ERROR;
	}
	if (group == NULL && (st->st_mode & S_IWGRP)) {
		set_err(err,
		        "store %s: the directory is group-writable but no group is configured; "
		        "chmod g-w it or name the group in tend.yaml",
		        dir);
		return STORE_ERROR;
	}
	return 0;
}

/*
 * Gives the directory the mode the configuration asks for: always when we just created it (the
 * umask had its say), and when we own it and a group is configured (group: was added later, or
 * the store was shared before it had the sticky bit). The set-group-ID bit makes new files the
 * group's; the sticky bit keeps members from renaming or removing files they do not own.
 */
static int set_dir_mode(struct dir_ctx *d, bool created, char **err)
{
	mode_t want = d->group ? 03770 : 0700;
	if (!created && d->st.st_uid != geteuid())
		return 0;
	if (d->group && (created || d->st.st_gid != d->gid) &&
	    fchown(d->fd, (uid_t)-1, d->gid) < 0) {
		set_err(err, "store %s: cannot give the directory to group %s: %s", d->path,
		        d->group, strerror(errno));
		return STORE_ERROR;
	}
	if ((created || (d->group && (d->st.st_mode & 07777) != want)) && fchmod(d->fd, want) < 0) {
		set_err(err, "store %s: cannot set its mode to %o: %s (as root: chmod %o %s)",
		        d->path, (unsigned)want, strerror(errno), (unsigned)want, d->path);
		return STORE_ERROR;
	}
	if (fstat(d->fd, &d->st) < 0) {
		set_err(err, "store %s: %s", d->path, strerror(errno));
		return STORE_ERROR;
	}
	return 0;
}

/*
 * Without the sticky bit, a member of a group that may write the directory can rename or remove
 * any file in it, and put a link in its place between our checks and LMDB's open. Its owner
 * sets the bit (set_dir_mode); anyone else is refused until then.
 */
static int check_sticky(const struct dir_ctx *d, char **err)
{
	if (!(d->st.st_mode & S_IWGRP) || (d->st.st_mode & S_ISVTX))
		return 0;
	char *owner = user_name(d->st.st_uid), *group = group_name(d->st.st_gid);
	set_err(err,
	        "store %s is writable by group %s but lacks the sticky bit, so any member could "
	        "replace its files; its owner (%s) sets the bit by running tend once, or run: "
	        "chmod +t %s",
	        d->path, group, owner, d->path);
	free(owner);
	free(group);
	return STORE_ERROR;
}

static bool is_socket(DIR *d, const struct dirent *de)
{
	struct stat st;
	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_SOCK;
	return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode);
}

/*
 * Ignoring dot files, the LMDB lock file and sockets (the daemon's lives here), does dir hold
 * anything? Then it is somebody's directory, not a store that lost its data file.
 */
static bool dir_has_files(const char *dir)
{
	DIR *d = opendir(dir);
	bool found = false;
	if (d == NULL)
		return false;
	for (struct dirent *de; !found && (de = readdir(d)) != NULL;) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "lock.mdb") == 0)
			continue;
		found = !is_socket(d, de);
	}
	closedir(d);
	return found;
}

/*
 * Is there a store here at all? A link named data.mdb counts, to be refused by name later. An
 * empty data.mdb is a store that a writer created and was stopped before it wrote anything:
 * none to read yet (and LMDB, asked to read it, would try to write its first pages).
 */
static int check_contents(const struct dir_ctx *d, char **err)
{
	struct stat st;
	bool has_data = fstatat(d->fd, "data.mdb", &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (d->readonly && (!has_data || (S_ISREG(st.st_mode) && st.st_size == 0))) {
		set_err(err, "no store at %s (import some mail first)", d->path);
		return STORE_NOTFOUND;
	}
	if (!d->readonly && !has_data && dir_has_files(d->path)) {
		set_err(err,
		        "store %s: the directory holds other files and no store; refusing to "
		        "create one there",
		        d->path);
		return STORE_ERROR;
	}
	return 0;
}

/*
 * Creates the missing parents of dir with the usual mode (0777 less the umask), as `mkdir -p`
 * does: "store: var/tend" in a fresh checkout should just work. Only the store itself is private.
 */
static int make_parents(const char *dir, char **err)
{
	char *parent = parent_of(dir);
	struct stat st;
	int rc = 0;
	if (strcmp(parent, dir) != 0 && stat(parent, &st) < 0 && errno == ENOENT) {
		rc = make_parents(parent, err);
		if (rc == 0 && mkdir(parent, 0777) < 0 && errno != EEXIST) {
			set_err(err, "store %s: cannot create %s: %s", dir, parent,
			        strerror(errno));
			rc = STORE_ERROR;
		}
	}
	free(parent);
	return rc;
}

/* Creates the directory (and its missing parents), or checks the one that is there; opens it. */
static int prepare_dir(struct dir_ctx *d, char **err)
{
	bool created = false;
	if (!d->readonly) {
		if (make_parents(d->path, err) < 0)
			return STORE_ERROR;
		created = mkdir(d->path, 0700) == 0;
		if (!created && errno != EEXIST) {
			set_err(err, "store %s: %s", d->path, strerror(errno));
			return STORE_ERROR;
		}
	}
	int rc = open_dir(d, err);
	if (rc == 0 && !created)
		rc = check_dir_safe(d->path, &d->st, d->group, err);
	if (rc == 0)
		rc = check_contents(d, err);
	if (rc == 0)
		rc = set_dir_mode(d, created, err);
	if (rc == 0)
		rc = check_sticky(d, err);
	return rc;
}

/* Opening: files in the directory */

/* A file as it was checked, to tell whether LMDB opened that one. */
struct file_id {
	dev_t dev;
	ino_t ino; /* 0: none was checked */
};

/* The files LMDB opens by name, in the order of the file_id array. */
static const char *const lmdb_files[] = {"data.mdb", "lock.mdb"};

/* Gives a file of ours the mode (and group) of the store's files, through its descriptor. */
static void set_file_mode(const struct dir_ctx *d, const char *name, int fd, const struct stat *st)
{
	mode_t want = d->group ? 0660 : 0600;
	if (st->st_uid != geteuid())
		return;
	if (d->group && st->st_gid != d->gid && fchown(fd, (uid_t)-1, d->gid) < 0)
		log_warn("store %s: chown %s", d->path, name);
	if ((st->st_mode & 07777) != want && fchmod(fd, want) < 0)
		log_warn("store %s: chmod %s", d->path, name);
}

/*
 * Opens name in the directory without following a link (O_CREAT in flags: creating it with
 * mode when it is missing, with O_EXCL, so that nothing is ever created through a dangling
 * link), and never truncating. O_NONBLOCK: a FIFO does not hang us before check_opened refuses
 * it. Returns the descriptor, or -1 with errno.
 */
static int open_nofollow(const struct dir_ctx *d, const char *name, int flags, mode_t mode)
{
	const int safe = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	int fd = -1;
	if (flags & O_CREAT)
		fd = openat(d->fd, name, flags | O_EXCL | safe, mode);
	if (fd < 0 && (!(flags & O_CREAT) || errno == EEXIST))
		fd = openat(d->fd, name, (flags & ~O_CREAT) | safe);
	return fd;
}

/*
 * Checks what open_nofollow gave: returns the descriptor, or -1 (closed) with *err. When the
 * open failed (ELOOP for a link, ENXIO for a socket, EACCES for a stranger's file), what is
 * wrong with the file is the better reason.
 */
static int check_opened(const struct dir_ctx *d, const char *name, int fd, char **err)
{
	struct stat st;
	int e = errno;
	if (fd < 0 && e != ENOENT && fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    check_entry(d, name, &st, S_IFREG, "open", err) < 0)
		return -1;
	if (fd < 0) {
		set_err(err, "%s/%s: %s", d->path, name,
		        e == EACCES || e == EPERM ? DENIED : strerror(e));
		return -1;
	}
	if (fstat(fd, &st) < 0 || check_entry(d, name, &st, S_IFREG, "open", err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Who may create the store's files: in a directory that a group may write, a file that a
 * member made is one the sticky bit does not protect from that member, who could swap it for a
 * link at any time, and that the others refuse. Only the directory's owner and root make them.
 */
static bool may_create(const struct dir_ctx *d)
{
	uid_t me = geteuid();
	return me == d->st.st_uid || me == 0 || !(d->st.st_mode & S_IWGRP);
}

static int check_may_create(const struct dir_ctx *d, const char *name, char **err)
{
	if (may_create(d))
		return 0;
	char *owner = user_name(d->st.st_uid);
	set_err(err,
	        "store %s has no %s, and only its owner (%s) may create it there: run tend once "
	        "as %s",
	        d->path, name, owner, owner);
	free(owner);
	return STORE_ERROR;
}

/*
 * Readies a file that a library opens by name (and LMDB following links): checked, created by
 * us when missing and create is set, with the store's mode when it is ours; *st describes it.
 * STORE_NOTFOUND (without *err) when it is missing and not created: create is not set, or a
 * read-only store is on a read-only file system. (Closing a descriptor of the file drops the
 * process's locks on it: callers run this before their library takes any.)
 */
static int prepare_file(const struct dir_ctx *d, const char *name, bool create, struct stat *st,
                        char **err)
{
	int fd = open_nofollow(d, name, O_RDONLY, 0);
	if (fd < 0 && errno == ENOENT) {
		if (!create)
			return STORE_NOTFOUND;
		if (check_may_create(d, name, err) < 0)
			return STORE_ERROR;
		fd = open_nofollow(d, name, O_RDONLY | O_CREAT, d->group ? 0660 : 0600);
	}
	if (fd < 0 && errno == EROFS && d->readonly)
		return STORE_NOTFOUND;
	if ((fd = check_opened(d, name, fd, err)) < 0)
		return STORE_ERROR;
	int rc = 0;
	if (fstat(fd, st) < 0) {
		set_err(err, "%s/%s: %s", d->path, name, strerror(errno));
		rc = STORE_ERROR;
	} else {
		set_file_mode(d, name, fd, st);
	}
	close(fd);
	return rc;
}

/*
 * Readies an LMDB file for mdb_env_open. *id says which file passed. On a read-only file
 * system LMDB goes without a lock file, and so do we. (LMDB allows one environment per store
 * and process, and takes its locks after this.)
 */
static int prepare_lmdb_file(const struct dir_ctx *d, const char *name, struct file_id *id,
                             char **err)
{
	struct stat st;
	int rc = prepare_file(d, name, true, &st, err);
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

/* Opening: the environment */

/* TEND_STORE_MAPSIZE (bytes, or with a K, M or G suffix) overrides the map size, for tests. */
static int mapsize_from_env(size_t *size, bool *explicit, char **err)
{
	const char *v = getenv("TEND_STORE_MAPSIZE");
	*size = DEFAULT_MAPSIZE;
	*explicit = false;
	if (v == NULL || *v == '\0')
		return 0;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	int shift = 0;
	const char *suffixes = "KkMmGg";
	const char *suf = *end ? strchr(suffixes, *end) : NULL;
	if (suf) {
		shift = 10 * (1 + (int)(suf - suffixes) / 2);
		end++;
	}
	if (errno || *end != '\0' || n == 0 || n > (SIZE_MAX >> shift)) {
		set_err(err, "TEND_STORE_MAPSIZE: not a size: %s", v);
		return STORE_ERROR;
	}
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	*size = ((size_t)n << shift) + page - 1;
	*size -= *size % page;
	*explicit = true;
	return 0;
}

static void describe_open_error(const struct store *s, int rc, char **err)
{
	switch (rc) {
	case MDB_INVALID:
		set_err(err, "store %s: data.mdb is not an LMDB file; this is not a tend store",
		        s->dir);
		break;
	case MDB_VERSION_MISMATCH:
		set_err(err, "store %s: written by an incompatible version of LMDB", s->dir);
		break;
	case EACCES:
	case EPERM:
		set_err(err, "store %s: " DENIED, s->dir);
		break;
	default:
		set_err(err, "store %s: %s", s->dir, mdb_strerror(rc));
		break;
	}
}

/* A map size for when address space is short: room for the store to double, at least 1 GiB. */
static size_t short_mapsize(const char *dir)
{
	char *path = xasprintf("%s/data.mdb", dir);
	struct stat st;
	size_t size = SHORT_MAPSIZE;
	if (stat(path, &st) == 0 && (size_t)st.st_size > size / 2)
		size = 2 * (size_t)st.st_size;
	free(path);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (size + page - 1) / page * page;
}

static int env_open(struct store *s, const struct store_options *opt, char **err)
{
	unsigned int flags = MDB_NOTLS | (opt->readonly ? MDB_RDONLY : 0);
	mdb_mode_t mode = opt->group ? 0660 : 0600;
	size_t mapsize, fallback = 0;
	bool explicit;
	int rc = mapsize_from_env(&mapsize, &explicit, err);
	if (rc < 0)
		return rc;
	for (;;) {
		if ((rc = mdb_env_create(&s->env)) != 0)
			break;
		mdb_env_set_maxdbs(s->env, DB_COUNT + 4);
		mdb_env_set_mapsize(s->env, mapsize);
		rc = mdb_env_open(s->env, s->dir, flags, mode);
		/* mmap says ENOMEM under ulimit -v, EINVAL under valgrind. */
		if ((rc != ENOMEM && rc != EINVAL) || explicit || fallback)
			break;
		mdb_env_close(s->env);
		s->env = NULL;
		mapsize = fallback = short_mapsize(s->dir);
		log_debug("store %s: address space is short; mapping %zu MiB", s->dir,
		          mapsize >> 20);
	}
	if (rc != 0) {
		describe_open_error(s, rc, err);
		return lmdb_full(rc) ? STORE_FULL : STORE_ERROR;
	}
	/* Reader slots of processes that died would pin old pages and grow the file. */
	int dead;
	mdb_reader_check(s->env, &dead);
	return 0;
}

/* Opening: the databases and the schema */

static int meta_get(struct store *s, MDB_txn *txn, const char *name, uint64_t *v)
{
	MDB_val k = {strlen(name), (void *)name}, d;
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &d);
	if (rc != 0)
		return rc;
	if (d.mv_size != 8) {
		log_warnx("store %s: meta record %s is malformed (%zu bytes)", s->dir, name,
		          d.mv_size);
		return MDB_CORRUPTED;
	}
	*v = be64_get(d.mv_data);
	return 0;
}

static int meta_put(struct store *s, MDB_txn *txn, const char *name, uint64_t v)
{
	unsigned char b[8];
	be64_put(b, v);
	MDB_val k = {strlen(name), (void *)name}, d = {8, b};
	return mdb_put(txn, s->dbi[DB_META], &k, &d, 0);
}

/* Opens meta; *fresh says it was created just now. */
static int open_meta(struct store *s, MDB_txn *txn, bool create, bool *fresh, char **err)
{
	MDB_dbi main;
	MDB_stat st;
	*fresh = false;
	int rc = mdb_dbi_open(txn, "meta", 0, &s->dbi[DB_META]);
	if (rc == MDB_NOTFOUND) {
		/* An environment that holds something other than our databases is not ours. */
		if ((rc = mdb_dbi_open(txn, NULL, 0, &main)) == 0 &&
		    (rc = mdb_stat(txn, main, &st)) == 0 && st.ms_entries > 0) {
			set_err(err, "store %s: not a tend store (no meta database)", s->dir);
			return STORE_ERROR;
		}
		if (rc == 0 && !create && s->readonly) {
			set_err(err, "no store at %s (import some mail first)", s->dir);
			return STORE_NOTFOUND;
		}
		if (rc == 0 && !create)
			return NEED_CREATE;
		if (rc == 0 && (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi[DB_META])) == 0)
			*fresh = true;
	}
	if (rc == MDB_INCOMPATIBLE) {
		set_err(err, "store %s: not a tend store (meta is not a database)", s->dir);
		return STORE_ERROR;
	}
	if (rc != 0) {
		set_err(err, "store %s: opening meta: %s", s->dir, mdb_strerror(rc));
		return lmdb_full(rc) ? STORE_FULL : STORE_ERROR;
	}
	return 0;
}

static int check_schema(struct store *s, MDB_txn *txn, bool fresh, char **err)
{
	uint64_t v = 0;
	int rc = meta_get(s, txn, META_SCHEMA, &v);
	if (rc == MDB_NOTFOUND && fresh)
		rc = meta_put(s, txn, META_SCHEMA, v = STORE_SCHEMA_VERSION);
	if (rc == 0 && v == STORE_SCHEMA_VERSION)
		return 0;
	if (rc == 0 && v > STORE_SCHEMA_VERSION)
		set_err(err,
		        "store %s: schema version %llu is newer than this tend understands (%d); "
		        "upgrade tend",
		        s->dir, (unsigned long long)v, STORE_SCHEMA_VERSION);
	else if (rc == 0)
		set_err(err,
		        "store %s: schema version %llu is older than this tend understands (%d); "
		        "it needs migrating",
		        s->dir, (unsigned long long)v, STORE_SCHEMA_VERSION);
	else if (rc == MDB_NOTFOUND)
		set_err(err, "store %s: not a tend store (no schema version)", s->dir);
	else
		set_err(err, "store %s: schema version: %s", s->dir, mdb_strerror(rc));
	return lmdb_full(rc) ? STORE_FULL : STORE_ERROR;
}

static int open_db(struct store *s, MDB_txn *txn, enum db i, bool create, char **err)
{
	int rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &s->dbi[i]);
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND && !s->readonly)
		return NEED_CREATE;
	if (rc == MDB_NOTFOUND && (DB_LATER & (1u << i))) {
		s->absent |= 1u << i;
		return 0;
	}
	if (rc == MDB_NOTFOUND)
		set_err(err, "store %s: database %s is missing; open the store read-write once",
		        s->dir, db_names[i]);
	else
		set_err(err, "store %s: opening database %s: %s", s->dir, db_names[i],
		        mdb_strerror(rc));
	return lmdb_full(rc) ? STORE_FULL : STORE_ERROR;
}

static void customer_key(const char *addr, uint64_t thread, char out[MAX_PLAIN_KEY + 9],
                         MDB_val *k);
static int decode_record(struct store_txn *t, enum db db, const MDB_val *k, const MDB_val *v,
                         const struct codec_table *table, void *rec);

/* Files every live thread under its customer: a store from before the customers database. */
static int fill_customers(struct store *s, MDB_txn *txn, char **err)
{
	uint64_t done = 0;
	int rc = meta_get(s, txn, META_CUSTOMERS, &done);
	if (rc == 0 || rc != MDB_NOTFOUND)
		return rc == 0 ? 0 : STORE_ERROR;
	MDB_cursor *c = NULL;
	MDB_val k, v, ck, empty = {0, NULL};
	struct store_txn t = {.s = s, .txn = txn, .write = true};
	rc = mdb_cursor_open(txn, s->dbi[DB_THREADS], &c);
	for (MDB_cursor_op op = MDB_FIRST; rc == 0; op = MDB_NEXT) {
		if ((rc = mdb_cursor_get(c, &k, &v, op)) != 0)
			break;
		struct store_thread th = {0};
		char kb[MAX_PLAIN_KEY + 9];
		if (decode_record(&t, DB_THREADS, &k, &v, &codec_thread, &th) == 0 &&
		    !th.merged_into && th.customer.addr && *th.customer.addr) {
			customer_key(th.customer.addr, th.id, kb, &ck);
			rc = mdb_put(txn, s->dbi[DB_CUSTOMERS], &ck, &empty, 0);
		}
		codec_clear(&codec_thread, &th);
	}
	if (c)
		mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = meta_put(s, txn, META_CUSTOMERS, 1);
	if (rc != 0) {
		set_err(err, "store %s: listing the conversations by customer: %s", s->dir,
		        mdb_strerror(rc));
		return lmdb_full(rc) ? STORE_FULL : STORE_ERROR;
	}
	return 0;
}

/*
 * Opens every database handle in one transaction: a read transaction first, so that opening an
 * existing store never waits for another process's writer, then a write transaction only when
 * something must be created.
 */
static int open_dbs_in(struct store *s, bool create, char **err)
{
	MDB_txn *txn = NULL;
	bool fresh;
	int rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
	if (rc != 0) {
		set_err(err, "store %s: %s", s->dir, mdb_strerror(rc));
		return STORE_ERROR;
	}
	rc = open_meta(s, txn, create, &fresh, err);
	if (rc == 0)
		rc = check_schema(s, txn, fresh, err);
	for (int i = DB_META + 1; rc == 0 && i < DB_COUNT; i++)
		rc = open_db(s, txn, (enum db)i, create, err);
	if (rc == 0 && create)
		rc = fill_customers(s, txn, err);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
		if (rc != 0) {
			set_err(err, "store %s: creating the databases: %s", s->dir,
			        mdb_strerror(rc));
			rc = lmdb_full(rc) ? STORE_FULL : STORE_ERROR;
		}
	}
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

/*
 * LMDB opened the files by name after prepare_lmdb_file checked them. In between, nobody but
 * their owner, the directory's owner and root can rename or remove them: the directory is its
 * owner's alone, or it is shared and has the sticky bit, which is what closes that race (and
 * why check_sticky refuses a shared store without it). Look again all the same, so that a swap
 * that got through anyway is an error rather than a store in use.
 */
static int verify_lmdb_files(const struct store *s, const struct dir_ctx *d,
                             const struct file_id ids[NELEM(lmdb_files)], char **err)
{
	mdb_filehandle_t fd;
	struct stat st[NELEM(lmdb_files)];
	bool seen[NELEM(lmdb_files)] = {
	    mdb_env_get_fd(s->env, &fd) == 0 && fstat(fd, &st[0]) == 0,
	    fstatat(d->fd, lmdb_files[1], &st[1], AT_SYMLINK_NOFOLLOW) == 0,
	};
	for (size_t i = 0; i < NELEM(lmdb_files); i++) {
		if (ids[i].ino == 0 ||
		    (seen[i] && st[i].st_dev == ids[i].dev && st[i].st_ino == ids[i].ino))
			continue;
		set_err(err,
		        "%s/%s was replaced while the store was being opened; refusing to use "
		        "it " TAKEOVER,
		        d->path, lmdb_files[i]);
		return STORE_ERROR;
	}
	return 0;
}

/* Everything before LMDB's turn: the directory, and the files LMDB will open in it. */
static int prepare_store(struct dir_ctx *d, struct file_id ids[NELEM(lmdb_files)], char **err)
{
	int rc = 0;
	if (d->group && (rc = lookup_group(d->path, d->group, &d->gid, err)) < 0)
		return rc;
	if ((rc = prepare_dir(d, err)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < NELEM(lmdb_files); i++)
		rc = prepare_lmdb_file(d, lmdb_files[i], &ids[i], err);
	return rc;
}

int store_open(const char *dir, const struct store_options *opt, struct store **out, char **err)
{
	static const struct store_options defaults = {0};
	struct store *s = NULL;
	struct file_id ids[NELEM(lmdb_files)] = {{0, 0}};
	int rc = 0;

	*out = NULL;
	if (err)
		*err = NULL;
	if (opt == NULL)
		opt = &defaults;
	struct dir_ctx d = {.path = dir,
	                    .fd = -1,
	                    .group = opt->group,
	                    .gid = (gid_t)-1,
	                    .readonly = opt->readonly};
	if ((rc = prepare_store(&d, ids, err)) < 0)
		goto out;
	s = xcalloc(1, sizeof(*s));
	s->dir = xstrdup(dir);
	s->readonly = opt->readonly;
	s->group = opt->group ? xstrdup(opt->group) : NULL;
	s->gid = d.gid;
	if ((rc = env_open(s, opt, err)) < 0 || (rc = verify_lmdb_files(s, &d, ids, err)) < 0)
		goto out;
	rc = open_dbs_in(s, false, err);
	if (rc == NEED_CREATE)
		rc = open_dbs_in(s, true, err);
	if (rc < 0)
		goto out;
	*out = s;
	s = NULL;
out:
	if (d.fd >= 0)
		close(d.fd);
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->env)
		mdb_env_close(s->env);
	buf_free(&s->enc);
	free(s->dir);
	free(s->group);
	free(s);
}

const char *store_dir(const struct store *s)
{
	return s->dir;
}

/* Files beside LMDB's */

static int open_dir_at(struct dir_ctx *d, const char *dir, char **err)
{
	*d = (struct dir_ctx){.path = dir, .fd = -1, .gid = (gid_t)-1};
	return open_dir(d, err);
}

int store_file_open(const char *dir, const char *name, int flags, mode_t mode, char **err)
{
	struct dir_ctx d;
	int fd = -1;
	if (err)
		*err = NULL;
	if (open_dir_at(&d, dir, err) == 0)
		fd = check_opened(&d, name, open_nofollow(&d, name, flags, mode), err);
	if (d.fd >= 0)
		close(d.fd);
	return fd;
}

int store_file_prepare(struct store *s, const char *name, bool create, struct stat *st, char **err)
{
	struct dir_ctx d = {
	    .path = s->dir, .fd = -1, .group = s->group, .gid = s->gid, .readonly = s->readonly};
	if (err)
		*err = NULL;
	int rc = open_dir(&d, err);
	if (rc == 0)
		rc = prepare_file(&d, name, create, st, err);
	if (d.fd >= 0)
		close(d.fd);
	return rc;
}

int store_socket_clear(const char *dir, const char *name, char **err)
{
	struct dir_ctx d;
	struct stat st;
	int rc = open_dir_at(&d, dir, err);
	if (rc == 0 && fstatat(d.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = check_entry(&d, name, &st, S_IFSOCK, "replace", err);
		if (rc == 0 && unlinkat(d.fd, name, 0) < 0) {
			set_err(err, "%s/%s: cannot remove the old socket: %s", dir, name,
			        strerror(errno));
			rc = STORE_ERROR;
		}
	} else if (rc == 0 && errno != ENOENT) {
		set_err(err, "%s/%s: %s", dir, name, strerror(errno));
		rc = STORE_ERROR;
	}
	if (d.fd >= 0)
		close(d.fd);
	return rc;
}

/*
 * A socket file's mode cannot be set through the socket's descriptor (fchmod there changes the
 * socket, not the file bind made), so this goes by name, from the directory's descriptor, after
 * checking that the name is a socket of ours; AT_SYMLINK_NOFOLLOW never follows a link, and the
 * sticky bit of a shared store keeps anyone else from swapping our file in between.
 */
int store_socket_chmod(const char *dir, const char *name, mode_t mode, char **err)
{
	struct dir_ctx d;
	struct stat st;
	int rc = open_dir_at(&d, dir, err);
	if (rc == 0 && fstatat(d.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		set_err(err, "%s/%s: %s", dir, name, strerror(errno));
		rc = STORE_ERROR;
	}
	if (rc == 0)
		rc = check_entry(&d, name, &st, S_IFSOCK, "change", err);
	if (rc == 0 && (st.st_mode & 07777) != mode &&
	    fchmodat(d.fd, name, mode, AT_SYMLINK_NOFOLLOW) < 0) {
		set_err(err, "%s/%s: chmod: %s", dir, name, strerror(errno));
		rc = STORE_ERROR;
	}
	if (d.fd >= 0)
		close(d.fd);
	return rc;
}

/* Transactions */

int store_begin(struct store *s, bool write, struct store_txn **out)
{
	MDB_txn *txn = NULL;
	*out = NULL;
	if (write && s->readonly) {
		log_warnx("store %s: opened read-only; cannot write", s->dir);
		return STORE_ERROR;
	}
	int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
	if (rc != 0)
		return map_err(s, rc, "beginning a transaction");
	struct store_txn *t = xcalloc(1, sizeof(*t));
	t->s = s;
	t->txn = txn;
	t->write = write;
	*out = t;
	return 0;
}

/*
 * One huge message should not pin its encoding's memory for the life of the daemon. Called
 * while the transaction still holds LMDB's writer lock: the buffer belongs to whichever thread
 * writes, and the next one may start the moment the lock is let go.
 */
static void enc_trim(struct store_txn *t)
{
	if (t->write && t->s->enc.cap > ENC_KEEP)
		buf_free(&t->s->enc);
}

static void txn_free(struct store_txn *t)
{
	for (size_t i = 0; i < t->nmaps; i++)
		munmap(t->maps[i].addr, t->maps[i].len);
	free(t->maps);
	free(t);
}

/*
 * LMDB reports a short write at commit as EIO ("filesystem full?"), which is what a full disk or
 * a file size limit produces: look, so that they are told apart from a failing disk.
 */
static bool out_of_room(const struct store *s)
{
	mdb_filehandle_t fd;
	struct statvfs vfs;
	struct stat st;
	struct rlimit rl;
	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) < 0)
		return false;
	if (fstatvfs(fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < ROOM_MIN)
		return true;
	return getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	       (uint64_t)st.st_size + ROOM_MIN > (uint64_t)rl.rlim_cur;
}

int store_commit(struct store_txn *t)
{
	int rc = t->failed;
	enc_trim(t); /* LMDB copied every value at its put */
	if (rc < 0) {
		/* LMDB refuses to commit after a failed write; committing half the work is worse. */
		mdb_txn_abort(t->txn);
	} else {
		rc = mdb_txn_commit(t->txn);
		if (rc == EIO && out_of_room(t->s))
			rc = ENOSPC;
		if (rc != 0)
			rc = map_err(t->s, rc, "committing");
	}
	txn_free(t);
	return rc;
}

void store_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	enc_trim(t);
	mdb_txn_abort(t->txn);
	txn_free(t);
}

/* Reading and writing one entry */

static int check_write(struct store_txn *t, const char *db)
{
	if (t->failed)
		return t->failed;
	if (!t->write) {
		log_warnx("store %s: writing %s in a read transaction", t->s->dir, db);
		return STORE_ERROR;
	}
	return 0;
}

/*
 * Puts k -> v. With append, the key is expected to be the largest in the database (a new id):
 * MDB_APPEND then packs pages full; when it is not (an update), LMDB says so without side
 * effects and the put is done the ordinary way.
 */
static int db_put(struct store_txn *t, enum db db, MDB_val *k, MDB_val *v, bool append)
{
	int rc = check_write(t, db_names[db]);
	if (rc < 0)
		return rc;
	rc = append ? mdb_put(t->txn, t->s->dbi[db], k, v, MDB_APPEND) : MDB_KEYEXIST;
	if (rc == MDB_KEYEXIST)
		rc = mdb_put(t->txn, t->s->dbi[db], k, v, 0);
	if (rc == 0)
		return 0;
	char what[64];
	snprintf(what, sizeof(what), "writing %s", db_names[db]);
	t->failed = map_err(t->s, rc, what);
	return t->failed;
}

/* Deletes k from db; a key that is not there is not an error. what names the step. */
static int db_del(struct store_txn *t, enum db db, MDB_val *k, const char *what)
{
	int rc = check_write(t, db_names[db]);
	if (rc < 0)
		return rc;
	rc = mdb_del(t->txn, t->s->dbi[db], k, NULL);
	if (rc == 0 || rc == MDB_NOTFOUND)
		return 0;
	t->failed = map_err(t->s, rc, what);
	return t->failed;
}

static bool db_absent(const struct store_txn *t, enum db db)
{
	return (t->s->absent & (1u << db)) != 0;
}

static int db_get(struct store_txn *t, enum db db, MDB_val *k, MDB_val *v)
{
	if (db_absent(t, db))
		return STORE_NOTFOUND;
	int rc = mdb_get(t->txn, t->s->dbi[db], k, v);
	if (rc == 0 || rc == MDB_NOTFOUND)
		return rc == 0 ? 0 : STORE_NOTFOUND;
	char what[64];
	snprintf(what, sizeof(what), "reading %s", db_names[db]);
	return map_err(t->s, rc, what);
}

/* A printable form of a key for messages about bad records. */
static void describe_key(enum db db, const MDB_val *k, char *out, size_t size)
{
	const unsigned char *p = k->mv_data;
	size_t o = 0;
	if (k->mv_size == 8 && db != DB_MSGIDS && db != DB_SUBJECTS && db != DB_CURSORS &&
	    db != DB_STATUS) {
		snprintf(out, size, "%llu", (unsigned long long)be64_get(p));
		return;
	}
	for (size_t i = 0; i < k->mv_size && o + 5 < size; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f)
			out[o++] = (char)p[i];
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", p[i]);
	}
	out[o] = '\0';
}

static int decode_record(struct store_txn *t, enum db db, const MDB_val *k, const MDB_val *v,
                         const struct codec_table *table, void *rec)
{
	struct codec_error e;
	if (codec_decode(table, v->mv_data, v->mv_size, rec, &e) == 0)
		return 0;
	char key[100];
	describe_key(db, k, key, sizeof(key));
	if (e.field)
		log_warnx("store %s: %s record %s is malformed: key %d: %s", t->s->dir,
		          db_names[db], key, e.field, e.what);
	else
		log_warnx("store %s: %s record %s is malformed: %s", t->s->dir, db_names[db], key,
		          e.what);
	return STORE_CORRUPT;
}

static int put_record(struct store_txn *t, enum db db, MDB_val *k, const struct codec_table *table,
                      const void *rec, bool append)
{
	int rc = check_write(t, db_names[db]);
	if (rc < 0)
		return rc;
	buf_reset(&t->s->enc);
	codec_encode(&t->s->enc, table, rec);
	MDB_val v = {t->s->enc.len, t->s->enc.data};
	return db_put(t, db, k, &v, append);
}

static int get_record(struct store_txn *t, enum db db, MDB_val *k, const struct codec_table *table,
                      void *rec)
{
	MDB_val v;
	int rc = db_get(t, db, k, &v);
	if (rc < 0)
		return rc;
	return decode_record(t, db, k, &v, table, rec);
}

/* Ids are keyed big-endian so that LMDB's byte order is id order. */
static MDB_val id_key(unsigned char b[8], uint64_t id)
{
	be64_put(b, id);
	return (MDB_val){8, b};
}

/* Counters */

static const char *const counter_names[] = {
    [STORE_COUNTER_MESSAGE] = META_LAST_MESSAGE, [STORE_COUNTER_THREAD] = META_LAST_THREAD,
    [STORE_COUNTER_DRAFT] = META_LAST_DRAFT,     [STORE_COUNTER_AUDIT] = META_LAST_AUDIT,
    [STORE_COUNTER_NOTE] = META_LAST_NOTE,
};

int store_get_counter(struct store_txn *t, enum store_counter c, uint64_t *last)
{
	*last = 0;
	int rc = meta_get(t->s, t->txn, counter_names[c], last);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return map_err(t->s, rc, "reading a counter");
	return 0;
}

int store_next_id(struct store_txn *t, enum store_counter c, uint64_t *id)
{
	const char *name = counter_names[c];
	uint64_t last = 0;
	int rc = check_write(t, "meta");
	if (rc < 0)
		return rc;
	rc = meta_get(t->s, t->txn, name, &last);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return map_err(t->s, rc, "reading a counter");
	unsigned char b[8];
	be64_put(b, last + 1);
	MDB_val k = {strlen(name), (void *)name}, v = {8, b};
	if ((rc = db_put(t, DB_META, &k, &v, false)) < 0)
		return rc;
	*id = last + 1;
	return 0;
}

/* Raw messages */

/*
 * blobs/, where raw messages of STORE_BLOB_MIN bytes or more are kept as files. It is opened as
 * the store's directory is (never through a link) and checked as the store's files are (ours,
 * the store owner's or root's, and nobody else may write in it), so that whatever a colleague
 * sharing the store puts there is refused, never followed. d.path is "<store>/blobs".
 */
struct blob_dir {
	struct dir_ctx d;
	char *path;
};

#define BLOB_DIR "blobs"
/* A reference in the blobs database: a version byte, the size (8 bytes), the SHA-256 in hex. */
#define BLOB_REF_VERSION 1
#define BLOB_REF_LEN     (1 + 8 + 64)
/* blob_write's answer when the message must go into LMDB instead. */
#define BLOB_INLINE 1

static void blob_dir_close(struct blob_dir *b)
{
	if (b->d.fd >= 0)
		close(b->d.fd);
	free(b->path);
}

/*
 * Gives the blobs/ we just made the store's mode: 0700, or 1770 and the store's group when the
 * store is shared (sticky for the reason the store is). Not set-group-ID, which systemd's
 * RestrictSUIDSGID forbids a daemon to set: blob_write gives each file to the group instead.
 */
static int blob_dir_mode(struct blob_dir *b, char **err)
{
	mode_t want = b->d.group ? 01770 : 0700;
	if (b->d.group && b->d.st.st_gid != b->d.gid && fchown(b->d.fd, (uid_t)-1, b->d.gid) < 0) {
		set_err(err, "%s: cannot give it to group %s: %s", b->path, b->d.group,
		        strerror(errno));
		return STORE_ERROR;
	}
	if ((b->d.st.st_mode & 07777) != want && fchmod(b->d.fd, want) < 0) {
		set_err(err, "%s: cannot set its mode to %o: %s", b->path, (unsigned)want,
		        strerror(errno));
		return STORE_ERROR;
	}
	return 0;
}

/* Checks the blobs/ that was opened (or not) in the store's directory sd. */
static int blob_dir_check(const struct dir_ctx *sd, struct blob_dir *b, bool made, char **err)
{
	struct stat st;
	int e = errno;
	if (b->d.fd < 0) {
		if (e != ENOENT && fstatat(sd->fd, BLOB_DIR, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    check_entry(sd, BLOB_DIR, &st, S_IFDIR, "use", err) < 0)
			return STORE_ERROR;
		set_err(err, "%s: %s", b->path, strerror(e));
		return e == ENOENT ? STORE_NOTFOUND : STORE_ERROR;
	}
	if (fstat(b->d.fd, &b->d.st) < 0) {
		set_err(err, "%s: %s", b->path, strerror(errno));
		return STORE_ERROR;
	}
	if (check_entry(sd, BLOB_DIR, &b->d.st, S_IFDIR, "use", err) < 0 ||
	    check_dir_safe(b->path, &b->d.st, b->d.group, err) < 0)
		return STORE_ERROR;
	return made ? blob_dir_mode(b, err) : 0;
}

/*
 * Opens blobs/ into *b (close it with blob_dir_close whatever this returns); with create, makes
 * it first when missing and we may (as check_may_create). STORE_NOTFOUND: there is none.
 */
static int blob_dir_open(const struct store *s, bool create, struct blob_dir *b, char **err)
{
	struct dir_ctx sd = {.path = s->dir, .fd = -1, .group = s->group, .gid = s->gid};
	bool made = false;
	*b = (struct blob_dir){.d = {.fd = -1, .group = s->group, .gid = s->gid}};
	b->path = xasprintf("%s/%s", s->dir, BLOB_DIR);
	b->d.path = b->path;
	int rc = open_dir(&sd, err);
	if (rc == 0 && create && may_create(&sd)) {
		made = mkdirat(sd.fd, BLOB_DIR, 0700) == 0;
		if (!made && errno != EEXIST) {
			set_err(err, "%s: %s", b->path, strerror(errno));
			rc = STORE_ERROR;
		}
	}
	if (rc == 0) {
		b->d.fd = openat(sd.fd, BLOB_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rc = blob_dir_check(&sd, b, made, err);
	}
	if (sd.fd >= 0)
		close(sd.fd);
	return rc;
}

/* Logs what failed with a file in blobs/ (errno) and returns the store code for it. */
static int blob_fail(const struct blob_dir *b, const char *name, const char *what)
{
	int e = errno;
	log_warnx("%s/%s: %s: %s", b->path, name, what, strerror(e));
	return e == ENOSPC || e == EDQUOT || e == EFBIG ? STORE_FULL : STORE_ERROR;
}

/* Creates a temporary file in blobs/ under a name nobody has (tmp); its descriptor, or -1. */
static int blob_tmp(const struct blob_dir *b, char tmp[64])
{
	static atomic_uint seq;
	int fd = -1;
	for (int i = 0; fd < 0 && i < 100; i++) {
		snprintf(tmp, 64, ".tmp-%ld-%u", (long)getpid(), atomic_fetch_add(&seq, 1));
		fd = openat(b->d.fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	return fd;
}

/*
 * Writes blobs/name: a temporary file, synced, renamed into place (rename replaces whatever
 * has the name, a link included, and follows nothing), and the directory synced, so that a
 * reference committed after this never names a file a crash could lose. BLOB_INLINE: a file
 * that a colleague sharing the store put under the name may not be replaced (the sticky bit):
 * the message then goes into LMDB, so that nobody can keep a message out of the store.
 */
static int blob_write(const struct blob_dir *b, const char *name, const char *raw, size_t len)
{
	char tmp[64];
	int fd = blob_tmp(b, tmp), rc = 0;
	if (fd < 0)
		return blob_fail(b, tmp, "creating a temporary file");
	if ((b->d.group && fchown(fd, (uid_t)-1, b->d.gid) < 0) ||
	    fchmod(fd, b->d.group ? 0640 : 0600) < 0 || util_write_all(fd, raw, len) < 0 ||
	    fdatasync(fd) < 0)
		rc = blob_fail(b, tmp, "writing");
	if (close(fd) < 0 && rc == 0)
		rc = blob_fail(b, tmp, "writing");
	if (rc == 0 && renameat(b->d.fd, tmp, b->d.fd, name) < 0)
		rc = errno == EPERM || errno == EACCES
		         ? BLOB_INLINE
		         : blob_fail(b, name, "renaming the temporary file into place");
	if (rc < 0)
		unlinkat(b->d.fd, tmp, 0);
	else if (fsync(b->d.fd) < 0)
		rc = blob_fail(b, name, "syncing the directory");
	return rc;
}

/*
 * Is blobs/name a file of ours of len bytes: one staged before, or one a crash left behind
 * before its transaction committed? Its name is its content's hash. One that is not (a link,
 * a stranger's file, a wrong size) is said so, to be replaced.
 */
static bool blob_present(const struct blob_dir *b, const char *name, size_t len)
{
	struct stat st;
	char *err = NULL;
	if (fstatat(b->d.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (check_entry(&b->d, name, &st, S_IFREG, "use", &err) == 0 && (uint64_t)st.st_size == len)
		return true;
	if (err == NULL)
		err = xasprintf("%s/%s has %jd bytes, not %zu", b->path, name, (intmax_t)st.st_size,
		                len);
	log_warnx("%s; writing it again", err);
	free(err);
	return false;
}

/* Stages raw as store_blob_stage does; known: its hash from an earlier staging, or NULL. */
static int blob_stage(struct store *s, const char *raw, size_t len, const char *known,
                      struct store_blob *out)
{
	struct blob_dir b;
	char *err = NULL;
	*out = (struct store_blob){.len = 0};
	if (len < STORE_BLOB_MIN || s->readonly)
		return 0;
	int rc = blob_dir_open(s, true, &b, &err);
	if (rc < 0 && rc != STORE_NOTFOUND)
		log_warnx("%s", err);
	if (rc == STORE_NOTFOUND)
		rc = 0; /* we may not make it: the message goes into LMDB */
	free(err);
	if (rc == 0 && b.d.fd >= 0 && may_create(&b.d)) {
		if (known)
			memcpy(out->sha256, known, sizeof(out->sha256));
		else
			sha256_hex(raw, len, out->sha256);
		if (!blob_present(&b, out->sha256, len))
			rc = blob_write(&b, out->sha256, raw, len);
		if (rc == BLOB_INLINE)
			log_warnx("%s/%s is not ours to replace; keeping the message in data.mdb",
			          b.path, out->sha256);
		out->len = rc == 0 ? len : 0;
		rc = rc == BLOB_INLINE ? 0 : rc;
	}
	if (rc < 0)
		out->sha256[0] = '\0';
	blob_dir_close(&b);
	return rc;
}

int store_blob_stage(struct store *s, const char *raw, size_t len, struct store_blob *b)
{
	return blob_stage(s, raw, len, NULL, b);
}

/* Is name what sha256_hex makes (and so a file name of blobs/, with no slash or dot)? */
static bool blob_name_ok(const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return n == 64;
}

int store_put_raw_staged(struct store_txn *t, uint64_t msg, const char *raw, size_t len,
                         const struct store_blob *staged)
{
	unsigned char kb[8], ref[BLOB_REF_LEN];
	MDB_val k = id_key(kb, msg);
	MDB_val v = {len, (void *)raw};
	struct store_blob b = {.len = 0};
	bool known = staged && staged->len == len && blob_name_ok(staged->sha256, 64);
	int rc = check_write(t, db_names[DB_RAW]);
	if (rc == 0 && len >= STORE_BLOB_MIN)
		rc = blob_stage(t->s, raw, len, known ? staged->sha256 : NULL, &b);
	if (rc < 0)
		return t->failed = rc;
	if (b.len == 0)
		return db_put(t, DB_RAW, &k, &v, true);
	ref[0] = BLOB_REF_VERSION;
	be64_put(ref + 1, len);
	memcpy(ref + 9, b.sha256, 64);
	v = (MDB_val){sizeof(ref), ref};
	return db_put(t, DB_BLOBS, &k, &v, true);
}

int store_put_raw(struct store_txn *t, uint64_t msg, const char *raw, size_t len)
{
	return store_put_raw_staged(t, msg, raw, len, NULL);
}

/*
 * Maps blobs/name, of size bytes as recorded, read-only until the transaction ends. The file
 * is opened without following a link and must be a regular file of ours of that size: it is
 * never written again, so a mapping of it cannot be cut short under us.
 */
static int blob_map_file(struct store_txn *t, const char *name, uint64_t size, const char **raw,
                         char **err)
{
	struct blob_dir b;
	struct stat st = {.st_size = -1};
	int fd = -1, rc = blob_dir_open(t->s, false, &b, err);
	if (rc == 0)
		fd = check_opened(&b.d, name, open_nofollow(&b.d, name, O_RDONLY, 0), err);
	if (rc == 0 && fd < 0)
		rc = STORE_CORRUPT;
	if (rc == 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size || size > SIZE_MAX)) {
		set_err(err, "%s/%s has %jd bytes, not the %" PRIu64 " recorded", b.path, name,
		        (intmax_t)st.st_size, size);
		rc = STORE_CORRUPT;
	}
	void *p = rc == 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (rc == 0 && p == MAP_FAILED) {
		set_err(err, "%s/%s: %s", b.path, name, strerror(errno));
		rc = STORE_ERROR;
	}
	if (rc == 0) {
		t->maps = xreallocarray(t->maps, t->nmaps + 1, sizeof(*t->maps));
		t->maps[t->nmaps++] = (struct blob_map){p, (size_t)size};
		*raw = p;
	}
	if (fd >= 0)
		close(fd);
	blob_dir_close(&b);
	return rc == STORE_NOTFOUND ? STORE_CORRUPT : rc;
}

/* The raw message msg kept in a blob file, from its reference v. */
static int blob_get(struct store_txn *t, uint64_t msg, const MDB_val *v, const char **raw,
                    size_t *len)
{
	const unsigned char *p = v->mv_data;
	char name[65], *err = NULL;
	if (v->mv_size != BLOB_REF_LEN || p[0] != BLOB_REF_VERSION ||
	    !blob_name_ok((const char *)p + 9, 64)) {
		log_warnx("store %s: message %" PRIu64 ": its reference to a file in blobs/ is "
		          "corrupt",
		          t->s->dir, msg);
		return STORE_CORRUPT;
	}
	memcpy(name, p + 9, 64);
	name[64] = '\0';
	uint64_t size = be64_get(p + 1);
	int rc = blob_map_file(t, name, size, raw, &err);
	if (rc < 0)
		log_warnx("message %" PRIu64 " cannot be read: %s", msg, err ? err : "store error");
	else
		*len = (size_t)size;
	free(err);
	return rc;
}

int store_get_raw(struct store_txn *t, uint64_t msg, const char **raw, size_t *len)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, msg);
	MDB_val v;
	int rc = db_get(t, DB_RAW, &k, &v);
	if (rc == STORE_NOTFOUND && (rc = db_get(t, DB_BLOBS, &k, &v)) == 0)
		return blob_get(t, msg, &v, raw, len);
	if (rc < 0)
		return rc;
	*raw = v.mv_data;
	*len = v.mv_size;
	return 0;
}

/* Messages */

int store_message_by_arrival(const void *a, const void *b)
{
	const struct store_message *x = *(struct store_message *const *)a;
	const struct store_message *y = *(struct store_message *const *)b;
	if (x->received != y->received)
		return x->received < y->received ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id);
}

void store_message_free(struct store_message *m)
{
	if (m == NULL)
		return;
	codec_clear(&codec_message, m);
	free(m);
}

int store_put_message(struct store_txn *t, const struct store_message *m)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, m->id);
	return put_record(t, DB_MESSAGES, &k, &codec_message, m, true);
}

static int get_message(struct store_txn *t, uint64_t id, const struct codec_table *table,
                       struct store_message **out)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, id);
	struct store_message *m = xcalloc(1, sizeof(*m));
	int rc = get_record(t, DB_MESSAGES, &k, table, m);
	if (rc < 0) {
		free(m);
		m = NULL;
	}
	*out = m;
	return rc;
}

int store_get_message(struct store_txn *t, uint64_t id, struct store_message **out)
{
	return get_message(t, id, &codec_message, out);
}

int store_get_message_head(struct store_txn *t, uint64_t id, struct store_message **out)
{
	return get_message(t, id, &codec_message_head, out);
}

/*
 * Calls visit for every entry of db in key order, from the first key not below *from (NULL: from
 * the start); a nonzero return stops and is returned.
 */
static int walk_from(struct store_txn *t, enum db db, const MDB_val *from,
                     int (*visit)(struct store_txn *, MDB_val *, MDB_val *, void *), void *ctx)
{
	MDB_cursor *c = NULL;
	MDB_val k = from ? *from : (MDB_val){0, NULL}, v;
	int stop = 0;
	if (db_absent(t, db))
		return 0;
	int rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c);
	for (MDB_cursor_op op = from ? MDB_SET_RANGE : MDB_FIRST; rc == 0 && stop == 0;
	     op = MDB_NEXT)
		if ((rc = mdb_cursor_get(c, &k, &v, op)) == 0)
			stop = visit(t, &k, &v, ctx);
	if (c)
		mdb_cursor_close(c);
	if (stop)
		return stop;
	if (rc == MDB_NOTFOUND)
		return 0;
	char what[64];
	snprintf(what, sizeof(what), "reading %s", db_names[db]);
	return map_err(t->s, rc, what);
}

static int walk(struct store_txn *t, enum db db,
                int (*visit)(struct store_txn *, MDB_val *, MDB_val *, void *), void *ctx)
{
	return walk_from(t, db, NULL, visit, ctx);
}

struct message_walk {
	int (*fn)(const struct store_message *, void *);
	void *arg;
};

static int visit_message(struct store_txn *t, MDB_val *k, MDB_val *v, void *ctx)
{
	struct message_walk *w = ctx;
	struct store_message m = {0};
	int rc = decode_record(t, DB_MESSAGES, k, v, &codec_message, &m);
	if (rc < 0)
		return rc;
	rc = w->fn(&m, w->arg);
	codec_clear(&codec_message, &m);
	return rc;
}

int store_foreach_message(struct store_txn *t, int (*fn)(const struct store_message *, void *),
                          void *arg)
{
	struct message_walk w = {fn, arg};
	return walk(t, DB_MESSAGES, visit_message, &w);
}

int store_foreach_message_from(struct store_txn *t, uint64_t first,
                               int (*fn)(const struct store_message *, void *), void *arg)
{
	struct message_walk w = {fn, arg};
	unsigned char b[8];
	MDB_val k = id_key(b, first);
	return walk_from(t, DB_MESSAGES, &k, visit_message, &w);
}

/* Threads */

enum { IDVEC_LINEAR = 32 }; /* below this many ids a scan is as fast as hashing */

static size_t id_slot(uint64_t id, size_t cap)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)id & (cap - 1);
}

static void set_put(struct idvec *iv, uint64_t id)
{
	if (id == 0) {
		iv->set_zero = true;
		return;
	}
	size_t i = id_slot(id, iv->set_cap);
	while (iv->set[i] != 0 && iv->set[i] != id)
		i = (i + 1) & (iv->set_cap - 1);
	iv->set[i] = id;
}

/* Keeps the set at most half full, rebuilding it from the list when it grows. */
static void set_grow(struct idvec *iv)
{
	if (iv->set && 2 * iv->n <= iv->set_cap)
		return;
	size_t cap = iv->set_cap ? iv->set_cap : 64;
	while (2 * iv->n > cap)
		cap *= 2;
	free(iv->set);
	iv->set = xcalloc(cap, sizeof(*iv->set));
	iv->set_cap = cap;
	iv->set_zero = false;
	for (size_t i = 0; i < iv->n; i++)
		set_put(iv, iv->v[i]);
}

void idvec_push(struct idvec *iv, uint64_t id)
{
	if (iv->n == iv->cap) {
		iv->cap = iv->cap ? iv->cap * 2 : 8;
		iv->v = xreallocarray(iv->v, iv->cap, sizeof(*iv->v));
	}
	iv->v[iv->n++] = id;
	if (iv->n > IDVEC_LINEAR) {
		if (iv->set && 2 * iv->n <= iv->set_cap)
			set_put(iv, id);
		else
			set_grow(iv);
	}
}

bool idvec_contains(const struct idvec *iv, uint64_t id)
{
	if (iv->n <= IDVEC_LINEAR) {
		for (size_t i = 0; i < iv->n; i++)
			if (iv->v[i] == id)
				return true;
		return false;
	}
	if (id == 0)
		return iv->set_zero;
	for (size_t i = id_slot(id, iv->set_cap); iv->set[i] != 0; i = (i + 1) & (iv->set_cap - 1))
		if (iv->set[i] == id)
			return true;
	return false;
}

void idvec_clear(struct idvec *iv)
{
	iv->n = 0;
	free(iv->set); /* rebuilt from the list once it is long again */
	iv->set = NULL;
	iv->set_cap = 0;
	iv->set_zero = false;
}

void idvec_free(struct idvec *iv)
{
	free(iv->v);
	free(iv->set);
	*iv = (struct idvec){0};
}

void store_thread_free(struct store_thread *th)
{
	if (th == NULL)
		return;
	codec_clear(&codec_thread, th);
	free(th);
}

int store_put_thread(struct store_txn *t, const struct store_thread *th)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, th->id);
	return put_record(t, DB_THREADS, &k, &codec_thread, th, true);
}

int store_get_thread(struct store_txn *t, uint64_t id, struct store_thread **out)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, id);
	struct store_thread *th = xcalloc(1, sizeof(*th));
	int rc = get_record(t, DB_THREADS, &k, &codec_thread, th);
	if (rc < 0) {
		free(th);
		th = NULL;
	}
	*out = th;
	return rc;
}

int store_resolve_thread(struct store_txn *t, uint64_t id, uint64_t *live)
{
	uint64_t cur = id;
	for (int hops = 0; hops <= MAX_MERGE_HOPS; hops++) {
		unsigned char kb[8];
		MDB_val k = id_key(kb, cur);
		struct store_thread th = {0};
		int rc = get_record(t, DB_THREADS, &k, &codec_thread_link, &th);
		if (rc == STORE_NOTFOUND && hops > 0) {
			log_warnx("store %s: threads: thread %llu was merged into %llu, which "
			          "does not exist",
			          t->s->dir, (unsigned long long)id, (unsigned long long)cur);
			return STORE_CORRUPT;
		}
		if (rc < 0)
			return rc;
		if (th.merged_into == 0) {
			*live = cur;
			return 0;
		}
		cur = th.merged_into;
	}
	log_warnx("store %s: threads: the merges from thread %llu do not end after %d links "
	          "(a loop)",
	          t->s->dir, (unsigned long long)id, MAX_MERGE_HOPS);
	return STORE_CORRUPT;
}

struct thread_walk {
	int (*fn)(const struct store_thread *, void *);
	void *arg;
};

static int visit_thread(struct store_txn *t, MDB_val *k, MDB_val *v, void *ctx)
{
	struct thread_walk *w = ctx;
	struct store_thread th = {0};
	int rc = decode_record(t, DB_THREADS, k, v, &codec_thread, &th);
	if (rc < 0)
		return rc;
	rc = th.merged_into ? 0 : w->fn(&th, w->arg);
	codec_clear(&codec_thread, &th);
	return rc;
}

int store_foreach_thread(struct store_txn *t, int (*fn)(const struct store_thread *, void *),
                         void *arg)
{
	struct thread_walk w = {fn, arg};
	return walk(t, DB_THREADS, visit_thread, &w);
}

/* Message-IDs */

/* The key for a Message-ID: itself, or "sha256:" and its hash when too long for LMDB. */
static void msgid_key(const char *msgid, char hashed[72], MDB_val *k)
{
	size_t n = strlen(msgid);
	if (n <= MAX_PLAIN_KEY) {
		k->mv_size = n;
		k->mv_data = (void *)msgid;
		return;
	}
	memcpy(hashed, "sha256:", 7);
	sha256_hex(msgid, n, hashed + 7);
	k->mv_size = 7 + 64;
	k->mv_data = hashed;
}

int store_get_msgid(struct store_txn *t, const char *msgid, struct store_msgid *out)
{
	char hashed[72];
	MDB_val k;
	memset(out, 0, sizeof(*out));
	if (msgid == NULL || *msgid == '\0')
		return STORE_NOTFOUND;
	msgid_key(msgid, hashed, &k);
	return get_record(t, DB_MSGIDS, &k, &codec_msgid, out);
}

int store_put_msgid(struct store_txn *t, const char *msgid, const struct store_msgid *e)
{
	char hashed[72];
	MDB_val k;
	if (msgid == NULL || *msgid == '\0') {
		log_warnx("store %s: msgids: refusing an empty Message-ID", t->s->dir);
		return STORE_ERROR;
	}
	msgid_key(msgid, hashed, &k);
	return put_record(t, DB_MSGIDS, &k, &codec_msgid, e, false);
}

/* Quarantine */

int store_put_quarantine(struct store_txn *t, uint64_t msg)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, msg);
	MDB_val v = {0, NULL};
	return db_put(t, DB_QUARANTINE, &k, &v, true);
}

struct id_walk {
	int (*fn)(uint64_t, void *);
	void *arg;
};

static int visit_quarantined(struct store_txn *t, MDB_val *k, MDB_val *v, void *ctx)
{
	struct id_walk *w = ctx;
	if (k->mv_size != 8) {
		log_warnx("store %s: quarantine key of %zu bytes", t->s->dir, k->mv_size);
		return STORE_CORRUPT;
	}
	return w->fn(be64_get(k->mv_data), w->arg);
}

int store_foreach_quarantined(struct store_txn *t, int (*fn)(uint64_t msg, void *), void *arg)
{
	struct id_walk w = {fn, arg};
	return walk(t, DB_QUARANTINE, visit_quarantined, &w);
}

/* Subjects, cursors and status: keys made of two strings */

/* One part of a pair key: the string, or "sha256:" and its hash when it would not fit. */
static size_t key_part(char *out, const char *s, size_t room)
{
	size_t n = strlen(s);
	if (n <= room) {
		memcpy(out, s, n);
		return n;
	}
	memcpy(out, "sha256:", 7);
	sha256_hex(s, n, out + 7);
	return 7 + 64;
}

/* a + '\0' + b, hashing a part that would make the key longer than LMDB allows. */
static void pair_key(const char *a, const char *b, char out[MAX_PLAIN_KEY + 1], MDB_val *k)
{
	size_t n = key_part(out, a, MAX_PLAIN_KEY / 2);
	out[n++] = '\0';
	n += key_part(out + n, b, MAX_PLAIN_KEY - n);
	k->mv_size = n;
	k->mv_data = out;
}

int store_get_subject(struct store_txn *t, const char *addr, const char *subject, uint64_t *thread,
                      int64_t *when)
{
	char kb[MAX_PLAIN_KEY + 1];
	MDB_val k;
	struct codec_subject e = {0};
	pair_key(addr, subject, kb, &k);
	int rc = get_record(t, DB_SUBJECTS, &k, &codec_subject, &e);
	if (rc < 0)
		return rc;
	*thread = e.thread;
	*when = e.when;
	return 0;
}

int store_put_subject(struct store_txn *t, const char *addr, const char *subject, uint64_t thread,
                      int64_t when)
{
	char kb[MAX_PLAIN_KEY + 1];
	MDB_val k;
	struct codec_subject e = {thread, when};
	pair_key(addr, subject, kb, &k);
	return put_record(t, DB_SUBJECTS, &k, &codec_subject, &e, false);
}

/* Customers: the lowercase address, '\0', the thread id big-endian; no value. */
static void customer_key(const char *addr, uint64_t thread, char out[MAX_PLAIN_KEY + 9], MDB_val *k)
{
	char *low = str_lower(xstrdup(addr));
	size_t n = key_part(out, low, MAX_PLAIN_KEY - 1);
	free(low);
	out[n++] = '\0';
	be64_put((unsigned char *)out + n, thread);
	k->mv_size = n + 8;
	k->mv_data = out;
}

int store_put_customer(struct store_txn *t, const char *addr, uint64_t thread)
{
	char kb[MAX_PLAIN_KEY + 9];
	MDB_val k, v = {0, NULL};
	if (!addr || !*addr)
		return 0;
	customer_key(addr, thread, kb, &k);
	return db_put(t, DB_CUSTOMERS, &k, &v, false);
}

int store_foreach_customer_thread(struct store_txn *t, const char *addr,
                                  int (*fn)(uint64_t thread, void *), void *arg)
{
	char kb[MAX_PLAIN_KEY + 9];
	MDB_val k, v, from;
	MDB_cursor *c = NULL;
	if (db_absent(t, DB_CUSTOMERS) || !addr || !*addr)
		return 0;
	customer_key(addr, UINT64_MAX, kb, &from);
	size_t prefix = from.mv_size - 8;
	int stop = 0, rc = mdb_cursor_open(t->txn, t->s->dbi[DB_CUSTOMERS], &c);
	k = from;
	if (rc == 0) /* newest first: from the highest id of the address down */
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && (k.mv_size != from.mv_size || memcmp(k.mv_data, kb, from.mv_size) != 0))
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	for (; rc == 0 && stop == 0; rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
		if (k.mv_size != prefix + 8 || memcmp(k.mv_data, kb, prefix) != 0)
			break;
		stop = fn(be64_get((const unsigned char *)k.mv_data + prefix), arg);
	}
	if (c)
		mdb_cursor_close(c);
	if (stop)
		return stop;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : map_err(t->s, rc, "reading customers");
}

/*
 * The last automatic reply to an address shares the subjects database: under a "subject" no
 * message can have (subjects are normalised text; this one starts with a control character).
 */
#define AUTOREPLY_KEY "\x01automatic reply"

int store_get_autoreply(struct store_txn *t, const char *addr, int64_t *when)
{
	uint64_t thread;
	*when = 0;
	int rc = store_get_subject(t, addr, AUTOREPLY_KEY, &thread, when);
	return rc == STORE_NOTFOUND ? 0 : rc;
}

int store_put_autoreply(struct store_txn *t, const char *addr, uint64_t thread, int64_t when)
{
	return store_put_subject(t, addr, AUTOREPLY_KEY, thread, when);
}

int store_get_cursor(struct store_txn *t, const char *account, const char *folder,
                     struct store_cursor *out)
{
	char kb[MAX_PLAIN_KEY + 1];
	MDB_val k;
	memset(out, 0, sizeof(*out));
	pair_key(account, folder, kb, &k);
	return get_record(t, DB_CURSORS, &k, &codec_cursor, out);
}

int store_put_cursor(struct store_txn *t, const char *account, const char *folder,
                     const struct store_cursor *c)
{
	char kb[MAX_PLAIN_KEY + 1];
	MDB_val k;
	pair_key(account, folder, kb, &k);
	return put_record(t, DB_CURSORS, &k, &codec_cursor, c, false);
}

/* Splits an account '\0' folder key; the caller frees both. */
static int split_pair_key(struct store_txn *t, enum db db, const MDB_val *k, char **account,
                          char **folder)
{
	const char *p = k->mv_data;
	const char *nul = memchr(p, '\0', k->mv_size);
	if (nul == NULL) {
		log_warnx("store %s: %s: a key without a folder", t->s->dir, db_names[db]);
		return STORE_CORRUPT;
	}
	*account = xstrndup(p, (size_t)(nul - p));
	*folder = xstrndup(nul + 1, k->mv_size - (size_t)(nul + 1 - p));
	return 0;
}

struct cursor_walk {
	int (*fn)(const char *, const char *, const struct store_cursor *, void *);
	void *arg;
};

static int visit_cursor(struct store_txn *t, MDB_val *k, MDB_val *v, void *ctx)
{
	struct cursor_walk *w = ctx;
	struct store_cursor c = {0};
	char *account, *folder;
	int rc = decode_record(t, DB_CURSORS, k, v, &codec_cursor, &c);
	if (rc == 0)
		rc = split_pair_key(t, DB_CURSORS, k, &account, &folder);
	if (rc < 0)
		return rc;
	rc = w->fn(account, folder, &c, w->arg);
	free(account);
	free(folder);
	return rc;
}

int store_foreach_cursor(struct store_txn *t,
                         int (*fn)(const char *account, const char *folder,
                                   const struct store_cursor *c, void *arg),
                         void *arg)
{
	struct cursor_walk w = {fn, arg};
	return walk(t, DB_CURSORS, visit_cursor, &w);
}

/* IMAP health, keyed like the cursors; the account's own record has the folder "" */

void store_status_free(struct store_status *st)
{
	if (st)
		codec_clear(&codec_status, st);
}

int store_get_status(struct store_txn *t, const char *account, const char *folder,
                     struct store_status *out)
{
	char kb[MAX_PLAIN_KEY + 1];
	MDB_val k;
	memset(out, 0, sizeof(*out));
	pair_key(account, folder, kb, &k);
	return get_record(t, DB_STATUS, &k, &codec_status, out);
}

int store_put_status(struct store_txn *t, const char *account, const char *folder,
                     const struct store_status *st)
{
	char kb[MAX_PLAIN_KEY + 1];
	MDB_val k;
	pair_key(account, folder, kb, &k);
	return put_record(t, DB_STATUS, &k, &codec_status, st, false);
}

struct status_walk {
	int (*fn)(const char *, const char *, const struct store_status *, void *);
	void *arg;
};

static int visit_status(struct store_txn *t, MDB_val *k, MDB_val *v, void *ctx)
{
	struct status_walk *w = ctx;
	struct store_status st = {0};
	char *account, *folder;
	int rc = decode_record(t, DB_STATUS, k, v, &codec_status, &st);
	if (rc < 0)
		return rc;
	if ((rc = split_pair_key(t, DB_STATUS, k, &account, &folder)) == 0) {
		rc = w->fn(account, folder, &st, w->arg);
		free(account);
		free(folder);
	}
	codec_clear(&codec_status, &st);
	return rc;
}

int store_foreach_status(struct store_txn *t,
                         int (*fn)(const char *account, const char *folder,
                                   const struct store_status *st, void *arg),
                         void *arg)
{
	struct status_walk w = {fn, arg};
	return walk(t, DB_STATUS, visit_status, &w);
}

/* Drafts */

void store_draft_free(struct store_draft *d)
{
	if (d == NULL)
		return;
	codec_clear(&codec_draft, d);
	free(d);
}

int store_put_draft(struct store_txn *t, const struct store_draft *d)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, d->id);
	return put_record(t, DB_DRAFTS, &k, &codec_draft, d, true);
}

int store_get_draft(struct store_txn *t, uint64_t id, struct store_draft **out)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, id);
	struct store_draft *d = xcalloc(1, sizeof(*d));
	int rc = get_record(t, DB_DRAFTS, &k, &codec_draft, d);
	if (rc < 0) {
		free(d);
		d = NULL;
	}
	*out = d;
	return rc;
}

struct draft_walk {
	int (*fn)(const struct store_draft *, void *);
	void *arg;
};

static int visit_draft(struct store_txn *t, MDB_val *k, MDB_val *v, void *ctx)
{
	struct draft_walk *w = ctx;
	struct store_draft d = {0};
	int rc = decode_record(t, DB_DRAFTS, k, v, &codec_draft, &d);
	if (rc < 0)
		return rc;
	rc = w->fn(&d, w->arg);
	codec_clear(&codec_draft, &d);
	return rc;
}

int store_foreach_draft(struct store_txn *t, int (*fn)(const struct store_draft *, void *),
                        void *arg)
{
	struct draft_walk w = {fn, arg};
	return walk(t, DB_DRAFTS, visit_draft, &w);
}

/* Files attached to drafts */

static MDB_val file_key(unsigned char b[12], uint64_t draft, uint32_t seq)
{
	be64_put(b, draft);
	for (int i = 0; i < 4; i++)
		b[8 + i] = (unsigned char)(seq >> (24 - 8 * i));
	return (MDB_val){12, b};
}

int store_put_file(struct store_txn *t, uint64_t draft, uint32_t seq, const void *data, size_t len)
{
	unsigned char kb[12];
	MDB_val k = file_key(kb, draft, seq);
	MDB_val v = {len, (void *)data};
	return db_put(t, DB_FILES, &k, &v, false);
}

int store_get_file(struct store_txn *t, uint64_t draft, uint32_t seq, const char **data,
                   size_t *len)
{
	unsigned char kb[12];
	MDB_val k = file_key(kb, draft, seq), v;
	int rc = db_get(t, DB_FILES, &k, &v);
	if (rc < 0)
		return rc;
	*data = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int store_del_file(struct store_txn *t, uint64_t draft, uint32_t seq)
{
	unsigned char kb[12];
	MDB_val k = file_key(kb, draft, seq);
	return db_del(t, DB_FILES, &k, "deleting an attached file");
}

/* Notes */

void store_note_free(struct store_note *n)
{
	if (n == NULL)
		return;
	codec_clear(&codec_note, n);
	free(n);
}

int store_put_note(struct store_txn *t, const struct store_note *n)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, n->id);
	return put_record(t, DB_NOTES, &k, &codec_note, n, true);
}

int store_get_note(struct store_txn *t, uint64_t id, struct store_note **out)
{
	unsigned char kb[8];
	MDB_val k = id_key(kb, id);
	struct store_note *n = xcalloc(1, sizeof(*n));
	int rc = get_record(t, DB_NOTES, &k, &codec_note, n);
	if (rc < 0) {
		free(n);
		n = NULL;
	}
	*out = n;
	return rc;
}

/* Queue and outbox: keys of a big-endian time (offset so that order holds) and a draft id */

static MDB_val time_key(unsigned char b[16], int64_t when, uint64_t draft)
{
	be64_put(b, (uint64_t)when ^ ((uint64_t)1 << 63));
	be64_put(b + 8, draft);
	return (MDB_val){16, b};
}

static enum db index_db(enum store_index ix)
{
	return ix == STORE_INDEX_QUEUE ? DB_QUEUE : DB_OUTBOX;
}

int store_index_put(struct store_txn *t, enum store_index ix, int64_t when, uint64_t draft)
{
	unsigned char kb[16];
	MDB_val k = time_key(kb, when, draft);
	MDB_val v = {0, NULL};
	return db_put(t, index_db(ix), &k, &v, false);
}

int store_index_del(struct store_txn *t, enum store_index ix, int64_t when, uint64_t draft)
{
	unsigned char kb[16];
	MDB_val k = time_key(kb, when, draft);
	return db_del(t, index_db(ix), &k, "deleting from an index");
}

struct index_walk {
	int (*fn)(int64_t, uint64_t, void *);
	void *arg;
};

static int visit_index(struct store_txn *t, MDB_val *k, MDB_val *v, void *ctx)
{
	struct index_walk *w = ctx;
	if (k->mv_size != 16) {
		log_warnx("store %s: index key of %zu bytes", t->s->dir, k->mv_size);
		return STORE_CORRUPT;
	}
	const unsigned char *b = k->mv_data;
	int64_t when = (int64_t)(be64_get(b) ^ ((uint64_t)1 << 63));
	return w->fn(when, be64_get(b + 8), w->arg);
}

int store_foreach_index(struct store_txn *t, enum store_index ix,
                        int (*fn)(int64_t when, uint64_t draft, void *arg), void *arg)
{
	struct index_walk w = {fn, arg};
	return walk(t, index_db(ix), visit_index, &w);
}

int store_index_count(struct store_txn *t, enum store_index ix, uint64_t *n)
{
	enum db db = index_db(ix);
	MDB_stat st;
	*n = 0;
	if (db_absent(t, db))
		return 0;
	int rc = mdb_stat(t->txn, t->s->dbi[db], &st);
	if (rc != 0)
		return map_err(t->s, rc, "counting an index");
	*n = st.ms_entries;
	return 0;
}

/* The audit trail: keyed by time and sequence number, so it reads in order */

void store_audit_free(struct store_audit *a)
{
	if (a == NULL)
		return;
	codec_clear(&codec_audit, a);
	free(a);
}

int store_audit_append(struct store_txn *t, struct store_audit *a)
{
	int rc = store_next_id(t, STORE_COUNTER_AUDIT, &a->seq);
	if (rc < 0)
		return rc;
	unsigned char kb[16];
	MDB_val k = time_key(kb, a->time, a->seq);
	return put_record(t, DB_AUDIT, &k, &codec_audit, a, true);
}

struct audit_walk {
	int (*fn)(const struct store_audit *, void *);
	void *arg;
};

static int visit_audit(struct store_txn *t, MDB_val *k, MDB_val *v, void *ctx)
{
	struct audit_walk *w = ctx;
	struct store_audit a = {0};
	int rc = decode_record(t, DB_AUDIT, k, v, &codec_audit, &a);
	if (rc < 0)
		return rc;
	rc = w->fn(&a, w->arg);
	codec_clear(&codec_audit, &a);
	return rc;
}

int store_foreach_audit(struct store_txn *t, int (*fn)(const struct store_audit *, void *),
                        void *arg)
{
	struct audit_walk w = {fn, arg};
	return walk(t, DB_AUDIT, visit_audit, &w);
}

int store_foreach_audit_since(struct store_txn *t, int64_t since,
                              int (*fn)(const struct store_audit *, void *), void *arg)
{
	struct audit_walk w = {fn, arg};
	unsigned char b[16];
	MDB_val k = time_key(b, since, 0);
	return walk_from(t, DB_AUDIT, &k, visit_audit, &w);
}

/* Summaries */

static int entries(struct store_txn *t, enum db db, uint64_t *n)
{
	MDB_stat st;
	int rc = mdb_stat(t->txn, t->s->dbi[db], &st);
	if (rc != 0)
		return map_err(t->s, rc, "counting entries");
	*n = st.ms_entries;
	return 0;
}

int store_count(struct store_txn *t, struct store_counts *out)
{
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = entries(t, DB_MESSAGES, &out->messages)) < 0 ||
	    (rc = entries(t, DB_THREADS, &out->threads)) < 0 ||
	    (rc = entries(t, DB_QUARANTINE, &out->quarantined)) < 0)
		return rc;
	return 0;
}
