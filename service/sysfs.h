/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysfs.h: the attributes of PCI devices and drivers in /sys, what is
 * kept of them, and every write vfiod makes there.  Contents are
 * untrusted: each value is validated before it reaches the model.  What
 * the host uses is probe.h's. */
#pragma once

#include <glib.h>

#include "device.h"

/* What never changes while a device exists (ids, class, group, place in
 * the tree) and which block devices, interfaces and virtio transports
 * live below which device: kept between reads, but only while enabled
 * (somebody tells it of hotplug: the model, fed by the monitor).  One is
 * owned by the model; readers on any thread share it (it has its own
 * lock).  Every reader below takes one, or NULL to read everything. */
typedef struct SysfsCache SysfsCache;

SysfsCache *sysfs_cache_new (void);
void sysfs_cache_free (SysfsCache *cache);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SysfsCache, sysfs_cache_free)

/* The IOMMU group of a device, reading only its links: -ENOENT when there
 * is no such device; *group = DEVICE_NO_GROUP when it has none. */
int sysfs_device_group (const PciAddress *address, int64_t *group);

/* Whether PCI device @name has left the machine: its link in
 * /sys/bus/pci/devices is gone (hot removed, or removed while vfiod
 * moved it). */
gboolean sysfs_device_gone (const char *name);

/* Every PCI device, sorted by address.  Devices that vanish while being
 * read (hot removal) are left out; a device that is there but cannot be
 * read fails the whole call (-errno) and *@unreadable (if not NULL) is
 * its name, to name in the error; NULL when the directory itself failed. */
int sysfs_list_devices_full (SysfsCache *cache, GPtrArray **out, char **unreadable);

/* The members of IOMMU group @group, read from the group's own directory
 * only, sorted by address.  -ENOENT: no such group.  Fails as
 * sysfs_list_devices_full() does, and also for a member that is not a
 * PCI device (-EOPNOTSUPP): a group vfiod cannot see whole is never
 * viable. */
int sysfs_list_group_full (SysfsCache *cache, uint32_t group, GPtrArray **out, char **unreadable);

/* The same, without the name of the device that could not be read. */
int sysfs_list_group (SysfsCache *cache, uint32_t group, GPtrArray **out);

/* Keeps (or stops keeping, dropping everything) what never changes.
 * Off when created. */
void sysfs_cache_enable (SysfsCache *cache, gboolean enable);

/* Forgets what was read of devices (@devices: ids, class, group, place)
 * and of their block devices, interfaces and virtio transports
 * (@children): events were lost, anything may have changed. */
void sysfs_cache_invalidate (SysfsCache *cache, gboolean devices, gboolean children);

/* Forgets what was read of PCI device @name: it came or went. */
void sysfs_cache_forget (SysfsCache *cache, const char *name);

/* probe.c's map of what lives below which device, kept here under the
 * cache's lock: a reference and the generation it was read at (NULL when
 * not kept); storing keeps @children only if nothing was invalidated
 * since @generation and the cache is enabled. */
GPtrArray *sysfs_cache_children (SysfsCache *cache, guint *generation);
void sysfs_cache_store_children (SysfsCache *cache, GPtrArray *children, guint generation);

/* The cache of what never changes, as read_device() uses it; exposed for
 * tests.  A reader takes the generation before reading the device and
 * passes it to sysfs_facts_store(), which keeps nothing if the cache was
 * invalidated meanwhile (a hotplug during the read).  Lookup fills the
 * fixed facts of @device and says whether they were known. */
guint sysfs_facts_generation (SysfsCache *cache);
void sysfs_facts_store (SysfsCache *cache, const Device *device, guint generation);
gboolean sysfs_facts_lookup (SysfsCache *cache, Device *device);

/* The /sys/devices/... path a sysfs link target names
 * ("../../devices/x" → "/sys/devices/x"); NULL if it does not point into
 * /sys/devices or climbs out of it.  Exposed for tests. */
char *sysfs_resolve_devices_link (const char *target);

/* Reads a whole small attribute @path (relative to @dirfd) into @buf,
 * NUL-terminated: its length, or -errno; -EFBIG if it is longer than
 * @size - 1 bytes.  Exposed for tests. */
ssize_t sysfs_read_attr (int dirfd, const char *path, char *buf, size_t size);
/* readlink(2) relative to @dirfd into @buf, NUL-terminated: the length,
 * or -errno (-ENAMETOOLONG when it does not fit). */
ssize_t sysfs_readlink_at (int dirfd, const char *path, char *buf, size_t size);

/* The machine's PCI slots (/sys/bus/pci/slots/NAME/address): PciSlot*
 * (isolation.h), sorted by name.  Slots whose name or address vfiod does
 * not take are left out; no slots directory is no slots. */
GPtrArray *sysfs_list_slots (void);

/* ---- writes: the only place vfiod changes /sys --------------------------
 * Each returns 0 or -errno.  They block as long as the kernel does (an
 * unbind waits for the driver to let go): call them off the main loop. */

/* Writes @driver to the device's driver_override; NULL clears it ("\n"). */
int sysfs_set_override (const char *device, const char *driver);
/* Reads driver_override: *out is NULL when unset ("(null)"). */
int sysfs_get_override (const char *device, char **out);
/* Unbinds @device from @driver (drivers/<driver>/unbind). */
int sysfs_unbind (const char *device, const char *driver);
/* Binds @device to @driver explicitly (drivers/<driver>/bind). */
int sysfs_bind (const char *device, const char *driver);
/* Asks the kernel to find a driver for @device (drivers_probe). */
int sysfs_probe (const char *device);
/* The bound driver, re-read from the driver link: *out NULL if unbound. */
int sysfs_get_driver (const char *device, char **out);
/* Whether the PCI driver @driver is registered (its directory exists). */
gboolean sysfs_driver_loaded (const char *driver);
