/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <sys/sysmacros.h>

#include "inuse.h"

static const char mountinfo[] =
    "22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n"
    "23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n"
    "24 22 259:1 / /home/with\\040space rw,relatime shared:2 - ext4 /dev/nvme0n1p1 rw\n"
    "25 22 0:45 / /srv rw,relatime - btrfs /dev/sdb1 rw,space_cache\n"
    "26 22 8:2 /var /var rw shared:1 - ext4 /dev/sda2 rw\n"
    "malformed line\n"
    "27 22 x:y / /bad rw - ext4 /dev/sdz rw\n"
    "28 22 0:33 / /e2e/hostroot ro,relatime - 9p hostroot ro,trans=virtio\n";

static const char swaps[] =
    "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    "/dev/nvme0n1p3                          partition\t8388604\t\t0\t\t-2\n"
    "/swap\\040file                           file\t\t1048572\t\t0\t\t-3\n";

static InUseFacts *
facts_fixture (void)
{
  InUseFacts *f = inuse_facts_new ();

  inuse_parse_mountinfo (f, mountinfo);
  inuse_parse_swaps (f, swaps);
  return f;
}

static void
test_mountinfo (void)
{
  g_autoptr (InUseFacts) f = facts_fixture ();
  InUseMount *m;

  g_assert_cmpuint (f->mounts->len, ==, 6); /* the two malformed lines are skipped */
  /* ... and may have been the mount that matters: the source is in doubt */
  g_assert_cmpstr (f->unreadable[INUSE_SOURCE_MOUNTS], ==,
                   "/proc/self/mountinfo has lines vfiod does not understand");
  g_assert_null (f->unreadable[INUSE_SOURCE_SWAPS]);
  m = g_ptr_array_index (f->mounts, 2);
  g_assert_cmpstr (m->mountpoint, ==, "/home/with space");
  g_assert_cmpuint (major (m->devnum), ==, 259);
  g_assert_cmpuint (minor (m->devnum), ==, 1);
  g_assert_cmpstr (m->source, ==, "/dev/nvme0n1p1");
}

static void
test_swaps (void)
{
  g_autoptr (InUseFacts) f = facts_fixture ();

  g_assert_cmpuint (f->swaps->len, ==, 2);
  g_assert_cmpstr (((InUseSwap *) g_ptr_array_index (f->swaps, 0))->filename, ==, "/dev/nvme0n1p3");
  g_assert_cmpstr (((InUseSwap *) g_ptr_array_index (f->swaps, 1))->filename, ==, "/swap file");
}

static void
test_block_reasons (void)
{
  g_autoptr (InUseFacts) f = facts_fixture ();
  const char *holders[] = { "dm-0", NULL };
  g_autofree char *root = inuse_block_reason (f, "sda2", makedev (8, 2), NULL);
  g_autofree char *home = inuse_block_reason (f, "nvme0n1p1", makedev (259, 1), NULL);
  g_autofree char *btrfs = inuse_block_reason (f, "sdb1", makedev (8, 17), NULL);
  g_autofree char *swap = inuse_block_reason (f, "nvme0n1p3", makedev (259, 3), NULL);
  g_autofree char *held = inuse_block_reason (f, "sdc1", makedev (8, 33), holders);
  g_autofree char *disk = inuse_block_reason (f, "sda", makedev (8, 0), NULL);
  g_autofree char *free_part = inuse_block_reason (f, "sdd1", makedev (8, 49), NULL);

  g_assert_cmpstr (root, ==, "mounted: / (sda2)"); /* first mount of it */
  g_assert_cmpstr (home, ==, "mounted: /home/with space (nvme0n1p1)");
  g_assert_cmpstr (btrfs, ==, "mounted: /srv (sdb1)"); /* 0:N: by source */
  g_assert_cmpstr (swap, ==, "swap: /dev/nvme0n1p3");
  g_assert_cmpstr (held, ==, "held by dm-0 (sdc1)");
  g_assert_null (disk); /* whole disk: partitions say it */
  g_assert_null (free_part);
}

static void
test_tag_reasons (void)
{
  g_autoptr (InUseFacts) f = facts_fixture ();
  g_autofree char *root = inuse_tag_reason (f, "hostroot");
  g_autofree char *other = inuse_tag_reason (f, "results");
  g_autofree char *not_9p = inuse_tag_reason (f, "/dev/sda2");

  g_assert_cmpstr (root, ==, "mounted: /e2e/hostroot (9p hostroot)");
  g_assert_null (other);
  g_assert_null (not_9p); /* an ext4 source is not a tag */
}

/* A source that could not be read makes the reasons that need it doubts;
 * reasons from other sources are untouched. */
static void
test_doubts (void)
{
  g_autoptr (InUseFacts) f = inuse_facts_new ();
  g_autoptr (InUseFacts) fine = inuse_facts_new ();
  g_autofree char *block = NULL, *net = NULL, *tag = NULL, *block2 = NULL, *tag2 = NULL,
                  *net2 = NULL;
  g_autofree char *swap_reason = NULL;

  inuse_parse_mountinfo (fine, "22 1 8:2 / / rw shared:1 - ext4 /dev/sda2 rw\n");
  inuse_parse_swaps (fine, swaps);
  g_assert_null (inuse_block_doubt (fine));
  g_assert_null (inuse_net_doubt (fine));
  g_assert_null (inuse_tag_doubt (fine));

  inuse_facts_set_unreadable (f, INUSE_SOURCE_SWAPS, "/proc/swaps", EISDIR);
  inuse_facts_set_unreadable (f, INUSE_SOURCE_SWAPS, "/proc/swaps", EACCES); /* the first stays */
  inuse_parse_mountinfo (f, mountinfo);
  block = inuse_block_doubt (f);
  net = inuse_net_doubt (f);
  tag = inuse_tag_doubt (f);
  g_assert_cmpstr (block, ==,
                   "cannot tell whether it is in use: "
                   "/proc/self/mountinfo has lines vfiod does not understand, "
                   "/proc/swaps could not be read (Is a directory)");
  g_assert_null (net);
  g_assert_cmpstr (tag, ==,
                   "cannot tell whether it is in use: "
                   "/proc/self/mountinfo has lines vfiod does not understand");
  /* what was read still gives its reasons */
  swap_reason = inuse_block_reason (f, "sda2", makedev (8, 2), NULL);
  g_assert_cmpstr (swap_reason, ==, "mounted: / (sda2)");

  inuse_facts_set_unreadable (fine, INUSE_SOURCE_INTERFACES, "the network interfaces", EMFILE);
  net2 = inuse_net_doubt (fine);
  g_assert_cmpstr (net2, ==,
                   "cannot tell whether it is in use: the network interfaces could not "
                   "be read (Too many open files)");
  block2 = inuse_block_doubt (fine);
  tag2 = inuse_tag_doubt (fine);
  g_assert_null (block2);
  g_assert_null (tag2);
}

/* A swaps line that does not name a path (the kernel always prints the
 * absolute path) is not understood: a doubt, not a skip. */
static void
test_swaps_malformed (void)
{
  g_autoptr (InUseFacts) f = inuse_facts_new ();
  g_autoptr (InUseFacts) ok = inuse_facts_new ();

  inuse_parse_swaps (ok, "Filename Type Size Used Priority\n\n");
  g_assert_null (ok->unreadable[INUSE_SOURCE_SWAPS]);
  inuse_parse_swaps (f, "Filename Type Size Used Priority\nsda3 partition 1 0 -2\n");
  g_assert_cmpuint (f->swaps->len, ==, 0);
  g_assert_cmpstr (f->unreadable[INUSE_SOURCE_SWAPS], ==,
                   "/proc/swaps has lines vfiod does not understand");
}

static void
test_net_reasons (void)
{
  g_autoptr (InUseFacts) f = inuse_facts_new ();
  g_autofree char *up = NULL, *down = NULL, *bare = NULL, *port = NULL, *missing = NULL;

  inuse_add_interface (f, "enp3s0", TRUE, "192.168.1.20");
  inuse_add_interface (f, "enp3s0", TRUE, "2001:db8::1"); /* first address wins */
  inuse_add_interface (f, "enp4s0", FALSE, "10.0.0.1");
  inuse_add_interface (f, "enp5s0", TRUE, NULL);
  inuse_add_interface (f, "enp6s0", TRUE, NULL);

  up = inuse_net_reason (f, "enp3s0", NULL, NULL);
  down = inuse_net_reason (f, "enp4s0", NULL, NULL);
  bare = inuse_net_reason (f, "enp5s0", NULL, NULL);
  port = inuse_net_reason (f, "enp6s0", "br0", NULL);
  missing = inuse_net_reason (f, "enp7s0", NULL, NULL);

  g_assert_cmpstr (up, ==, "network interface enp3s0 is up with 192.168.1.20");
  g_assert_null (down);
  g_assert_null (bare);
  g_assert_cmpstr (port, ==, "network interface enp6s0 is up as a port of br0");
  g_assert_null (missing);

  /* the lower device of VLANs, up with no address of its own */
  {
    const char *uppers[] = { "enp5s0.100", "enp5s0.200", NULL };
    const char *none[] = { NULL };
    g_autofree char *lower = inuse_net_reason (f, "enp5s0", NULL, uppers);
    g_autofree char *lower_down = inuse_net_reason (f, "enp4s0", NULL, uppers);
    g_autofree char *no_uppers = inuse_net_reason (f, "enp5s0", NULL, none);

    g_assert_cmpstr (lower, ==,
                     "network interface enp5s0 is up and carries enp5s0.100, enp5s0.200");
    g_assert_null (lower_down);
    g_assert_null (no_uppers);
  }
}

static void
test_btrfs_reasons (void)
{
  g_autoptr (InUseFacts) f = inuse_facts_new ();
  const char *members[] = { "sda2", "sdb1", NULL };
  g_autofree char *second = NULL, *first = NULL, *elsewhere = NULL;

  inuse_parse_mountinfo (
      f, "36 1 0:31 / /srv rw,relatime shared:1 - btrfs /dev/sda2 rw,space_cache\n");
  second = inuse_btrfs_reason (f, "sdb1", "data", "0b5f...", members);
  first = inuse_btrfs_reason (f, "sda2", "data", "0b5f...", members);
  g_assert_cmpstr (second, ==, "member of btrfs data mounted at /srv (sdb1)");
  g_assert_null (first); /* "mounted: /srv (sda2)" says it */
  {
    const char *others[] = { "nvme0n1p1", "nvme1n1p1", NULL };
    elsewhere = inuse_btrfs_reason (f, "nvme1n1p1", "", "4d2a-uuid", others);
    g_assert_cmpstr (elsewhere, ==, "member of a mounted btrfs 4d2a-uuid (nvme1n1p1)");
  }
}

static void
test_sanitize (void)
{
  g_autofree char *a = inuse_sanitize ("gnome-shell", 15);
  g_autofree char *b = inuse_sanitize ("x; detach ok\n\x1b[2J", 64);
  g_autofree char *c = inuse_sanitize ("", 15);
  g_autofree char *d = inuse_sanitize (NULL, 15);
  g_autofree char *e = inuse_sanitize ("abcdefghijklmnopqrstuvwxyz", 15);

  g_assert_cmpstr (a, ==, "gnome-shell");
  /* ';' separates reasons: a name must not make one of its own */
  g_assert_cmpstr (b, ==, "x? detach ok??[2J");
  g_assert_cmpstr (c, ==, "?");
  g_assert_cmpstr (d, ==, "?");
  g_assert_cmpstr (e, ==, "abcdefghijklmno");
}

static void
test_bitmaps (void)
{
  /* a real keyboard's capabilities/key (64-bit words, most significant first) */
  const char *kbd = "1000000000007 ff9f207ac14057ff febeffdfffefffff fffffffffffffffe";

  g_assert_true (inuse_bitmap_valid (kbd));
  g_assert_true (inuse_bitmap_test ("120013", 1, 64)); /* EV_KEY */
  g_assert_false (inuse_bitmap_test ("120013", 2, 64));
  g_assert_true (inuse_bitmap_test (kbd, 1, 64));
  g_assert_false (inuse_bitmap_test (kbd, 0, 64));
  g_assert_true (inuse_bitmap_test (kbd, 64, 64));
  g_assert_true (inuse_bitmap_test (kbd, 192, 64));
  g_assert_false (inuse_bitmap_test (kbd, 256, 64)); /* past the words */
  /* 32-bit kernels print 32-bit words */
  g_assert_true (inuse_bitmap_test ("1 0", 32, 32));
  g_assert_false (inuse_bitmap_test ("1 0", 0, 32));
  g_assert_false (inuse_bitmap_valid ("xyz"));
  g_assert_false (inuse_bitmap_valid (""));
  g_assert_false (inuse_bitmap_valid (NULL));
  g_assert_false (inuse_bitmap_valid ("11111111111111111"));
  g_assert_false (inuse_bitmap_test ("zz", 0, 64));
}

static void
test_input_kinds (void)
{
  const char *kbd = "1000000000007 ff9f207ac14057ff febeffdfffefffff fffffffffffffffe";
  /* BTN_LEFT/RIGHT/MIDDLE (0x110..0x112) and REL_X, REL_Y, REL_WHEEL */
  const char *mouse_key = "70000 0 0 0 0";
  const char *power_key = "10000000000000 0"; /* KEY_POWER only */

  g_assert_cmpint (inuse_input_kind (NULL, "120013", kbd, "0", 64), ==, INUSE_INPUT_KEYBOARD);
  g_assert_cmpint (inuse_input_kind (NULL, "17", mouse_key, "103", 64), ==, INUSE_INPUT_POINTER);
  g_assert_cmpint (inuse_input_kind (NULL, "3", power_key, "0", 64), ==, INUSE_INPUT_OTHER);
  /* no REL_Y: no mouse */
  g_assert_cmpint (inuse_input_kind (NULL, "17", mouse_key, "1", 64), ==, INUSE_INPUT_OTHER);
  /* udev's word (hwdb, rules) beats the kernel's bits */
  g_assert_cmpint (inuse_input_kind ("I:123\nE:ID_INPUT=1\nE:ID_INPUT_KEYBOARD=1\nG:seat\n", NULL,
                                     NULL, NULL, 64),
                   ==, INUSE_INPUT_KEYBOARD);
  g_assert_cmpint (inuse_input_kind ("E:ID_INPUT=1\nE:ID_INPUT_MOUSE=1", NULL, NULL, NULL, 64), ==,
                   INUSE_INPUT_POINTER);
  g_assert_cmpint (inuse_input_kind ("E:ID_INPUT=1\nE:ID_INPUT_KEY=1\n", "120013", kbd, "0", 64),
                   ==, INUSE_INPUT_OTHER);
  /* a value other than 1, a longer key: not the flag */
  g_assert_cmpint (
      inuse_input_kind ("E:ID_INPUT_KEYBOARD=0\nE:ID_INPUT_KEYBOARDX=1\n", NULL, NULL, NULL, 64),
      ==, INUSE_INPUT_OTHER);
}

static void
test_node_reasons (void)
{
  g_autofree char *kbd = inuse_input_reason (INUSE_INPUT_KEYBOARD, "Logitech K120", "event3");
  g_autofree char *mouse = inuse_input_reason (INUSE_INPUT_POINTER, "QEMU USB Mouse", "event4");
  g_autofree char *evil = inuse_input_reason (INUSE_INPUT_KEYBOARD, "a;b", "event1");
  g_autofree char *display = inuse_opener_reason ("drm", "card0", "gnome-shell", "1234", NULL);
  g_autofree char *render = inuse_opener_reason ("drm", "renderD128", "ollama", "99", NULL);
  g_autofree char *sound = inuse_opener_reason ("sound", "pcmC0D0p", "pipewire", "88", NULL);
  g_autofree char *disk = inuse_opener_reason ("block", "sda", "qemu-system-x86", "77", NULL);
  g_autofree char *ev = inuse_opener_reason ("input", "event3", "Xorg", "5", NULL);
  g_autofree char *gone = inuse_opener_reason ("usb", "1-1", NULL, "6", NULL);
  g_autofree char *fb = inuse_fbcon_reason ("fb0");
  const char *names[] = { "(S) dummy device", "(M) frame buffer device", NULL };
  const char *bound[] = { "0", "1", NULL };
  const char *unbound[] = { "1", "0", NULL };

  g_assert_null (inuse_input_reason (INUSE_INPUT_OTHER, "Power Button", "event0"));
  g_assert_cmpstr (kbd, ==, "keyboard Logitech K120 (input event3)");
  g_assert_cmpstr (mouse, ==, "mouse QEMU USB Mouse (input event4)");
  g_assert_cmpstr (evil, ==, "keyboard a?b (input event1)");
  g_assert_cmpstr (display, ==, "display: gnome-shell pid 1234 (card0)");
  g_assert_cmpstr (render, ==, "GPU: ollama pid 99 (renderD128)");
  g_assert_cmpstr (sound, ==, "sound: pipewire pid 88 (pcmC0D0p)");
  g_assert_cmpstr (disk, ==, "open by qemu-system-x86 pid 77 (sda)");
  g_assert_cmpstr (ev, ==, "input: Xorg pid 5 (event3)");
  g_assert_cmpstr (gone, ==, "open by ? pid 6 (1-1)");
  g_assert_cmpstr (fb, ==, "framebuffer console (fb0)");
  {
    g_autofree char *session = inuse_session_text ("2", "alice", "seat0");
    g_autofree char *no_seat = inuse_session_text ("c1", "gdm", "");
    g_autofree char *shell = inuse_opener_reason ("drm", "card0", "gnome-shell", "1234", session);
    g_autofree char *hostile = inuse_session_text ("3;x", "a;b", NULL);

    g_assert_cmpstr (session, ==, "session 2 of alice on seat0");
    g_assert_cmpstr (no_seat, ==, "session c1 of gdm");
    g_assert_null (inuse_session_text ("", "alice", "seat0"));
    g_assert_null (inuse_session_text (NULL, NULL, NULL));
    g_assert_cmpstr (shell, ==,
                     "display: gnome-shell pid 1234, session 2 of alice on seat0 (card0)");
    g_assert_cmpstr (hostile, ==, "session 3?x of a?b");
  }
  g_assert_true (inuse_fbcon_bound (names, bound));
  g_assert_false (inuse_fbcon_bound (names, unbound));
  g_assert_false (inuse_fbcon_bound (NULL, NULL));

  /* the console is on the first framebuffer, unless fbcon=map: says */
  g_assert_true (inuse_fbcon_uses ("BOOT_IMAGE=/vmlinuz root=/dev/sda2 quiet", 0, 0));
  g_assert_false (inuse_fbcon_uses ("quiet", 1, 0));
  g_assert_true (inuse_fbcon_uses ("quiet", 1, 1));
  g_assert_true (inuse_fbcon_uses ("fbcon=map:1 quiet", 1, 0));
  g_assert_false (inuse_fbcon_uses ("fbcon=map:1 quiet", 0, 0));
  g_assert_true (inuse_fbcon_uses ("fbcon=rotate:1,map:01", 0, 0));
  g_assert_true (inuse_fbcon_uses ("fbcon=rotate:1,map:01", 1, 0));
  g_assert_false (inuse_fbcon_uses ("fbcon=map:1 fbcon=map:0", 1, 0));
  g_assert_true (inuse_fbcon_uses (NULL, 0, 0));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/inuse/mountinfo", test_mountinfo);
  g_test_add_func ("/inuse/swaps", test_swaps);
  g_test_add_func ("/inuse/block-reasons", test_block_reasons);
  g_test_add_func ("/inuse/tag-reasons", test_tag_reasons);
  g_test_add_func ("/inuse/net-reasons", test_net_reasons);
  g_test_add_func ("/inuse/doubts", test_doubts);
  g_test_add_func ("/inuse/swaps-malformed", test_swaps_malformed);
  g_test_add_func ("/inuse/btrfs-reasons", test_btrfs_reasons);
  g_test_add_func ("/inuse/sanitize", test_sanitize);
  g_test_add_func ("/inuse/bitmaps", test_bitmaps);
  g_test_add_func ("/inuse/input-kinds", test_input_kinds);
  g_test_add_func ("/inuse/node-reasons", test_node_reasons);
  return g_test_run ();
}
