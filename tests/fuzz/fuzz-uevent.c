/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* device_parse_uevent(): the text of /sys/bus/pci/devices/<addr>/uevent. */
#include "fuzz.h"

#include <string.h>

#include "device.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_text (data, size);
  g_autoptr (Device) device = NULL;
  PciAddress address;
  const char *old_driver;

  /* the seeds name this device in PCI_SLOT_NAME */
  fuzz_check (address_parse ("0000:03:00.0", &address));
  device = device_new (&address);
  device->driver = g_strdup ("before");
  device->vendor_id = 0x1111;
  device->device_id = 0x2222;
  device->subsystem_vendor_id = 0x3333;
  device->subsystem_device_id = 0x4444;
  device->class_code = 0x555555;
  old_driver = device->driver;

  if (!device_parse_uevent (device, text))
    {
      /* "@device is then unchanged" */
      fuzz_check (device->driver == old_driver && strcmp (device->driver, "before") == 0);
      fuzz_check (device->vendor_id == 0x1111 && device->device_id == 0x2222);
      fuzz_check (device->subsystem_vendor_id == 0x3333 && device->subsystem_device_id == 0x4444);
      fuzz_check (device->class_code == 0x555555);
      return 0;
    }

  /* what it accepted is what the rest of the daemon relies on */
  fuzz_check (device->driver == NULL || device_driver_name_valid (device->driver));
  fuzz_check (device->class_code <= 0xffffff);
  fuzz_check (address_equal (&device->address, &address));
  (void) device_state_to_string (device_state (device));
  return 0;
}
