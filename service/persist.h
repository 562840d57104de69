/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* persist.h: persistent assignments (DetachDevice with PERSISTENT): the
 * record of one device, kept as configuration (a plain-text file a
 * person can read and delete), and the check that the hardware at its
 * address is still what was assigned.
 *
 * Pure and free of GLib: the boot-time helper, which runs for every PCI
 * device at boot, links only this and address.c.  Records are untrusted
 * (hand edits, truncation): anything not exactly understood is refused,
 * and a refused record never binds anything. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"

/* The most devices a group of one record may have. */
#define PERSIST_MAX_MEMBERS 256
/* The largest record file read. */
#define PERSIST_MAX_SIZE 65536

typedef struct {
  PciAddress address;
  uint16_t vendor_id, device_id, subsystem_vendor_id, subsystem_device_id;
  uint32_t class_code;                     /* 0xCCSSPP */
  size_t n_members;                        /* the group when recorded, */
  PciAddress members[PERSIST_MAX_MEMBERS]; /* sorted, itself included */
} PersistRecord;

/* Parses a record's text (@size bytes, not necessarily NUL-terminated).
 * 0, or -EBADMSG with @why (if not NULL, @why_size bytes) saying what is
 * wrong ("line 7: unknown key 'vendr'"). */
int persist_record_parse (const char *text, size_t size, PersistRecord *out, char *why,
                          size_t why_size);

/* The record's text, with a comment header saying what it is and how to
 * undo it.  malloc()ed; NULL when out of memory. */
char *persist_record_format (const PersistRecord *record);

/* The file name of @address's record in the records directory:
 * "0000:03:00.0.conf" (@buf holds ADDRESS_STRLEN + 5 bytes). */
const char *persist_record_name (const PciAddress *address, char *buf);

/* Whether the device now at the record's address (ids and class as read
 * from sysfs) is the one recorded: true, or false with @why ("vendor
 * 0x8086, device 0x10d3 recorded; 0x10ec, 0x8168 found") set. */
bool persist_identity_matches (const PersistRecord *record, uint16_t vendor_id, uint16_t device_id,
                               uint16_t subsystem_vendor_id, uint16_t subsystem_device_id,
                               uint32_t class_code, char *why, size_t why_size);

/* Whether the kernel command line @cmdline allows the boot helper to
 * carry out persistent assignments: 1 (no VFIOD_CMDLINE_PERSISTENT, or
 * "=1"/"yes"/"true"/"on", or the bare word), 0 ("=0"/"no"/"false"/"off"),
 * or -EINVAL for any other value, which the helper takes as 0: a word
 * meant to stop it never binds anything.  The last occurrence counts, as
 * for the kernel's own parameters; quoted words ("a b") are one word. */
int persist_cmdline_enabled (const char *cmdline);
