/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "state.h"

#include "statefile.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "address.h"
#include "bootid.h"
#include "device.h"
#include "names.h"

/* The file:
 *
 *   [0000:00:14.0]            a device record: what vfiod detached
 *   group=5
 *   known=true
 *   driver=xhci_hcd           "" when it had none
 *   override=                 "" when unset
 *   boot=6f0c...-...          the kernel's boot id when it was recorded
 *   ids=0x8086 0xa2af 0x1043 0x8694 0x0c0330
 *                             the device at that address when recorded:
 *                             vendor, device, subsystem vendor and device,
 *                             class (absent in earlier formats: matches
 *                             no device)
 *   owner=1000                who detached it (absent: not known)
 *
 *   [transaction 7]           a transaction under way
 *   status=pending
 *   operation=detach          or reattach
 *   group=5
 *   boot=6f0c...-...          the boot it began in
 *   devices=0000:00:14.0;0000:00:17.0;0000:02:00.0   (step order; each has a record)
 *   count=3                   (last: a truncated file is not a smaller transaction)
 *
 * Only a transaction under way says "pending".  Earlier versions marked
 * each device record instead (pending=detach): read as one-member
 * transactions. */

#define KEY_GROUP          "group"
#define KEY_KNOWN          "known"
#define KEY_DRIVER         "driver"
#define KEY_OVERRIDE       "override"
#define KEY_PENDING        "pending" /* the earlier format */
#define KEY_STATUS         "status"
#define KEY_OPERATION      "operation"
#define KEY_DEVICES        "devices"
#define KEY_COUNT          "count"
#define KEY_PERSISTENT     "persistent" /* "true", or absent */
#define KEY_BOOT           "boot"       /* a boot id; absent in earlier formats */
#define KEY_IDS            "ids"        /* an identity; absent in earlier formats */
#define KEY_OWNER          "owner"      /* a uid; absent in earlier formats */
#define STATUS_PENDING     "pending"
#define TRANSACTION_PREFIX "transaction "
#define FILE_HEADER                                                              \
  "# vfiod: what it detached (to give it back) and the transactions under way\n" \
  "# (rolled back at its next start).  Written by vfiod: do not edit.\n"

struct State {
  GMutex lock;
  char *path;
  char *boot;              /* this boot's id, NULL if unknown */
  StateContents *contents; /* replaced whole on every change */
  guint64 next_id;
  GHashTable *owners_next; /* group → owner uid of its next detach */
};

/* ---- records and transactions ----------------------------------------- */

StateOriginal *
state_original_new (const char *device, uint32_t group, gboolean known, const char *driver,
                    const char *override)
{
  StateOriginal *r = g_new0 (StateOriginal, 1);

  r->device = g_strdup (device);
  r->group = group;
  r->known = known;
  r->driver = known ? g_strdup (driver) : NULL;
  r->override = known ? g_strdup (override) : NULL;
  return r;
}

void
state_original_free (StateOriginal *record)
{
  if (record == NULL)
    return;
  g_free (record->device);
  g_free (record->driver);
  g_free (record->override);
  g_free (record->boot);
  g_free (record);
}

static StateOriginal *
record_copy (const StateOriginal *r)
{
  StateOriginal *copy = state_original_new (r->device, r->group, r->known, r->driver, r->override);

  copy->boot = g_strdup (r->boot);
  copy->identity = r->identity;
  copy->has_owner = r->has_owner;
  copy->owner = r->owner;
  return copy;
}

/* ---- identities ---------------------------------------------------------- */

void
state_identity_from_device (StateIdentity *id, const Device *d)
{
  id->known = TRUE;
  id->vendor_id = d->vendor_id;
  id->device_id = d->device_id;
  id->subsystem_vendor_id = d->subsystem_vendor_id;
  id->subsystem_device_id = d->subsystem_device_id;
  id->class_code = d->class_code & 0xffffff;
}

char *
state_identity_format (const StateIdentity *id)
{
  if (!id->known)
    return g_strdup ("not recorded");
  return g_strdup_printf ("0x%04x 0x%04x 0x%04x 0x%04x 0x%06x", id->vendor_id, id->device_id,
                          id->subsystem_vendor_id, id->subsystem_device_id, id->class_code);
}

gboolean
state_identity_matches (const StateIdentity *recorded, const StateIdentity *found, char **why)
{
  g_autofree char *was = NULL, *is = NULL;

  if (recorded->known && found->known && recorded->vendor_id == found->vendor_id &&
      recorded->device_id == found->device_id &&
      recorded->subsystem_vendor_id == found->subsystem_vendor_id &&
      recorded->subsystem_device_id == found->subsystem_device_id &&
      recorded->class_code == found->class_code)
    return TRUE;
  if (why)
    {
      was = state_identity_format (recorded);
      is = state_identity_format (found);
      *why = recorded->known
                 ? g_strdup_printf ("ids %s recorded (vendor device subsystem class), %s found",
                                    was, is)
                 : g_strdup_printf ("its ids were not recorded (an earlier vfiod wrote the "
                                    "record), so vfiod cannot tell it is the same device; %s "
                                    "found",
                                    is);
    }
  return FALSE;
}

/* Exactly "0x" and @digits lower-case hex digits, then @end. */
static const char *
parse_hex_field (const char *p, int digits, char end, uint32_t *out)
{
  uint32_t v = 0;

  if (p[0] != '0' || p[1] != 'x')
    return NULL;
  p += 2;
  for (int i = 0; i < digits; i++, p++)
    {
      if (*p >= '0' && *p <= '9')
        v = v * 16 + (uint32_t) (*p - '0');
      else if (*p >= 'a' && *p <= 'f')
        v = v * 16 + (uint32_t) (*p - 'a' + 10);
      else
        return NULL;
    }
  if (*p != end)
    return NULL;
  *out = v;
  return end ? p + 1 : p;
}

/* The text state_identity_format() writes, and nothing else. */
static gboolean
identity_parse (const char *text, StateIdentity *out)
{
  uint32_t v[5];
  const char *p = text;

  for (int i = 0; i < 4 && p; i++)
    p = parse_hex_field (p, 4, ' ', &v[i]);
  if (p)
    p = parse_hex_field (p, 6, '\0', &v[4]);
  if (p == NULL)
    return FALSE;
  out->known = TRUE;
  out->vendor_id = (uint16_t) v[0];
  out->device_id = (uint16_t) v[1];
  out->subsystem_vendor_id = (uint16_t) v[2];
  out->subsystem_device_id = (uint16_t) v[3];
  out->class_code = v[4];
  return TRUE;
}

void
state_transaction_free (StateTransaction *t)
{
  if (t == NULL)
    return;
  g_ptr_array_unref (t->members);
  g_free (t->boot);
  g_free (t);
}

static StateTransaction *
transaction_new (guint64 id, StateOp op, uint32_t group)
{
  StateTransaction *t = g_new0 (StateTransaction, 1);

  t->id = id;
  t->op = op;
  t->group = group;
  t->members = g_ptr_array_new_with_free_func ((GDestroyNotify) state_original_free);
  return t;
}

static StateTransaction *
transaction_copy (const StateTransaction *t)
{
  StateTransaction *copy = transaction_new (t->id, t->op, t->group);

  copy->persistent = t->persistent;
  copy->boot = g_strdup (t->boot);

  for (guint i = 0; i < t->members->len; i++)
    g_ptr_array_add (copy->members, record_copy (g_ptr_array_index (t->members, i)));
  return copy;
}

static StateContents *
contents_new (void)
{
  StateContents *c = g_new0 (StateContents, 1);

  c->records = g_ptr_array_new_with_free_func ((GDestroyNotify) state_original_free);
  c->transactions = g_ptr_array_new_with_free_func ((GDestroyNotify) state_transaction_free);
  return c;
}

void
state_contents_free (StateContents *c)
{
  if (c == NULL)
    return;
  g_ptr_array_unref (c->records);
  g_ptr_array_unref (c->transactions);
  g_free (c);
}

static StateContents *
contents_copy (const StateContents *c)
{
  StateContents *copy = contents_new ();

  for (guint i = 0; i < c->records->len; i++)
    g_ptr_array_add (copy->records, record_copy (g_ptr_array_index (c->records, i)));
  for (guint i = 0; i < c->transactions->len; i++)
    g_ptr_array_add (copy->transactions, transaction_copy (g_ptr_array_index (c->transactions, i)));
  return copy;
}

static StateOriginal *
contents_find (const StateContents *c, const char *device, guint *index)
{
  for (guint i = 0; i < c->records->len; i++)
    {
      StateOriginal *r = g_ptr_array_index (c->records, i);
      if (strcmp (r->device, device) == 0)
        {
          if (index)
            *index = i;
          return r;
        }
    }
  return NULL;
}

/* Replaces (or adds) the record of @r->device; takes @r. */
static void
contents_put (StateContents *c, StateOriginal *r)
{
  guint i;

  if (contents_find (c, r->device, &i))
    g_ptr_array_remove_index (c->records, i);
  g_ptr_array_add (c->records, r);
}

static void
contents_drop (StateContents *c, const char *device)
{
  guint i;

  if (contents_find (c, device, &i))
    g_ptr_array_remove_index (c->records, i);
}

static gint
record_compare (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(StateOriginal *const *) a)->device, (*(StateOriginal *const *) b)->device);
}

static gint
transaction_compare (gconstpointer a, gconstpointer b)
{
  guint64 x = (*(StateTransaction *const *) a)->id, y = (*(StateTransaction *const *) b)->id;

  return x < y ? -1 : x > y;
}

/* ---- parsing (untrusted: root may have edited it, a disk may have
 * corrupted it; what does not validate is never acted on) -------------- */

static const char *
op_to_string (StateOp op)
{
  return op == STATE_OP_DETACH ? VFIOD_ACTION_DETACH : VFIOD_ACTION_REATTACH;
}

static gboolean
op_from_string (const char *text, StateOp *op)
{
  if (g_strcmp0 (text, VFIOD_ACTION_DETACH) == 0)
    *op = STATE_OP_DETACH;
  else if (g_strcmp0 (text, VFIOD_ACTION_REATTACH) == 0)
    *op = STATE_OP_REATTACH;
  else
    return FALSE;
  return TRUE;
}

static gboolean
parse_group (const char *text, uint32_t *out)
{
  guint64 number;

  if (text == NULL || !g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32, &number, NULL))
    return FALSE;
  *out = (uint32_t) number;
  return TRUE;
}

static gboolean
address_is_normal (const char *text)
{
  char normal[ADDRESS_STRLEN];
  PciAddress address;

  return address_parse (text, &address) && strcmp (address_format (&address, normal), text) == 0;
}

/* An optional driver name: "" means none. */
static gboolean
read_driver (GKeyFile *kf, const char *group, const char *key, char **out)
{
  g_autofree char *value = g_key_file_get_string (kf, group, key, NULL);

  if (value == NULL)
    return FALSE;
  if (*value == '\0')
    {
      *out = NULL;
      return TRUE;
    }
  if (!device_driver_name_valid (value))
    return FALSE;
  *out = g_steal_pointer (&value);
  return TRUE;
}

/* The boot id of section @name into *@out: absent is NULL (an earlier
 * format), anything but a boot id makes the section invalid. */
static gboolean
read_boot (GKeyFile *kf, const char *name, char **out)
{
  g_autofree char *value = NULL;

  *out = NULL;
  if (!g_key_file_has_key (kf, name, KEY_BOOT, NULL))
    return TRUE;
  value = g_key_file_get_string (kf, name, KEY_BOOT, NULL);
  if (!boot_id_valid (value))
    return FALSE;
  *out = g_steal_pointer (&value);
  return TRUE;
}

/* The owner of record @name: a uid in decimal, as vfiod writes it (not
 * (uid_t) -1, which no user has).  Anything else is ignored, said, and
 * the record kept without an owner: it still tells a reattach which
 * driver to give back, and a group nobody owns is only root's to use
 * (fail closed). */
static void
read_owner (GKeyFile *kf, const char *name, StateOriginal *r)
{
  g_autofree char *value = NULL;
  guint64 uid;

  r->has_owner = FALSE;
  if (!g_key_file_has_key (kf, name, KEY_OWNER, NULL))
    return;
  value = g_key_file_get_string (kf, name, KEY_OWNER, NULL);
  if (value == NULL || !g_ascii_isdigit (value[0]) || (value[0] == '0' && value[1] != '\0') ||
      !g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT32 - 1, &uid, NULL))
    {
      g_autofree char *quoted = g_strescape (name, NULL);
      g_warning ("Ignoring the owner of the state file's record [%s]: it is not a uid, so the "
                 "device counts as nobody's (only root may use it without use-device-other)",
                 quoted);
      return;
    }
  r->has_owner = TRUE;
  r->owner = (uid_t) uid;
}

/* A device record; *@pending gets the earlier format's pending operation. */
static StateOriginal *
record_from_keyfile (GKeyFile *kf, const char *name, StateOp *pending)
{
  g_autoptr (StateOriginal) r = g_new0 (StateOriginal, 1);
  g_autofree char *group = NULL, *op = NULL, *known = NULL;

  if (!address_is_normal (name))
    return NULL;
  r->device = g_strdup (name);

  group = g_key_file_get_string (kf, name, KEY_GROUP, NULL);
  if (!parse_group (group, &r->group))
    return NULL;

  known = g_key_file_get_string (kf, name, KEY_KNOWN, NULL);
  if (g_strcmp0 (known, "true") == 0)
    {
      r->known = TRUE;
      if (!read_driver (kf, name, KEY_DRIVER, &r->driver) ||
          !read_driver (kf, name, KEY_OVERRIDE, &r->override))
        return NULL;
    }
  else if (g_strcmp0 (known, "false") != 0)
    return NULL;

  if (!read_boot (kf, name, &r->boot))
    return NULL;
  read_owner (kf, name, r);

  /* absent: an earlier format, which matches no device; anything but
   * what vfiod writes makes the record invalid */
  if (g_key_file_has_key (kf, name, KEY_IDS, NULL))
    {
      g_autofree char *ids = g_key_file_get_value (kf, name, KEY_IDS, NULL);

      if (ids == NULL || !identity_parse (ids, &r->identity))
        return NULL;
    }

  op = g_key_file_get_string (kf, name, KEY_PENDING, NULL);
  *pending = STATE_OP_NONE;
  if (op != NULL && *op != '\0' && !op_from_string (op, pending))
    return NULL;

  return g_steal_pointer (&r);
}

/* A pending transaction, whose members must all have valid records of
 * its group and belong to no other transaction. */
static StateTransaction *
transaction_from_keyfile (GKeyFile *kf, const char *name, const StateContents *c, GHashTable *taken)
{
  g_autoptr (StateTransaction) t = NULL;
  g_autofree char *status = NULL, *op_text = NULL, *group_text = NULL, *count = NULL;
  g_auto (GStrv) devices = NULL;
  guint64 id, n;
  uint32_t group;
  StateOp op;

  if (!g_ascii_string_to_unsigned (name + strlen (TRANSACTION_PREFIX), 10, 1, G_MAXUINT64, &id,
                                   NULL))
    return NULL;
  status = g_key_file_get_string (kf, name, KEY_STATUS, NULL);
  op_text = g_key_file_get_string (kf, name, KEY_OPERATION, NULL);
  group_text = g_key_file_get_string (kf, name, KEY_GROUP, NULL);
  devices = g_key_file_get_string_list (kf, name, KEY_DEVICES, NULL, NULL);
  count = g_key_file_get_string (kf, name, KEY_COUNT, NULL);
  if (devices == NULL || count == NULL ||
      !g_ascii_string_to_unsigned (count, 10, 1, G_MAXUINT, &n, NULL) ||
      n != g_strv_length (devices))
    return NULL;
  if (g_strcmp0 (status, STATUS_PENDING) != 0 || !op_from_string (op_text, &op) ||
      !parse_group (group_text, &group) || devices == NULL || devices[0] == NULL)
    return NULL;

  t = transaction_new (id, op, group);
  {
    /* when in doubt, the rollback removes the records: a detach that did
     * not finish must not be carried out at the next boot */
    g_autofree char *persistent = g_key_file_get_string (kf, name, KEY_PERSISTENT, NULL);
    t->persistent = persistent != NULL && op == STATE_OP_DETACH;
  }
  if (!read_boot (kf, name, &t->boot))
    return NULL;
  for (char **d = devices; *d; d++)
    {
      const StateOriginal *r = contents_find (c, *d, NULL);

      if (r == NULL || r->group != group || g_hash_table_contains (taken, r->device))
        return NULL;
      g_ptr_array_add (t->members, record_copy (r));
    }
  for (guint i = 0; i < t->members->len; i++)
    g_hash_table_add (taken,
                      g_strdup (((StateOriginal *) g_ptr_array_index (t->members, i))->device));
  return g_steal_pointer (&t);
}

static void
warn_ignored (const char *what, const char *name)
{
  g_autofree char *quoted = g_strescape (name, NULL);

  g_warning ("Ignoring the state file's %s [%s]: it is not valid, so vfiod will not act on it",
             what, quoted);
}

StateContents *
state_contents_parse (const char *text, gsize length)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) taken = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) old_pending =
      g_ptr_array_new_with_free_func ((GDestroyNotify) state_transaction_free);
  StateContents *c = contents_new ();
  g_auto (GStrv) groups = NULL;
  guint64 next_id = 1;

  if (!g_key_file_load_from_data (kf, text, length, G_KEY_FILE_NONE, &error))
    {
      g_warning ("Ignoring the state file: it does not parse (%s)", error->message);
      return c;
    }
  groups = g_key_file_get_groups (kf, NULL);

  /* device records first: transactions refer to them */
  for (char **g = groups; *g; g++)
    {
      StateOp pending;
      StateOriginal *r;

      if (g_str_has_prefix (*g, TRANSACTION_PREFIX))
        continue;
      r = record_from_keyfile (kf, *g, &pending);
      if (r == NULL || contents_find (c, r->device, NULL))
        {
          warn_ignored ("record", *g);
          state_original_free (r);
          continue;
        }
      g_ptr_array_add (c->records, r);
      if (pending != STATE_OP_NONE)
        {
          /* the earlier format: one transaction per device */
          StateTransaction *t = transaction_new (0, pending, r->group);
          g_ptr_array_add (t->members, record_copy (r));
          g_ptr_array_add (old_pending, t);
        }
    }

  for (char **g = groups; *g; g++)
    {
      StateTransaction *t;

      if (!g_str_has_prefix (*g, TRANSACTION_PREFIX))
        continue;
      t = transaction_from_keyfile (kf, *g, c, taken);
      if (t == NULL)
        {
          warn_ignored ("transaction", *g);
          continue;
        }
      for (guint i = 0; i < c->transactions->len; i++)
        if (((StateTransaction *) g_ptr_array_index (c->transactions, i))->id == t->id)
          {
            warn_ignored ("transaction", *g);
            g_clear_pointer (&t, state_transaction_free);
            break;
          }
      if (t)
        {
          next_id = MAX (next_id, t->id + 1);
          g_ptr_array_add (c->transactions, t);
        }
    }

  for (guint i = 0; i < old_pending->len; i++)
    {
      StateTransaction *t = g_ptr_array_index (old_pending, i);
      const char *device = ((StateOriginal *) g_ptr_array_index (t->members, 0))->device;

      if (g_hash_table_contains (taken, device) || next_id == G_MAXUINT64)
        {
          warn_ignored ("record", device);
          continue;
        }
      g_message ("State file: the pending %s of %s (the earlier format) becomes transaction "
                 "%" G_GUINT64_FORMAT,
                 op_to_string (t->op), device, next_id);
      t->id = next_id++;
      g_ptr_array_add (c->transactions, g_ptr_array_steal_index (old_pending, i--));
    }

  g_ptr_array_sort (c->records, record_compare);
  g_ptr_array_sort (c->transactions, transaction_compare);
  return c;
}

GPtrArray *
state_parse (const char *text, gsize length)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) state_contents_free);

  g_ptr_array_add (out, state_contents_parse (text, length));
  return out;
}

char *
state_contents_to_data (const StateContents *c, gsize *length)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GPtrArray) records = g_ptr_array_copy (c->records, NULL, NULL);
  g_autoptr (GPtrArray) transactions = g_ptr_array_copy (c->transactions, NULL, NULL);
  g_autofree char *body = NULL;
  gsize body_length;

  /* the copies borrow the elements (g_ptr_array_copy keeps the free func) */
  g_ptr_array_set_free_func (records, NULL);
  g_ptr_array_set_free_func (transactions, NULL);
  g_ptr_array_sort (records, record_compare);
  g_ptr_array_sort (transactions, transaction_compare);
  for (guint i = 0; i < records->len; i++)
    {
      const StateOriginal *r = g_ptr_array_index (records, i);

      g_key_file_set_uint64 (kf, r->device, KEY_GROUP, r->group);
      g_key_file_set_string (kf, r->device, KEY_KNOWN, r->known ? "true" : "false");
      if (r->known)
        {
          g_key_file_set_string (kf, r->device, KEY_DRIVER, r->driver ? r->driver : "");
          g_key_file_set_string (kf, r->device, KEY_OVERRIDE, r->override ? r->override : "");
        }
      if (r->boot)
        g_key_file_set_string (kf, r->device, KEY_BOOT, r->boot);
      if (r->identity.known)
        {
          g_autofree char *ids = state_identity_format (&r->identity);
          g_key_file_set_string (kf, r->device, KEY_IDS, ids);
        }
      if (r->has_owner)
        g_key_file_set_uint64 (kf, r->device, KEY_OWNER, r->owner);
    }
  for (guint i = 0; i < transactions->len; i++)
    {
      const StateTransaction *t = g_ptr_array_index (transactions, i);
      g_autofree char *name = g_strdup_printf (TRANSACTION_PREFIX "%" G_GUINT64_FORMAT, t->id);
      g_autofree const char **devices = g_new0 (const char *, t->members->len + 1);

      for (guint j = 0; j < t->members->len; j++)
        devices[j] = ((StateOriginal *) g_ptr_array_index (t->members, j))->device;
      g_key_file_set_string (kf, name, KEY_STATUS, STATUS_PENDING);
      g_key_file_set_string (kf, name, KEY_OPERATION, op_to_string (t->op));
      g_key_file_set_uint64 (kf, name, KEY_GROUP, t->group);
      if (t->boot)
        g_key_file_set_string (kf, name, KEY_BOOT, t->boot);
      g_key_file_set_string_list (kf, name, KEY_DEVICES, devices, t->members->len);
      if (t->persistent)
        g_key_file_set_string (kf, name, KEY_PERSISTENT, "true");
      /* last: a file cut short anywhere (a damaged disk) cannot pass for
       * a transaction with fewer members */
      g_key_file_set_uint64 (kf, name, KEY_COUNT, t->members->len);
    }

  body = g_key_file_to_data (kf, &body_length, NULL);
  if (length)
    *length = strlen (FILE_HEADER) + body_length;
  return g_strconcat (FILE_HEADER, body, NULL);
}

/* ---- the file ---------------------------------------------------------- */

const char *
state_default_dir (void)
{
  static char *dir;
  const char *env;

  if (dir == NULL)
    {
      env = g_getenv (VFIOD_ENV_STATE_DIRECTORY);
      /* systemd passes a colon-separated list: ours is the first */
      dir = env && *env ? g_strndup (env, strcspn (env, ":")) : g_strdup (VFIOD_STATE_DIR_DEFAULT);
    }
  return dir;
}

State *
state_open (const char *dir, const char *boot, GError **error)
{
  State *self;
  g_autofree char *text = NULL;
  gsize length = 0;

  if (!statefile_make_dir (dir, error))
    return NULL;

  self = g_new0 (State, 1);
  g_mutex_init (&self->lock);
  self->path = g_build_filename (dir, VFIOD_STATE_FILE, NULL);
  self->boot = boot_id_valid (boot) ? g_strdup (boot) : NULL;
  self->owners_next = g_hash_table_new (NULL, NULL);

  text = statefile_read (self->path, &length, "no records");
  self->contents = text ? state_contents_parse (text, length) : contents_new ();

  self->next_id = 1;
  for (guint i = 0; i < self->contents->transactions->len; i++)
    self->next_id =
        MAX (self->next_id,
             ((StateTransaction *) g_ptr_array_index (self->contents->transactions, i))->id + 1);
  return self;
}

void
state_free (State *self)
{
  if (self == NULL)
    return;
  state_contents_free (self->contents);
  g_hash_table_unref (self->owners_next);
  g_free (self->path);
  g_free (self->boot);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* Saves @next as the new contents, atomically; on success it replaces the
 * old ones in memory (taken), on failure it is dropped: memory never says
 * more than disk.  Called with the lock held. */
static gboolean
state_commit (State *self, StateContents *next, GError **error)
{
  gsize length;
  g_autofree char *data = state_contents_to_data (next, &length);

  if (!statefile_write (self->path, data, length, error))
    {
      state_contents_free (next);
      return FALSE;
    }
  state_contents_free (self->contents);
  self->contents = next;
  return TRUE;
}

StateOriginal *
state_lookup (State *self, const char *device)
{
  StateOriginal *r, *copy = NULL;

  g_mutex_lock (&self->lock);
  r = contents_find (self->contents, device, NULL);
  if (r)
    copy = record_copy (r);
  g_mutex_unlock (&self->lock);
  return copy;
}

GPtrArray *
state_list_pending (State *self)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) state_transaction_free);

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->contents->transactions->len; i++)
    g_ptr_array_add (out, transaction_copy (g_ptr_array_index (self->contents->transactions, i)));
  g_mutex_unlock (&self->lock);
  return out;
}

gboolean
state_is_this_boot (State *self, const char *boot)
{
  return boot_id_same (boot, self->boot);
}

const char *
state_path (State *self)
{
  return self->path;
}

GHashTable *
state_originals (State *self, GPtrArray *devices, gboolean this_boot_only)
{
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < devices->len; i++)
    {
      const Device *d = g_ptr_array_index (devices, i);
      const StateOriginal *r = contents_find (self->contents, d->name, NULL);
      StateIdentity now;

      state_identity_from_device (&now, d);
      if (r && r->known && (!this_boot_only || boot_id_same (r->boot, self->boot)) &&
          state_identity_matches (&r->identity, &now, NULL))
        g_hash_table_insert (out, g_strdup (r->device), g_strdup (r->driver ? r->driver : ""));
    }
  g_mutex_unlock (&self->lock);
  return out;
}

GHashTable *
state_owners (State *self)
{
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->contents->records->len; i++)
    {
      const StateOriginal *r = g_ptr_array_index (self->contents->records, i);
      if (r->has_owner && boot_id_same (r->boot, self->boot))
        g_hash_table_insert (out, g_strdup (r->device), GUINT_TO_POINTER ((guint) r->owner));
    }
  g_mutex_unlock (&self->lock);
  return out;
}

void
state_expect_owner (State *self, uint32_t group, uid_t owner)
{
  g_mutex_lock (&self->lock);
  g_hash_table_insert (self->owners_next, GUINT_TO_POINTER (group),
                       GUINT_TO_POINTER ((guint) owner));
  g_mutex_unlock (&self->lock);
}

void
state_clear_owner (State *self, uint32_t group)
{
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->owners_next, GUINT_TO_POINTER (group));
  g_mutex_unlock (&self->lock);
}

StateTransaction *
state_begin (State *self, StateOp op, uint32_t group, gboolean persistent, GPtrArray *members,
             GError **error)
{
  g_autoptr (StateTransaction) t = NULL;
  StateContents *next;
  gpointer owner = NULL;
  gboolean owner_known;

  g_return_val_if_fail (op == STATE_OP_DETACH || op == STATE_OP_REATTACH, NULL);
  g_return_val_if_fail (members->len > 0, NULL);

  g_mutex_lock (&self->lock);
  owner_known =
      g_hash_table_lookup_extended (self->owners_next, GUINT_TO_POINTER (group), NULL, &owner);
  next = contents_copy (self->contents);
  t = transaction_new (self->next_id, op, group);
  t->persistent = persistent && op == STATE_OP_DETACH;
  t->boot = g_strdup (self->boot);
  for (guint i = 0; i < members->len; i++)
    {
      const StateOriginal *m = g_ptr_array_index (members, i);
      const StateOriginal *had = contents_find (next, m->device, NULL);
      StateOriginal *r;

      /* what is recorded of another device at that address is no record */
      if (op == STATE_OP_REATTACH && had && had->known &&
          state_identity_matches (&had->identity, &m->identity, NULL))
        r = state_original_new (m->device, group, TRUE, had->driver, had->override);
      else
        r = state_original_new (m->device, group, m->known, m->driver, m->override);
      /* a detach's devices are its caller's; a reattach rolled back
       * leaves them with whoever detached them (in this boot: an owner of
       * another boot is nobody's now) */
      if (op == STATE_OP_DETACH && owner_known)
        {
          r->has_owner = TRUE;
          r->owner = (uid_t) GPOINTER_TO_UINT (owner);
        }
      if (op == STATE_OP_REATTACH && had && had->has_owner && boot_id_same (had->boot, self->boot))
        {
          r->has_owner = TRUE;
          r->owner = had->owner;
        }
      /* recorded now: this boot's and this device's, whatever an older
       * record said */
      r->boot = g_strdup (self->boot);
      r->identity = m->identity;
      g_ptr_array_add (t->members, record_copy (r));
      contents_put (next, r);
    }
  g_ptr_array_add (next->transactions, transaction_copy (t));
  if (!state_commit (self, next, error))
    {
      g_mutex_unlock (&self->lock);
      return NULL;
    }
  self->next_id++;
  g_mutex_unlock (&self->lock);
  return g_steal_pointer (&t);
}

gboolean
state_end (State *self, const StateTransaction *t, const StateFate *fates, GError **error)
{
  StateContents *next;
  gboolean ok;

  g_mutex_lock (&self->lock);
  next = contents_copy (self->contents);
  for (guint i = 0; i < next->transactions->len; i++)
    if (((StateTransaction *) g_ptr_array_index (next->transactions, i))->id == t->id)
      {
        g_ptr_array_remove_index (next->transactions, i);
        break;
      }
  for (guint i = 0; i < t->members->len; i++)
    if (fates[i] == STATE_FATE_ON_HOST)
      contents_drop (next, ((StateOriginal *) g_ptr_array_index (t->members, i))->device);
  ok = state_commit (self, next, error);
  g_mutex_unlock (&self->lock);
  return ok;
}
