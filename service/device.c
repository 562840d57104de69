/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "device.h"

#include "hexnum.h"

#include <limits.h>
#include <string.h>

#include "names.h"

DeviceIds
device_ids (const Device *d)
{
  return (DeviceIds){
    .vendor_id = d->vendor_id,
    .device_id = d->device_id,
    .subsystem_vendor_id = d->subsystem_vendor_id,
    .subsystem_device_id = d->subsystem_device_id,
    .class_code = d->class_code,
  };
}

void
device_set_ids (Device *d, const DeviceIds *ids)
{
  d->vendor_id = ids->vendor_id;
  d->device_id = ids->device_id;
  d->subsystem_vendor_id = ids->subsystem_vendor_id;
  d->subsystem_device_id = ids->subsystem_device_id;
  d->class_code = ids->class_code;
}

bool
device_ids_equal (const DeviceIds *a, const DeviceIds *b)
{
  return a->vendor_id == b->vendor_id && a->device_id == b->device_id &&
         a->subsystem_vendor_id == b->subsystem_vendor_id &&
         a->subsystem_device_id == b->subsystem_device_id && a->class_code == b->class_code;
}

Device *
device_new (const PciAddress *address)
{
  Device *device = g_new0 (Device, 1);

  device->address = *address;
  address_format (address, device->name);
  device->group = DEVICE_NO_GROUP;
  device->vendor = "";
  device->model = "";
  return device;
}

void
device_free (Device *device)
{
  if (device == NULL)
    return;
  g_free (device->syspath);
  g_free (device->driver);
  g_free (device->in_use);
  g_free (device->persistent);
  g_strfreev (device->reset_methods);
  g_free (device);
}

bool
device_class_is_bridge (uint32_t class_code)
{
  uint32_t base = class_code >> 16, sub = (class_code >> 8) & 0xff;

  if (base != 0x06)
    return false;
  /* 00 host bridge, 04 PCI-to-PCI, 07 CardBus, 09 semi-transparent
   * PCI-to-PCI.  ISA/LPC (01) and "other" bridges are plain endpoints to
   * the kernel (header type 0): vfio-pci can take them. */
  return sub == 0x00 || sub == 0x04 || sub == 0x07 || sub == 0x09;
}

bool
device_is_bridge (const Device *device)
{
  return device_class_is_bridge (device->class_code);
}

DeviceState
device_state (const Device *device)
{
  if (device_is_bridge (device))
    return DEVICE_STATE_BRIDGE;
  if (device->driver == NULL)
    return DEVICE_STATE_NONE;
  if (strcmp (device->driver, VFIOD_DRIVER_VFIO_PCI) == 0)
    return DEVICE_STATE_VFIO;
  if (strcmp (device->driver, VFIOD_DRIVER_PCI_STUB) == 0)
    return DEVICE_STATE_STUB;
  return DEVICE_STATE_HOST;
}

const char *
device_state_to_string (DeviceState state)
{
  switch (state)
    {
    case DEVICE_STATE_HOST: return VFIOD_STATE_HOST;
    case DEVICE_STATE_VFIO: return VFIOD_STATE_VFIO;
    case DEVICE_STATE_STUB: return VFIOD_STATE_STUB;
    case DEVICE_STATE_BRIDGE: return VFIOD_STATE_BRIDGE;
    case DEVICE_STATE_NONE: return VFIOD_STATE_NONE;
    }
  g_assert_not_reached ();
}

bool
device_driver_name_valid (const char *name)
{
  size_t n;

  if (name == NULL)
    return false;
  n = strlen (name);
  if (n == 0 || n > NAME_MAX || strcmp (name, ".") == 0 || strcmp (name, "..") == 0 ||
      strchr (name, '/') || !g_utf8_validate (name, (gssize) n, NULL))
    return false;
  for (const char *p = name; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return false;
  return true;
}

/* "VVVV:DDDD" */
static bool
parse_id_pair (const char *text, uint16_t *a, uint16_t *b)
{
  char first[5];
  uint32_t x, y;
  const char *colon = strchr (text, ':');

  if (colon == NULL || colon - text != 4)
    return false;
  memcpy (first, text, 4);
  first[4] = '\0';
  if (!hexnum_parse (first, strlen (first), 4, 4, &x) ||
      !hexnum_parse (colon + 1, strlen (colon + 1), 4, 4, &y))
    return false;
  *a = (uint16_t) x;
  *b = (uint16_t) y;
  return true;
}

bool
device_parse_uevent (Device *device, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autofree char *driver = NULL;
  uint16_t vendor = 0, dev = 0, svendor = 0, sdevice = 0;
  uint32_t class_code = 0;
  bool have_id = false, have_class = false;

  for (char **l = lines; *l; l++)
    {
      char *line = *l;
      char *eq = strchr (line, '=');
      const char *value;

      if (*line == '\0')
        continue;
      if (eq == NULL)
        return false;
      *eq = '\0';
      value = eq + 1;

      if (strcmp (line, VFIOD_UEVENT_DRIVER) == 0)
        {
          if (!device_driver_name_valid (value))
            return false;
          g_free (driver);
          driver = g_strdup (value);
        }
      else if (strcmp (line, VFIOD_UEVENT_PCI_CLASS) == 0)
        {
          if (!hexnum_parse (value, strlen (value), 1, 6, &class_code))
            return false;
          have_class = true;
        }
      else if (strcmp (line, VFIOD_UEVENT_PCI_ID) == 0)
        {
          if (!parse_id_pair (value, &vendor, &dev))
            return false;
          have_id = true;
        }
      else if (strcmp (line, VFIOD_UEVENT_PCI_SUBSYS_ID) == 0)
        {
          if (!parse_id_pair (value, &svendor, &sdevice))
            return false;
        }
      else if (strcmp (line, VFIOD_UEVENT_PCI_SLOT_NAME) == 0)
        {
          PciAddress slot;
          if (!address_parse (value, &slot) || !address_equal (&slot, &device->address))
            return false;
        }
      /* other keys (MODALIAS, ...) are not ours */
    }

  if (!have_id || !have_class)
    return false;

  g_free (device->driver);
  device->driver = g_steal_pointer (&driver);
  device->vendor_id = vendor;
  device->device_id = dev;
  device->subsystem_vendor_id = svendor;
  device->subsystem_device_id = sdevice;
  device->class_code = class_code;
  return true;
}

gint
device_compare_by_address (gconstpointer a, gconstpointer b)
{
  const Device *x = *(Device *const *) a;
  const Device *y = *(Device *const *) b;

  return address_compare (&x->address, &y->address);
}

/* Whether @reason is one or more whole "; "-separated parts of @said. */
static bool
said_already (const char *said, const char *reason)
{
  size_t n = strlen (reason);

  for (const char *p = strstr (said, reason); p; p = strstr (p + 1, reason))
    if ((p == said || (p - said >= 2 && strncmp (p - 2, "; ", 2) == 0)) &&
        (p[n] == '\0' || g_str_has_prefix (p + n, "; ")))
      return true;
  return false;
}

void
device_add_in_use (Device *device, const char *reason)
{
  char *joined;

  if (device->in_use == NULL)
    {
      device->in_use = g_strdup (reason);
      return;
    }
  /* partitions of one disk repeat reasons (several holders, one doubt) */
  if (said_already (device->in_use, reason))
    return;
  joined = g_strconcat (device->in_use, "; ", reason, NULL);
  g_free (device->in_use);
  device->in_use = joined;
}

void
device_add_in_use_doubt (Device *device, const char *doubt)
{
  device_add_in_use (device, doubt);
  device->in_use_doubt = true;
}

bool
device_leaves_dma_to_vfio (const Device *device)
{
  return device->driver == NULL || strcmp (device->driver, VFIOD_DRIVER_VFIO_PCI) == 0 ||
         strcmp (device->driver, VFIOD_DRIVER_PCI_STUB) == 0 ||
         strcmp (device->driver, VFIOD_DRIVER_PCIEPORT) == 0;
}

char **
device_parse_reset_methods (const char *text)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  const char *p = text;

  while (*p)
    {
      size_t len = 0;

      if (*p == ' ')
        {
          p++;
          continue;
        }
      if (*p == '\n' && p[1] == '\0')
        break;
      while ((p[len] >= 'a' && p[len] <= 'z') || (p[len] >= '0' && p[len] <= '9') || p[len] == '_')
        len++;
      if (len == 0 || len > 31 || (p[len] != ' ' && p[len] != '\n' && p[len] != '\0') ||
          out->len >= 16)
        return NULL;
      g_ptr_array_add (out, g_strndup (p, len));
      p += len;
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

char **
device_reset_methods_from_config (const PciConfig *config, bool below_bridge)
{
  GPtrArray *out = g_ptr_array_new ();

  if (config->malformed == NULL && config->caps_read)
    {
      if (config->flr)
        g_ptr_array_add (out, g_strdup (VFIOD_RESET_FLR));
      if (config->pm && !config->pm_no_soft_reset)
        g_ptr_array_add (out, g_strdup (VFIOD_RESET_PM));
      if (below_bridge && !config->multifunction && config->port_type != PCICONFIG_NOT_PCIE &&
          config->header_type == 0)
        g_ptr_array_add (out, g_strdup (VFIOD_RESET_BUS));
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

char *
device_parent_from_syspath (const char *syspath, bool *through_domain)
{
  g_autofree char *dir = g_path_get_dirname (syspath);
  g_autofree char *base = g_path_get_basename (dir);
  PciAddress address;

  *through_domain = false;
  if (address_parse (base, &address))
    {
      char name[ADDRESS_STRLEN];
      return g_strdup (address_format (&address, name));
    }
  /* a root bus, "pci0000:00": below a device only when that device hosts
   * the domain (VMD); the host's own root buses sit in /sys/devices */
  if (!g_str_has_prefix (base, "pci"))
    return NULL;
  g_free (base);
  base = g_path_get_dirname (dir);
  g_free (dir);
  dir = g_path_get_basename (base);
  if (address_parse (dir, &address))
    {
      char name[ADDRESS_STRLEN];
      *through_domain = true;
      return g_strdup (address_format (&address, name));
    }
  return NULL;
}
