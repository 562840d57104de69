/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* grants.h: the ACL entries vfiod added (GrantAccess), remembered in
 * $STATE_DIRECTORY (VFIOD_GRANTS_FILE) so that a restart can take back
 * those that no longer hold (the group left vfio-pci, the device went)
 * and a reattach or RevokeAccess can find them.
 *
 * A grant is recorded before its ACL entry is added; taking it back first
 * marks it revoking, then removes the entry, then forgets it.  So after a
 * crash at any point a record says what to do: a revoking one is taken
 * back, any other of a group still usable is applied again (idempotent),
 * and no entry exists that no record names.  Untrusted on reading:
 * malformed entries are dropped (logged).  Thread-safe (one lock). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
  char *path;     /* the node: /dev/vfio/N or /dev/vfio/devices/vfioN */
  uint32_t group; /* the IOMMU group it belongs to */
  uid_t uid;
  bool revoking; /* being taken back: its entry may be gone already,
                    * and it must never be given again */
} Grant;

Grant *grant_new (const char *path, uint32_t group, uid_t uid, bool revoking);
void grant_free (Grant *grant);

typedef struct Grants Grants;

/* Reads @dir's record (missing: none).  NULL with @error set when @dir
 * cannot be created. */
Grants *grants_open (const char *dir, GError **error);
void grants_free (Grants *grants);

/* Records (or keeps) @uid's grant on @path, of @group.  FALSE with @error
 * set when it could not be saved: then nothing is recorded. */
gboolean grants_add (Grants *grants, const char *path, uint32_t group, uid_t uid, GError **error);
/* Marks it revoking (saved) before its entry is removed.  FALSE with
 * @error set when it could not be saved. */
gboolean grants_mark_revoking (Grants *grants, const char *path, uid_t uid, GError **error);
/* Forgets it (saved).  FALSE with @error set when it could not be saved. */
gboolean grants_remove (Grants *grants, const char *path, uid_t uid, GError **error);

/* Copies: Grant*, sorted by path then uid; of one group, or all
 * (@group < 0). */
GPtrArray *grants_list (Grants *grants, int64_t group);

/* Parses a record's text (for tests and fuzzing): Grant*; entries that
 * are not well formed are left out. */
GPtrArray *grants_parse (const char *text, gsize length);
