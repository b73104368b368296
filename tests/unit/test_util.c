/* Unit tests for err, log, buf, b64, pem and util. */
#include "test.h"

#include "cairn/b64.h"
#include "cairn/buf.h"
#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/pem.h"
#include "cairn/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_err(void)
{
  CHECK_STR_EQ(cairn_strerror(CAIRN_OK), "success");
  CHECK_STR_EQ(cairn_strerror(CAIRN_ERR_PARSE), "malformed input");
  CHECK_STR_EQ(cairn_strerror(-5), "unknown error");
  CHECK_STR_EQ(cairn_strerror(CAIRN_ERR__COUNT), "unknown error");
  for (int i = 0; i < CAIRN_ERR__COUNT; i++)
    CHECK(strcmp(cairn_strerror(i), "unknown error") != 0);
  CHECK_INT_EQ(cairn_seterr(CAIRN_ERR_IO, "x %d", 7), CAIRN_ERR_IO);
  CHECK_STR_EQ(cairn_errdetail(), "x 7");
  cairn_seterr(CAIRN_ERR_DENIED, NULL);
  CHECK_STR_EQ(cairn_errdetail(), "permission denied");
  cairn_clearerr();
  CHECK_STR_EQ(cairn_errdetail(), "");
}

static void test_log(void)
{
  enum cairn_log_level l;
  char *out = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&out, &n);
  CHECK_OK(cairn_log_level_parse("DEBUG", &l));
  CHECK_INT_EQ(l, CAIRN_LOG_DEBUG);
  CHECK_ERR(cairn_log_level_parse("loud", &l), CAIRN_ERR_INVAL);
  cairn_log_set_stream(f);
  cairn_log_set_level(CAIRN_LOG_WARN);
  CAIRN_LOGI("t", "hidden");
  CAIRN_LOGW("mod", "shown %d", 42);
  cairn_log_set_stream(NULL);
  cairn_log_set_level(CAIRN_LOG_INFO);
  fclose(f);
  CHECK(out && strstr(out, "WARN  [mod] shown 42\n"));
  CHECK(out && !strstr(out, "hidden"));
  free(out);
}

static void test_rd(void)
{
  static const uint8_t d[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
  struct cairn_rd r;
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  const uint8_t *p;
  cairn_rd_init(&r, d, sizeof d);
  CHECK_OK(cairn_rd_u8(&r, &u8));
  CHECK_INT_EQ(u8, 1);
  CHECK_OK(cairn_rd_be16(&r, &u16));
  CHECK_INT_EQ(u16, 0x0203);
  CHECK_OK(cairn_rd_be32(&r, &u32));
  CHECK_INT_EQ(u32, 0x04050607);
  CHECK_INT_EQ(cairn_rd_left(&r), 0);
  CHECK_ERR(cairn_rd_u8(&r, &u8), CAIRN_ERR_PARSE);
  cairn_rd_init(&r, d, 3);
  CHECK_ERR(cairn_rd_be32(&r, &u32), CAIRN_ERR_PARSE);
  CHECK_INT_EQ(r.off, 0);
  CHECK_ERR(cairn_rd_bytes(&r, 4, &p), CAIRN_ERR_PARSE);
  CHECK_OK(cairn_rd_bytes(&r, 3, &p));
  CHECK(p == d);
  cairn_rd_init(&r, d, 2);
  CHECK_ERR(cairn_rd_skip(&r, 3), CAIRN_ERR_PARSE);
  CHECK_OK(cairn_rd_skip(&r, 2));
}

static void test_der(void)
{
  static const uint8_t ok[] = {0x30, 0x03, 0x02, 0x01, 0x05};
  static const uint8_t longform[] = {0x04, 0x81, 0x80};
  static const uint8_t nonmin[] = {0x04, 0x81, 0x05, 1, 2, 3, 4, 5};
  static const uint8_t over[] = {0x04, 0x05, 1, 2};
  static const uint8_t huge[] = {0x04, 0x85, 1, 1, 1, 1, 1};
  static const uint8_t hightag[] = {0x1f, 0x01, 0x00};
  uint8_t big[3 + 0x80] = {0x04, 0x81, 0x80};
  struct cairn_rd r, in;
  uint8_t tag;
  const uint8_t *v;
  size_t n;

  cairn_rd_init(&r, ok, sizeof ok);
  CHECK_OK(cairn_rd_der(&r, &tag, &v, &n));
  CHECK_INT_EQ(tag, 0x30);
  CHECK_INT_EQ(n, 3);
  cairn_rd_init(&in, v, n);
  CHECK_OK(cairn_rd_der(&in, &tag, &v, &n));
  CHECK_INT_EQ(tag, 0x02);
  CHECK_INT_EQ(v[0], 5);
  cairn_rd_init(&r, longform, sizeof longform);
  CHECK_ERR(cairn_rd_der(&r, &tag, &v, &n), CAIRN_ERR_PARSE);
  cairn_rd_init(&r, big, sizeof big);
  CHECK_OK(cairn_rd_der(&r, &tag, &v, &n));
  CHECK_INT_EQ(n, 0x80);
  cairn_rd_init(&r, nonmin, sizeof nonmin);
  CHECK_ERR(cairn_rd_der(&r, &tag, &v, &n), CAIRN_ERR_PARSE);
  cairn_rd_init(&r, over, sizeof over);
  CHECK_ERR(cairn_rd_der(&r, &tag, &v, &n), CAIRN_ERR_PARSE);
  CHECK_INT_EQ(r.off, 0);
  cairn_rd_init(&r, huge, sizeof huge);
  CHECK_ERR(cairn_rd_der(&r, &tag, &v, &n), CAIRN_ERR_PARSE);
  cairn_rd_init(&r, hightag, sizeof hightag);
  CHECK_ERR(cairn_rd_der(&r, &tag, &v, &n), CAIRN_ERR_PARSE);
}

static void test_buf(void)
{
  struct cairn_buf b;
  uint8_t *d;
  size_t n;
  cairn_buf_init(&b, 10);
  CHECK_OK(cairn_buf_puts(&b, "abc"));
  CHECK_OK(cairn_buf_appendf(&b, "%d", 1234));
  CHECK_STR_EQ((char *)b.data, "abc1234");
  CHECK_ERR(cairn_buf_puts(&b, "wxyz"), CAIRN_ERR_TOO_BIG);
  CHECK_STR_EQ((char *)b.data, "abc1234");
  CHECK_ERR(cairn_buf_appendf(&b, "%s", "long!"), CAIRN_ERR_TOO_BIG);
  CHECK_OK(cairn_buf_puts(&b, "xyz"));
  CHECK_INT_EQ(b.len, 10);
  CHECK_ERR(cairn_buf_putc(&b, 'q'), CAIRN_ERR_TOO_BIG);
  d = cairn_buf_steal(&b, &n);
  CHECK_INT_EQ(n, 10);
  CHECK_STR_EQ((char *)d, "abc1234xyz");
  free(d);
  CHECK(b.data == NULL);
  d = cairn_buf_steal(&b, &n);
  CHECK(d && n == 0 && d[0] == 0);
  free(d);
  cairn_buf_init(&b, 1 << 20);
  for (int i = 0; i < 1000; i++) CHECK_OK(cairn_buf_append(&b, "0123456789", 10));
  CHECK_INT_EQ(b.len, 10000);
  cairn_buf_reset(&b);
  CHECK_INT_EQ(b.len, 0);
  cairn_buf_cleanup_secure(&b);
  cairn_buf_cleanup(&b);
}

static void test_b64(void)
{
  static const struct {
    const char *in, *std, *url;
  } v[] = {{"", "", ""},           {"f", "Zg==", "Zg"},
           {"fo", "Zm8=", "Zm8"},  {"foo", "Zm9v", "Zm9v"},
           {"foob", "Zm9vYg==", "Zm9vYg"}, {"\xfb\xff", "+/8=", "-_8"}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char *e;
    uint8_t *d;
    size_t n;
    CHECK_OK(cairn_b64_encode(v[i].in, strlen(v[i].in), 0, &e));
    CHECK_STR_EQ(e, v[i].std);
    free(e);
    CHECK_OK(cairn_b64_encode(v[i].in, strlen(v[i].in), 1, &e));
    CHECK_STR_EQ(e, v[i].url);
    free(e);
    CHECK_OK(cairn_b64_decode(v[i].std, strlen(v[i].std), 0, &d, &n));
    CHECK(n == strlen(v[i].in) && memcmp(d, v[i].in, n) == 0);
    free(d);
    CHECK_OK(cairn_b64_decode(v[i].url, strlen(v[i].url), 1, &d, &n));
    CHECK(n == strlen(v[i].in) && memcmp(d, v[i].in, n) == 0);
    free(d);
  }
  {
    static const char *bad_std[] = {"Zg=", "Zg", "Z===", "Zh==", "Zm9v-_8=",
                                    "Zm 9v", "=Zg=", "Zg=a"};
    static const char *bad_url[] = {"Zg==", "Z", "Zh", "+/8", "Zm9v\n"};
    uint8_t *d;
    size_t n;
    for (size_t i = 0; i < sizeof bad_std / sizeof *bad_std; i++)
      CHECK_ERR(cairn_b64_decode(bad_std[i], strlen(bad_std[i]), 0, &d, &n),
                CAIRN_ERR_PARSE);
    for (size_t i = 0; i < sizeof bad_url / sizeof *bad_url; i++)
      CHECK_ERR(cairn_b64_decode(bad_url[i], strlen(bad_url[i]), 1, &d, &n),
                CAIRN_ERR_PARSE);
  }
}

static void test_pem(void)
{
  uint8_t data[200], *der;
  char *out = NULL, label[CAIRN_PEM_LABEL_MAX];
  size_t outlen = 0, off = 0, n;
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7);
  CHECK_OK(cairn_pem_append("CERTIFICATE", data, sizeof data, &out, &outlen));
  CHECK_OK(cairn_pem_append("EC PRIVATE KEY", data, 10, &out, &outlen));
  CHECK_INT_EQ(strlen(out), outlen);
  CHECK(strncmp(out, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
  CHECK_OK(cairn_pem_next(out, outlen, &off, label, &der, &n, 4096));
  CHECK_STR_EQ(label, "CERTIFICATE");
  CHECK(n == sizeof data && memcmp(der, data, n) == 0);
  free(der);
  CHECK_OK(cairn_pem_next(out, outlen, &off, label, &der, &n, 4096));
  CHECK_STR_EQ(label, "EC PRIVATE KEY");
  CHECK_INT_EQ(n, 10);
  free(der);
  CHECK_ERR(cairn_pem_next(out, outlen, &off, label, &der, &n, 4096),
            CAIRN_ERR_NOT_FOUND);
  off = 0;
  CHECK_ERR(cairn_pem_next(out, outlen, &off, label, &der, &n, 100),
            CAIRN_ERR_TOO_BIG);
  free(out);
  {
    static const char *bad[] = {
        "-----BEGIN X-----\nZm9v\n",
        "-----BEGIN X-----\nZm9v\n-----END Y-----\n",
        "-----BEGIN X-----\nZm9v!\n-----END X-----\n",
        "-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nZm9v\n-----END X-----\n",
        "-----BEGIN X-----\n-----END X-----\n",
        "-----BEGIN X\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      off = 0;
      CHECK_ERR(cairn_pem_next(bad[i], strlen(bad[i]), &off, label, &der, &n, 4096),
                CAIRN_ERR_PARSE);
    }
    off = 0;
    const char *crlf = "junk\r\n-----BEGIN X-----\r\nZm9v\r\n-----END X-----\r\n";
    CHECK_OK(cairn_pem_next(crlf, strlen(crlf), &off, label, &der, &n, 4096));
    CHECK(n == 3 && memcmp(der, "foo", 3) == 0);
    free(der);
  }
}

static void test_files(void)
{
  const char *p = test_path("secret");
  uint8_t *d;
  size_t n;
  struct stat st;
  CHECK_OK(cairn_file_write_atomic(p, "hello", 5, 0600));
  CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
  CHECK_OK(cairn_file_read_private(p, 100, &d, &n));
  CHECK(n == 5 && memcmp(d, "hello", 6) == 0);
  free(d);
  CHECK_ERR(cairn_file_read(p, 4, &d, &n), CAIRN_ERR_TOO_BIG);
  CHECK(chmod(p, 0640) == 0);
  CHECK_ERR(cairn_file_read_private(p, 100, &d, &n), CAIRN_ERR_PERM);
  CHECK(strstr(cairn_errdetail(), "0640") != NULL);
  CHECK(chmod(p, 0604) == 0);
  CHECK_ERR(cairn_file_read_private(p, 100, &d, &n), CAIRN_ERR_PERM);
  CHECK(chmod(p, 0400) == 0);
  CHECK_OK(cairn_file_read_private(p, 100, &d, &n));
  free(d);
  CHECK_OK(cairn_file_read(p, 100, &d, &n));
  free(d);
  CHECK_ERR(cairn_file_read(test_path("nope"), 100, &d, &n), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_file_read(test_tmpdir(), 100, &d, &n), CAIRN_ERR_IO);
  /* atomic overwrite with a different mode */
  CHECK_OK(cairn_file_write_atomic(p, "bye", 3, 0644));
  CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0644);
  CHECK_OK(cairn_file_read(p, 100, &d, &n));
  CHECK(n == 3);
  free(d);
  CHECK_ERR(cairn_file_write_atomic("/nonexistent-dir/x", "a", 1, 0600), CAIRN_ERR_IO);
  CHECK_OK(cairn_mkdir_p(test_path("a/b/c"), 0700));
  CHECK(stat(test_path("a/b/c"), &st) == 0 && S_ISDIR(st.st_mode));
  CHECK_OK(cairn_mkdir_p(test_path("a/b/c"), 0700));
  CHECK_ERR(cairn_mkdir_p(p, 0700), CAIRN_ERR_IO);
}

static void test_duration(void)
{
  static const struct {
    const char *s;
    int64_t v;
  } ok[] = {{"0", 0}, {"90", 90}, {"90s", 90}, {"5m", 300}, {"1h", 3600},
            {"1h30m", 5400}, {"7d", 604800}, {"1d2h3m4s", 93784}};
  static const char *bad[] = {"", "h", "1x", "-1h", "1.5h", "1h 30m", "10 ",
                              "99999999999999999999", "9223372036854775807d",
                              "1h30"};
  char buf[64];
  int64_t v;
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    CHECK_OK(cairn_duration_parse(ok[i].s, &v));
    CHECK_INT_EQ(v, ok[i].v);
  }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    CHECK_ERR(cairn_duration_parse(bad[i], &v), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(cairn_duration_format(0, buf, sizeof buf), "0s");
  CHECK_STR_EQ(cairn_duration_format(3600, buf, sizeof buf), "1h");
  CHECK_STR_EQ(cairn_duration_format(93784, buf, sizeof buf), "26h3m4s");
  CHECK_STR_EQ(cairn_duration_format(-61, buf, sizeof buf), "-1m1s");
}

/* Every rule of cairn_utf8_check, at the edges. */
static void test_utf8(void)
{
  static const struct {
    const char *bytes;
    size_t n;
    int want;
  } cases[] = {
      {"", 0, 0},
      {"plain ascii", 11, 0},
      {"\xc3\xa9t\xc3\xa9", 5, 0},               /* U+00E9 */
      {"\xe2\x82\xac", 3, 0},                     /* U+20AC */
      {"\xf0\x9f\x98\x80", 4, 0},                 /* U+1F600 */
      {"\xf4\x8f\xbf\xbf", 4, 0},                 /* U+10FFFF */
      {"\xed\x9f\xbf", 3, 0},                     /* U+D7FF */
      {"\xee\x80\x80", 3, 0},                     /* U+E000 */
      {"a\0b", 3, 2},                             /* NUL */
      {"\x80", 1, 1},                              /* lone continuation */
      {"\xc0\xaf", 2, 1},                          /* overlong '/' */
      {"\xc1\xbf", 2, 1},                          /* overlong */
      {"\xe0\x80\xaf", 3, 1},                      /* overlong, 3 bytes */
      {"\xf0\x80\x80\xaf", 4, 1},                  /* overlong, 4 bytes */
      {"\xed\xa0\x80", 3, 1},                      /* U+D800 surrogate */
      {"\xed\xbf\xbf", 3, 1},                      /* U+DFFF surrogate */
      {"\xf4\x90\x80\x80", 4, 1},                  /* U+110000 */
      {"\xf5\x80\x80\x80", 4, 1},                  /* bad lead byte */
      {"\xff", 1, 1},
      {"\xc3", 1, 1},                              /* truncated */
      {"\xe2\x82", 2, 1},                          /* truncated */
      {"\xc3(", 2, 1},                             /* bad continuation */
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int got = cairn_utf8_check((const uint8_t *)cases[i].bytes, cases[i].n);
    if (got != cases[i].want)
      printf("# case %zu: got %d, want %d\n", i, got, cases[i].want);
    CHECK_INT_EQ(got, cases[i].want);
  }
  /* The length bounds the read: a valid prefix of invalid bytes. */
  CHECK_INT_EQ(cairn_utf8_check((const uint8_t *)"ab\xff", 2), 0);
}

static void test_misc(void)
{
  char buf[64];
  uint8_t sec[16];
  CHECK_STR_EQ(cairn_time_format(0, buf, sizeof buf), "1970-01-01T00:00:00Z");
  cairn_time_set_fake(1000);
  CHECK_INT_EQ(cairn_now(), 1000);
  cairn_time_set_fake(0);
  CHECK(cairn_now() > 1700000000);
  cairn_hex((const uint8_t *)"\x00\xab\xff", 3, buf);
  CHECK_STR_EQ(buf, "00abff");
  CHECK_INT_EQ(cairn_memeq_ct("abc", "abc", 3), 0);
  CHECK(cairn_memeq_ct("abc", "abd", 3) != 0);
  memset(sec, 0x55, sizeof sec);
  cairn_memzero(sec, sizeof sec);
  for (size_t i = 0; i < sizeof sec; i++) CHECK_INT_EQ(sec[i], 0);
  cairn_freezero(NULL, 10);
  cairn_memzero(NULL, 10);
  CHECK(cairn_strdup(NULL) == NULL);
}

int main(void)
{
  RUN(test_err);
  RUN(test_log);
  RUN(test_rd);
  RUN(test_der);
  RUN(test_buf);
  RUN(test_b64);
  RUN(test_pem);
  RUN(test_files);
  RUN(test_duration);
  RUN(test_misc);
  RUN(test_utf8);
  return test_done();
}
