/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.h: the org.freedesktop.vfio1.Manager object. */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "grants.h"
#include "records.h"
#include "state.h"

typedef struct Manager Manager;

/* Exports the object on @bus; @state records what was detached, @grants
 * the ACL entries given out (neither owned).  Returns NULL and sets errno
 * on failure. */
Manager *manager_new (sd_bus *bus, State *state, Grants *grants, Records *records);
void manager_free (Manager *manager);

/* The daemon is stopping: from now on, calls that would move devices or
 * hand them out are refused with ShuttingDown (reads are still answered),
 * and calls waiting for polkit are withdrawn and answered so. */
void manager_quit (Manager *manager);

/* Whether a call is being carried out (a detach, a reattach, a grant...)
 * or waits for polkit: stopping now would leave the work to the next
 * start-up's recovery, or a caller without an answer, so the daemon
 * waits.  Reads are counted apart (manager_is_reading). */
gboolean manager_is_working (Manager *manager);

/* Whether a method's read of the machine is queued or under way on a
 * reader thread (the caller gets its answer when it ends).  Reads change
 * nothing: a stop may leave without them, but must not free the manager
 * they use. */
gboolean manager_is_reading (Manager *manager);

/* Operations whose caller was answered early because a sysfs write did
 * not return (a driver stuck in its remove): their workers still use the
 * manager and the state, so they must not be freed; the next start-up's
 * recovery rolls back what such an operation left pending. */
guint manager_count_stuck (Manager *manager);
