/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "hwdb.h"
#include "sysfs.h"
#include "util.h"
#include "vfiod-names.h"

struct Manager {
  sd_bus *bus;
  sd_bus_slot *slot;
  Hwdb *hwdb;
};

/* ---- device dictionaries --------------------------------------------- */

static int
append_device (sd_bus_message *m, const Device *d)
{
  int r;

  r = sd_bus_message_open_container (m, 'a', "{sv}");
  if (r < 0)
    return r;

#define ENTRY(key, sig, value)                                                   \
  do                                                                             \
    {                                                                            \
      r = sd_bus_message_append (m, "{sv}", key, sig, value);                    \
      if (r < 0)                                                                 \
        return r;                                                                \
    }                                                                            \
  while (0)

  ENTRY (VFIOD_KEY_ADDRESS, "s", d->name);
  if (d->group != DEVICE_NO_GROUP)
    ENTRY (VFIOD_KEY_GROUP, "u", (uint32_t) d->group);
  ENTRY (VFIOD_KEY_VENDOR_ID, "q", d->vendor_id);
  ENTRY (VFIOD_KEY_DEVICE_ID, "q", d->device_id);
  ENTRY (VFIOD_KEY_SUBSYSTEM_VENDOR_ID, "q", d->subsystem_vendor_id);
  ENTRY (VFIOD_KEY_SUBSYSTEM_DEVICE_ID, "q", d->subsystem_device_id);
  ENTRY (VFIOD_KEY_CLASS, "u", d->class_code);
  ENTRY (VFIOD_KEY_VENDOR, "s", d->vendor);
  ENTRY (VFIOD_KEY_NAME, "s", d->model);
  ENTRY (VFIOD_KEY_DRIVER, "s", d->driver ? d->driver : "");
  ENTRY (VFIOD_KEY_STATE, "s", device_state_to_string (device_state (d)));
  ENTRY (VFIOD_KEY_BRIDGE, "b", (int) device_is_bridge (d));
  ENTRY (VFIOD_KEY_IN_USE, "s", d->in_use ? d->in_use : "");
#undef ENTRY

  return sd_bus_message_close_container (m);
}

static int
append_devices (sd_bus_message *m, GPtrArray *devices)
{
  int r = sd_bus_message_open_container (m, 'a', "a{sv}");

  for (guint i = 0; r >= 0 && i < devices->len; i++)
    r = append_device (m, g_ptr_array_index (devices, i));
  if (r < 0)
    return r;
  return sd_bus_message_close_container (m);
}

/* Names, then in-use reasons: what every reply about devices carries. */
static void
manager_describe (Manager *self, GPtrArray *devices)
{
  for (guint i = 0; i < devices->len; i++)
    hwdb_lookup (self->hwdb, g_ptr_array_index (devices, i));
  sysfs_mark_in_use (devices);
}

/* ---- errors naming the device ----------------------------------------- */

static int
error_invalid_address (sd_bus_error *error, const char *text)
{
  g_autofree char *quoted = errors_quote_untrusted (text);

  return sd_bus_error_setf (error, VFIOD_ERROR_INVALID_ADDRESS,
                            "%s is not a PCI address: use dddd:bb:dd.f or bb:dd.f, "
                            "e.g. 0000:03:00.0 (vfioctl list shows them all)",
                            quoted);
}

static int
error_from_sysfs (sd_bus_error *error, const char *device, int r)
{
  if (r == -ENOENT || r == -ENODEV)
    return sd_bus_error_setf (error, VFIOD_ERROR_NO_SUCH_DEVICE,
                              "There is no PCI device %s: check the address with "
                              "vfioctl list (or lspci -D)",
                              device);
  if (r == -EBADMSG)
    return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                              "The kernel's description of PCI device %s in sysfs is "
                              "not what vfiod understands; please report it with the "
                              "output of: cat /sys/bus/pci/devices/%s/uevent",
                              device, device);
  return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                            "Cannot read PCI device %s from sysfs: %s; is /sys "
                            "mounted and readable?",
                            device, g_strerror (-r));
}

/* Parses the device argument: 1 and @address filled, or <0 with @error set. */
static int
read_address_arg (sd_bus_message *m, PciAddress *address, sd_bus_error *error)
{
  const char *text;
  int r = sd_bus_message_read (m, "s", &text);

  if (r < 0)
    return r;
  if (!address_parse (text, address))
    return error_invalid_address (error, text);
  return 1;
}

/* ---- methods ------------------------------------------------------------ */

static int
method_get_group (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Manager *self = userdata;
  g_autoptr (GPtrArray) devices = NULL;
  _cleanup_ (sd_bus_message_unrefp) sd_bus_message *reply = NULL;
  PciAddress address;
  char name[ADDRESS_STRLEN];
  int64_t group;
  int r;

  r = read_address_arg (m, &address, error);
  if (r < 0)
    return r;
  address_format (&address, name);

  r = sysfs_device_group (&address, &group);
  if (r < 0)
    return error_from_sysfs (error, name, r);
  if (group == DEVICE_NO_GROUP)
    return sd_bus_error_setf (error, VFIOD_ERROR_NO_IOMMU_GROUP,
                              "PCI device %s has no IOMMU group: the IOMMU looks off. "
                              "Enable VT-d or AMD-Vi in the firmware setup and boot "
                              "Intel machines with intel_iommu=on (AMD enables it by "
                              "default), then check /sys/kernel/iommu_groups",
                              name);

  r = sysfs_list_group ((uint32_t) group, &devices);
  if (r < 0 || devices->len == 0)
    return error_from_sysfs (error, name, r < 0 ? r : -ENOENT);
  manager_describe (self, devices);

  r = sd_bus_message_new_method_return (m, &reply);
  if (r >= 0)
    r = sd_bus_message_append (reply, "u", (uint32_t) group);
  if (r >= 0)
    r = append_devices (reply, devices);
  if (r >= 0)
    r = sd_bus_send (NULL, reply, NULL);
  return r;
}

static int
method_list_devices (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Manager *self = userdata;
  g_autoptr (GPtrArray) devices = NULL;
  _cleanup_ (sd_bus_message_unrefp) sd_bus_message *reply = NULL;
  int r;

  r = sysfs_list_devices (&devices);
  if (r < 0)
    return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                              "Cannot list PCI devices in " VFIOD_SYSFS_PCI_DEVICES
                              ": %s; is /sys mounted?",
                              g_strerror (-r));
  manager_describe (self, devices);

  r = sd_bus_message_new_method_return (m, &reply);
  if (r >= 0)
    r = append_devices (reply, devices);
  if (r >= 0)
    r = sd_bus_send (NULL, reply, NULL);
  return r;
}

static int
property_get_version (sd_bus *bus, const char *path, const char *interface,
                      const char *property, sd_bus_message *reply, void *userdata,
                      sd_bus_error *error)
{
  return sd_bus_message_append (reply, "s", VFIOD_VERSION);
}

static const sd_bus_vtable manager_vtable[] = {
  SD_BUS_VTABLE_START (0),
  SD_BUS_PROPERTY ("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
  SD_BUS_METHOD_WITH_ARGS ("GetGroup",
                           SD_BUS_ARGS ("s", device),
                           SD_BUS_RESULT ("u", group, "aa{sv}", devices),
                           method_get_group, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("ListDevices",
                           SD_BUS_NO_ARGS,
                           SD_BUS_RESULT ("aa{sv}", devices),
                           method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_VTABLE_END
};

Manager *
manager_new (sd_bus *bus)
{
  Manager *self = g_new0 (Manager, 1);
  int r;

  self->bus = sd_bus_ref (bus);
  self->hwdb = hwdb_new ();
  r = sd_bus_add_object_vtable (bus, &self->slot, VFIOD_DBUS_PATH,
                                VFIOD_DBUS_MANAGER_INTERFACE, manager_vtable, self);
  if (r < 0)
    {
      manager_free (self);
      errno = -r;
      return NULL;
    }
  return self;
}

void
manager_free (Manager *self)
{
  if (self == NULL)
    return;
  sd_bus_slot_unref (self->slot);
  hwdb_free (self->hwdb);
  sd_bus_unref (self->bus);
  g_free (self);
}
