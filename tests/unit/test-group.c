/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>
#include <string.h>

#include "group.h"
#include "names.h"

/* The machine of the source discussion: a plug-in NIC behind a root port,
 * in one IOMMU group with the chipset's USB and SATA controllers. */
static GPtrArray *
plugin_nic_group (void)
{
  static const struct {
    const char *address;
    uint32_t class_code;
    const char *driver;
    const char *model;
  } members[] = {
    { "0000:00:1c.0", 0x060400, "pcieport", "Root Port" },
    { "0000:00:14.0", 0x0c0330, "xhci_hcd", "USB 3.0 xHCI" },
    { "0000:00:17.0", 0x010601, "ahci", "SATA AHCI" },
    { "0000:03:00.0", 0x020000, "e1000e", "82574L" },
  };
  GPtrArray *devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);

  for (gsize i = 0; i < G_N_ELEMENTS (members); i++)
    {
      PciAddress a;
      Device *d;

      g_assert_true (address_parse (members[i].address, &a));
      d = device_new (&a);
      d->class_code = members[i].class_code;
      d->driver = g_strdup (members[i].driver);
      d->vendor = "Intel Corporation";
      d->model = members[i].model;
      d->group = 7;
      g_ptr_array_add (devices, d);
    }
  g_ptr_array_sort (devices, device_compare_by_address);
  return devices;
}

static Device *
find (GPtrArray *devices, const char *address)
{
  for (guint i = 0; i < devices->len; i++)
    if (strcmp (((Device *) g_ptr_array_index (devices, i))->name, address) == 0)
      return g_ptr_array_index (devices, i);
  g_assert_not_reached ();
}

static const PlanStep *
step_of (const Plan *plan, const char *address)
{
  for (guint i = 0; i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);
      if (strcmp (s->device->name, address) == 0)
        return s;
    }
  g_assert_not_reached ();
}

static PciAddress
addr (const char *text)
{
  PciAddress a;

  g_assert_true (address_parse (text, &a));
  return a;
}

static void
test_not_viable (void)
{
  GPtrArray *devices = plugin_nic_group ();
  PciAddress nic = addr ("03:00.0");
  g_auto (PlanRefusal) error = { 0 };
  Plan *plan = NULL;

  g_assert_cmpint (group_plan_detach (devices, 7, &nic, 0, &plan, &error), <, 0);
  g_assert_null (plan);
  g_assert_cmpint (error.kind, ==, REFUSAL_NOT_VIABLE);
  g_assert_cmpuint (error.group, ==, 7);
  g_assert_cmpstr (error.target, ==, "0000:03:00.0");
  /* names both chipset devices, their names and drivers; the bridge is fine */
  g_assert_cmpuint (error.devices->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (error.devices, 0), ==,
                   "0000:00:14.0 (Intel Corporation USB 3.0 xHCI, on xhci_hcd)");
  g_assert_cmpstr (g_ptr_array_index (error.devices, 1), ==,
                   "0000:00:17.0 (Intel Corporation SATA AHCI, on ahci)");
  plan_refusal_clear (&error);
}

static void
test_group_mode (void)
{
  PciAddress nic = addr ("0000:03:00.0");
  g_auto (PlanRefusal) error = { 0 };
  g_autoptr (Plan) plan = NULL;
  g_autofree char *moved = NULL;

  g_assert_cmpint (
      group_plan_detach (plugin_nic_group (), 7, &nic, VFIOD_FLAG_GROUP, &plan, &error), ==, 0);
  g_assert_cmpuint (plan_count_moves (plan), ==, 3);
  g_assert_true (plan_moves_others (plan));
  moved = plan_moved_addresses (plan);
  g_assert_cmpstr (moved, ==, "0000:00:14.0 0000:00:17.0 0000:03:00.0");

  g_assert_cmpint (step_of (plan, "0000:00:1c.0")->action, ==, PLAN_KEEP);
  g_assert_cmpstr (step_of (plan, "0000:00:1c.0")->reason, ==, "bridge stays on pcieport");
  g_assert_cmpint (step_of (plan, "0000:00:17.0")->action, ==, PLAN_DETACH);
  g_assert_cmpstr (step_of (plan, "0000:00:17.0")->from, ==, "ahci");
  g_assert_cmpstr (step_of (plan, "0000:00:17.0")->to, ==, "vfio-pci");
  /* steps come sorted by address, one per device */
  g_assert_cmpuint (plan->steps->len, ==, 4);
  g_assert_cmpstr (((PlanStep *) g_ptr_array_index (plan->steps, 0))->device->name, ==,
                   "0000:00:14.0");
}

static void
test_viable_alone (void)
{
  GPtrArray *devices = plugin_nic_group ();
  PciAddress nic = addr ("0000:03:00.0");
  g_auto (PlanRefusal) error = { 0 };
  g_autoptr (Plan) plan = NULL;

  /* USB on pci-stub, SATA unbound: the NIC can go alone */
  g_free (find (devices, "0000:00:14.0")->driver);
  find (devices, "0000:00:14.0")->driver = g_strdup ("pci-stub");
  g_clear_pointer (&find (devices, "0000:00:17.0")->driver, g_free);

  g_assert_cmpint (group_plan_detach (devices, 7, &nic, 0, &plan, &error), ==, 0);
  g_assert_cmpuint (plan_count_moves (plan), ==, 1);
  g_assert_false (plan_moves_others (plan));
  g_assert_cmpstr (step_of (plan, "0000:00:14.0")->reason, ==, "pci-stub isolates it");
  g_assert_cmpint (step_of (plan, "0000:00:17.0")->action, ==, PLAN_KEEP);
}

static void
test_group_mode_leaves_stub_takes_unbound (void)
{
  GPtrArray *devices = plugin_nic_group ();
  PciAddress nic = addr ("0000:03:00.0");
  g_auto (PlanRefusal) error = { 0 };
  g_autoptr (Plan) plan = NULL;

  g_free (find (devices, "0000:00:14.0")->driver);
  find (devices, "0000:00:14.0")->driver = g_strdup ("pci-stub");
  g_clear_pointer (&find (devices, "0000:00:17.0")->driver, g_free);

  g_assert_cmpint (group_plan_detach (devices, 7, &nic, VFIOD_FLAG_GROUP, &plan, &error), ==, 0);
  g_assert_cmpint (step_of (plan, "0000:00:14.0")->action, ==, PLAN_KEEP);
  g_assert_cmpint (step_of (plan, "0000:00:17.0")->action, ==, PLAN_DETACH);
  g_assert_cmpstr (step_of (plan, "0000:00:17.0")->from, ==, "");
}

static void
test_bridge_target (void)
{
  GPtrArray *devices = plugin_nic_group ();
  PciAddress port = addr ("00:1c.0");
  g_auto (PlanRefusal) error = { 0 };
  Plan *plan = NULL;

  g_assert_cmpint (group_plan_detach (devices, 7, &port, VFIOD_FLAG_GROUP, &plan, &error), <, 0);
  g_assert_cmpint (error.kind, ==, REFUSAL_NOT_ASSIGNABLE);
  g_assert_true (g_str_has_prefix (error.target_text, "0000:00:1c.0 ("));
  plan_refusal_clear (&error);
}

static void
test_in_use_and_force (void)
{
  GPtrArray *devices = plugin_nic_group ();
  PciAddress nic = addr ("0000:03:00.0");
  g_auto (PlanRefusal) error = { 0 };
  g_autoptr (Plan) plan = NULL;

  find (devices, "0000:00:17.0")->in_use = g_strdup ("mounted: / (sda2)");
  g_assert_cmpint (
      group_plan_detach (g_ptr_array_ref (devices), 7, &nic, VFIOD_FLAG_GROUP, &plan, &error), <,
      0);
  g_assert_cmpint (error.kind, ==, REFUSAL_IN_USE);
  g_assert_false (error.doubt);
  g_assert_cmpuint (error.devices->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (error.devices, 0), ==,
                   "0000:00:17.0 is in use by the host: mounted: / (sda2)");
  plan_refusal_clear (&error);

  g_assert_cmpint (
      group_plan_detach (devices, 7, &nic, VFIOD_FLAG_GROUP | VFIOD_FLAG_FORCE, &plan, &error), ==,
      0);
  g_assert_true (plan_moves_in_use (plan));
}

/* A device vfiod cannot tell about refuses like one in use, names what
 * could not be read, and goes with FORCE (and its action) only. */
static void
test_in_use_doubt (void)
{
  GPtrArray *devices = plugin_nic_group ();
  PciAddress nic = addr ("0000:03:00.0");
  g_auto (PlanRefusal) error = { 0 };
  g_autoptr (Plan) plan = NULL;
  g_autoptr (Plan) forced = NULL;

  device_add_in_use_doubt (
      find (devices, "0000:00:17.0"),
      "cannot tell whether it is in use: /proc/swaps could not be read (Is a directory)");
  g_assert_cmpint (
      group_plan_detach (g_ptr_array_ref (devices), 7, &nic, VFIOD_FLAG_GROUP, &plan, &error), <,
      0);
  g_assert_cmpint (error.kind, ==, REFUSAL_IN_USE);
  g_assert_true (error.doubt);
  g_assert_cmpstr (g_ptr_array_index (error.devices, 0), ==,
                   "0000:00:17.0 may be in use by the host: cannot tell whether "
                   "it is in use: /proc/swaps could not be read (Is a directory)");
  plan_refusal_clear (&error);

  /* detaching the NIC alone does not move the SATA controller: no doubt */
  g_assert_cmpint (group_plan_detach (g_ptr_array_ref (devices), 7, &nic, 0, &plan, &error), <, 0);
  g_assert_cmpint (error.kind, ==, REFUSAL_NOT_VIABLE);
  plan_refusal_clear (&error);

  g_assert_cmpint (group_plan_detach (g_ptr_array_ref (devices), 7, &nic,
                                      VFIOD_FLAG_GROUP | VFIOD_FLAG_FORCE, &forced, &error),
                   ==, 0);
  g_assert_true (plan_moves_in_use (forced));

  /* authorized without the doubt, in doubt now: not covered */
  g_ptr_array_unref (devices);
  g_assert_cmpint (
      group_plan_detach (plugin_nic_group (), 7, &nic, VFIOD_FLAG_GROUP, &plan, &error), ==, 0);
  g_assert_false (plan_covered_by (forced, plan));
  g_assert_true (plan_covered_by (plan, forced));
}

static void
test_nothing_to_do (void)
{
  GPtrArray *devices = plugin_nic_group ();
  PciAddress nic = addr ("0000:03:00.0");
  g_auto (PlanRefusal) error = { 0 };
  g_autoptr (Plan) plan = NULL;

  for (guint i = 0; i < devices->len; i++)
    {
      Device *d = g_ptr_array_index (devices, i);
      if (!device_is_bridge (d))
        {
          g_free (d->driver);
          d->driver = g_strdup ("vfio-pci");
        }
    }
  g_assert_cmpint (group_plan_detach (devices, 7, &nic, VFIOD_FLAG_GROUP, &plan, &error), ==, 0);
  g_assert_cmpuint (plan_count_moves (plan), ==, 0);
  g_assert_cmpstr (step_of (plan, "0000:03:00.0")->reason, ==, "already on vfio-pci");
}

static void
test_reattach (void)
{
  GPtrArray *devices = plugin_nic_group ();
  PciAddress nic = addr ("0000:03:00.0");
  g_auto (PlanRefusal) error = { 0 };
  g_autoptr (GHashTable) originals = g_hash_table_new (g_str_hash, g_str_equal);
  Plan *plan = NULL;

  /* not detached */
  g_assert_cmpint (
      group_plan_reattach (g_ptr_array_ref (devices), 7, &nic, 0, originals, &plan, &error), <, 0);
  g_assert_cmpint (error.kind, ==, REFUSAL_NOT_DETACHED);
  g_assert_cmpstr (error.target, ==, "0000:03:00.0");
  plan_refusal_clear (&error);

  for (guint i = 0; i < devices->len; i++)
    {
      Device *d = g_ptr_array_index (devices, i);
      if (!device_is_bridge (d))
        {
          g_free (d->driver);
          d->driver = g_strdup ("vfio-pci");
        }
    }
  g_hash_table_insert (originals, (gpointer) "0000:03:00.0", (gpointer) "e1000e");
  g_hash_table_insert (originals, (gpointer) "0000:00:17.0", (gpointer) "ahci");

  g_assert_cmpint (
      group_plan_reattach (g_ptr_array_ref (devices), 7, &nic, 0, originals, &plan, &error), ==, 0);
  g_assert_cmpuint (plan_count_moves (plan), ==, 1);
  g_assert_cmpstr (step_of (plan, "0000:03:00.0")->to, ==, "e1000e");
  plan_free (plan);

  g_assert_cmpint (
      group_plan_reattach (devices, 7, &nic, VFIOD_FLAG_GROUP, originals, &plan, &error), ==, 0);
  g_assert_cmpuint (plan_count_moves (plan), ==, 3);
  g_assert_cmpstr (step_of (plan, "0000:00:17.0")->to, ==, "ahci");
  /* USB was detached by somebody else: the kernel will pick */
  g_assert_cmpstr (step_of (plan, "0000:00:14.0")->to, ==, "");
  g_assert_cmpint (step_of (plan, "0000:00:1c.0")->action, ==, PLAN_KEEP);
  plan_free (plan);
}

static void
test_covered_by (void)
{
  PciAddress nic = addr ("0000:03:00.0");
  g_auto (PlanRefusal) error = { 0 };
  g_autoptr (Plan) single = NULL;
  g_autoptr (Plan) whole = NULL;
  g_autoptr (Plan) again = NULL;
  GPtrArray *devices = plugin_nic_group ();

  g_free (find (devices, "0000:00:14.0")->driver);
  find (devices, "0000:00:14.0")->driver = g_strdup ("pci-stub");
  g_clear_pointer (&find (devices, "0000:00:17.0")->driver, g_free);
  g_assert_cmpint (group_plan_detach (devices, 7, &nic, VFIOD_FLAG_GROUP, &single, &error), ==, 0);
  g_assert_cmpint (
      group_plan_detach (plugin_nic_group (), 7, &nic, VFIOD_FLAG_GROUP, &whole, &error), ==, 0);
  g_assert_cmpint (
      group_plan_detach (plugin_nic_group (), 7, &nic, VFIOD_FLAG_GROUP, &again, &error), ==, 0);

  g_assert_true (plan_covered_by (again, whole));
  /* more devices move now than were authorized */
  g_assert_false (plan_covered_by (whole, single));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/group/not-viable", test_not_viable);
  g_test_add_func ("/group/group-mode", test_group_mode);
  g_test_add_func ("/group/viable-alone", test_viable_alone);
  g_test_add_func ("/group/stub-kept-unbound-taken", test_group_mode_leaves_stub_takes_unbound);
  g_test_add_func ("/group/bridge-target", test_bridge_target);
  g_test_add_func ("/group/in-use-and-force", test_in_use_and_force);
  g_test_add_func ("/group/in-use-doubt", test_in_use_doubt);
  g_test_add_func ("/group/nothing-to-do", test_nothing_to_do);
  g_test_add_func ("/group/reattach", test_reattach);
  g_test_add_func ("/group/covered-by", test_covered_by);
  return g_test_run ();
}
