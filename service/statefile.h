/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* statefile.h: the files vfiod keeps in its state directory (the
 * transactions, the grants): the directory made 0700, a file read whole,
 * a file replaced atomically and durably (temp file, fsync, rename). */
#pragma once

#include <glib.h>

/* Creates @dir (0700) when missing.  FALSE with @error set. */
gboolean statefile_make_dir (const char *dir, GError **error);

/* The whole of @path, NUL-terminated, and its *@length; NULL when there
 * is no such file, or when it cannot be read (logged, naming @what:
 * "no records", "no grants"). */
char *statefile_read (const char *path, gsize *length, const char *what);

/* Replaces @path with @data (@length bytes), mode 0600, atomically and
 * durably.  FALSE with @error set; then @path is as it was. */
gboolean statefile_write (const char *path, const char *data, gsize length, GError **error);
