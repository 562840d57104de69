/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fields.c: every row of the contract has its row in the service, each
 * row appends what its signature says, and the device dictionary of
 * GetGroup and ListDevices, read back from a message (no bus daemon: a
 * started bus on one end of a socket pair). */
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fields.h"
#include "grants.h"
#include "names.h"

typedef struct {
  sd_bus *bus;
  sd_bus_message *m;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  g_assert_cmpint (sd_bus_new (&f->bus), ==, 0);
  g_assert_cmpint (sd_bus_set_fd (f->bus, fds[0], fds[0]), ==, 0);
  g_assert_cmpint (sd_bus_start (f->bus), >=, 0);
  close (fds[1]);
  g_assert_cmpint (
      sd_bus_message_new_signal (f->bus, &f->m, VFIOD_DBUS_PATH, "org.example.Test", "Test"), ==,
      0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  sd_bus_message_unref (f->m);
  sd_bus_flush_close_unref (f->bus);
}

static void
fixture_seal (Fixture *f)
{
  g_assert_cmpint (sd_bus_message_seal (f->m, 1, 0), ==, 0);
  g_assert_cmpint (sd_bus_message_rewind (f->m, true), >=, 0);
}

static Device *
full_device (void)
{
  PciAddress a;
  Device *d;

  g_assert_true (address_parse ("0000:03:00.0", &a));
  d = device_new (&a);
  d->group = 12;
  d->vendor_id = 0x8086;
  d->device_id = 0x10d3;
  d->subsystem_vendor_id = 0x8086;
  d->subsystem_device_id = 0xa01f;
  d->class_code = 0x020000;
  d->vendor = "Intel Corporation";
  d->model = "82574L Gigabit Network Connection";
  d->driver = g_strdup ("vfio-pci");
  d->in_use = g_strdup ("");
  d->persistent = g_strdup ("active");
  d->has_owner = true;
  d->owner_uid = 1000;
  d->reset_methods = g_strsplit ("flr bus", " ", -1);
  return d;
}

/* A device with nothing sparse to say, and no names or driver. */
static Device *
bare_device (void)
{
  PciAddress a;
  Device *d;

  g_assert_true (address_parse ("0000:00:00.0", &a));
  d = device_new (&a);
  d->class_code = 0x060000;
  return d;
}

/* The value at the read position, as "sig:text". */
static char *
read_value (sd_bus_message *m)
{
  char type;
  const char *contents;
  GString *out = g_string_new (NULL);

  g_assert_cmpint (sd_bus_message_peek_type (m, &type, &contents), >, 0);
  g_string_append_c (out, type);
  if (contents)
    g_string_append (out, contents);
  g_string_append_c (out, ':');
  switch (type)
    {
    case 's':
      {
        const char *s;
        g_assert_cmpint (sd_bus_message_read_basic (m, 's', &s), >, 0);
        g_string_append (out, s);
        break;
      }
    case 'u':
      {
        uint32_t u;
        g_assert_cmpint (sd_bus_message_read_basic (m, 'u', &u), >, 0);
        g_string_append_printf (out, "%u", u);
        break;
      }
    case 'q':
      {
        uint16_t q;
        g_assert_cmpint (sd_bus_message_read_basic (m, 'q', &q), >, 0);
        g_string_append_printf (out, "0x%04x", q);
        break;
      }
    case 'b':
      {
        int b;
        g_assert_cmpint (sd_bus_message_read_basic (m, 'b', &b), >, 0);
        g_string_append (out, b ? "true" : "false");
        break;
      }
    case 'o':
      {
        const char *o;
        g_assert_cmpint (sd_bus_message_read_basic (m, 'o', &o), >, 0);
        g_string_append (out, o);
        break;
      }
    case 'a':
      {
        char t = contents[0];
        g_assert_cmpint (strlen (contents), ==, 1);
        g_assert_cmpint (sd_bus_message_enter_container (m, 'a', contents), >, 0);
        for (int n = 0;; n++)
          {
            union {
              const char *s;
              uint32_t u;
            } v;
            int r = sd_bus_message_read_basic (m, t, &v);
            g_assert_cmpint (r, >=, 0);
            if (r == 0)
              break;
            if (n)
              g_string_append_c (out, ',');
            if (t == 'u')
              g_string_append_printf (out, "%u", v.u);
            else
              g_string_append (out, v.s);
          }
        g_assert_cmpint (sd_bus_message_exit_container (m), >, 0);
        break;
      }
    default: g_assert_not_reached ();
    }
  return g_string_free (out, FALSE);
}

/* An a{sv} at the read position as "key=sig:value" lines, in order. */
static char *
read_dictionary (sd_bus_message *m)
{
  GString *out = g_string_new (NULL);
  int r;

  g_assert_cmpint (sd_bus_message_enter_container (m, 'a', "{sv}"), >, 0);
  while ((r = sd_bus_message_enter_container (m, 'e', "sv")) > 0)
    {
      const char *key, *contents;
      g_autofree char *value = NULL;

      g_assert_cmpint (sd_bus_message_read_basic (m, 's', &key), >, 0);
      g_assert_cmpint (sd_bus_message_peek_type (m, NULL, &contents), >, 0);
      g_assert_cmpint (sd_bus_message_enter_container (m, 'v', contents), >, 0);
      value = read_value (m);
      g_assert_cmpint (sd_bus_message_exit_container (m), >, 0);
      g_assert_cmpint (sd_bus_message_exit_container (m), >, 0);
      g_string_append_printf (out, "%s=%s\n", key, value);
    }
  g_assert_cmpint (r, ==, 0);
  g_assert_cmpint (sd_bus_message_exit_container (m), >, 0);
  return g_string_free (out, FALSE);
}

/* Every row of vfiod-fields.h has its row in the service, with the same
 * names, signatures and presence, at its index, and the functions its
 * names call for. */
static void
test_rows (void)
{
  gsize n = 0;

#define X(ID, PROPERTY, PSIG, KEY, KSIG, PRESENCE)                           \
  do                                                                         \
    {                                                                        \
      const DeviceField *f = &fields_device[DEVICE_FIELD_##ID];              \
      g_assert_cmpstr (f->id, ==, #ID);                                      \
      g_assert_cmpstr (f->property, ==, PROPERTY);                           \
      g_assert_cmpstr (f->property_signature, ==, PSIG);                     \
      g_assert_cmpstr (f->key, ==, KEY);                                     \
      g_assert_cmpstr (f->key_signature, ==, KSIG);                          \
      g_assert_cmpint (f->presence, ==, PRESENCE);                           \
      g_assert_true ((f->property != NULL) == (f->append_property != NULL)); \
      g_assert_true ((f->key != NULL) == (f->append_entry != NULL));         \
      g_assert_true (f->property != NULL || f->differ == NULL);              \
      if (f->property)                                                       \
        g_assert_true (fields_device_by_property (f->property) == f);        \
      n++;                                                                   \
    }                                                                        \
  while (0);
  VFIOD_DEVICE_FIELDS (X)
#undef X
  g_assert_cmpuint (n, ==, G_N_ELEMENTS (fields_device));

  n = 0;
#define X(ID, PROPERTY, PSIG, KEY, KSIG, PRESENCE)                           \
  do                                                                         \
    {                                                                        \
      const GroupField *f = &fields_group[GROUP_FIELD_##ID];                 \
      g_assert_cmpstr (f->id, ==, #ID);                                      \
      g_assert_cmpstr (f->property, ==, PROPERTY);                           \
      g_assert_cmpstr (f->property_signature, ==, PSIG);                     \
      g_assert_null (KEY);                                                   \
      g_assert_true ((f->property != NULL) == (f->append_property != NULL)); \
      if (f->property)                                                       \
        g_assert_true (fields_group_by_property (f->property) == f);         \
      n++;                                                                   \
    }                                                                        \
  while (0);
  VFIOD_GROUP_FIELDS (X)
#undef X
  g_assert_cmpuint (n, ==, G_N_ELEMENTS (fields_group));

  g_assert_null (fields_device_by_property ("Nothing"));
  g_assert_null (fields_group_by_property (VFIOD_PROP_ADDRESS));
  /* the names of the objects are const, everything else is signalled */
  g_assert_null (fields_device[DEVICE_FIELD_ADDRESS].differ);
  g_assert_null (fields_group[GROUP_FIELD_NUMBER].differ);
  g_assert_nonnull (fields_device[DEVICE_FIELD_DRIVER].differ);
  g_assert_nonnull (fields_group[GROUP_FIELD_VIABLE].differ);
}

/* Each property appends a value of its row's signature (sd-bus refuses
 * anything else in a variant of that signature), for a device with
 * everything and one with nothing set, and for a group. */
static void
test_property_signatures (Fixture *f, gconstpointer data)
{
  g_autoptr (Device) full = full_device ();
  g_autoptr (Device) bare = bare_device ();
  GPtrArray *devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  g_autoptr (View) view = NULL;
  const ViewGroup *g;

  g_ptr_array_add (devices, full_device ());
  view = view_new (devices);
  g = view_group (view, 12);
  g_assert_nonnull (g);

  for (gsize i = 0; i < G_N_ELEMENTS (fields_device); i++)
    {
      const DeviceField *row = &fields_device[i];
      const Device *ds[] = { full, bare };

      if (row->property == NULL)
        continue;
      for (gsize k = 0; k < G_N_ELEMENTS (ds); k++)
        {
          g_assert_cmpint (sd_bus_message_open_container (f->m, 'v', row->property_signature), >=,
                           0);
          g_assert_cmpint (row->append_property (f->m, row, ds[k]), >=, 0);
          g_assert_cmpint (sd_bus_message_close_container (f->m), >=, 0);
        }
    }
  for (gsize i = 0; i < G_N_ELEMENTS (fields_group); i++)
    {
      const GroupField *row = &fields_group[i];

      g_assert_cmpint (sd_bus_message_open_container (f->m, 'v', row->property_signature), >=, 0);
      g_assert_cmpint (row->append_property (f->m, row, g), >=, 0);
      g_assert_cmpint (sd_bus_message_close_container (f->m), >=, 0);
    }

  /* and the values read back are the object's */
  fixture_seal (f);
  for (gsize i = 0; i < G_N_ELEMENTS (fields_device); i++)
    {
      const DeviceField *row = &fields_device[i];
      static const char *const want[][2] = {
        [DEVICE_FIELD_ADDRESS] = { "s:0000:03:00.0", "s:0000:00:00.0" },
        [DEVICE_FIELD_GROUP] = { "o:" VFIOD_DBUS_GROUP_PATH_PREFIX "/12", "o:/" },
        [DEVICE_FIELD_VENDOR_ID] = { "q:0x8086", "q:0x0000" },
        [DEVICE_FIELD_DEVICE_ID] = { "q:0x10d3", "q:0x0000" },
        [DEVICE_FIELD_SUBSYSTEM_VENDOR_ID] = { "q:0x8086", "q:0x0000" },
        [DEVICE_FIELD_SUBSYSTEM_DEVICE_ID] = { "q:0xa01f", "q:0x0000" },
        [DEVICE_FIELD_CLASS] = { "u:131072", "u:393216" },
        [DEVICE_FIELD_VENDOR] = { "s:Intel Corporation", "s:" },
        [DEVICE_FIELD_NAME] = { "s:82574L Gigabit Network Connection", "s:" },
        [DEVICE_FIELD_DRIVER] = { "s:vfio-pci", "s:" },
        [DEVICE_FIELD_STATE] = { "s:vfio", "s:bridge" },
        [DEVICE_FIELD_BRIDGE] = { "b:false", "b:true" },
        [DEVICE_FIELD_IN_USE] = { "s:", "s:" },
        [DEVICE_FIELD_OWNER_UID] = { "u:1000", "u:4294967295" },
        [DEVICE_FIELD_PERSISTENT] = { "s:active", "s:" },
        [DEVICE_FIELD_RESET_METHODS] = { "as:flr,bus", "as:" },
      };

      if (row->property == NULL)
        continue;
      for (gsize k = 0; k < 2; k++)
        {
          g_autofree char *got = NULL;
          g_assert_cmpint (sd_bus_message_enter_container (f->m, 'v', NULL), >, 0);
          got = read_value (f->m);
          g_assert_cmpint (sd_bus_message_exit_container (f->m), >, 0);
          g_assert_nonnull (want[i][k]);
          g_assert_cmpstr (got, ==, want[i][k]);
        }
    }
}

/* The dictionary of a device with everything to say: every key, in the
 * rows' order; granted_uids only from grants of the group's node that
 * are not being revoked. */
static void
test_device_dictionary (Fixture *f, gconstpointer data)
{
  g_autoptr (Device) d = full_device ();
  g_autoptr (GPtrArray) grants = g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);
  g_autofree char *got = NULL;

  g_ptr_array_add (grants, grant_new ("/dev/vfio/12", 12, 1000, false));
  g_ptr_array_add (grants, grant_new ("/dev/vfio/12", 12, 1001, true));             /* revoking */
  g_ptr_array_add (grants, grant_new ("/dev/vfio/devices/vfio3", 12, 1002, false)); /* a cdev */
  g_ptr_array_add (grants, grant_new ("/dev/vfio/7", 7, 1003, false)); /* another group */
  g_ptr_array_add (grants, grant_new ("/dev/vfio/12", 12, 0, false));
  g_assert_cmpint (fields_append_device (f->m, d, grants), >=, 0);
  fixture_seal (f);
  got = read_dictionary (f->m);
  g_assert_cmpstr (got, ==,
                   "address=s:0000:03:00.0\n"
                   "group=u:12\n"
                   "vendor_id=q:0x8086\n"
                   "device_id=q:0x10d3\n"
                   "subsystem_vendor_id=q:0x8086\n"
                   "subsystem_device_id=q:0xa01f\n"
                   "class=u:131072\n"
                   "vendor=s:Intel Corporation\n"
                   "name=s:82574L Gigabit Network Connection\n"
                   "driver=s:vfio-pci\n"
                   "state=s:vfio\n"
                   "bridge=b:false\n"
                   "in_use=s:\n"
                   "granted_uids=au:1000,0\n"
                   "owner_uid=u:1000\n"
                   "persistent=s:active\n"
                   "reset_methods=as:flr,bus\n");
}

/* A device with nothing sparse to say: exactly the keys that are always
 * there, in order, whatever the grants of other groups; and a list of
 * devices is one dictionary each, in order. */
static void
test_device_dictionary_sparse (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  g_autoptr (GPtrArray) grants = g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);
  g_autofree char *bare = NULL, *full = NULL, *grouped = NULL;
  g_autoptr (GString) always = g_string_new (NULL);
  Device *d;

  g_ptr_array_add (devices, bare_device ());
  g_ptr_array_add (devices, full_device ());
  d = full_device ();
  d->group = 7;
  d->has_owner = false;
  g_clear_pointer (&d->persistent, g_free);
  g_ptr_array_add (devices, d);
  g_ptr_array_add (grants, grant_new ("/dev/vfio/12", 12, 1000, false));
  g_assert_cmpint (fields_append_devices (f->m, devices, grants), >=, 0);
  fixture_seal (f);

  g_assert_cmpint (sd_bus_message_enter_container (f->m, 'a', "a{sv}"), >, 0);
  bare = read_dictionary (f->m);
  full = read_dictionary (f->m);
  grouped = read_dictionary (f->m);
  g_assert_cmpint (sd_bus_message_exit_container (f->m), >, 0);

  for (gsize i = 0; i < G_N_ELEMENTS (fields_device); i++)
    if (fields_device[i].key && fields_device[i].presence == VFIOD_FIELD_ALWAYS)
      g_string_append_printf (always, "%s=", fields_device[i].key);
  {
    g_auto (GStrv) lines = g_strsplit (bare, "\n", -1);
    g_autoptr (GString) keys = g_string_new (NULL);
    for (char **l = lines; *l && **l; l++)
      g_string_append_len (keys, *l, strchr (*l, '=') - *l + 1);
    g_assert_cmpstr (keys->str, ==, always->str);
  }
  g_assert_nonnull (strstr (bare, "driver=s:\n"));
  g_assert_nonnull (strstr (bare, "vendor=s:\n"));
  g_assert_nonnull (strstr (bare, "reset_methods=as:\n"));
  g_assert_nonnull (strstr (full, "granted_uids=au:1000\n"));
  g_assert_nonnull (strstr (grouped, "group=u:7\n"));
  g_assert_null (strstr (grouped, "granted_uids="));
  g_assert_null (strstr (grouped, "owner_uid="));
  g_assert_null (strstr (grouped, "persistent="));
}

/* One property changes when, and only when, its value does. */
static void
test_differ (void)
{
  g_autoptr (Device) a = full_device ();
  g_autoptr (Device) b = full_device ();

  for (gsize i = 0; i < G_N_ELEMENTS (fields_device); i++)
    if (fields_device[i].differ)
      g_assert_false (fields_device[i].differ (a, b));

  b->owner_uid = 0;
  g_free (b->driver);
  b->driver = g_strdup ("e1000e");
  for (gsize i = 0; i < G_N_ELEMENTS (fields_device); i++)
    if (fields_device[i].differ)
      g_assert_true (
          fields_device[i].differ (a, b) ==
          (i == DEVICE_FIELD_OWNER_UID || i == DEVICE_FIELD_DRIVER || i == DEVICE_FIELD_STATE));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fields/rows", test_rows);
  g_test_add ("/fields/property-signatures", Fixture, NULL, fixture_setup, test_property_signatures,
              fixture_teardown);
  g_test_add ("/fields/device-dictionary", Fixture, NULL, fixture_setup, test_device_dictionary,
              fixture_teardown);
  g_test_add ("/fields/device-dictionary-sparse", Fixture, NULL, fixture_setup,
              test_device_dictionary_sparse, fixture_teardown);
  g_test_add_func ("/fields/differ", test_differ);
  return g_test_run ();
}
