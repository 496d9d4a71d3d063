/*
 * store_health.c: whether the store can still keep what it acknowledges.
 *
 * The file: the store remembers the device and inode of the database it
 * opened; before every write batch (one stat, cheap next to an fsync) and on
 * every store_health it checks the path still names that file. A database
 * deleted or replaced under a running server would take every later write
 * to a file no one will open again: such writes fail with 503 instead, and
 * health says why, until a restart.
 *
 * The disk: a file of ST_RESERVE_BYTES beside the database holds space in
 * reserve. When a write finds the disk full, the reserve is freed and the
 * store enters its full state, in which publishes and rollbacks are refused
 * at once, so the freed space goes to what frees space: deletes and history
 * pruning. When statvfs shows room for the reserve twice over, the reserve
 * is made again and the full state ends.
 *
 * Threading: health_lock guards the state; it is taken alone or after
 * db_lock (the writer holds db_lock around a batch).
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hc_log.h"
#include "sbuf.h"
#include "xmalloc.h"

#define ST_RESERVE_BYTES (4 << 20)

/* Makes the reserve file; 1 on success. */
static int make_reserve(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600), rc;

	if (fd < 0)
		return 0;
	rc = posix_fallocate(fd, 0, ST_RESERVE_BYTES);
	if (rc == 0)
		rc = fsync(fd);
	close(fd);
	if (rc != 0) {
		unlink(path);
		return 0;
	}
	return 1;
}

static int room_for_reserve(const char *path)
{
	struct statvfs sv;
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int ok;

	if (slash)
		*slash = '\0';
	ok = statvfs(slash ? (*dir ? dir : "/") : ".", &sv) == 0 &&
	     (unsigned long long)sv.f_bavail * sv.f_frsize >= 2ULL * ST_RESERVE_BYTES;
	free(dir);
	return ok;
}

void st_health_open(store *st, const char *path)
{
	struct stat sb;
	sbuf rp = SBUF_INIT(SBUF_NOMAX);

	pthread_mutex_init(&st->health_lock, NULL);
	st->health_ok = 1;
	st->path = xstrdup(path);
	if (stat(path, &sb) == 0) {
		st->dev = (unsigned long long)sb.st_dev;
		st->ino = (unsigned long long)sb.st_ino;
	}
	sbuf_addf(&rp, "%s.reserve", path);
	st->reserve_path = sbuf_detach(&rp, NULL);
	if (access(st->reserve_path, F_OK) != 0 && !make_reserve(st->reserve_path))
		hc_log("cannot keep %d MiB in reserve in %s: %s (a full disk may then block "
		       "deletes too)",
		       ST_RESERVE_BYTES >> 20, st->reserve_path, strerror(errno));
}

void st_health_close(store *st)
{
	if (!st->health_ok)
		return;
	pthread_mutex_destroy(&st->health_lock);
	free(st->path);
	free(st->reserve_path);
}

/* Checks the file under health_lock; 1 when it is gone or replaced. */
static int file_gone_locked(store *st)
{
	struct stat sb;

	if (st->health == STORE_HEALTH_FILE_GONE)
		return 1;
	if (stat(st->path, &sb) == 0 && (unsigned long long)sb.st_dev == st->dev &&
	    (unsigned long long)sb.st_ino == st->ino)
		return 0;
	st->health = STORE_HEALTH_FILE_GONE;
	snprintf(st->reason, sizeof(st->reason),
		 "the database file %s was deleted or replaced while hotconf ran: writes are "
		 "refused, since nothing written now would be found again; restore the file "
		 "or restart hotconf",
		 st->path);
	hc_log("%s", st->reason);
	return 1;
}

/* In the full state: leaves it when the disk has room again. */
static void maybe_leave_full_locked(store *st)
{
	if (!st->full || !room_for_reserve(st->path) || !make_reserve(st->reserve_path))
		return;
	st->full = 0;
	if (st->health == STORE_HEALTH_DISK_FULL)
		st->health = STORE_HEALTH_OK;
	hc_log("the disk has room again: %d MiB back in reserve, publishes accepted",
	       ST_RESERVE_BYTES >> 20);
}

hc_err st_health_before(store *st, char *detail)
{
	hc_err err = HC_OK;

	pthread_mutex_lock(&st->health_lock);
	if (file_gone_locked(st)) {
		snprintf(detail, STORE_DETAIL_MAX, "%s", st->reason);
		err = HC_ERR_UNAVAILABLE;
	} else {
		maybe_leave_full_locked(st);
	}
	pthread_mutex_unlock(&st->health_lock);
	return err;
}

int st_health_full(store *st, char *detail)
{
	int full;

	pthread_mutex_lock(&st->health_lock);
	full = st->full;
	pthread_mutex_unlock(&st->health_lock);
	if (full)
		snprintf(detail, STORE_DETAIL_MAX,
			 "the disk is full: publishes wait until space is freed; deletes and "
			 "history pruning still run");
	return full;
}

void st_health_after(store *st, hc_err err)
{
	pthread_mutex_lock(&st->health_lock);
	if (st->health == STORE_HEALTH_FILE_GONE) {
		/* stays until a restart */
	} else if (err == HC_OK) {
		if (st->health != STORE_HEALTH_DISK_FULL || !st->full)
			st->health = STORE_HEALTH_OK;
	} else if (err == HC_ERR_NO_SPACE) {
		st->health = STORE_HEALTH_DISK_FULL;
		snprintf(st->reason, sizeof(st->reason),
			 "the disk holding %s is full: publishes are refused; delete configs or "
			 "free space",
			 st->path);
		if (!st->full) {
			st->full = 1;
			if (unlink(st->reserve_path) == 0)
				hc_log("disk full: freed the %d MiB reserve so deletes and pruning "
				       "can still commit",
				       ST_RESERVE_BYTES >> 20);
			else
				hc_log("disk full, and no reserve to free: %s", strerror(errno));
		}
	} else if (err == HC_ERR_READ_ONLY) {
		st->health = STORE_HEALTH_READ_ONLY;
		snprintf(st->reason, sizeof(st->reason),
			 "the database %s cannot be written (read-only file or file system)",
			 st->path);
	} else if (err == HC_ERR_IO) {
		st->health = STORE_HEALTH_IO_ERROR;
		snprintf(st->reason, sizeof(st->reason),
			 "the last write to %s failed with an I/O error; see the log", st->path);
	}
	pthread_mutex_unlock(&st->health_lock);
}

store_health_state store_health(store *st, char *reason, size_t cap)
{
	store_health_state h;

	pthread_mutex_lock(&st->health_lock);
	file_gone_locked(st);
	maybe_leave_full_locked(st);
	h = st->health;
	if (reason && cap)
		snprintf(reason, cap, "%s", h == STORE_HEALTH_OK ? "" : st->reason);
	pthread_mutex_unlock(&st->health_lock);
	return h;
}
