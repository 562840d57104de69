/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of table.c: alignment, headers, widths, cutting, colour. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

static const char *const headers[] = {"GROUP", "ADDRESS", "NAME", "IN USE"};

static Table *sample(void) {
        Table *t = table_new(4, headers);
        g_assert_nonnull(t);
        const char *r1[] = {"5", "0000:00:1c.0", "Intel Corporation Root Port", "-"};
        const char *r2[] = {"14", "0000:03:00.0", "NIC", "mounted: / (sda2)"};
        g_assert_cmpint(table_add_row(t, r1, NULL), ==, 0);
        g_assert_cmpint(table_add_row(t, r2, NULL), ==, 0);
        g_assert_cmpuint(table_get_rows(t), ==, 2);
        return t;
}

static char *render(const Table *t, const TableStyle *style) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        g_assert_cmpint(table_print(t, f, style), ==, 0);
        g_assert_cmpint(fclose(f), ==, 0);
        return buf;
}

static void test_plain(void) {
        Table *t = sample();
        TableStyle style = {.header = false};
        char *s = render(t, &style);
        /* Two spaces between columns, no padding after the last one. */
        g_assert_cmpstr(s, ==,
                        "5   0000:00:1c.0  Intel Corporation Root Port  -\n"
                        "14  0000:03:00.0  NIC                          mounted: / (sda2)\n");
        g_assert_null(strchr(s, '\t'));
        free(s);
        table_free(t);
}

static void test_header(void) {
        Table *t = sample();
        TableStyle style = {.header = true};
        char *s = render(t, &style);
        g_assert_cmpstr(s, ==,
                        "GROUP  ADDRESS       NAME                         IN USE\n"
                        "5      0000:00:1c.0  Intel Corporation Root Port  -\n"
                        "14     0000:03:00.0  NIC                          mounted: / (sda2)\n");
        free(s);
        table_free(t);
}

static void test_utf8_width(void) {
        g_assert_cmpuint(utf8_width(""), ==, 0);
        g_assert_cmpuint(utf8_width("abc"), ==, 3);
        g_assert_cmpuint(utf8_width("é→x"), ==, 3);
        g_assert_cmpuint(utf8_width("\U0001F600"), ==, 1);

        /* Multibyte cells align by code points, not bytes. */
        const char *const h[] = {"A", "B"};
        Table *t = table_new(2, h);
        const char *r1[] = {"é→", "x"};
        const char *r2[] = {"abc", "y"};
        table_add_row(t, r1, NULL);
        table_add_row(t, r2, NULL);
        TableStyle style = {.header = false};
        char *s = render(t, &style);
        g_assert_cmpstr(s, ==, "é→   x\nabc  y\n");
        free(s);
        table_free(t);
}

static void test_cut(void) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        g_assert_cmpuint(utf8_write_cut(f, "abcdef", 6, "…"), ==, 6);
        fputc('|', f);
        g_assert_cmpuint(utf8_write_cut(f, "abcdef", 4, "…"), ==, 4);
        fputc('|', f);
        g_assert_cmpuint(utf8_write_cut(f, "éééééé", 3, "..."), ==, 3);
        fputc('|', f);
        g_assert_cmpuint(utf8_write_cut(f, "ééé→éé", 5, "…"), ==, 5);
        fclose(f);
        g_assert_cmpstr(buf, ==, "abcdef|abc…|...|ééé→…");
        free(buf);
}

static void test_shrink(void) {
        Table *t = sample();
        table_set_shrinkable(t, 2, 8); /* NAME */
        table_set_shrinkable(t, 3, 6); /* IN USE */

        /* Natural width: 5+2+12+2+27+2+17 = 67. */
        TableStyle wide = {.header = true, .max_width = 67, .ellipsis = "…"};
        char *s = render(t, &wide);
        g_assert_nonnull(strstr(s, "Intel Corporation Root Port"));
        free(s);

        /* 10 columns too many: NAME loses them first. */
        TableStyle narrow = {.header = true, .max_width = 57, .ellipsis = "…"};
        s = render(t, &narrow);
        g_assert_cmpstr(s, ==,
                        "GROUP  ADDRESS       NAME               IN USE\n"
                        "5      0000:00:1c.0  Intel Corporatio…  -\n"
                        "14     0000:03:00.0  NIC                mounted: / (sda2)\n");
        free(s);

        /* Far too narrow: both stop at their minimum, nothing else is cut. */
        TableStyle tiny = {.header = true, .max_width = 20, .ellipsis = "…"};
        s = render(t, &tiny);
        g_assert_cmpstr(s, ==,
                        "GROUP  ADDRESS       NAME      IN USE\n"
                        "5      0000:00:1c.0  Intel C…  -\n"
                        "14     0000:03:00.0  NIC       mount…\n");
        free(s);
        table_free(t);
}

static void test_color(void) {
        const char *const h[] = {"STATE", "X"};
        Table *t = table_new(2, h);
        const char *cells[] = {"vfio", "y"};
        const char *colors[] = {TABLE_COLOR_GREEN, NULL};
        table_add_row(t, cells, colors);

        TableStyle color = {.header = true, .color = true};
        char *s = render(t, &color);
        g_assert_cmpstr(s, ==,
                        "\033[1mSTATE\033[0m  \033[1mX\033[0m\n"
                        "\033[32mvfio\033[0m   y\n");
        free(s);

        TableStyle plain = {.header = true, .color = false};
        s = render(t, &plain);
        g_assert_cmpstr(s, ==, "STATE  X\nvfio   y\n");
        g_assert_null(strchr(s, '\033'));
        free(s);
        table_free(t);
}

static void test_control_chars(void) {
        const char *const h[] = {"NAME", "X"};
        Table *t = table_new(2, h);
        const char *cells[] = {"evil\033[2J\tname\nx", "y"};
        table_add_row(t, cells, NULL);
        TableStyle style = {.header = false};
        char *s = render(t, &style);
        g_assert_cmpstr(s, ==, "evil [2J name x  y\n");
        free(s);
        table_free(t);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/table/plain", test_plain);
        g_test_add_func("/table/header", test_header);
        g_test_add_func("/table/utf8-width", test_utf8_width);
        g_test_add_func("/table/cut", test_cut);
        g_test_add_func("/table/shrink", test_shrink);
        g_test_add_func("/table/color", test_color);
        g_test_add_func("/table/control-chars", test_control_chars);
        return g_test_run();
}
