/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-source.h: an sd-bus connection driven by a GLib main context. */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

/* Attaches @bus to @context (NULL: the default one).  The source holds a
 * reference on @bus; destroy the source to detach. */
GSource *bus_source_attach (sd_bus *bus, GMainContext *context);
