/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* device.h: the PCI device model and the pure rules about it (state,
 * bridge-ness, uevent parsing).  No I/O here: sysfs.c fills the model. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "pciconfig.h"

typedef enum {
  DEVICE_STATE_HOST,   /* bound to a host driver */
  DEVICE_STATE_VFIO,   /* bound to vfio-pci */
  DEVICE_STATE_STUB,   /* bound to pci-stub */
  DEVICE_STATE_BRIDGE, /* a bridge, whatever its driver */
  DEVICE_STATE_NONE,   /* an endpoint with no driver */
} DeviceState;

#define DEVICE_NO_GROUP (-1)

typedef struct {
  PciAddress address;
  char name[ADDRESS_STRLEN]; /* normalised address */
  char *syspath;             /* /sys/devices/..., resolved */
  int64_t group;             /* DEVICE_NO_GROUP when it has none */
  uint16_t vendor_id;
  uint16_t device_id;
  uint16_t subsystem_vendor_id;
  uint16_t subsystem_device_id;
  uint32_t class_code; /* 0xCCSSPP */
  char *driver;        /* NULL when unbound */
  bool boot_vga;
  const char *vendor;   /* hwdb, interned; "" when unknown */
  const char *model;    /* hwdb, interned; "" when unknown */
  char *in_use;         /* NULL, or why the host needs it, or
                                   * why vfiod cannot tell (a doubt) */
  bool in_use_doubt;    /* some of in_use is a doubt */
  bool has_nodes;       /* device nodes live below it (block, DRM, sound,
                         * input, USB...): whether a process holds one
                         * open is read (PROBE_OPENERS), never kept */
  char *persistent;     /* NULL without a persistent assignment;
                                   * "active" or "mismatch: ..." (records.h) */
  bool has_owner;       /* who detached it is known (state.h, this boot) ... */
  uint32_t owner_uid;   /* ... this uid */
  PciConfig config;     /* what its config space says of isolation and
                         * reset; config.malformed when it could not be read */
  char **reset_methods; /* the kernel's names, strongest first; never NULL
                         * once read (empty: it cannot be reset) */
} Device;

/* What says which device it is, besides its address: the ids and class
 * code, kept and compared together (the cache of what never changes, the
 * check that a device is still the one read, persistent records). */
typedef struct {
  uint16_t vendor_id;
  uint16_t device_id;
  uint16_t subsystem_vendor_id;
  uint16_t subsystem_device_id;
  uint32_t class_code;
} DeviceIds;

DeviceIds device_ids (const Device *device);
void device_set_ids (Device *device, const DeviceIds *ids);
bool device_ids_equal (const DeviceIds *a, const DeviceIds *b);

Device *device_new (const PciAddress *address);
void device_free (Device *device);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Device, device_free)

/* Host, PCI-to-PCI, CardBus and semi-transparent bridges: never assigned,
 * left on their driver (pcieport) when a group is detached. */
bool device_class_is_bridge (uint32_t class_code);
bool device_is_bridge (const Device *device);
DeviceState device_state (const Device *device);
const char *device_state_to_string (DeviceState state);

/* Whether the device is unbound or on a driver that leaves DMA to VFIO
 * (vfio-pci, pci-stub, pcieport: the kernel's driver_managed_dma): it
 * does not stop its group from being used by VFIO. */
bool device_leaves_dma_to_vfio (const Device *device);

/* A driver name the kernel can show and vfiod can carry safely: 1 to
 * NAME_MAX (255) bytes of valid UTF-8 (D-Bus strings, the state file),
 * any printable character including spaces, no '/', not "." or "..", no
 * control characters.  A driver's name is a directory name in sysfs, so
 * the kernel allows anything but '/' and NUL; control characters are
 * refused because a newline cannot round-trip through uevent or
 * driver_override (the kernel cuts at the first one) and escapes would
 * reach terminals and authentication dialogs.  Refusing one makes the
 * device unreadable, and an unreadable device fails the whole call. */
bool device_driver_name_valid (const char *name);

/* Fills driver, ids and class from the text of a PCI device's uevent file
 * (DRIVER=, PCI_CLASS=, PCI_ID=, PCI_SUBSYS_ID=, PCI_SLOT_NAME=).  Returns
 * false if the text is malformed, or names another device in its
 * PCI_SLOT_NAME; @device is then unchanged. */
bool device_parse_uevent (Device *device, const char *text);

/* The reset methods in the text of a reset_method attribute ("flr bus\n"):
 * names of 1 to 31 lower-case letters, digits or '_', separated by
 * spaces, at most 16.  NULL when the text is anything else. */
char **device_parse_reset_methods (const char *text);

/* What config space offers when the kernel has no reset_method file
 * (before 5.15): "flr" (PCIe or Advanced Features FLR), "pm" (a D3hot
 * round trip that resets: PM without No_Soft_Reset), "bus" (a PCIe
 * single-function device below a bridge: the kernel resets the link
 * only when nothing else is on it).  Empty for a malformed space. */
char **device_reset_methods_from_config (const PciConfig *config, bool below_bridge);

/* The name of the PCI device above @syspath's device in the tree (its
 * bridge, or the device that hosts its domain, like Intel VMD), or NULL
 * on a root bus of the host.  *@through_domain tells which: TRUE when a
 * "pciDDDD:BB" root bus lies between them.  Pure (the path's text). */
char *device_parent_from_syspath (const char *syspath, bool *through_domain);

/* Sort helper for GPtrArray of Device*. */
gint device_compare_by_address (gconstpointer a, gconstpointer b);

/* Appends the reason to device->in_use ("; " between reasons), unless
 * it says that already. */
void device_add_in_use (Device *device, const char *reason);
/* Appends a doubt ("cannot tell whether it is in use: ...") the same way
 * and marks the device in_use_doubt: it counts as in use. */
void device_add_in_use_doubt (Device *device, const char *doubt);
