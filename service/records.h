/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* records.h: the persistent assignments on disk (DetachDevice with
 * PERSISTENT), one file per device in the records directory
 * (VFIOD_PERSIST_DIR, /etc/vfiod/persistent): written atomically and
 * durably, read back strictly (persist.h), and checked against the device
 * now at each recorded address.  The boot helper (boot/) binds what they
 * name before any host driver; the daemon writes, removes and reports.
 *
 * Thread-safe: one lock around every change of the directory; readers
 * see whole files only (they are replaced by rename). */
#pragma once

#include <glib.h>

#include "device.h"
#include "persist.h"

typedef struct Records Records;

/* @dir need not exist: it is made (0755) on the first write. */
Records *records_new (const char *dir);
void records_free (Records *records);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Records, records_free)

/* $VFIOD_PERSIST_DIR or the built-in directory. */
const char *records_default_dir (void);
const char *records_dir (Records *records);

/* One file of the directory, as listed. */
typedef struct {
  char address[ADDRESS_STRLEN]; /* from the file name */
  char *path;
  PersistRecord *record; /* NULL: the file does not validate */
  char *error;           /* why, when record is NULL */
} RecordEntry;

void record_entry_free (RecordEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RecordEntry, record_entry_free)

/* Every record file (RecordEntry*, by address); files that are not named
 * "<address>.conf" are not records and are left out. */
GPtrArray *records_list (Records *records);

/* The record of @address, or NULL (none, or not valid: @error set). */
RecordEntry *records_lookup (Records *records, const char *address);

/* Whether the record of @device would be exactly what is on disk. */
gboolean records_up_to_date (Records *records, const Device *device, GPtrArray *members);

/* Records @device (ids and class now) with the addresses of @members
 * (Device*, its IOMMU group now, itself included).  FALSE with @error
 * set, naming the file; then the file is as it was. */
gboolean records_write (Records *records, const Device *device, GPtrArray *members, GError **error);

/* Removes @address's record; none is not an error.  FALSE with @error. */
gboolean records_remove (Records *records, const char *address, GError **error);

/* What the record says of the device now at its address: "active", or
 * "mismatch: " and what differs (@device NULL: none there).  Newly
 * allocated. */
char *records_check (const RecordEntry *entry, const Device *device);

/* The boot helper's notes of this boot (bootnote.h): $VFIOD_BOOT_NOTES_DIR
 * or VFIOD_BOOT_NOTES_DIR. */
const char *records_notes_dir (void);

/* Every note that validates (BootNote*, by address); a note that does
 * not is left out, with a warning when @warn. */
GHashTable *records_read_notes (gboolean warn);

/* At start: a warning for each device the initramfs's stale copy of the
 * records bound this boot and the real root gave back (or could not). */
void records_warn_notes (void);

/* Sets each device's persistent (NULL without a record): the record's
 * check, or what the real root did with a device only the initramfs's
 * stale copy of the records bound ("stale-initramfs: given back to ..."),
 * unless a record holds now. */
void records_annotate (Records *records, GPtrArray *devices);
