/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * table.c: see table.h.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

typedef struct {
        char *text;
        const char *color; /* static strings only */
} Cell;

struct Table {
        size_t n_columns;
        char **headers;
        size_t *min_widths;   /* per column; SIZE_MAX when not shrinkable */
        size_t *shrink_order; /* columns in the order they were marked */
        size_t n_shrinkable;
        Cell *cells; /* n_rows × n_columns */
        size_t n_rows;
};

size_t utf8_width(const char *s) {
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if ((*p & 0xc0) != 0x80) /* not a continuation byte */
                        n++;
        return n;
}

size_t utf8_write_cut(FILE *f, const char *s, size_t width, const char *ellipsis) {
        size_t w = utf8_width(s);

        if (w <= width) {
                fputs(s, f);
                return w;
        }

        size_t ew = utf8_width(ellipsis);
        if (ew > width) {
                ellipsis = "";
                ew = 0;
        }

        /* Copy width - ew code points, never splitting a sequence. */
        size_t keep = width - ew, n = 0;
        const unsigned char *p = (const unsigned char *) s;
        while (*p) {
                if ((*p & 0xc0) != 0x80) {
                        if (n == keep)
                                break;
                        n++;
                }
                fputc(*p, f);
                p++;
        }
        fputs(ellipsis, f);
        return keep + ew;
}

/* A copy of s with every control character (tab, newline, escape, ...)
 * replaced by a space: one row stays one line, columns stay aligned, and
 * a device name can never send escape sequences to the terminal. */
static char *cell_text_new(const char *s) {
        char *copy = strdup(s ? s : "");
        if (!copy)
                return NULL;
        for (unsigned char *p = (unsigned char *) copy; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        *p = ' ';
        return copy;
}

Table *table_new(size_t n_columns, const char *const *headers) {
        Table *t;

        assert(n_columns > 0);

        t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->n_columns = n_columns;
        t->headers = calloc(n_columns, sizeof(char *));
        t->min_widths = calloc(n_columns, sizeof(size_t));
        t->shrink_order = calloc(n_columns, sizeof(size_t));
        if (!t->headers || !t->min_widths || !t->shrink_order)
                goto fail;

        for (size_t c = 0; c < n_columns; c++) {
                t->headers[c] = cell_text_new(headers[c]);
                if (!t->headers[c])
                        goto fail;
                t->min_widths[c] = SIZE_MAX;
        }
        return t;

fail:
        table_free(t);
        return NULL;
}

void table_free(Table *t) {
        if (!t)
                return;
        for (size_t c = 0; t->headers && c < t->n_columns; c++)
                free(t->headers[c]);
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i].text);
        free(t->headers);
        free(t->min_widths);
        free(t->shrink_order);
        free(t->cells);
        free(t);
}

void table_set_shrinkable(Table *t, size_t column, size_t min_width) {
        assert(column < t->n_columns);
        if (t->min_widths[column] == SIZE_MAX)
                t->shrink_order[t->n_shrinkable++] = column;
        t->min_widths[column] = min_width;
}

int table_add_row(Table *t, const char *const *cells, const char *const *colors) {
        Cell *grown;

        grown = realloc(t->cells, (t->n_rows + 1) * t->n_columns * sizeof(Cell));
        if (!grown)
                return -ENOMEM;
        t->cells = grown;

        Cell *row = t->cells + t->n_rows * t->n_columns;
        for (size_t c = 0; c < t->n_columns; c++) {
                row[c].text = cell_text_new(cells[c]);
                row[c].color = colors ? colors[c] : NULL;
                if (!row[c].text) {
                        while (c > 0)
                                free(row[--c].text);
                        return -ENOMEM;
                }
        }
        t->n_rows++;
        return 0;
}

size_t table_get_rows(const Table *t) {
        return t->n_rows;
}

static void table_print_row(const Table *t, FILE *f, const TableStyle *style, const size_t *widths,
                            char *const *texts, const Cell *cells, const char *row_color) {
        for (size_t c = 0; c < t->n_columns; c++) {
                const char *text = cells ? cells[c].text : texts[c];
                const char *color = cells ? cells[c].color : row_color;
                bool last = c + 1 == t->n_columns;

                if (c > 0)
                        fputs("  ", f);
                if (style->color && color)
                        fputs(color, f);
                size_t w = utf8_write_cut(f, text, widths[c], style->ellipsis ? style->ellipsis : "...");
                if (style->color && color)
                        fputs(TABLE_COLOR_RESET, f);
                if (!last)
                        for (; w < widths[c]; w++)
                                fputc(' ', f);
        }
        fputc('\n', f);
}

int table_print(const Table *t, FILE *f, const TableStyle *style) {
        size_t *widths, total;

        widths = calloc(t->n_columns, sizeof(size_t));
        if (!widths)
                return -ENOMEM;

        for (size_t c = 0; c < t->n_columns; c++) {
                if (style->header)
                        widths[c] = utf8_width(t->headers[c]);
                for (size_t r = 0; r < t->n_rows; r++) {
                        size_t w = utf8_width(t->cells[r * t->n_columns + c].text);
                        if (w > widths[c])
                                widths[c] = w;
                }
        }

        total = 2 * (t->n_columns - 1);
        for (size_t c = 0; c < t->n_columns; c++)
                total += widths[c];

        for (size_t i = 0; style->max_width > 0 && total > style->max_width && i < t->n_shrinkable; i++) {
                size_t c = t->shrink_order[i];
                if (widths[c] <= t->min_widths[c])
                        continue;
                size_t cut = widths[c] - t->min_widths[c];
                if (cut > total - style->max_width)
                        cut = total - style->max_width;
                widths[c] -= cut;
                total -= cut;
        }

        if (style->header)
                table_print_row(t, f, style, widths, t->headers, NULL, TABLE_COLOR_BOLD);
        for (size_t r = 0; r < t->n_rows; r++)
                table_print_row(t, f, style, widths, NULL, t->cells + r * t->n_columns, NULL);

        free(widths);
        if (ferror(f))
                return -EIO;
        return 0;
}
