/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.h: the org.freedesktop.vfio1.Manager object. */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "state.h"

typedef struct Manager Manager;

/* Exports the object on @bus; @state records what was detached (not
 * owned).  Returns NULL and sets errno on failure. */
Manager *manager_new (sd_bus *bus, State *state);
void manager_free (Manager *manager);

/* Whether a detach or reattach is being carried out: stopping now would
 * leave it to the next start-up's recovery, so the daemon waits. */
gboolean manager_is_working (Manager *manager);
