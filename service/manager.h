/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.h: the org.freedesktop.vfio1.Manager object. */
#pragma once

#include <systemd/sd-bus.h>

typedef struct Manager Manager;

/* Exports the object on @bus.  Returns NULL and sets errno on failure. */
Manager *manager_new (sd_bus *bus);
void manager_free (Manager *manager);
