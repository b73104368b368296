/* tests/helper/test.h - a tiny unit-test harness (TAP output).
 *
 *   static void test_parse(void) { CHECK_INT_EQ(cairn_x(), CAIRN_OK); }
 *   int main(void) { RUN(test_parse); return test_done(); }
 *
 * Failed checks print file:line, the expression and both values, mark the
 * current test failed and continue. test_done() returns the exit status
 * (0 only when every check passed and at least one test ran).
 */
#ifndef CAIRN_TEST_H
#define CAIRN_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

void test_run(const char *name, void (*fn)(void));
int test_done(void);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A fresh private temp directory for this process (removed at exit). */
const char *test_tmpdir(void);
/* Path of a file under test_tmpdir() (static buffer rotated 8 deep). */
const char *test_path(const char *name);
/* Runs a shell command, returns its exit status (or -1). Output goes to
 * the test log. */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs a shell command and captures up to outlen-1 bytes of stdout. */
int test_sh_out(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes / reads a whole file (read: NUL-terminated, free()). */
int test_write_file(const char *path, const void *data, size_t len);
char *test_read_file(const char *path, size_t *len);

#define RUN(fn) test_run(#fn, fn)

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);        \
  } while (0)

#define CHECK_INT_EQ(a, b)                                                 \
  do {                                                                     \
    long long _a = (long long)(a), _b = (long long)(b);                    \
    if (_a != _b)                                                          \
      test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a,  \
                _b);                                                       \
  } while (0)

#define CHECK_STR_EQ(a, b)                                                 \
  do {                                                                     \
    const char *_a = (a), *_b = (b);                                       \
    if (!_a || !_b || strcmp(_a, _b) != 0)                                 \
      test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,  \
                _a ? _a : "(null)", _b ? _b : "(null)");                   \
  } while (0)

/* Checks a libcairn call returns CAIRN_OK, printing cairn_errdetail(). */
#define CHECK_OK(expr)                                                     \
  do {                                                                     \
    int _r = (expr);                                                       \
    if (_r != 0)                                                           \
      test_fail(__FILE__, __LINE__, "%s failed: %d (%s): %s", #expr, _r,   \
                cairn_strerror(_r), cairn_errdetail());                    \
  } while (0)

/* Checks a call fails with the given code. */
#define CHECK_ERR(expr, code)                                              \
  do {                                                                     \
    int _r = (expr);                                                       \
    if (_r != (code))                                                      \
      test_fail(__FILE__, __LINE__, "%s: got %d (%s), want %d (%s) [%s]",  \
                #expr, _r, cairn_strerror(_r), (int)(code),                \
                cairn_strerror(code), cairn_errdetail());                  \
  } while (0)

#include "cairn/err.h"

#endif
