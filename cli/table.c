/* table.c - the tables of the list commands: see table.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "table.h"

int table_init(struct table *t, const struct table_col *cols, size_t ncol, size_t nrows)
{
    *t = (struct table){.cols = cols, .ncol = ncol, .cap = nrows};
    t->cells = calloc(nrows * ncol > 0 ? nrows * ncol : 1, sizeof(*t->cells));
    t->width = calloc(ncol ? ncol : 1, sizeof(*t->width));
    if (!t->cells || !t->width) {
        table_free(t);
        fprintf(stderr, "sbx: out of memory\n");
        return -1;
    }
    for (size_t k = 0; k < ncol; k++)
        t->width[k] = (int)strlen(cols[k].head);
    return 0;
}

/* A cell as shown: "?" for one that could not be made. */
static const char *cell(const struct table *t, size_t i, size_t k)
{
    const char *s = t->cells[i * t->ncol + k];
    return s ? s : "?";
}

void table_add(struct table *t, const char *const *row)
{
    if (t->len == t->cap) return;
    size_t i = t->len++;
    for (size_t k = 0; k < t->ncol; k++) {
        if (!row[k] || !(t->cells[i * t->ncol + k] = strdup(row[k]))) t->oom = true;
        int w = (int)strlen(cell(t, i, k));
        if (w > t->width[k]) t->width[k] = w;
    }
}

static void print_line(const struct table *t, size_t i, bool head)
{
    for (size_t k = 0; k < t->ncol; k++) {
        const char *s = head ? t->cols[k].head : cell(t, i, k);
        if (k + 1 == t->ncol)
            printf("%s\n", s);
        else
            printf(t->cols[k].right ? "%*s   " : "%-*s   ", t->width[k], s);
    }
}

int table_print(const struct table *t)
{
    print_line(t, 0, true);
    for (size_t i = 0; i < t->len; i++)
        print_line(t, i, false);
    if (!t->oom) return EXIT_OK;
    fprintf(stderr, "sbx: out of memory\n");
    return EXIT_FAIL;
}

void table_free(struct table *t)
{
    for (size_t i = 0; t->cells && i < t->len * t->ncol; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width);
    t->cells = NULL;
    t->width = NULL;
    t->len = 0;
}
