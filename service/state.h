/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.h: what vfiod must remember across restarts, in one key file in
 * $STATE_DIRECTORY (transactions.state):
 *
 *  - for each device it detached, the driver and driver_override it had
 *    (a device record), so a reattach gives it back;
 *  - for each transaction under way, its operation, group and members in
 *    step order, so a restart rolls the whole transaction back.
 *
 * Every change is one atomic write (temp file, fsync, rename) made before
 * sysfs is touched, and a transaction's records change state together:
 * a crash leaves either no transaction or a whole pending one, never a
 * group half recorded.  Thread-safe (one internal lock).
 *
 * Every record and transaction names the boot it was written in (the
 * kernel's boot id): drivers, group numbers and the devices at an address
 * may all differ in another boot, so a transaction of another boot is
 * never rolled back in sysfs, and a record of another boot never counts
 * as "vfiod detached this" for authorization. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "device.h"

typedef enum {
  STATE_OP_NONE,
  STATE_OP_DETACH,
  STATE_OP_REATTACH,
} StateOp;

/* Which device was at an address: its ids and class, read from sysfs
 * when the record was written.  The same address can hold another
 * device after a hotplug or a card swap while vfiod was not running, and
 * nothing recorded of one device may be acted on for another. */
typedef struct {
  gboolean known; /* FALSE: not recorded (an earlier vfiod): matches nothing */
  uint16_t vendor_id, device_id, subsystem_vendor_id, subsystem_device_id;
  uint32_t class_code; /* 0xCCSSPP */
} StateIdentity;

typedef struct {
  char *device; /* normalised address */
  uint32_t group;
  gboolean known;         /* the original driver and override are known */
  char *driver;           /* original host driver; NULL when it had none */
  char *override;         /* original driver_override; NULL when unset */
  char *boot;             /* the boot it was recorded in; NULL: not said (earlier format) */
  StateIdentity identity; /* the device at that address when recorded */
  gboolean has_owner;     /* @owner is known */
  uid_t owner;            /* who detached it (the caller of DetachDevice that moved
                           * it to vfio-pci); unknown for a record written before
                           * vfiod kept owners, or whose owner did not validate */
} StateOriginal;

/* A transaction under way (or left pending by a killed run). */
typedef struct {
  guint64 id;
  StateOp op;
  uint32_t group;
  GPtrArray *members;  /* StateOriginal*, in step order, originals as recorded */
  gboolean persistent; /* a detach that records its devices as persistent
                        * assignments: rolling it back removes them */
  char *boot;          /* the boot it began in; NULL: not said (earlier format) */
} StateTransaction;

/* What became of a member when its transaction ended. */
typedef enum {
  STATE_FATE_ON_VFIO, /* on vfio-pci: its record stays (without transaction) */
  STATE_FATE_ON_HOST, /* back on the host (or gone): its record goes */
} StateFate;

typedef struct State State;

/* Loads @dir/transactions.state (creating @dir).  Records and
 * transactions that do not validate are logged and dropped: vfiod never
 * acts on them.  The format of earlier versions (pending=detach on each
 * device record) is read as one-member transactions.  @boot is this
 * boot's id (boot_id_current()); NULL when unknown: then nothing recorded
 * counts as this boot's. */
State *state_open (const char *dir, const char *boot, GError **error);
void state_free (State *state);

/* $STATE_DIRECTORY (its first entry) or the built-in default. */
const char *state_default_dir (void);

/* A copy of the device record of @device, or NULL. */
StateOriginal *state_lookup (State *state, const char *device);
void state_original_free (StateOriginal *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StateOriginal, state_original_free)

StateOriginal *state_original_new (const char *device, uint32_t group, gboolean known,
                                   const char *driver, const char *override);

/* The identity of @device, as read from sysfs. */
void state_identity_from_device (StateIdentity *identity, const Device *device);
/* "0x8086 0x10d3 0x8086 0xa01f 0x020000" (vendor, device, subsystem
 * vendor and device, class), as the file spells it; "not recorded" when
 * unknown.  Newly allocated. */
char *state_identity_format (const StateIdentity *identity);
/* Whether @found (known: read now) is the device @recorded names.  An
 * identity not recorded matches nothing: vfiod cannot tell.  FALSE with
 * *@why (if not NULL) saying what differs: "ids 0x8086 0x10d3 ... recorded,
 * 0x10ec 0x8168 ... found". */
gboolean state_identity_matches (const StateIdentity *recorded, const StateIdentity *found,
                                 char **why);

void state_transaction_free (StateTransaction *transaction);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StateTransaction, state_transaction_free)

/* Copies of every pending transaction, oldest first (for recovery). */
GPtrArray *state_list_pending (State *state);

/* address → original driver ("" for none), for planning reattach, of the
 * records whose identity matches the device at their address in
 * @devices (Device*, the group's members as read now): a record of
 * another device is no record.  With @this_boot_only, only the records
 * written in this boot (what vfiod detached since the machine started). */
GHashTable *state_originals (State *state, GPtrArray *devices, gboolean this_boot_only);

/* The state file's path, for messages. */
const char *state_path (State *state);

/* address → owner uid (GUINT_TO_POINTER: look up with
 * g_hash_table_lookup_extended(), uid 0 is root) of every device record
 * of this boot that says who detached it. */
GHashTable *state_owners (State *state);

/* The detaches of @group begun (state_begin()) until state_clear_owner()
 * record @owner as the owner of the devices they move, in their first
 * write: no crash leaves a device vfiod moved without its owner.  The
 * caller holds the group's lock around the three. */
void state_expect_owner (State *state, uint32_t group, uid_t owner);
void state_clear_owner (State *state, uint32_t group);

/* Whether @boot (a record's or a transaction's) is this boot. */
gboolean state_is_this_boot (State *state, const char *boot);

/* Before the first sysfs write of a transaction: in one write, records
 * @members (StateOriginal*, step order; for a detach their originals, for a
 * reattach as state_lookup() gave them or with known FALSE; each with the
 * identity of the device now, whose record it becomes) and marks the
 * transaction pending.  A reattach keeps a member's recorded originals
 * only when its recorded identity matches.  Returns a copy of the transaction, or NULL. */
StateTransaction *state_begin (State *state, StateOp op, uint32_t group, gboolean persistent,
                               GPtrArray *members, GError **error);

/* The transaction ended (done, or rolled back): in one write, drops it and
 * applies @fates (one per member, in order) to the device records. */
gboolean state_end (State *state, const StateTransaction *transaction, const StateFate *fates,
                    GError **error);

/* The file's contents, parsed and validated (exposed for tests and
 * fuzzing): what state_open() would load.  Never fails, never crashes:
 * what does not validate is logged and left out. */
typedef struct {
  GPtrArray *records;      /* StateOriginal*, by address */
  GPtrArray *transactions; /* StateTransaction*, pending, by id */
} StateContents;

void state_contents_free (StateContents *contents);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StateContents, state_contents_free)

StateContents *state_contents_parse (const char *text, gsize length);
/* The text state_open() would save for @contents (for round trips). */
char *state_contents_to_data (const StateContents *contents, gsize *length);

/* For fuzzing: state_contents_parse() wrapped in an array that owns it. */
GPtrArray *state_parse (const char *text, gsize length);
