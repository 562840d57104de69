/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>

#include "device.h"
#include "hexnum.h"
#include "sysfs.h"
#include "names.h"

static Device *
make (const char *address, uint32_t class_code, const char *driver)
{
  PciAddress a;
  Device *d;

  g_assert_true (address_parse (address, &a));
  d = device_new (&a);
  d->class_code = class_code;
  d->driver = g_strdup (driver);
  return d;
}

static void
test_states (void)
{
  struct {
    uint32_t class_code;
    const char *driver;
    const char *state;
    gboolean bridge;
  } cases[] = {
    { 0x020000, "e1000e", VFIOD_STATE_HOST, FALSE },
    { 0x020000, "vfio-pci", VFIOD_STATE_VFIO, FALSE },
    { 0x020000, "pci-stub", VFIOD_STATE_STUB, FALSE },
    { 0x020000, NULL, VFIOD_STATE_NONE, FALSE },
    { 0x060400, "pcieport", VFIOD_STATE_BRIDGE, TRUE }, /* root port */
    { 0x060400, NULL, VFIOD_STATE_BRIDGE, TRUE },       /* PCIe-to-PCI */
    { 0x060401, NULL, VFIOD_STATE_BRIDGE, TRUE },       /* subtractive decode */
    { 0x060000, NULL, VFIOD_STATE_BRIDGE, TRUE },       /* host bridge */
    { 0x060700, "yenta_cardbus", VFIOD_STATE_BRIDGE, TRUE },
    { 0x060900, NULL, VFIOD_STATE_BRIDGE, TRUE },
    { 0x060100, "lpc_ich", VFIOD_STATE_HOST, FALSE }, /* ISA/LPC: an endpoint */
    { 0x068000, NULL, VFIOD_STATE_NONE, FALSE },      /* "other" bridge */
    { 0x030000, "vfio-pci", VFIOD_STATE_VFIO, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (Device) d = make ("0000:01:00.0", cases[i].class_code, cases[i].driver);

      g_test_message ("%06x %s", cases[i].class_code, cases[i].driver);
      g_assert_cmpstr (device_state_to_string (device_state (d)), ==, cases[i].state);
      g_assert_cmpint (device_is_bridge (d), ==, cases[i].bridge);
    }
}

static void
test_uevent_parse (void)
{
  g_autoptr (Device) d = make ("0000:03:00.0", 0, NULL);
  const char *text = "DRIVER=e1000e\n"
                     "PCI_CLASS=20000\n"
                     "PCI_ID=8086:10D3\n"
                     "PCI_SUBSYS_ID=8086:A01F\n"
                     "PCI_SLOT_NAME=0000:03:00.0\n"
                     "MODALIAS=pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00\n";

  g_assert_true (device_parse_uevent (d, text));
  g_assert_cmpstr (d->driver, ==, "e1000e");
  g_assert_cmphex (d->class_code, ==, 0x020000);
  g_assert_cmphex (d->vendor_id, ==, 0x8086);
  g_assert_cmphex (d->device_id, ==, 0x10d3);
  g_assert_cmphex (d->subsystem_vendor_id, ==, 0x8086);
  g_assert_cmphex (d->subsystem_device_id, ==, 0xa01f);

  /* unbound: no DRIVER= line, the driver goes away */
  g_assert_true (device_parse_uevent (d, "PCI_CLASS=C0330\nPCI_ID=8086:A2AF\n"
                                         "PCI_SLOT_NAME=0000:03:00.0\n"));
  g_assert_null (d->driver);
  g_assert_cmphex (d->class_code, ==, 0x0c0330);
}

static void
test_uevent_malformed (void)
{
  static const char *const cases[] = {
    "",                                      /* no ids at all */
    "PCI_CLASS=20000\n",                     /* no PCI_ID */
    "PCI_ID=8086:10D3\n",                    /* no class */
    "PCI_CLASS=2000000\nPCI_ID=8086:10D3\n", /* class too long */
    "PCI_CLASS=zz\nPCI_ID=8086:10D3\n",
    "PCI_CLASS=20000\nPCI_ID=8086-10D3\n",
    "PCI_CLASS=20000\nPCI_ID=80860:10D3\n",
    "PCI_CLASS=20000\nPCI_ID=8086:10D3\nDRIVER=../../evil\n",
    "PCI_CLASS=20000\nPCI_ID=8086:10D3\nDRIVER=\n",
    "PCI_CLASS=20000\nPCI_ID=8086:10D3\nDRIVER=..\n",
    "PCI_CLASS=20000\nPCI_ID=8086:10D3\nDRIVER=bell\a\n",
    "PCI_CLASS=20000\nPCI_ID=8086:10D3\nPCI_SLOT_NAME=0000:04:00.0\n", /* another device */
    "PCI_CLASS=20000\ngarbage\nPCI_ID=8086:10D3\n",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (Device) d = make ("0000:03:00.0", 0x123456, "keep");

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_false (device_parse_uevent (d, cases[i]));
      /* nothing of a rejected text reaches the model */
      g_assert_cmpstr (d->driver, ==, "keep");
      g_assert_cmphex (d->class_code, ==, 0x123456);
    }
}

/* What the kernel can name a driver (anything but '/' and NUL, up to
 * NAME_MAX) and what vfiod takes of it. */
static void
test_driver_names (void)
{
  g_autofree char *long_name = g_strnfill (70, 'x');
  g_autofree char *longest = g_strnfill (255, 'x');
  g_autofree char *too_long = g_strnfill (256, 'x');
  static const char *const good[] = {
    "e1000e",     "vfio-pci", "snd_hda_intel", "has space", " leading",   "trailing ",
    "dots.in.it", "...",      ".hidden",       "ünïcödé",   "semi;colon", "a=b",
  };
  static const char *const bad[] = {
    "",
    ".",
    "..",
    "a/b",
    "/",
    "../evil",
    "new\nline",
    "tab\there",
    "esc\033[31m",
    "del\177",
    "c1\302\233control", /* U+009B, CSI */
    "bad\377utf8",
  };

  g_assert_true (device_driver_name_valid (long_name));
  g_assert_true (device_driver_name_valid (longest));
  g_assert_false (device_driver_name_valid (too_long));
  g_assert_false (device_driver_name_valid (NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (device_driver_name_valid (good[i]));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("bad %" G_GSIZE_FORMAT, i);
      g_assert_false (device_driver_name_valid (bad[i]));
    }
}

/* uevent: DRIVER= is the rest of the line, spaces and all */
static void
test_uevent_odd_drivers (void)
{
  g_autoptr (Device) d = make ("0000:03:00.0", 0, NULL);
  g_autofree char *long_name = g_strnfill (70, 'd');
  g_autofree char *text =
      g_strdup_printf ("DRIVER=%s\nPCI_CLASS=20000\nPCI_ID=8086:10D3\n", long_name);

  g_assert_true (device_parse_uevent (d, text));
  g_assert_cmpstr (d->driver, ==, long_name);
  g_assert_true (device_parse_uevent (d, "DRIVER=my driver \nPCI_CLASS=20000\nPCI_ID=8086:10D3\n"));
  g_assert_cmpstr (d->driver, ==, "my driver ");
  g_assert_true (device_parse_uevent (d, "DRIVER=a=b\nPCI_CLASS=20000\nPCI_ID=8086:10D3\n"));
  g_assert_cmpstr (d->driver, ==, "a=b");
}

static void
test_resolve_link (void)
{
  g_autofree char *a =
      sysfs_resolve_devices_link ("../../../devices/pci0000:00/0000:00:1c.0/0000:03:00.0");
  g_autofree char *b =
      sysfs_resolve_devices_link ("../../devices/pci0000:00/0000:00:02.0/block/vda");

  g_assert_cmpstr (a, ==, "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0");
  g_assert_cmpstr (b, ==, "/sys/devices/pci0000:00/0000:00:02.0/block/vda");
  g_assert_null (sysfs_resolve_devices_link ("../../../etc/passwd"));
  g_assert_null (sysfs_resolve_devices_link ("../../devices/pci0000:00/../../etc"));
  g_assert_null (sysfs_resolve_devices_link ("/devices/x"));
  g_assert_null (sysfs_resolve_devices_link ("../../devices/x/.."));
}

static void
test_in_use_join (void)
{
  g_autoptr (Device) d = make ("0000:03:00.0", 0x010802, "nvme");

  device_add_in_use (d, "mounted: / (nvme0n1p2)");
  device_add_in_use (d, "swap: /dev/nvme0n1p3");
  g_assert_cmpstr (d->in_use, ==, "mounted: / (nvme0n1p2); swap: /dev/nvme0n1p3");
  g_assert_false (d->in_use_doubt);

  /* said already (whole parts only): not repeated */
  device_add_in_use (d, "swap: /dev/nvme0n1p3");
  device_add_in_use (d, "mounted: / (nvme0n1p2); swap: /dev/nvme0n1p3");
  g_assert_cmpstr (d->in_use, ==, "mounted: / (nvme0n1p2); swap: /dev/nvme0n1p3");
  device_add_in_use (d, "swap: /dev/nvme0n1p");
  g_assert_cmpstr (d->in_use, ==,
                   "mounted: / (nvme0n1p2); swap: /dev/nvme0n1p3; swap: /dev/nvme0n1p");

  device_add_in_use_doubt (
      d, "cannot tell whether it is in use: /proc/swaps could not be read (Is a directory)");
  device_add_in_use_doubt (
      d, "cannot tell whether it is in use: /proc/swaps could not be read (Is a directory)");
  g_assert_true (d->in_use_doubt);
  g_assert_cmpstr (
      d->in_use, ==,
      "mounted: / (nvme0n1p2); swap: /dev/nvme0n1p3; swap: /dev/nvme0n1p; "
      "cannot tell whether it is in use: /proc/swaps could not be read (Is a directory)");
}

/* The one hex parser: uevent ids, records and sysfs attributes. */
static void
test_hexnum (void)
{
  uint32_t v = 7;

  g_assert_true (hexnum_parse ("8086", 4, 4, 4, &v));
  g_assert_cmphex (v, ==, 0x8086);
  g_assert_true (hexnum_parse ("aBcD", 4, 1, 4, &v));
  g_assert_cmphex (v, ==, 0xabcd);
  g_assert_true (hexnum_parse ("ffffffff", 8, 1, 8, &v));
  g_assert_cmphex (v, ==, 0xffffffff);
  v = 7;
  g_assert_false (hexnum_parse ("", 0, 1, 4, &v));
  g_assert_false (hexnum_parse ("808", 3, 4, 4, &v));
  g_assert_false (hexnum_parse ("80861", 5, 4, 4, &v));
  g_assert_false (hexnum_parse ("80g6", 4, 4, 4, &v));
  g_assert_false (hexnum_parse ("-1", 2, 1, 4, &v));
  g_assert_false (hexnum_parse (" 1", 2, 1, 4, &v));
  g_assert_false (hexnum_parse ("123456789", 9, 1, 9, &v));
  g_assert_cmpuint (v, ==, 7); /* untouched on failure */

  g_assert_true (hexnum_parse_prefixed ("0x020000", 1, 6, &v));
  g_assert_cmphex (v, ==, 0x020000);
  g_assert_true (hexnum_parse_prefixed ("0X1", 1, 4, &v));
  g_assert_false (hexnum_parse_prefixed ("0x", 1, 4, &v));
  g_assert_false (hexnum_parse_prefixed ("8086", 1, 4, &v));
  g_assert_false (hexnum_parse_prefixed ("0x8086\n", 1, 4, &v));
  g_assert_false (hexnum_parse_prefixed ("0x1234567", 1, 6, &v));
}

/* The ids and class travel together, and differ in any one of them. */
static void
test_ids (void)
{
  g_autoptr (Device) a = make ("0000:03:00.0", 0x020000, NULL);
  g_autoptr (Device) b = make ("0000:04:00.0", 0x030000, NULL);
  DeviceIds ids, other;

  a->vendor_id = 0x8086;
  a->device_id = 0x10d3;
  a->subsystem_vendor_id = 0x8086;
  a->subsystem_device_id = 0xa01f;
  ids = device_ids (a);
  device_set_ids (b, &ids);
  g_assert_cmphex (b->vendor_id, ==, 0x8086);
  g_assert_cmphex (b->device_id, ==, 0x10d3);
  g_assert_cmphex (b->subsystem_vendor_id, ==, 0x8086);
  g_assert_cmphex (b->subsystem_device_id, ==, 0xa01f);
  g_assert_cmphex (b->class_code, ==, 0x020000);
  g_assert_cmpstr (b->name, ==, "0000:04:00.0");
  other = device_ids (b);
  g_assert_true (device_ids_equal (&ids, &other));
  for (int field = 0; field < 5; field++)
    {
      DeviceIds changed = ids;
      switch (field)
        {
        case 0: changed.vendor_id++; break;
        case 1: changed.device_id++; break;
        case 2: changed.subsystem_vendor_id++; break;
        case 3: changed.subsystem_device_id++; break;
        default: changed.class_code++; break;
        }
      g_assert_false (device_ids_equal (&ids, &changed));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/device/states", test_states);
  g_test_add_func ("/device/uevent-parse", test_uevent_parse);
  g_test_add_func ("/device/uevent-malformed", test_uevent_malformed);
  g_test_add_func ("/device/driver-names", test_driver_names);
  g_test_add_func ("/device/uevent-odd-drivers", test_uevent_odd_drivers);
  g_test_add_func ("/device/resolve-link", test_resolve_link);
  g_test_add_func ("/device/in-use-join", test_in_use_join);
  g_test_add_func ("/device/hexnum", test_hexnum);
  g_test_add_func ("/device/ids", test_ids);
  return g_test_run ();
}
