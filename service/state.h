/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.h: what vfiod must remember across restarts, in one key file in
 * $STATE_DIRECTORY: for each device it detached, the driver and
 * driver_override it had; for each device a transaction is touching,
 * which operation (so a restart can roll it back).  Every change is
 * written atomically (temp file, fsync, rename) before sysfs is touched.
 * Thread-safe. */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef enum {
  STATE_OP_NONE,
  STATE_OP_DETACH,
  STATE_OP_REATTACH,
} StateOp;

typedef struct {
  char *device;      /* normalised address */
  uint32_t group;
  gboolean known;    /* the original driver and override are known */
  char *driver;      /* original host driver; NULL when it had none */
  char *override;    /* original driver_override; NULL when unset */
  StateOp pending;   /* a transaction is touching it */
} StateRecord;

typedef struct State State;

/* Loads @dir/devices.state (creating @dir).  Records that do not
 * validate are logged and dropped: vfiod never acts on them. */
State *state_open (const char *dir, GError **error);
void state_free (State *state);

/* $STATE_DIRECTORY (its first entry) or the built-in default. */
const char *state_default_dir (void);

/* A copy of the record of @device, or NULL. */
StateRecord *state_lookup (State *state, const char *device);
void state_record_free (StateRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StateRecord, state_record_free)

/* Every record with a pending operation (for recovery at start-up). */
GPtrArray *state_list_pending (State *state);

/* address → original driver ("" for none), for planning reattach. */
GHashTable *state_originals (State *state);

/* Before the first write to a device for a detach: records @driver and
 * @override as its originals, pending detach. */
gboolean state_begin_detach (State *state, const char *device, uint32_t group,
                             const char *driver, const char *override, GError **error);
/* Before the first write for a reattach: marks the record (created, with
 * unknown originals, if there is none) pending reattach. */
gboolean state_begin_reattach (State *state, const char *device, uint32_t group, GError **error);
/* The operation finished (or was rolled back): a device left on vfio-pci
 * keeps its record with nothing pending; one back on the host loses it. */
gboolean state_finish (State *state, const char *device, gboolean detached, GError **error);

/* Parses key-file text as state_open() would (exposed for tests). */
GPtrArray *state_parse (const char *text, gsize length);
