/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "isolation.h"

#include <string.h>

#include "acs.h"
#include "names.h"

/* How many devices a sentence names before "and N more". */
#define NAMED_MAX 6
/* How many places the advice names before "and N more". */
#define PLACES_MAX 4

struct Isolation {
  GPtrArray *devices; /* Device*, borrowed */
  AcsNode *nodes;
  size_t n;
  GHashTable *index;         /* device name → GINT_TO_POINTER (node + 1) */
  AcsExplanation *explained; /* per node: its group's */
  GHashTable *groups;        /* GUINT_TO_POINTER (number) → GroupCause* */
};

void
group_cause_free (GroupCause *cause)
{
  if (cause == NULL)
    return;
  g_free (cause->cause_device);
  g_free (cause->explanation);
  g_free (cause);
}

void
pci_slot_free (PciSlot *slot)
{
  if (slot == NULL)
    return;
  g_free (slot->name);
  g_free (slot);
}

void
isolating_slot_free (IsolatingSlot *slot)
{
  if (slot == NULL)
    return;
  g_free (slot->slot);
  g_free (slot->port);
  g_strfreev (slot->occupants);
  g_free (slot);
}

void
isolation_advice_free (IsolationAdvice *advice)
{
  if (advice == NULL)
    return;
  g_free (advice->advice);
  g_ptr_array_unref (advice->isolating);
  g_free (advice->reset_warning);
  g_free (advice);
}

gboolean
pci_slot_parse_address (const char *text, PciSlot *slot)
{
  g_auto (GStrv) parts = NULL;
  g_autofree char *line = g_strdup (text);
  guint64 domain, bus, number;
  size_t len = strlen (line);

  if (len && line[len - 1] == '\n')
    line[len - 1] = '\0';
  parts = g_strsplit (line, ":", 0);
  if (g_strv_length (parts) < 2 || g_strv_length (parts) > 3 || strlen (parts[0]) < 4 ||
      strlen (parts[0]) > 8 || strlen (parts[1]) != 2 ||
      !g_ascii_string_to_unsigned (parts[0], 16, 0, G_MAXUINT32, &domain, NULL) ||
      !g_ascii_string_to_unsigned (parts[1], 16, 0, 0xff, &bus, NULL))
    return FALSE;
  if (parts[2] && (strlen (parts[2]) != 2 ||
                   !g_ascii_string_to_unsigned (parts[2], 16, 0, 0x1f, &number, NULL)))
    return FALSE;
  slot->domain = (uint32_t) domain;
  slot->bus = (uint8_t) bus;
  return TRUE;
}

/* ---- the tree ------------------------------------------------------------ */

static int
node_of (Isolation *self, const char *name)
{
  gpointer p = name ? g_hash_table_lookup (self->index, name) : NULL;

  return p ? GPOINTER_TO_INT (p) - 1 : -1;
}

static const Device *
device_at (Isolation *self, int i)
{
  return g_ptr_array_index (self->devices, (guint) i);
}

static gboolean
node_is_bridge (const AcsNode *node)
{
  return node->config.header_type == 1 || node->config.header_type == 2;
}

/* "0000:02:00.0 (82574L Gigabit Network Connection)" */
static char *
describe (Isolation *self, int i)
{
  const Device *d = device_at (self, i);

  if (d->model && *d->model)
    return g_strdup_printf ("%s (%s)", d->name, d->model);
  return g_strdup (d->name);
}

/* "a, b and c", naming at most NAMED_MAX */
static char *
describe_list (Isolation *self, const int *nodes, guint count)
{
  g_autoptr (GString) out = g_string_new ("");

  for (guint k = 0; k < count && k < NAMED_MAX; k++)
    {
      g_autofree char *one = describe (self, nodes[k]);
      if (k > 0)
        g_string_append (out, k + 1 == count ? " and " : ", ");
      g_string_append (out, one);
    }
  if (count > NAMED_MAX)
    g_string_append_printf (out, " and %u more", count - NAMED_MAX);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static GArray *
members_of (Isolation *self, int64_t group)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (int));

  for (size_t i = 0; i < self->n; i++)
    if (self->nodes[i].kernel_group == group)
      {
        int k = (int) i;
        g_array_append_val (out, k);
      }
  return out;
}

/* The members other than @skip. */
static GArray *
others (GArray *members, int skip)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (int));

  for (guint k = 0; k < members->len; k++)
    if (g_array_index (members, int, k) != skip)
      g_array_append_val (out, g_array_index (members, int, k));
  return out;
}

static const char *
missing_acs (const AcsNode *node)
{
  if (node->config.acs)
    return "has an ACS capability but does not enable all of Source Validation, Request "
           "Redirect, Completion Redirect and Upstream Forwarding";
  return "has no ACS (Access Control Services) capability";
}

static char *
explain (Isolation *self, const AcsExplanation *e)
{
  g_autoptr (GArray) members = members_of (self, e->group);
  g_autofree char *all = describe_list (self, (int *) members->data, members->len);
  g_autofree char *culprit = e->cause_device >= 0 ? describe (self, e->cause_device) : NULL;
  uint32_t group = (uint32_t) e->group;
  guint endpoints = 0;

  for (guint k = 0; k < members->len; k++)
    if (!device_is_bridge (device_at (self, g_array_index (members, int, k))))
      endpoints++;

  switch (e->cause)
    {
    case ACS_CAUSE_ISOLATED:
      if (endpoints == 0)
        return g_strdup_printf ("IOMMU group %u holds only %s, which stays with the host.", group,
                                all);
      if (members->len == 1)
        return g_strdup_printf ("%s is alone in IOMMU group %u: it can go to a virtual machine "
                                "without taking anything else from the host.",
                                all, group);
      return g_strdup_printf ("IOMMU group %u holds %s: one device and the bridges above it, "
                              "which stay with the host, so nothing else leaves the host with it.",
                              group, all);
    case ACS_CAUSE_MULTIFUNCTION:
      return g_strdup_printf ("%s are functions of one device with no ACS between them, so the "
                              "kernel cannot keep them apart: they share IOMMU group %u and can "
                              "only be assigned together.",
                              all, group);
    case ACS_CAUSE_BRIDGE_WITHOUT_ACS:
      {
        g_autoptr (GArray) rest = others (members, e->cause_device);
        g_autofree char *below = describe_list (self, (int *) rest->data, rest->len);
        const AcsNode *b = &self->nodes[e->cause_device];
        const char *why =
            acs_node_has_quirk (self->nodes, self->n, (size_t) e->cause_device) && !b->config.acs
                ? "cannot keep peer-to-peer traffic apart (a chipset limit Linux "
                  "knows by its id)"
                : missing_acs (b);
        return g_strdup_printf ("%s, a %s, %s, so the kernel cannot tell the devices behind it "
                                "apart: %s share IOMMU group %u with it.",
                                culprit, pciconfig_port_type_to_string (b->config.port_type), why,
                                below, group);
      }
    case ACS_CAUSE_PCI_BRIDGE:
      {
        g_autoptr (GArray) rest = others (members, e->cause_device);
        g_autofree char *below = describe_list (self, (int *) rest->data, rest->len);
        const AcsNode *b = &self->nodes[e->cause_device];
        return g_strdup_printf ("%s is a %s: the conventional PCI devices behind it (%s) reach the "
                                "IOMMU with its requester ID, so they cannot be told apart and "
                                "share IOMMU group %u.",
                                culprit,
                                b->config.port_type == PCICONFIG_PCIE_TO_PCI_BRIDGE
                                    ? "PCIe-to-PCI bridge"
                                    : "conventional PCI bridge",
                                below, group);
      }
    case ACS_CAUSE_ALIAS:
      {
        g_autoptr (GArray) rest = others (members, e->cause_device);
        g_autofree char *below = describe_list (self, (int *) rest->data, rest->len);
        return g_strdup_printf ("%s hosts a PCI domain of its own (Intel VMD) and does the DMA "
                                "of the devices in it: %s reach the IOMMU with its requester ID "
                                "and share IOMMU group %u with it.",
                                culprit, below, group);
      }
    case ACS_CAUSE_UNKNOWN: break;
    }

  for (guint k = 0; k < members->len; k++)
    {
      int i = g_array_index (members, int, k);
      if (self->nodes[i].config.malformed)
        {
          g_autofree char *who = describe (self, i);
          return g_strdup_printf ("vfiod cannot tell why IOMMU group %u holds %s: the config "
                                  "space of %s cannot be trusted (%s).",
                                  group, all, who, self->nodes[i].config.malformed);
        }
    }
  return g_strdup_printf ("vfiod's copy of the kernel's grouping rules does not give IOMMU group "
                          "%u its members (%s): a platform rule or quirk vfiod does not know "
                          "decided it, so vfiod does not guess why.",
                          group, all);
}

Isolation *
isolation_new (GPtrArray *devices)
{
  Isolation *self = g_new0 (Isolation, 1);
  g_autofree gboolean *through = NULL;

  self->devices = devices;
  self->n = devices->len;
  self->nodes = g_new0 (AcsNode, self->n ? self->n : 1);
  self->explained = g_new0 (AcsExplanation, self->n ? self->n : 1);
  through = g_new0 (gboolean, self->n ? self->n : 1);
  self->index = g_hash_table_new (g_str_hash, g_str_equal);
  self->groups = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) group_cause_free);

  for (size_t i = 0; i < self->n; i++)
    g_hash_table_insert (self->index, (gpointer) device_at (self, (int) i)->name,
                         GINT_TO_POINTER ((int) i + 1));

  for (size_t i = 0; i < self->n; i++)
    {
      const Device *d = device_at (self, (int) i);
      AcsNode *node = &self->nodes[i];
      g_autofree char *parent = NULL;
      bool domain = false;
      int p;

      node->address = d->address;
      node->config = d->config;
      node->kernel_group = d->group;
      node->parent = node->alias_of = -1;
      if (d->syspath)
        parent = device_parent_from_syspath (d->syspath, &domain);
      p = node_of (self, parent);
      if (p < 0)
        continue;
      if (domain)
        {
          node->alias_of = p;
          through[i] = TRUE;
        }
      else
        node->parent = p;
    }
  /* everything in a hosted domain reaches the IOMMU as its host: the
   * alias of the domain's root bus devices, inherited down the tree
   * (parents come from shorter paths: no loops, depth below n) */
  for (size_t i = 0; i < self->n; i++)
    {
      int top = (int) i;
      for (size_t steps = 0; self->nodes[top].parent >= 0 && steps < self->n; steps++)
        top = self->nodes[top].parent;
      if (through[top] && (int) i != top)
        self->nodes[i].alias_of = self->nodes[top].alias_of;
    }

  if (acs_explain_all (self->nodes, self->n, self->explained) < 0)
    for (size_t i = 0; i < self->n; i++)
      self->explained[i] = (AcsExplanation){ .group = self->nodes[i].kernel_group,
                                             .cause = ACS_CAUSE_UNKNOWN,
                                             .cause_device = -1 };

  for (size_t i = 0; i < self->n; i++)
    {
      const AcsExplanation *e = &self->explained[i];
      GroupCause *cause;

      if (e->group < 0 || g_hash_table_contains (self->groups, GUINT_TO_POINTER ((guint) e->group)))
        continue;
      cause = g_new0 (GroupCause, 1);
      cause->group = (uint32_t) e->group;
      cause->cause = acs_cause_to_string (e->cause);
      cause->cause_device =
          g_strdup (e->cause_device >= 0 ? device_at (self, e->cause_device)->name : "");
      cause->explanation = explain (self, e);
      g_hash_table_insert (self->groups, GUINT_TO_POINTER (cause->group), cause);
    }
  return self;
}

void
isolation_free (Isolation *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->groups);
  g_hash_table_unref (self->index);
  g_free (self->explained);
  g_free (self->nodes);
  g_free (self);
}

const GroupCause *
isolation_group (Isolation *self, uint32_t group)
{
  return g_hash_table_lookup (self->groups, GUINT_TO_POINTER (group));
}

/* ---- advice ------------------------------------------------------------- */

static gint
isolating_compare (gconstpointer a, gconstpointer b)
{
  const IsolatingSlot *x = *(IsolatingSlot **) a, *y = *(IsolatingSlot **) b;

  /* named slots first, by name; then ports by address */
  if ((*x->slot == '\0') != (*y->slot == '\0'))
    return *x->slot == '\0' ? 1 : -1;
  if (*x->slot && strcmp (x->slot, y->slot) != 0)
    return strcmp (x->slot, y->slot);
  return strcmp (x->port, y->port);
}

/* Root and downstream ports a device plugged below would be isolated
 * by (with their slot's name when one is known), outside a VMD domain. */
static GPtrArray *
isolating_places (Isolation *self, GPtrArray *slots)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) isolating_slot_free);

  for (size_t i = 0; i < self->n; i++)
    {
      const AcsNode *p = &self->nodes[i];
      g_autoptr (GPtrArray) occupants = NULL;
      IsolatingSlot *place;

      if (!node_is_bridge (p) || p->alias_of >= 0 || p->config.malformed ||
          (p->config.port_type != PCICONFIG_ROOT_PORT &&
           p->config.port_type != PCICONFIG_DOWNSTREAM_PORT) ||
          !acs_path_isolates (self->nodes, self->n, i))
        continue;
      place = g_new0 (IsolatingSlot, 1);
      place->port = g_strdup (device_at (self, (int) i)->name);
      for (guint k = 0; slots && k < slots->len && place->slot == NULL; k++)
        {
          const PciSlot *s = g_ptr_array_index (slots, k);
          if (s->domain == p->address.domain && s->bus == p->config.secondary_bus)
            place->slot = g_strdup (s->name);
        }
      if (place->slot == NULL)
        place->slot = g_strdup ("");
      occupants = g_ptr_array_new ();
      for (size_t j = 0; j < self->n; j++)
        if (self->nodes[j].parent == (int) i)
          g_ptr_array_add (occupants, g_strdup (device_at (self, (int) j)->name));
      g_ptr_array_add (occupants, NULL);
      place->occupants = (char **) g_ptr_array_free (g_steal_pointer (&occupants), FALSE);
      g_ptr_array_add (out, place);
    }
  g_ptr_array_sort (out, isolating_compare);
  return out;
}

static char *
describe_places (GPtrArray *places)
{
  g_autoptr (GString) out = g_string_new ("");

  for (guint k = 0; k < places->len && k < PLACES_MAX; k++)
    {
      const IsolatingSlot *p = g_ptr_array_index (places, k);
      g_autofree char *who = p->occupants[0] ? g_strjoinv (", ", p->occupants) : NULL;

      if (k > 0)
        g_string_append (out, k + 1 == MIN (places->len, PLACES_MAX) && places->len <= PLACES_MAX
                                  ? " or "
                                  : ", ");
      if (*p->slot)
        g_string_append_printf (out, "slot %s (port %s, %s%s)", p->slot, p->port,
                                who ? "now holding " : "free", who ? who : "");
      else
        g_string_append_printf (out, "the port %s (%s%s)", p->port, who ? "now holding " : "free",
                                who ? who : "");
    }
  if (places->len > PLACES_MAX)
    g_string_append_printf (out, " or %u more", places->len - PLACES_MAX);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
same_bus (const AcsNode *a, const AcsNode *b)
{
  return a->address.domain == b->address.domain && a->address.bus == b->address.bus;
}

/* A bus reset reaches every device on the device's bus and everything
 * behind them: those outside its group, named, or NULL. */
static char *
reset_warning (Isolation *self, int d)
{
  const Device *device = device_at (self, d);
  char **methods = device->reset_methods;
  g_autoptr (GArray) outside = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GString) groups = g_string_new ("");
  g_autofree char *me = describe (self, d);
  g_autofree char *named = NULL;
  const AcsNode *node = &self->nodes[d];

  /* bridges stay with the host: nobody resets them for a guest */
  if (methods == NULL || device_is_bridge (device))
    return g_strdup ("");
  if (methods[0] == NULL)
    return g_strdup_printf ("%s has no reset method: a virtual machine gets it in whatever "
                            "state the host or the last guest left it.",
                            me);
  for (char **m = methods; *m; m++)
    if (strcmp (*m, VFIOD_RESET_BUS) != 0)
      return g_strdup ("");
  if (node->parent < 0)
    return g_strdup ("");

  for (size_t j = 0; j < self->n; j++)
    {
      int top = (int) j;
      gboolean reached = FALSE;

      /* j itself on the bus, or behind a device on it */
      for (size_t steps = 0; top >= 0 && steps <= self->n; steps++)
        {
          if (self->nodes[top].parent == node->parent && same_bus (&self->nodes[top], node))
            {
              reached = TRUE;
              break;
            }
          top = self->nodes[top].parent;
        }
      if (reached && self->nodes[j].kernel_group != node->kernel_group)
        {
          int k = (int) j;
          g_array_append_val (outside, k);
        }
    }
  if (outside->len == 0)
    return g_strdup ("");
  for (guint k = 0; k < outside->len; k++)
    {
      int64_t g = self->nodes[g_array_index (outside, int, k)].kernel_group;
      gboolean said = g < 0;
      /* each group once ("1" is not said by "12") */
      for (guint e = 0; e < k && !said; e++)
        said = self->nodes[g_array_index (outside, int, e)].kernel_group == g;
      if (!said)
        g_string_append_printf (groups, "%s%" G_GINT64_FORMAT, groups->len ? ", " : "", g);
    }
  named = describe_list (self, (int *) outside->data, outside->len);
  return g_strdup_printf ("%s can only be reset by resetting its bus, which also resets %s: QEMU "
                          "refuses to reset it (\"depends on group %s which is not owned\") "
                          "unless IOMMU group %s goes to the same virtual machine.",
                          me, named, groups->str, groups->str);
}

IsolationAdvice *
isolation_advise (Isolation *self, const char *device, GPtrArray *slots)
{
  int d = node_of (self, device);
  g_autoptr (IsolationAdvice) out = NULL;
  g_autofree char *me = NULL;
  const AcsExplanation *e;
  const AcsNode *node;

  if (d < 0)
    return NULL;
  out = g_new0 (IsolationAdvice, 1);
  out->isolating = isolating_places (self, slots);
  out->reset_warning = reset_warning (self, d);
  me = describe (self, d);
  e = &self->explained[d];
  node = &self->nodes[d];

  if (e->group < 0)
    out->advice = g_strdup_printf ("%s has no IOMMU group: the IOMMU looks off.", me);
  else if (e->cause == ACS_CAUSE_ISOLATED && device_is_bridge (device_at (self, d)))
    out->advice = g_strdup_printf ("%s is a bridge: it stays with the host.", me);
  else if (e->cause == ACS_CAUSE_ISOLATED)
    out->advice = g_strdup_printf ("%s already has an IOMMU group of its own.", me);
  else if (e->cause == ACS_CAUSE_UNKNOWN)
    out->advice = g_strdup_printf ("vfiod cannot tell what would isolate %s: the rules it knows do "
                                   "not give its group.",
                                   me);
  else if (device_is_bridge (device_at (self, d)))
    out->advice = g_strdup_printf ("%s is a bridge: it stays with the host, and only the devices "
                                   "behind it can be assigned.",
                                   me);
  else if (e->cause == ACS_CAUSE_ALIAS)
    out->advice = g_strdup_printf ("The devices of a VMD domain cannot be isolated from the VMD: "
                                   "turning VMD off in the firmware setup (Intel VMD or RST) gives "
                                   "%s a group the kernel decides by its own port.",
                                   me);
  else if (e->cause == ACS_CAUSE_MULTIFUNCTION && e->cause_device >= 0 &&
           self->nodes[e->cause_device].parent == node->parent &&
           same_bus (&self->nodes[e->cause_device], node) &&
           self->nodes[e->cause_device].address.slot == node->address.slot)
    out->advice = g_strdup_printf ("%s and the other functions of its device can only be assigned "
                                   "together: the device has no ACS "
                                   "between its functions, and no slot changes that.",
                                   me);
  else if (node->parent < 0)
    out->advice = g_strdup_printf ("%s is built into the platform and cannot move: its group can "
                                   "only be assigned whole, as a group.",
                                   me);
  else if (out->isolating->len == 0)
    out->advice = g_strdup_printf ("This platform cannot isolate %s: no slot or port here gives "
                                   "the devices behind it an IOMMU group of their own. Its group "
                                   "can only be assigned whole, as a group.",
                                   me);
  else
    {
      g_autofree char *places = describe_places (out->isolating);
      if (e->cause == ACS_CAUSE_PCI_BRIDGE)
        out->advice = g_strdup_printf ("A conventional PCI card behind a PCIe-to-PCI bridge cannot "
                                       "be isolated; a PCIe card of its kind in %s would get an "
                                       "IOMMU group of its own.",
                                       places);
      else
        out->advice = g_strdup_printf ("Moving the card to %s would give %s an IOMMU group of its "
                                       "own.",
                                       places, me);
    }
  return g_steal_pointer (&out);
}
