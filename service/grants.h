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
 * malformed entries are dropped (logged).  Thread-safe (one lock).
 *
 * Group and cdev numbers are the kernel's of one boot, handed out at
 * enumeration and bind time: after a reboot, a rebind or a hotplug the
 * same number can be another device.  So a record also says which boot
 * it was made in (bootid.h) and which devices the group had then (their
 * addresses and ids, as persist.h records them); a record of another
 * boot is never acted on, and the nodes to act on are always computed
 * again from the group's members now (use.h), never taken from here. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "address.h"

/* A member of the group when the grant was made: the ids persist.h
 * records of a device, so a device now at that address can be told to be
 * the same kind of device. */
typedef struct {
  PciAddress address;
  uint16_t vendor_id, device_id, subsystem_vendor_id, subsystem_device_id;
} GrantMember;

/* The most members a record may name (as persist.h's records). */
#define GRANT_MAX_MEMBERS 256

typedef struct {
  char *path;     /* the node: /dev/vfio/N or /dev/vfio/devices/vfioN */
  uint32_t group; /* the IOMMU group it belongs to */
  uid_t uid;
  bool revoking;   /* being taken back: its entry may be gone already,
                    * and it must never be given again */
  char *boot_id;   /* the boot it was made in; NULL: recorded before
                     * vfiod kept boot ids, so of another boot */
  GArray *members; /* GrantMember, by address (never empty); NULL
                     * exactly when boot_id is */
} Grant;

/* A grant without boot id or members (for replies: what was done). */
Grant *grant_new (const char *path, uint32_t group, uid_t uid, bool revoking);
Grant *grant_copy (const Grant *grant);
void grant_free (Grant *grant);

/* The identities of @devices (Device*, a group's members as read):
 * GrantMember by address. */
GArray *grant_members_from_devices (GPtrArray *devices);
/* Whether @devices (Device*) are exactly @grant's recorded members: the
 * same addresses, each with the recorded ids.  FALSE (with *@why, if not
 * NULL, saying what differs) also for a grant that has no members. */
gboolean grant_members_match (const Grant *grant, GPtrArray *devices, char **why);
/* Whether @grant was made in boot @boot_id (NULL: unknown, never). */
gboolean grant_of_boot (const Grant *grant, const char *boot_id);

typedef struct Grants Grants;

/* Reads @dir's record (missing: none).  NULL with @error set when @dir
 * cannot be created. */
Grants *grants_open (const char *dir, GError **error);
void grants_free (Grants *grants);

/* Records (or keeps) @uid's grant on @path, of @group, made in boot
 * @boot_id (valid) while the group had @members (GrantMember, not empty).
 * FALSE with @error set when it could not be saved: then nothing is
 * recorded. */
gboolean grants_add (Grants *grants, const char *path, uint32_t group, uid_t uid,
                     const char *boot_id, GArray *members, GError **error);
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
