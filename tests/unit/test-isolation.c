/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* isolation.c on a hand-made machine: the tree from syspaths, the words
 * for each cause, the places that isolate, the bus-reset warning; and
 * the parsers it relies on (slot addresses, reset_method, syspaths). */
#include <glib.h>
#include <string.h>

#include "isolation.h"
#include "names.h"

#define ACS_ALL PCICONFIG_ACS_REQUIRED

static Device *
dev (GPtrArray *all, const char *addr, const char *syspath, int64_t group, PciConfigPortType type,
     gboolean acs, const char *resets)
{
  PciAddress a;
  Device *d;

  g_assert_true (address_parse (addr, &a));
  d = device_new (&a);
  d->syspath = g_strdup (syspath);
  d->group = group;
  d->model = "";
  d->vendor = "";
  d->config.vendor_id = 0x1b36; /* no quirk */
  d->config.device_id = 0x0001;
  d->config.port_type = type;
  d->config.caps_read = TRUE;
  d->config.has_extended = TRUE;
  d->config.header_type =
      (type == PCICONFIG_ROOT_PORT || type == PCICONFIG_DOWNSTREAM_PORT) ? 1 : 0;
  d->class_code = d->config.header_type ? 0x060400 : 0x020000;
  d->config.acs = acs;
  d->config.acs_capability = acs ? ACS_ALL : 0;
  d->config.acs_control = acs ? ACS_ALL : 0;
  d->reset_methods = g_strsplit (resets, " ", -1);
  if (*resets == '\0')
    {
      g_strfreev (d->reset_methods);
      d->reset_methods = g_new0 (char *, 1);
    }
  g_ptr_array_add (all, d);
  return d;
}

#define ROOT "/sys/devices/pci0000:00/"

static GPtrArray *
machine (gboolean ports_have_acs)
{
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  Device *d;

  /* a root port without ACS and the two-function NIC behind it (one
 * endpoint below a port without ACS would be "isolated": nothing else
 * leaves the host with it) */
  d = dev (all, "0000:00:1c.0", ROOT "0000:00:1c.0", 5, PCICONFIG_ROOT_PORT, FALSE, "");
  d->config.secondary_bus = 2;
  d->model = "Root Port #1";
  d = dev (all, "0000:02:00.0", ROOT "0000:00:1c.0/0000:02:00.0", 5, PCICONFIG_ENDPOINT, FALSE,
           "flr");
  d->model = "82574L";
  d->config.multifunction = TRUE;
  d = dev (all, "0000:02:00.1", ROOT "0000:00:1c.0/0000:02:00.1", 5, PCICONFIG_ENDPOINT, FALSE,
           "flr");
  d->config.multifunction = TRUE;
  /* a free slot below a port with ACS */
  d = dev (all, "0000:00:1c.4", ROOT "0000:00:1c.4", ports_have_acs ? 6 : 5, PCICONFIG_ROOT_PORT,
           ports_have_acs, "");
  d->config.secondary_bus = 3;
  /* a port with ACS holding a two-function card with ACS between its
   * functions: two groups, one bus */
  d = dev (all, "0000:00:1d.0", ROOT "0000:00:1d.0", ports_have_acs ? 7 : 5, PCICONFIG_ROOT_PORT,
           ports_have_acs, "");
  d->config.secondary_bus = 4;
  d = dev (all, "0000:04:00.0", ROOT "0000:00:1d.0/0000:04:00.0", ports_have_acs ? 8 : 5,
           PCICONFIG_ENDPOINT, TRUE, "bus");
  d->config.multifunction = TRUE;
  d = dev (all, "0000:04:00.1", ROOT "0000:00:1d.0/0000:04:00.1", ports_have_acs ? 9 : 5,
           PCICONFIG_ENDPOINT, TRUE, "bus");
  d->config.multifunction = TRUE;
  /* Intel VMD hosting domain 10000 */
  dev (all, "0000:5d:05.5", "/sys/devices/pci0000:5d/0000:5d:05.5", 30,
       PCICONFIG_RC_INTEGRATED_ENDPOINT, FALSE, "");
  dev (all, "10000:00:00.0", "/sys/devices/pci0000:5d/0000:5d:05.5/pci10000:00/10000:00:00.0", 30,
       PCICONFIG_ROOT_PORT, TRUE, "");
  dev (all, "10000:01:00.0",
       "/sys/devices/pci0000:5d/0000:5d:05.5/pci10000:00/10000:00:00.0/10000:01:00.0", 30,
       PCICONFIG_ENDPOINT, FALSE, "flr");
  return all;
}

static GPtrArray *
slots (void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) pci_slot_free);
  PciSlot *s = g_new0 (PciSlot, 1);

  g_assert_true (pci_slot_parse_address ("0000:03:00\n", s));
  s->name = g_strdup ("4");
  g_ptr_array_add (out, s);
  return out;
}

static void
test_causes (void)
{
  g_autoptr (GPtrArray) all = machine (TRUE);
  g_autoptr (Isolation) iso = isolation_new (all);
  const GroupCause *c;

  c = isolation_group (iso, 5);
  g_assert_nonnull (c);
  g_assert_cmpstr (c->cause, ==, VFIOD_CAUSE_BRIDGE_WITHOUT_ACS);
  g_assert_cmpstr (c->cause_device, ==, "0000:00:1c.0");
  g_assert_nonnull (
      strstr (c->explanation, "0000:00:1c.0 (Root Port #1), a root port, has no ACS"));
  g_assert_nonnull (
      strstr (c->explanation, "0000:02:00.0 (82574L) and 0000:02:00.1 share IOMMU group 5"));

  c = isolation_group (iso, 8);
  g_assert_cmpstr (c->cause, ==, VFIOD_CAUSE_ISOLATED);
  g_assert_cmpstr (c->cause_device, ==, "");
  g_assert_nonnull (strstr (c->explanation, "0000:04:00.0 is alone in IOMMU group 8"));

  c = isolation_group (iso, 6);
  g_assert_cmpstr (c->cause, ==, VFIOD_CAUSE_ISOLATED);
  g_assert_nonnull (strstr (c->explanation, "holds only 0000:00:1c.4"));

  c = isolation_group (iso, 30);
  g_assert_cmpstr (c->cause, ==, VFIOD_CAUSE_ALIAS);
  g_assert_cmpstr (c->cause_device, ==, "0000:5d:05.5");
  g_assert_nonnull (strstr (c->explanation, "Intel VMD"));

  g_assert_null (isolation_group (iso, 99));
}

static void
test_advice (void)
{
  g_autoptr (GPtrArray) all = machine (TRUE);
  g_autoptr (GPtrArray) s = slots ();
  g_autoptr (Isolation) iso = isolation_new (all);
  g_autoptr (IsolationAdvice) nic = isolation_advise (iso, "0000:02:00.0", s);
  g_autoptr (IsolationAdvice) ok = isolation_advise (iso, "0000:04:00.0", s);
  g_autoptr (IsolationAdvice) port = isolation_advise (iso, "0000:00:1c.0", s);
  const IsolatingSlot *p;

  g_assert_nonnull (strstr (nic->advice, "slot 4 (port 0000:00:1c.4, free)"));
  g_assert_nonnull (strstr (nic->advice, "the port 0000:00:1d.0 (now holding 0000:04:00.0, "
                                         "0000:04:00.1)"));
  /* the named slot first, then ports; the VMD's port is not a place */
  g_assert_cmpuint (nic->isolating->len, ==, 2);
  p = g_ptr_array_index (nic->isolating, 0);
  g_assert_cmpstr (p->slot, ==, "4");
  g_assert_cmpstr (p->port, ==, "0000:00:1c.4");
  g_assert_null (p->occupants[0]);
  p = g_ptr_array_index (nic->isolating, 1);
  g_assert_cmpstr (p->slot, ==, "");
  g_assert_cmpuint (g_strv_length (p->occupants), ==, 2);
  g_assert_cmpstr (nic->reset_warning, ==, "");

  g_assert_nonnull (strstr (ok->advice, "already has an IOMMU group of its own"));
  g_assert_nonnull (strstr (port->advice, "is a bridge"));
  g_assert_cmpstr (port->reset_warning, ==, "");

  g_assert_null (isolation_advise (iso, "0000:07:00.0", s));
}

static void
test_cannot_isolate (void)
{
  g_autoptr (GPtrArray) all = machine (FALSE);
  g_autoptr (GPtrArray) s = slots ();
  g_autoptr (Isolation) iso = isolation_new (all);
  g_autoptr (IsolationAdvice) nic = isolation_advise (iso, "0000:02:00.0", s);

  /* every port lacks ACS: they do not isolate, and the one group is not
   * what the rules give either (three root ports on the root bus) */
  g_assert_cmpuint (nic->isolating->len, ==, 0);
  g_assert_cmpstr (isolation_group (iso, 5)->cause, ==, VFIOD_CAUSE_UNKNOWN);
}

static void
test_bus_reset (void)
{
  g_autoptr (GPtrArray) all = machine (TRUE);
  g_autoptr (Isolation) iso = isolation_new (all);
  g_autoptr (IsolationAdvice) f0 = isolation_advise (iso, "0000:04:00.0", NULL);
  g_autoptr (IsolationAdvice) vmd = isolation_advise (iso, "0000:5d:05.5", NULL);

  g_assert_nonnull (strstr (f0->reset_warning, "can only be reset by resetting its bus"));
  g_assert_nonnull (strstr (f0->reset_warning, "also resets 0000:04:00.1"));
  g_assert_nonnull (strstr (f0->reset_warning, "depends on group 9 which is not owned"));
  g_assert_nonnull (strstr (vmd->reset_warning, "has no reset method"));
}

/* Each other group once: "1" is named even after "12". */
static void
test_bus_reset_groups (void)
{
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  g_autoptr (Isolation) iso = NULL;
  g_autoptr (IsolationAdvice) f0 = NULL;
  const char *fns[] = { "0000:04:00.0", "0000:04:00.1", "0000:04:00.2", "0000:04:00.3" };
  const int64_t groups[] = { 2, 12, 1, 12 };

  dev (all, "0000:00:1d.0", ROOT "0000:00:1d.0", 20, PCICONFIG_ROOT_PORT, TRUE, "")
      ->config.secondary_bus = 4;
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *path = g_strdup_printf (ROOT "0000:00:1d.0/%s", fns[i]);
      dev (all, fns[i], path, groups[i], PCICONFIG_ENDPOINT, TRUE, "bus")->config.multifunction =
          TRUE;
    }
  iso = isolation_new (all);
  f0 = isolation_advise (iso, "0000:04:00.0", NULL);
  g_assert_nonnull (strstr (f0->reset_warning, "depends on group 12, 1 which is not owned"));
}

static void
test_parsers (void)
{
  PciSlot s = { 0 };
  g_auto (GStrv) m = NULL;
  g_auto (GStrv) fallback = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *joined = NULL;
  PciConfig c = { 0 };
  bool domain;

  g_assert_true (pci_slot_parse_address ("0000:02:00\n", &s));
  g_assert_cmpuint (s.bus, ==, 2);
  g_assert_true (pci_slot_parse_address ("10000:01", &s));
  g_assert_cmpuint (s.domain, ==, 0x10000);
  for (const char *const *bad =
           (const char *const[]){ "", "0000", "0000:2:00", "0000:02:20", "0000:02:00:00",
                                  "00:02:00", "zzzz:02", "0000:02:00 x", NULL };
       *bad; bad++)
    g_assert_false (pci_slot_parse_address (*bad, &s));

  m = device_parse_reset_methods ("flr pm bus\n");
  g_assert_cmpuint (g_strv_length (m), ==, 3);
  g_assert_cmpstr (m[2], ==, "bus");
  g_clear_pointer (&m, g_strfreev);
  m = device_parse_reset_methods ("\n");
  g_assert_cmpuint (g_strv_length (m), ==, 0);
  g_clear_pointer (&m, g_strfreev);
  g_assert_null (device_parse_reset_methods ("flr\nbus"));
  g_assert_null (device_parse_reset_methods ("FLR"));
  g_assert_null (device_parse_reset_methods ("flr;rm"));
  g_assert_null (device_parse_reset_methods ("a b c d e f g h i j k l m n o p q"));
  g_assert_null (device_parse_reset_methods ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

  parent = device_parent_from_syspath (ROOT "0000:00:1c.0/0000:02:00.0", &domain);
  g_assert_cmpstr (parent, ==, "0000:00:1c.0");
  g_assert_false (domain);
  g_clear_pointer (&parent, g_free);
  g_assert_null (device_parent_from_syspath (ROOT "0000:00:1c.0", &domain));
  parent = device_parent_from_syspath ("/sys/devices/pci0000:5d/0000:5d:05.5/pci10000:00/"
                                       "10000:00:00.0",
                                       &domain);
  g_assert_cmpstr (parent, ==, "0000:5d:05.5");
  g_assert_true (domain);

  /* kernels before 5.15: what config space offers */
  c.caps_read = TRUE;
  c.port_type = PCICONFIG_ENDPOINT;
  c.flr = TRUE;
  c.pm = TRUE;
  fallback = device_reset_methods_from_config (&c, TRUE);
  joined = g_strjoinv (" ", fallback);
  g_assert_cmpstr (joined, ==, "flr pm bus");
  g_clear_pointer (&fallback, g_strfreev);
  g_clear_pointer (&joined, g_free);
  c.pm_no_soft_reset = TRUE;
  c.multifunction = TRUE;
  fallback = device_reset_methods_from_config (&c, TRUE);
  joined = g_strjoinv (" ", fallback);
  g_assert_cmpstr (joined, ==, "flr");
  g_clear_pointer (&fallback, g_strfreev);
  c.malformed = "the capability list loops";
  fallback = device_reset_methods_from_config (&c, TRUE);
  g_assert_cmpuint (g_strv_length (fallback), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/isolation/causes", test_causes);
  g_test_add_func ("/isolation/advice", test_advice);
  g_test_add_func ("/isolation/cannot-isolate", test_cannot_isolate);
  g_test_add_func ("/isolation/bus-reset", test_bus_reset);
  g_test_add_func ("/isolation/bus-reset-groups", test_bus_reset_groups);
  g_test_add_func ("/isolation/parsers", test_parsers);
  return g_test_run ();
}
