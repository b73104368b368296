/* tests/helper/test.c - see test.h */
#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int g_tests, g_failed_tests, g_cur_failed;
static const char *g_cur;
static char g_tmp[256];

static void cleanup_tmp(void)
{
  char cmd[300];
  if (g_tmp[0] && !getenv("CAIRN_TEST_KEEP")) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "# could not remove %s\n", g_tmp);
  }
}

const char *test_tmpdir(void)
{
  if (!g_tmp[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/cairn-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(g_tmp)) {
      perror("mkdtemp");
      exit(2);
    }
    atexit(cleanup_tmp);
  }
  return g_tmp;
}

const char *test_path(const char *name)
{
  static char bufs[8][512];
  static int i;
  char *b = bufs[i++ & 7];
  snprintf(b, 512, "%s/%s", test_tmpdir(), name);
  return b;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
  va_list ap;
  fprintf(stdout, "#   %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
  g_cur_failed = 1;
}

void test_run(const char *name, void (*fn)(void))
{
  g_cur = name;
  g_cur_failed = 0;
  cairn_clearerr();
  fn();
  g_tests++;
  if (g_cur_failed) g_failed_tests++;
  printf("%s %d - %s\n", g_cur_failed ? "not ok" : "ok", g_tests, name);
  fflush(stdout);
}

int test_done(void)
{
  printf("1..%d\n", g_tests);
  printf("# %d passed, %d failed\n", g_tests - g_failed_tests, g_failed_tests);
  return (g_tests > 0 && g_failed_tests == 0) ? 0 : 1;
}

int test_sh(const char *fmt, ...)
{
  char cmd[8192];
  va_list ap;
  int st;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  fflush(stdout);
  st = system(cmd);
  if (st == -1) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int test_sh_out(char *out, size_t outlen, const char *fmt, ...)
{
  char cmd[8192];
  va_list ap;
  FILE *p;
  size_t n = 0;
  int st;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  fflush(stdout);
  p = popen(cmd, "r");
  if (!p) return -1;
  if (outlen) {
    n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
  }
  st = pclose(p);
  if (st == -1) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int test_write_file(const char *path, const void *data, size_t len)
{
  FILE *f = fopen(path, "wb");
  int r = 0;
  if (!f) return -1;
  if (fwrite(data, 1, len, f) != len) r = -1;
  if (fclose(f) != 0) r = -1;
  return r;
}

char *test_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *b;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return NULL;
  }
  b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (!b) return NULL;
  b[n] = 0;
  if (len) *len = (size_t)n;
  return b;
}
