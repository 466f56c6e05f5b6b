/* table.h - the tables of the list commands (`sbx ls`, `sbx ps`,
 * `sbx image ls`): a header line, then one line a row; each column as wide
 * as its widest cell (header included), three spaces between columns, the
 * last column not padded.
 *
 * Owns: the layout, and a copy of every cell until the table is freed.
 * Must never: know what the columns mean, or print anything but the table
 * and, when a cell could not be made, "sbx: out of memory". */
#ifndef SBX_CLI_TABLE_H
#define SBX_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>

struct table_col {
    const char *head;
    bool right; /* right-aligned (counts, sizes) */
};

struct table {
    const struct table_col *cols;
    size_t ncol;
    size_t cap, len; /* rows: room for, added */
    char **cells;    /* cap * ncol, row by row; NULL: could not be made */
    int *width;      /* of each column so far */
    bool oom;        /* a cell could not be made */
};

/* Room for nrows rows of the ncol columns cols (static: the table keeps the
 * pointer). Returns 0, or -1 when out of memory (said). */
int table_init(struct table *t, const struct table_col *cols, size_t ncol, size_t nrows);
/* Copy the next row in: ncol strings, NULL for one that the caller ran out
 * of memory making. Nothing once the table is full. */
void table_add(struct table *t, const char *const *row);
/* Print the table on stdout. A cell that could not be made shows as "?", and
 * "sbx: out of memory" follows on stderr: EXIT_FAIL; else EXIT_OK. */
int table_print(const struct table *t);
void table_free(struct table *t);

#endif
