/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state file: whole transactions round-trip, the earlier format is
 * migrated, and what does not validate is never acted on. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "address.h"
#include "state.h"

#define BOOT_A     "0b6e6d2a-9f1c-4c55-8a47-3e1f0d2c9b10"
#define BOOT_B     "7d3a1c5e-2b4f-4e6a-9c8d-1f0e2d3c4b5a"
#define BOOT_UPPER "0B6E6D2A-9F1C-4C55-8A47-3E1F0D2C9B10"

static StateContents *
parse (const char *text)
{
  return state_contents_parse (text, strlen (text));
}

static const StateOriginal *
member (const StateTransaction *t, guint i)
{
  return g_ptr_array_index (t->members, i);
}

/* A device as read from sysfs: @name with ids (vendor 0x8086, @device_id). */
static Device *
device_at (const char *name, uint16_t device_id)
{
  PciAddress address;
  Device *d;

  g_assert_true (address_parse (name, &address));
  d = device_new (&address);
  d->vendor_id = 0x8086;
  d->device_id = device_id;
  d->subsystem_vendor_id = 0x1043;
  d->subsystem_device_id = 0x8694;
  d->class_code = 0x0c0330;
  return d;
}

/* The group now: USB and SATA as recorded below. */
static GPtrArray *
group_now (uint16_t usb_device_id)
{
  GPtrArray *devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);

  g_ptr_array_add (devices, device_at ("0000:00:14.0", usb_device_id));
  g_ptr_array_add (devices, device_at ("0000:00:17.0", 0xa282));
  return devices;
}

static StateOriginal *
member_now (GPtrArray *devices, guint i, gboolean known, const char *driver, const char *override)
{
  const Device *d = g_ptr_array_index (devices, i);
  StateOriginal *r = state_original_new (d->name, 5, known, driver, override);

  state_identity_from_device (&r->identity, d);
  return r;
}

static const char *const TWO_DETACHED =
    "[0000:00:14.0]\ngroup=5\nknown=true\ndriver=xhci_hcd\noverride=\n\n"
    "[0000:00:17.0]\ngroup=5\nknown=true\ndriver=ahci\noverride=\n\n"
    "[0000:02:00.0]\ngroup=5\nknown=true\ndriver=a driver with spaces\noverride=e1000e\n\n"
    "[transaction 4]\nstatus=pending\noperation=detach\ngroup=5\n"
    "devices=0000:02:00.0;0000:00:14.0;\ncount=2\n";

static void
test_round_trip (void)
{
  g_autoptr (StateContents) c = parse (TWO_DETACHED);
  g_autoptr (StateContents) again = NULL;
  g_autofree char *data = NULL, *data2 = NULL;
  const StateTransaction *t;
  gsize length;

  g_assert_cmpuint (c->records->len, ==, 3);
  g_assert_cmpuint (c->transactions->len, ==, 1);
  t = g_ptr_array_index (c->transactions, 0);
  g_assert_cmpuint (t->id, ==, 4);
  g_assert_cmpint (t->op, ==, STATE_OP_DETACH);
  g_assert_cmpuint (t->group, ==, 5);
  /* step order kept, originals from the device records */
  g_assert_cmpuint (t->members->len, ==, 2);
  g_assert_cmpstr (member (t, 0)->device, ==, "0000:02:00.0");
  g_assert_cmpstr (member (t, 0)->driver, ==, "a driver with spaces");
  g_assert_cmpstr (member (t, 0)->override, ==, "e1000e");
  g_assert_cmpstr (member (t, 1)->driver, ==, "xhci_hcd");
  g_assert_null (member (t, 1)->override);

  data = state_contents_to_data (c, &length);
  g_assert_cmpuint (strlen (data), ==, length);
  /* "pending" only where a transaction is under way */
  g_assert_nonnull (strstr (data, "status=pending"));
  again = parse (data);
  data2 = state_contents_to_data (again, NULL);
  g_assert_cmpstr (data, ==, data2);
}

static void
test_old_format (void)
{
  g_autoptr (StateContents) c =
      parse ("[0000:00:14.0]\ngroup=5\nknown=true\ndriver=xhci_hcd\noverride=\npending=detach\n\n"
             "[0000:00:17.0]\ngroup=5\nknown=true\ndriver=ahci\noverride=\n\n"
             "[0000:00:1f.3]\ngroup=8\nknown=false\npending=reattach\n");
  g_autofree char *data = NULL;

  g_assert_cmpuint (c->records->len, ==, 3);
  /* each pending record becomes a transaction of its own */
  g_assert_cmpuint (c->transactions->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      const StateTransaction *t = g_ptr_array_index (c->transactions, i);
      g_assert_cmpuint (t->members->len, ==, 1);
      if (strcmp (member (t, 0)->device, "0000:00:14.0") == 0)
        g_assert_cmpint (t->op, ==, STATE_OP_DETACH);
      else
        {
          g_assert_cmpstr (member (t, 0)->device, ==, "0000:00:1f.3");
          g_assert_cmpint (t->op, ==, STATE_OP_REATTACH);
        }
    }
  data = state_contents_to_data (c, NULL);
  g_assert_null (strstr (data, "pending=detach"));
}

static void
test_hostile (void)
{
  static const char *const texts[] = {
    /* a member without a record */
    "[transaction 1]\nstatus=pending\noperation=detach\ngroup=5\ndevices=0000:00:14.0;\ncount=1\n",
    /* a member of another group */
    "[0000:00:14.0]\ngroup=6\nknown=false\n\n"
    "[transaction 1]\nstatus=pending\noperation=detach\ngroup=5\ndevices=0000:00:14.0;\ncount=1\n",
    /* unknown status or operation, bad id, empty list */
    "[0000:00:14.0]\ngroup=5\nknown=false\n\n"
    "[transaction 1]\nstatus=done\noperation=detach\ngroup=5\ndevices=0000:00:14.0;\ncount=1\n",
    "[0000:00:14.0]\ngroup=5\nknown=false\n\n"
    "[transaction 1]\nstatus=pending\noperation=explode\ngroup=5\ndevices=0000:00:14.0;\ncount=1\n",
    "[0000:00:14.0]\ngroup=5\nknown=false\n\n"
    "[transaction x]\nstatus=pending\noperation=detach\ngroup=5\ndevices=0000:00:14.0;\ncount=1\n",
    "[0000:00:14.0]\ngroup=5\nknown=false\n\n"
    "[transaction 1]\nstatus=pending\noperation=detach\ngroup=5\ndevices=\n",
    /* a record that does not validate drops the transaction using it */
    "[0000:00:14.0]\ngroup=5\nknown=true\ndriver=../../x\noverride=\n\n"
    "[transaction 1]\nstatus=pending\noperation=detach\ngroup=5\ndevices=0000:00:14.0;\ncount=1\n",
    /* cut short: fewer members than it says, or no count */
    "[0000:00:14.0]\ngroup=5\nknown=false\n\n[0000:00:17.0]\ngroup=5\nknown=false\n\n"
    "[transaction 1]\nstatus=pending\noperation=detach\ngroup=5\ndevices=0000:00:14.0;\ncount=2\n",
    "[0000:00:14.0]\ngroup=5\nknown=false\n\n"
    "[transaction 1]\nstatus=pending\noperation=detach\ngroup=5\ndevices=0000:00:14.0;\n",
    /* not a key file at all */
    "\x01\x02[[[\n=\n",
  };

  /* each is logged ("Ignoring the state file's ..."): expected here */
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);
  for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autoptr (StateContents) c = NULL;

      c = parse (texts[i]);
      g_assert_cmpuint (c->transactions->len, ==, 0);
    }

  {
    /* a device in two transactions: only the first acts */
    g_autoptr (StateContents) c = NULL;

    c = parse ("[0000:00:14.0]\ngroup=5\nknown=false\n\n"
               "[transaction "
               "1]\nstatus=pending\noperation=detach\ngroup=5\ndevices=0000:00:14.0;\ncount=1\n\n"
               "[transaction "
               "2]\nstatus=pending\noperation=reattach\ngroup=5\ndevices=0000:00:14.0;\ncount=1\n");
    g_assert_cmpuint (c->transactions->len, ==, 1);
  }
}

static void
test_begin_end (void)
{
  g_autofree char *dir = g_dir_make_tmp ("vfiod-state-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "transactions.state", NULL);
  g_autoptr (GPtrArray) members =
      g_ptr_array_new_with_free_func ((GDestroyNotify) state_original_free);
  g_autoptr (StateTransaction) t = NULL;
  g_autoptr (GPtrArray) pending = NULL;
  g_autoptr (GHashTable) originals = NULL;
  g_autoptr (GPtrArray) devices = group_now (0xa2af);
  g_autoptr (GError) error = NULL;
  StateFate fates[2] = { STATE_FATE_ON_VFIO, STATE_FATE_ON_HOST };
  State *state = state_open (dir, BOOT_A, &error);
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  g_ptr_array_add (members, member_now (devices, 0, TRUE, "xhci_hcd", NULL));
  g_ptr_array_add (members, member_now (devices, 1, TRUE, "ahci", "ahci"));
  t = state_begin (state, STATE_OP_DETACH, 5, FALSE, members, &error);
  g_assert_no_error (error);

  /* on disk, in one write, before anything is touched */
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "status=pending"));
  g_assert_nonnull (strstr (text, "devices=0000:00:14.0;0000:00:17.0;"));
  /* the transaction and each record say which boot wrote them */
  g_assert_nonnull (strstr (text, "boot=" BOOT_A));
  /* and which device was at each address */
  g_assert_nonnull (strstr (text, "ids=0x8086 0xa2af 0x1043 0x8694 0x0c0330"));
  g_assert_cmpstr (t->boot, ==, BOOT_A);
  state_free (state);

  /* a restart sees the whole transaction, as this boot's */
  state = state_open (dir, BOOT_A, &error);
  pending = state_list_pending (state);
  g_assert_cmpuint (pending->len, ==, 1);
  g_assert_cmpuint (((StateTransaction *) g_ptr_array_index (pending, 0))->members->len, ==, 2);
  g_assert_true (
      state_is_this_boot (state, ((StateTransaction *) g_ptr_array_index (pending, 0))->boot));
  g_assert_cmpstr (((StateOriginal *) g_ptr_array_index (
                        ((StateTransaction *) g_ptr_array_index (pending, 0))->members, 1))
                       ->boot,
                   ==, BOOT_A);

  g_assert_true (state_end (state, t, fates, &error));
  g_clear_pointer (&text, g_free);
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_null (strstr (text, "pending"));
  originals = state_originals (state, devices, TRUE);
  g_assert_cmpstr (g_hash_table_lookup (originals, "0000:00:14.0"), ==, "xhci_hcd");
  g_assert_false (g_hash_table_contains (originals, "0000:00:17.0"));
  state_free (state);

  /* another boot: the record still gives the original driver for a
   * reattach's plan, but is not "detached by vfiod in this boot", and
   * nothing of the last boot is this boot's */
  state = state_open (dir, BOOT_B, &error);
  g_clear_pointer (&originals, g_hash_table_unref);
  originals = state_originals (state, devices, FALSE);
  g_assert_cmpstr (g_hash_table_lookup (originals, "0000:00:14.0"), ==, "xhci_hcd");
  g_clear_pointer (&originals, g_hash_table_unref);
  originals = state_originals (state, devices, TRUE);
  g_assert_cmpuint (g_hash_table_size (originals), ==, 0);
  g_assert_false (state_is_this_boot (state, BOOT_A));
  g_assert_false (state_is_this_boot (state, NULL));
  state_free (state);

  /* boot unknown (unreadable): nothing recorded is this boot's */
  state = state_open (dir, NULL, &error);
  g_assert_false (state_is_this_boot (state, BOOT_A));
  g_assert_false (state_is_this_boot (state, NULL));
  state_free (state);

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_boot_key (void)
{
  /* a record or transaction whose boot is not a boot id is not valid: it
   * is dropped (never acted on); absent is the earlier format (NULL) */
  static const char *const bad[] = {
    "[0000:00:14.0]\ngroup=5\nknown=false\nboot=\n",
    "[0000:00:14.0]\ngroup=5\nknown=false\nboot=" BOOT_UPPER "\n",
    "[0000:00:14.0]\ngroup=5\nknown=false\nboot=../../etc/passwd\n",
    "[0000:00:14.0]\ngroup=5\nknown=false\nboot=" BOOT_A "x\n",
  };
  g_autoptr (StateContents) good = NULL;
  g_autoptr (StateContents) old = NULL;
  g_autoptr (StateContents) transaction = NULL;
  g_autoptr (StateContents) again = NULL;
  g_autofree char *data = NULL;
  const char *text;

  /* each is logged ("Ignoring the state file's ..."): expected here */
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (StateContents) c = state_contents_parse (bad[i], strlen (bad[i]));
      g_assert_cmpuint (c->records->len, ==, 0);
    }
  text = "[0000:00:14.0]\ngroup=5\nknown=false\nboot=" BOOT_A "\n";
  good = state_contents_parse (text, strlen (text));
  g_assert_cmpuint (good->records->len, ==, 1);
  g_assert_cmpstr (((StateOriginal *) g_ptr_array_index (good->records, 0))->boot, ==, BOOT_A);
  text = "[0000:00:14.0]\ngroup=5\nknown=false\n";
  old = state_contents_parse (text, strlen (text));
  g_assert_cmpuint (old->records->len, ==, 1);
  g_assert_null (((StateOriginal *) g_ptr_array_index (old->records, 0))->boot);

  text = "[0000:00:14.0]\ngroup=5\nknown=false\nboot=" BOOT_A "\n"
         "[transaction 3]\nstatus=pending\noperation=reattach\ngroup=5\nboot=" BOOT_B
         "\ndevices=0000:00:14.0;\ncount=1\n";
  transaction = state_contents_parse (text, strlen (text));
  g_assert_cmpuint (transaction->transactions->len, ==, 1);
  g_assert_cmpstr (((StateTransaction *) g_ptr_array_index (transaction->transactions, 0))->boot,
                   ==, BOOT_B);
  data = state_contents_to_data (transaction, NULL);
  again = state_contents_parse (data, strlen (data));
  g_assert_cmpstr (((StateTransaction *) g_ptr_array_index (again->transactions, 0))->boot, ==,
                   BOOT_B);
  g_assert_cmpstr (((StateOriginal *) g_ptr_array_index (again->records, 0))->boot, ==, BOOT_A);
}

static void
test_identity (void)
{
  /* what vfiod writes, and nothing else: a record whose ids are anything
   * else is not valid (dropped, never acted on) */
  static const char *const bad[] = {
    "",
    "0x8086 0xa2af 0x1043 0x8694",
    "0x8086 0xa2af 0x1043 0x8694 0x0c0330 0x1",
    "0x8086 0xa2af 0x1043 0x8694 0x0c03300",
    "0x8086 0xa2af 0x1043 0x8694 0xc0330",
    "0x8086  0xa2af 0x1043 0x8694 0x0c0330",
    "0x8086 0xA2AF 0x1043 0x8694 0x0c0330",
    "8086 a2af 1043 8694 0c0330",
    "0x8086 0xa2af 0x1043 0x8694 0x0c033g",
    "0x80860 0xa2af 0x1043 0x8694 0x0c0330",
    "0x8086\\s0xa2af 0x1043 0x8694 0x0c0330",
    "0x8086 0xa2af 0x1043 0x8694 0x0c0330;",
    "-0x808 0xa2af 0x1043 0x8694 0x0c0330",
  };
  g_autoptr (StateContents) good = NULL;
  g_autoptr (StateContents) old = NULL;
  g_autoptr (StateContents) again = NULL;
  g_autoptr (GPtrArray) devices = group_now (0xa2af);
  g_autoptr (GPtrArray) replaced = group_now (0x15b7);
  g_autofree char *data = NULL, *why = NULL, *text = NULL;
  const StateOriginal *r;
  StateIdentity now;

  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *t = g_strdup_printf (
          "[0000:00:14.0]\ngroup=5\nknown=false\nboot=" BOOT_A "\nids=%s\n\n"
          "[transaction 1]\nstatus=pending\noperation=detach\ngroup=5\nboot=" BOOT_A
          "\ndevices=0000:00:14.0;\ncount=1\n",
          bad[i]);
      g_autoptr (StateContents) c = state_contents_parse (t, strlen (t));

      g_assert_cmpuint (c->records->len, ==, 0);
      /* and the transaction naming it goes with it */
      g_assert_cmpuint (c->transactions->len, ==, 0);
    }

  text = g_strdup ("[0000:00:14.0]\ngroup=5\nknown=true\ndriver=xhci_hcd\noverride=\nboot=" BOOT_A
                   "\nids=0x8086 0xa2af 0x1043 0x8694 0x0c0330\n");
  good = state_contents_parse (text, strlen (text));
  g_assert_cmpuint (good->records->len, ==, 1);
  r = g_ptr_array_index (good->records, 0);
  g_assert_true (r->identity.known);
  g_assert_cmphex (r->identity.vendor_id, ==, 0x8086);
  g_assert_cmphex (r->identity.device_id, ==, 0xa2af);
  g_assert_cmphex (r->identity.subsystem_vendor_id, ==, 0x1043);
  g_assert_cmphex (r->identity.subsystem_device_id, ==, 0x8694);
  g_assert_cmphex (r->identity.class_code, ==, 0x0c0330);
  data = state_contents_to_data (good, NULL);
  g_assert_nonnull (strstr (data, "ids=0x8086 0xa2af 0x1043 0x8694 0x0c0330\n"));
  again = state_contents_parse (data, strlen (data));
  g_assert_true (((StateOriginal *) g_ptr_array_index (again->records, 0))->identity.known);

  /* the same device matches; another one, or any device against a record
   * without ids (an earlier vfiod), does not, and says why */
  state_identity_from_device (&now, g_ptr_array_index (devices, 0));
  g_assert_true (state_identity_matches (&r->identity, &now, NULL));
  state_identity_from_device (&now, g_ptr_array_index (replaced, 0));
  g_assert_false (state_identity_matches (&r->identity, &now, &why));
  g_assert_cmpstr (why, ==,
                   "ids 0x8086 0xa2af 0x1043 0x8694 0x0c0330 recorded (vendor device subsystem "
                   "class), 0x8086 0x15b7 0x1043 0x8694 0x0c0330 found");
  g_clear_pointer (&why, g_free);

  g_clear_pointer (&text, g_free);
  text = g_strdup ("[0000:00:14.0]\ngroup=5\nknown=true\ndriver=xhci_hcd\noverride=\nboot=" BOOT_A
                   "\n");
  old = state_contents_parse (text, strlen (text));
  g_assert_cmpuint (old->records->len, ==, 1);
  g_assert_false (((StateOriginal *) g_ptr_array_index (old->records, 0))->identity.known);
  state_identity_from_device (&now, g_ptr_array_index (devices, 0));
  g_assert_false (state_identity_matches (
      &((StateOriginal *) g_ptr_array_index (old->records, 0))->identity, &now, &why));
  g_assert_nonnull (strstr (why, "not recorded"));
}

/* A record of another device is no record: a reattach plans, authorizes
 * and records as if there were none. */
static void
test_identity_reattach (void)
{
  g_autofree char *dir = g_dir_make_tmp ("vfiod-state-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "transactions.state", NULL);
  g_autoptr (GPtrArray) devices = group_now (0xa2af);
  g_autoptr (GPtrArray) replaced = group_now (0x15b7);
  g_autoptr (GPtrArray) members =
      g_ptr_array_new_with_free_func ((GDestroyNotify) state_original_free);
  g_autoptr (GPtrArray) reattach =
      g_ptr_array_new_with_free_func ((GDestroyNotify) state_original_free);
  g_autoptr (StateTransaction) t = NULL, back = NULL;
  g_autoptr (GHashTable) originals = NULL;
  g_autoptr (GError) error = NULL;
  StateFate fates[2] = { STATE_FATE_ON_VFIO, STATE_FATE_ON_VFIO };
  State *state = state_open (dir, BOOT_A, &error);

  g_assert_no_error (error);
  g_ptr_array_add (members, member_now (devices, 0, TRUE, "xhci_hcd", NULL));
  g_ptr_array_add (members, member_now (devices, 1, TRUE, "ahci", NULL));
  t = state_begin (state, STATE_OP_DETACH, 5, FALSE, members, &error);
  g_assert_no_error (error);
  g_assert_true (state_end (state, t, fates, &error));

  originals = state_originals (state, devices, TRUE);
  g_assert_cmpuint (g_hash_table_size (originals), ==, 2);
  g_clear_pointer (&originals, g_hash_table_unref);
  /* USB was swapped for another card: only SATA's record counts */
  originals = state_originals (state, replaced, FALSE);
  g_assert_false (g_hash_table_contains (originals, "0000:00:14.0"));
  g_assert_cmpstr (g_hash_table_lookup (originals, "0000:00:17.0"), ==, "ahci");

  /* a reattach of the new card: its transaction does not take the old
   * record's driver, and records the device there now */
  g_ptr_array_add (reattach, member_now (replaced, 0, FALSE, NULL, NULL));
  back = state_begin (state, STATE_OP_REATTACH, 5, FALSE, reattach, &error);
  g_assert_no_error (error);
  g_assert_false (((StateOriginal *) g_ptr_array_index (back->members, 0))->known);
  g_assert_cmphex (((StateOriginal *) g_ptr_array_index (back->members, 0))->identity.device_id, ==,
                   0x15b7);
  state_free (state);

  g_unlink (path);
  g_rmdir (dir);
}

static const StateOriginal *
record (const StateContents *c, guint i)
{
  return g_ptr_array_index (c->records, i);
}

static void
test_owner_key (void)
{
  /* the owner is untrusted too: anything but a uid as vfiod writes it is
   * ignored (logged), the record kept without an owner, so it still says
   * which driver to give back and the device is nobody's to use */
  static const char *const bad[] = {
    "",
    "-1",
    "+5",
    "5 ",
    "05",
    "abc",
    "1e3",
    "0x10",
    "4294967295",
    "4294967296",
    "99999999999999999999999",
    "1000;1001",
    "1000\\n",
    "1000\\s",
  };
  g_autofree char *dir = g_dir_make_tmp ("vfiod-owner-XXXXXX", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) members =
      g_ptr_array_new_with_free_func ((GDestroyNotify) state_original_free);
  g_autoptr (StateTransaction) t = NULL;
  g_autoptr (GHashTable) owners = NULL;
  g_autofree char *path = NULL;
  StateFate fates[] = { STATE_FATE_ON_VFIO };
  gpointer value;
  State *state;

  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *text =
          g_strdup_printf ("[0000:00:14.0]\ngroup=5\nknown=true\n"
                           "driver=xhci_hcd\noverride=\nboot=" BOOT_A "\nowner=%s\n",
                           bad[i]);
      g_autoptr (StateContents) c = parse (text);

      g_assert_cmpuint (c->records->len, ==, 1);
      g_assert_false (record (c, 0)->has_owner);
      g_assert_cmpstr (record (c, 0)->driver, ==, "xhci_hcd");
    }
  {
    g_autoptr (StateContents) c = parse ("[0000:00:14.0]\ngroup=5\nknown=false\nboot=" BOOT_A
                                         "\nowner=0\n[0000:00:17.0]\ngroup=5\nknown=false\n"
                                         "owner=4294967294\n");
    g_autoptr (StateContents) again = NULL;
    g_autofree char *data = NULL;

    g_assert_true (record (c, 0)->has_owner);
    g_assert_cmpuint (record (c, 0)->owner, ==, 0);
    g_assert_true (record (c, 1)->has_owner);
    g_assert_cmpuint (record (c, 1)->owner, ==, 4294967294u);
    data = state_contents_to_data (c, NULL);
    again = parse (data);
    g_assert_cmpuint (record (again, 1)->owner, ==, 4294967294u);
    g_assert_true (record (again, 0)->has_owner);
  }

  /* recorded by a detach's first write, for the group expected only */
  state = state_open (dir, BOOT_A, &error);
  g_assert_no_error (error);
  g_ptr_array_add (members, state_original_new ("0000:00:14.0", 5, TRUE, "xhci_hcd", NULL));
  state_expect_owner (state, 6, 1001);
  t = state_begin (state, STATE_OP_DETACH, 5, FALSE, members, &error);
  g_assert_nonnull (t);
  owners = state_owners (state);
  g_assert_cmpuint (g_hash_table_size (owners), ==, 0);
  g_clear_pointer (&owners, g_hash_table_unref);
  g_assert_true (state_end (state, t, fates, &error));
  g_clear_pointer (&t, state_transaction_free);
  state_expect_owner (state, 5, 1000);
  t = state_begin (state, STATE_OP_DETACH, 5, FALSE, members, &error);
  state_clear_owner (state, 5);
  state_clear_owner (state, 6);
  g_assert_true (member (t, 0)->has_owner);
  g_assert_true (state_end (state, t, fates, &error));
  owners = state_owners (state);
  g_assert_true (g_hash_table_lookup_extended (owners, "0000:00:14.0", NULL, &value));
  g_assert_cmpuint (GPOINTER_TO_UINT (value), ==, 1000);
  g_clear_pointer (&owners, g_hash_table_unref);
  state_free (state);
  /* kept across a restart; another boot's owner is nobody's */
  state = state_open (dir, BOOT_A, &error);
  owners = state_owners (state);
  g_assert_cmpuint (g_hash_table_size (owners), ==, 1);
  g_clear_pointer (&owners, g_hash_table_unref);
  state_free (state);
  state = state_open (dir, BOOT_B, &error);
  owners = state_owners (state);
  g_assert_cmpuint (g_hash_table_size (owners), ==, 0);
  g_clear_pointer (&owners, g_hash_table_unref);
  state_free (state);

  path = g_build_filename (dir, "transactions.state", NULL);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/state/round-trip", test_round_trip);
  g_test_add_func ("/state/old-format", test_old_format);
  g_test_add_func ("/state/hostile", test_hostile);
  g_test_add_func ("/state/begin-end", test_begin_end);
  g_test_add_func ("/state/boot-key", test_boot_key);
  g_test_add_func ("/state/identity", test_identity);
  g_test_add_func ("/state/identity-reattach", test_identity_reattach);
  g_test_add_func ("/state/owner-key", test_owner_key);
  return g_test_run ();
}
