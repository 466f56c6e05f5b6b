/* Unit tests: base64, errors, random ids (common/util.c, common/error.c). */
#include <errno.h>
#include <stdlib.h>

#include "error.h"
#include "unit.h"
#include "util.h"

static void test_base64_round_trips_all_byte_values_and_lengths(void)
{
    uint8_t in[300], out[300];
    char enc[420];
    for (int i = 0; i < 300; i++) in[i] = (uint8_t)(i * 7);
    for (size_t n = 0; n <= 258; n++) {
        size_t el = b64_encode(in, n, enc);
        CHECK(el == 4 * ((n + 2) / 3));
        ssize_t dl = b64_decode(enc, el, out);
        CHECK(dl == (ssize_t)n);
        CHECK(memcmp(in, out, n) == 0);
    }
    b64_encode((const uint8_t *)"hi\n", 3, enc);
    CHECK_STR(enc, "aGkK");
}

static void test_base64_rejects_malformed_input(void)
{
    uint8_t out[16];
    CHECK(b64_decode("abc", 3, out) < 0);
    CHECK(b64_decode("ab=c", 4, out) < 0);
    CHECK(b64_decode("a*cd", 4, out) < 0);
    CHECK(b64_decode("=abc", 4, out) < 0);
    CHECK(b64_decode("ab==abcd", 8, out) < 0); /* padding only at the end */
    CHECK(b64_decode("", 0, out) == 0);
}

static void test_error_wrap_builds_a_chain_with_errno(void)
{
    sbx_err err;
    CHECK(sbx_error(&err, ENOENT, "open %s", "/x") == -ENOENT);
    sbx_error_wrap(&err, "mount overlay");
    sbx_error_wrap(&err, "create session");
    CHECK_STR(err.msg, "create session: mount overlay: open /x: No such file or directory");
    CHECK(err.errnum == ENOENT);
    CHECK(sbx_error_kind(&err, SBX_E_INVALID, "invalid_request", "bad %d", 1) == -1);
    CHECK(err.kind == SBX_E_INVALID);
    CHECK_STR(err.code, "invalid_request");
}

static void test_error_message_never_overflows(void)
{
    sbx_err err;
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sbx_error(&err, EIO, "%s", big);
    for (int i = 0; i < 10; i++) sbx_error_wrap(&err, "%s", big);
    CHECK(strlen(err.msg) < SBX_ERR_MSG_MAX);
}

static void test_random_hex_is_lowercase_and_sized(void)
{
    char id[13], id2[13];
    sbx_err err;
    CHECK(random_hex(id, 6, &err) == 0 && strlen(id) == 12);
    CHECK(random_hex(id2, 6, &err) == 0);
    CHECK(strcmp(id, id2) != 0);
    for (int i = 0; i < 12; i++) CHECK((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
}

int main(void)
{
    RUN(test_base64_round_trips_all_byte_values_and_lengths);
    RUN(test_base64_rejects_malformed_input);
    RUN(test_error_wrap_builds_a_chain_with_errno);
    RUN(test_error_message_never_overflows);
    RUN(test_random_hex_is_lowercase_and_sized);
    UNIT_MAIN_END();
}
