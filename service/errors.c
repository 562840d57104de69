/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "errors.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "names.h"

#define MAP_ENTRY(name, errnum) SD_BUS_ERROR_MAP (name, errnum),
const sd_bus_error_map vfiod_error_map[] = { VFIOD_ERRORS (MAP_ENTRY) SD_BUS_ERROR_MAP_END };
#undef MAP_ENTRY

char *
errors_quote_untrusted (const char *text)
{
  g_autofree char *cut = g_utf8_make_valid (text, MIN (strlen (text), 64));
  g_autofree char *escaped = g_strescape (cut, NULL);

  return g_strdup_printf ("\"%s\"%s", escaped, strlen (text) > 64 ? "…" : "");
}

/* ---- the errors every method words the same way ---------------------- */

int
errors_invalid_address (sd_bus_error *error, const char *text)
{
  g_autofree char *quoted = errors_quote_untrusted (text);

  return sd_bus_error_setf (error, VFIOD_ERROR_INVALID_ADDRESS,
                            "%s is not a PCI address: use dddd:bb:dd.f or bb:dd.f, "
                            "e.g. 0000:03:00.0 (ListDevices lists them all)",
                            quoted);
}

/* NoIommuGroup, worded once for every method. */
int
errors_no_group (sd_bus_error *error, const char *device)
{
  return sd_bus_error_setf (error, VFIOD_ERROR_NO_IOMMU_GROUP,
                            "PCI device %s has no IOMMU group, so VFIO cannot give it to a "
                            "virtual machine: the IOMMU looks off. Enable VT-d or AMD-Vi in "
                            "the firmware setup and boot Intel machines with intel_iommu=on "
                            "(AMD enables it by default), then check /sys/kernel/iommu_groups",
                            device);
}

int
errors_from_sysfs (sd_bus_error *error, const char *device, int r)
{
  if (r == -ENOENT || r == -ENODEV)
    return sd_bus_error_setf (error, VFIOD_ERROR_NO_SUCH_DEVICE,
                              "There is no PCI device %s: check the address with "
                              "ListDevices (or lspci -D)",
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

static char *
join (GPtrArray *strings, const char *separator)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < strings->len; i++)
    g_string_append_printf (out, "%s%s", i ? separator : "",
                            (char *) g_ptr_array_index (strings, i));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The planner's refusal, worded for any client: the flags and methods
 * of the bus API, never a command line (vfioctl adds its own hints). */
int
errors_from_refusal (sd_bus_error *error, const PlanRefusal *r)
{
  g_autofree char *devices =
      r->devices ? join (r->devices, r->kind == REFUSAL_IN_USE ? "; " : ", ") : g_strdup ("");

  switch (r->kind)
    {
    case REFUSAL_NO_SUCH_DEVICE:
      return sd_bus_error_setf (error, VFIOD_ERROR_NO_SUCH_DEVICE,
                                "PCI device %s is no longer in IOMMU group %u (removed?): "
                                "list the devices again (ListDevices) and check the address",
                                r->target, r->group);
    case REFUSAL_NOT_ASSIGNABLE:
      return sd_bus_error_setf (error, VFIOD_ERROR_NOT_ASSIGNABLE,
                                "%s is a bridge: bridges cannot be assigned to a virtual "
                                "machine. Pick a device of its IOMMU group %u instead "
                                "(GetGroup lists them)",
                                r->target_text, r->group);
    case REFUSAL_NOT_VIABLE:
      return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_NOT_VIABLE,
                                "Cannot detach %s alone: IOMMU group %u also holds %s, "
                                "still used by the host. A group is only usable by a "
                                "virtual machine once all its devices are off the host: "
                                "detach the whole group (the GROUP flag), or move the card "
                                "to a slot with its own group",
                                r->target, r->group, devices);
    case REFUSAL_IN_USE:
      if (r->doubt)
        return sd_bus_error_setf (error, VFIOD_ERROR_DEVICE_IN_USE,
                                  "%s. vfiod does not detach what it cannot check: let it "
                                  "read what it could not, or check by hand that the host "
                                  "does not use it (findmnt, swapon --show, ip address) and "
                                  "ask again with the FORCE flag if you are sure",
                                  devices);
      return sd_bus_error_setf (error, VFIOD_ERROR_DEVICE_IN_USE,
                                "%s. Detaching would take it away from the host: stop using "
                                "it first (unmount, swapoff, take the link down), or ask "
                                "again with the FORCE flag if you are sure",
                                devices);
    case REFUSAL_NOT_DETACHED:
      return sd_bus_error_setf (error, VFIOD_ERROR_NOT_DETACHED,
                                "%s is not on " VFIOD_DRIVER_VFIO_PCI ": there is nothing "
                                "to give back to the host%s",
                                r->target_text,
                                r->group_mode ? "; reattach the group by one of its devices "
                                                "on vfio-pci (GetGroup shows them)"
                                              : "");
    case REFUSAL_NONE: break;
    }
  return sd_bus_error_set_errno (error, EINVAL);
}

int
errors_shutting_down (sd_bus_error *error, const char *what)
{
  return sd_bus_error_setf (error, VFIOD_ERROR_SHUTTING_DOWN,
                            "Cannot %s: vfiod is stopping, so nothing was done. Try again in "
                            "a moment (the service starts again when called)",
                            what);
}
