/* jsontext.h - strict JSON text for the sbx CLI: policy files (`sbx policy
 * check`, --network-file) and audit log lines (`sbx audit`).
 *
 * Owns: RFC 8259 parsing on top of json-c (its strict mode, plus what that
 * mode still lets through: single quotes, NaN/Infinity, bare words), exactly
 * one value with nothing but whitespace around it, and errors that say where:
 * "line 3, column 7: ...".
 *
 * Must never: do I/O, print, or know what the value means (the caller checks
 * that it is an object, a policy, an audit record). */
#ifndef SBX_CLI_JSONTEXT_H
#define SBX_CLI_JSONTEXT_H

#include <stddef.h>

#include <json-c/json.h>

#include "error.h"

/* Parse buf[0..len) as one JSON value (any type). Returns 0 with *out set
 * (the caller puts it), or -1 with err->msg "line L, column C: what" (code
 * "invalid_json"). Whitespace only is an error ("no JSON value"). */
int json_text_parse(const char *buf, size_t len, json_object **out, sbx_err *err);

/* 1-based line and column (in bytes) of offset off in buf. */
void json_text_position(const char *buf, size_t len, size_t off, int *line, int *column);

#endif
