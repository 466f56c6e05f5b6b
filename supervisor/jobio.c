/* jobio.c - see jobio.h. */
#include "jobio.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "util.h"

int job_say(int fd, const char *key, struct json_object *val)
{
    struct json_object *o = json_object_new_object();
    if (!o) {
        if (val) json_object_put(val);
        return -ENOMEM;
    }
    json_object_object_add(o, key, val ? val : json_object_new_object());
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int r = write_all(fd, s, strlen(s));
    if (r == 0) r = write_all(fd, "\n", 1);
    json_object_put(o);
    return r;
}

int job_answer(int fd, int rc, struct json_object *ok, const sbx_err *err)
{
    if (rc == 0) return job_say(fd, "ok", ok);
    if (ok) json_object_put(ok);
    return job_say(fd, "error", json_err_object(err, "internal"));
}

int job_body_complete(void *ud)
{
    (void)ud;
    char c = 0;
    ssize_t n;
    do n = read(JOB_COMMIT_FD, &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 && c == 'C' ? 0 : -1;
}
