/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* model.h: vfiod's view of the machine, owned by the manager.
 *
 * Two parts with two rules:
 *  - what is kept of devices between reads (a SysfsCache: ids, class,
 *    group, place; which block devices and interfaces live where) and the
 *    hwdb names.  Readers on any thread (the workers that plan and carry
 *    out transactions) share them through model_read_*(); each has its
 *    own lock.
 *  - the published view: one D-Bus object per device and per IOMMU group
 *    below VFIOD_DBUS_PATH (an ObjectManager), with PropertiesChanged and
 *    InterfacesAdded/Removed for every difference.  Main thread only.
 *
 * The monitor tells the model what the kernel and the host announce
 * (model_*_event, model_host_changed); the model drops what the news makes
 * stale and reads the machine again in a worker thread, coalescing news
 * that comes while it reads: a burst of events costs at most two reads
 * and each changed property is signalled once. */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "records.h"
#include "state.h"
#include "sysfs.h"
#include "view.h"

typedef struct Model Model;

/* Exports the objects on @bus (if not NULL), empty until model_load().
 * @records (the persistent assignments) and @state (who detached what;
 * nullable), kept by the caller, annotate the devices.  NULL with errno
 * set when exporting failed. */
Model *model_new (sd_bus *bus, Records *records, State *state);
/* Reads the machine for the objects, blocking: called once, after the
 * monitor listens (so news of what changes meanwhile is not lost, and
 * what is read is kept) and before the bus name is taken.  A machine
 * that cannot be read leaves the objects empty (logged) until the next
 * successful reading. */
void model_load (Model *model);
/* Waits for a read under way (iterating the main context). */
void model_free (Model *model);

/* ---- readers, any thread ------------------------------------------ */

/* As sysfs_list_devices_full() / sysfs_list_group_full(), through the
 * model's cache, and described: hwdb names, in-use reasons,
 * persistent assignments and owners set. */
int model_read_devices (Model *model, GPtrArray **out, char **unreadable);
int model_read_group (Model *model, uint32_t group, GPtrArray **out, char **unreadable);

/* ---- news, main thread ---------------------------------------------- */

/* Keep what never changes between reads: only while the monitor tells
 * the model of hotplug (off when created). */
void model_set_tracking (Model *model, gboolean tracking);
/* A uevent: @action (add, remove, bind, unbind, change, move...) of
 * device @sysname of @subsystem (pci, block, net, virtio). */
void model_device_event (Model *model, const char *action, const char *subsystem,
                         const char *sysname);
/* Events were lost (the socket overflowed): forget everything kept. */
void model_events_lost (Model *model);
/* Mounts, swaps, interfaces' links or addresses changed: reasons may have;
 * so may drivers after vfiod's own transactions. */
void model_host_changed (Model *model);

/* ---- what the objects show, main thread ---------------------------- */

/* Whether the objects show IOMMU group @group viable with a device on
 * vfio-pci: usable by a virtual machine. */
gboolean model_group_usable (Model *model, uint32_t group);
/* The device @name (normalised address) as the objects show it, or NULL. */
const Device *model_device (Model *model, const char *name);

/* @callback runs on the main thread after the objects changed. */
typedef void (*ModelChangedFunc) (gpointer user_data);
void model_set_changed_callback (Model *model, ModelChangedFunc callback, gpointer user_data);

/* ---- reads from the objects, main thread ---------------------------- */

/* Whether the objects show what a read of the machine would now: a
 * reading succeeded (the last one), no news came since (none waiting in
 * the news probe either, if one is set: news it finds starts a read, as
 * any news does), no read is under way, the model is not closing.  News:
 * uevents, mounts, swaps, links (the monitor), vfiod's own transactions
 * (model_host_changed), the records directory and the boot helper's
 * notes (watched here).  What is not news is not seen: a change of sysfs
 * without a uevent (the integration tests' simulator without
 * "uevents", a fault it injects), udevd's events still on their way. */
gboolean model_is_current (Model *model);

/* @current: the objects are current now; read them (model_view_*) before
 * returning to the main loop.  FALSE: they could not be brought current
 * (the read failed, it took longer than the timeout, the model is
 * closing): read the machine instead. */
typedef void (*ModelCurrentFunc) (gboolean current, gpointer user_data);
/* Runs @func once on the main thread once the objects are current:
 * from an idle when they are (checked again then), after the read under
 * way (or one started for it: news waiting, no good reading yet) when
 * they are not.  Never later than the timeout (model_set_current_timeout),
 * and with FALSE from model_free() for the callers still waiting. */
void model_when_current (Model *model, ModelCurrentFunc func, gpointer user_data);
/* How long model_when_current() waits for a read (2000 ms by default):
 * a read held in the kernel must not hold the callers; they read the
 * machine themselves after it. */
void model_set_current_timeout (Model *model, guint timeout_ms);
/* TRUE when news is waiting that the model was not told yet (the
 * monitor's sockets and files are readable): not current until it is
 * read.  Without one, news counts from when the main loop hands it on. */
typedef gboolean (*ModelNewsFunc) (gpointer user_data);
void model_set_news_probe (Model *model, ModelNewsFunc waiting, gpointer user_data);

/* Whether the model's own read of the machine is under way (one stuck in
 * the kernel holds model_free()). */
gboolean model_is_reading (Model *model);

/* What the objects show (current or not: ask first), borrowed until the
 * main loop runs again: Device*, sorted by address; the members of IOMMU
 * group @group sorted by address, or NULL when no device is in it. (The
 * device by name: model_device().) */
GPtrArray *model_view_devices (Model *model);
GPtrArray *model_view_group (Model *model, uint32_t group);
/* The whole reading the objects show, referenced: it never changes, so
 * a reader thread may use it (view->isolation for ExplainGroup's advice)
 * after the objects moved on; view_free() when done. */
View *model_ref_view (Model *model);
