/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"

static int refuse(char *why, size_t why_size, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(char *why, size_t why_size, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	return r;
}

/* The ownership and mode rules, shared by files and their directory. */
static int check_owner_mode(const struct stat *st, uid_t owner, const char *what, char *why,
			    size_t why_size)
{
	if (st->st_uid != 0 && st->st_uid != owner) {
		return refuse(why, why_size, -EPERM,
			      "refused: %s is owned by uid %u, not by root or the daemon's user "
			      "(uid %u)",
			      what, (unsigned)st->st_uid, (unsigned)owner);
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		return refuse(why, why_size, -EPERM,
			      "refused: %s is writable by group or others (mode %04o)", what,
			      (unsigned)(st->st_mode & 07777));
	}
	return 0;
}

/* Opens path without following a symlink and checks it; returns the fd. */
static int open_checked(const char *path, uid_t owner, struct stat *ret_st, char *why,
			size_t why_size)
{
	char *dircopy = strdup(path);
	struct stat st, dst;
	int fd, r;

	if (!dircopy) {
		return -ENOMEM;
	}
	if (lstat(dirname(dircopy), &dst) < 0) {
		r = refuse(why, why_size, -errno, "cannot stat its directory: %s", strerror(errno));
		free(dircopy);
		return r;
	}
	free(dircopy);
	if (!S_ISDIR(dst.st_mode)) {
		return refuse(why, why_size, -ENOTDIR, "refused: its directory is not a directory");
	}
	r = check_owner_mode(&dst, owner, "its directory", why, why_size);
	if (r < 0) {
		return r;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP) {
			return refuse(why, why_size, -ELOOP,
				      "refused: is a symbolic link (plugins must be regular files)");
		}
		return refuse(why, why_size, -errno, "cannot open: %s", strerror(errno));
	}
	/* Check the file we opened, then load that very file: no window for a swap. */
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return refuse(why, why_size, r, "cannot stat: %s", strerror(-r));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return refuse(why, why_size, -EINVAL, "refused: not a regular file");
	}
	r = check_owner_mode(&st, owner, "the file", why, why_size);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_st = st;
	return fd;
}

int plugin_check_file(const char *path, uid_t owner, char *why, size_t why_size)
{
	struct stat st;
	int fd = open_checked(path, owner, &st, why, why_size);

	if (fd < 0) {
		return fd;
	}
	close(fd);
	return 0;
}

static char *name_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base ? base + 1 : path;
	len = strlen(base);
	if (len > 3 && strcmp(base + len - 3, ".so") == 0) {
		len -= 3;
	}
	return strndup(base, len);
}

static int check_descriptor(const struct horus_node_ops *d, char *why, size_t why_size)
{
	const size_t needed = offsetof(struct horus_node_ops, fini) + sizeof(d->fini);

	if (d->abi_major != HORUS_NODE_ABI_MAJOR) {
		return refuse(why, why_size, -EPROTO,
			      "refused: plugin ABI %u.%u, this daemon speaks ABI %u.x", d->abi_major,
			      d->abi_minor, HORUS_NODE_ABI_MAJOR);
	}
	if (d->struct_size < needed || d->struct_size > 65536) {
		return refuse(why, why_size, -EPROTO,
			      "refused: descriptor size %u is too small for ABI %u (needs %zu)",
			      d->struct_size, HORUS_NODE_ABI_MAJOR, needed);
	}
	return 0;
}

int plugin_load(const char *path, uid_t owner, struct plugin **ret, char *why, size_t why_size)
{
	const struct horus_node_ops *d;
	char fdpath[64];
	struct plugin *p;
	struct stat st;
	size_t n;
	int fd, r;

	fd = open_checked(path, owner, &st, why, why_size);
	if (fd < 0) {
		return fd;
	}
	p = calloc(1, sizeof(*p));
	if (p) {
		p->fd = -1;
	}
	if (!p || !(p->path = strdup(path)) || !(p->name = name_from_path(path))) {
		r = -ENOMEM;
		goto fail;
	}
	/*
	 * Load the very file we checked, through its descriptor. glibc finds an already loaded
	 * object by this name, so the descriptor stays open while the plugin is loaded: its
	 * number, and so the name, is not reused for another plugin meanwhile.
	 */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	p->dl = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		r = refuse(why, why_size, -ENOEXEC,
			   "cannot load: %s (check its dependencies with: ldd %s)", dlerror(), path);
		goto fail;
	}
	d = dlsym(p->dl, HORUS_NODE_ENTRY_SYMBOL);
	if (!d) {
		r = refuse(why, why_size, -ENOENT,
			   "refused: exports no '" HORUS_NODE_ENTRY_SYMBOL
			   "' descriptor (define one with HORUS_NODE_DEFINE)");
		goto fail;
	}
	r = check_descriptor(d, why, why_size);
	if (r < 0) {
		goto fail;
	}
	/* Read only what the plugin's own struct holds; newer fields stay zero. */
	n = d->struct_size < sizeof(p->ops) ? d->struct_size : sizeof(p->ops);
	memcpy(&p->ops, d, n);
	if (!p->ops.init || !p->ops.tick || !p->ops.fini) {
		r = refuse(why, why_size, -EPROTO, "refused: descriptor lacks init, tick or fini");
		goto fail;
	}
	if (!(p->ops.default_rate_hz > 0.0 && p->ops.default_rate_hz <= 10000.0)) {
		r = refuse(why, why_size, -EPROTO,
			   "refused: default_rate_hz %g is not in (0, 10000]", p->ops.default_rate_hz);
		goto fail;
	}
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	p->mtime = st.st_mtim;
	p->size = st.st_size;
	p->fd = fd;
	*ret = p;
	return 0;
fail:
	if (p) {
		p->fd = fd;
		plugin_unload(p);
	} else {
		close(fd);
	}
	return r;
}

void plugin_unload(struct plugin *p)
{
	if (!p) {
		return;
	}
	if (p->dl) {
		dlclose(p->dl);
	}
	if (p->fd >= 0) {
		close(p->fd); /* after dlclose: the name stays unique while the object lives */
	}
	free(p->path);
	free(p->name);
	free(p);
}

bool plugin_changed(const struct plugin *p)
{
	struct stat st;

	if (lstat(p->path, &st) < 0) {
		return true;
	}
	return st.st_dev != p->dev || st.st_ino != p->ino || st.st_size != p->size ||
	       st.st_mtim.tv_sec != p->mtime.tv_sec || st.st_mtim.tv_nsec != p->mtime.tv_nsec;
}
