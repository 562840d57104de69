/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * table.h: aligned text tables for vfioctl.
 *
 * Cells are UTF-8; widths count code points.  Columns are separated by two
 * spaces, the last column is not padded (no trailing blanks).  When a
 * maximum width is given, shrinkable columns are cut (with an ellipsis) in
 * the order they were marked, down to their minimum width.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct Table Table;

typedef struct TableStyle {
        bool header;          /* print the header row */
        bool color;           /* use the cells' ANSI colours, bold header */
        size_t max_width;     /* 0: unlimited */
        const char *ellipsis; /* for cut cells, e.g. "…" or "..." */
} TableStyle;

#define TABLE_COLOR_BOLD "\033[1m"
#define TABLE_COLOR_DIM "\033[2m"
#define TABLE_COLOR_GREEN "\033[32m"
#define TABLE_COLOR_YELLOW "\033[33m"
#define TABLE_COLOR_CYAN "\033[36m"
#define TABLE_COLOR_RESET "\033[0m"

/* headers: n_columns strings. */
Table *table_new(size_t n_columns, const char *const *headers);
void table_free(Table *t);

/* Marks column as cut-able down to min_width code points. */
void table_set_shrinkable(Table *t, size_t column, size_t min_width);

/* Appends a row; cells and colors have n_columns entries, colors may be
 * NULL or hold NULLs.  Strings are copied, control characters replaced
 * by spaces.  0 or -ENOMEM. */
int table_add_row(Table *t, const char *const *cells, const char *const *colors);

size_t table_get_rows(const Table *t);

/* 0 or -errno. */
int table_print(const Table *t, FILE *f, const TableStyle *style);

/* Number of code points of a UTF-8 string. */
size_t utf8_width(const char *s);

/* Writes at most `width` code points of s to f: s itself when it fits,
 * else its head followed by the ellipsis.  Returns the code points
 * written. */
size_t utf8_write_cut(FILE *f, const char *s, size_t width, const char *ellipsis);
