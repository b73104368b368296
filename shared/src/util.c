/* util.c - memory, files, durations and time helpers. */
#include "cairn/util.h"
#include "cairn/err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cairn_memzero(void *p, size_t n)
{
  if (p && n) explicit_bzero(p, n);
}

void cairn_freezero(void *p, size_t n)
{
  if (!p) return;
  explicit_bzero(p, n);
  free(p);
}

int cairn_memeq_ct(const void *a, const void *b, size_t n)
{
  const volatile uint8_t *x = a, *y = b;
  uint8_t d = 0;
  for (size_t i = 0; i < n; i++) d |= (uint8_t)(x[i] ^ y[i]);
  return d != 0;
}

char *cairn_strdup(const char *s)
{
  return s ? strdup(s) : NULL;
}

char *cairn_strndup(const char *s, size_t n)
{
  return s ? strndup(s, n) : NULL;
}

static int read_fd(int fd, const char *path, size_t max, uint8_t **data,
                   size_t *len)
{
  struct stat st;
  uint8_t *b = NULL;
  size_t n = 0;
  int r = CAIRN_ERR_INTERNAL;

  if (fstat(fd, &st) != 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "%s: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    r = cairn_seterr(CAIRN_ERR_IO, "%s: not a regular file", path);
    goto out;
  }
  if ((uintmax_t)st.st_size > max) {
    r = cairn_seterr(CAIRN_ERR_TOO_BIG, "%s: larger than %zu bytes", path,
                     max);
    goto out;
  }
  b = malloc((size_t)st.st_size + 1);
  if (!b) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  for (;;) {
    ssize_t k;
    if (n == (size_t)st.st_size) {
      /* The file may have grown since fstat: refuse rather than truncate. */
      uint8_t extra;
      k = read(fd, &extra, 1);
      if (k > 0) {
        r = cairn_seterr(CAIRN_ERR_IO, "%s: file changed while reading", path);
        goto out;
      }
      if (k < 0 && errno == EINTR) continue;
      break;
    }
    k = read(fd, b + n, (size_t)st.st_size - n);
    if (k < 0) {
      if (errno == EINTR) continue;
      r = cairn_seterr(CAIRN_ERR_IO, "%s: %s", path, strerror(errno));
      goto out;
    }
    if (k == 0) break;
    n += (size_t)k;
  }
  b[n] = 0;
  *data = b;
  *len = n;
  b = NULL;
  r = CAIRN_OK;
out:
  if (b) cairn_freezero(b, (size_t)st.st_size + 1);
  return r;
}

static int open_file(const char *path, int *fd)
{
  *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (*fd < 0) {
    if (errno == ENOENT)
      return cairn_seterr(CAIRN_ERR_NOT_FOUND, "%s: no such file", path);
    if (errno == EACCES)
      return cairn_seterr(CAIRN_ERR_PERM, "%s: %s", path, strerror(errno));
    return cairn_seterr(CAIRN_ERR_IO, "%s: %s", path, strerror(errno));
  }
  return CAIRN_OK;
}

int cairn_file_read(const char *path, size_t max, uint8_t **data,
                    size_t *len)
{
  int fd, r;
  *data = NULL;
  *len = 0;
  if ((r = open_file(path, &fd)) != CAIRN_OK) return r;
  r = read_fd(fd, path, max, data, len);
  close(fd);
  return r;
}

int cairn_file_read_private(const char *path, size_t max, uint8_t **data,
                            size_t *len)
{
  struct stat st;
  int fd, r;

  *data = NULL;
  *len = 0;
  if ((r = open_file(path, &fd)) != CAIRN_OK) return r;
  if (fstat(fd, &st) != 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "%s: %s", path, strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    r = cairn_seterr(CAIRN_ERR_PERM, "%s: not a regular file", path);
  } else if (st.st_mode & 077) {
    r = cairn_seterr(CAIRN_ERR_PERM,
                     "%s: permissions %04o are too open (group/other must "
                     "have no access; use chmod 600)",
                     path, (unsigned)(st.st_mode & 07777));
  } else {
    r = read_fd(fd, path, max, data, len);
  }
  close(fd);
  return r;
}

int cairn_file_write_atomic(const char *path, const void *data, size_t len,
                            mode_t mode)
{
  char *tmp = NULL;
  const uint8_t *p = data;
  size_t plen = strlen(path), off = 0;
  int fd = -1, r = CAIRN_ERR_INTERNAL;

  tmp = malloc(plen + 16);
  if (!tmp) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "%s: cannot create temp file: %s", path,
                     strerror(errno));
    free(tmp);
    return r;
  }
  if (fchmod(fd, mode) != 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "%s: chmod: %s", tmp, strerror(errno));
    goto out;
  }
  while (off < len) {
    ssize_t k = write(fd, p + off, len - off);
    if (k < 0) {
      if (errno == EINTR) continue;
      r = cairn_seterr(CAIRN_ERR_IO, "%s: write: %s", tmp, strerror(errno));
      goto out;
    }
    off += (size_t)k;
  }
  if (fsync(fd) != 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
    goto out;
  }
  if (close(fd) != 0) {
    fd = -1;
    r = cairn_seterr(CAIRN_ERR_IO, "%s: close: %s", tmp, strerror(errno));
    goto out;
  }
  fd = -1;
  if (rename(tmp, path) != 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "%s: rename: %s", path, strerror(errno));
    goto out;
  }
  r = CAIRN_OK;
out:
  if (fd >= 0) close(fd);
  if (r != CAIRN_OK) unlink(tmp);
  free(tmp);
  return r;
}

int cairn_mkdir_p(const char *dir, mode_t mode)
{
  char buf[PATH_MAX];
  size_t n = strlen(dir);

  if (n == 0 || n >= sizeof buf)
    return cairn_seterr(CAIRN_ERR_INVAL, "bad directory path");
  memcpy(buf, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == 0) {
      char c = buf[i];
      buf[i] = 0;
      if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return cairn_seterr(CAIRN_ERR_IO, "mkdir %s: %s", buf,
                            strerror(errno));
      buf[i] = c;
    }
  }
  {
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
      return cairn_seterr(CAIRN_ERR_IO, "%s: not a directory", dir);
  }
  return CAIRN_OK;
}

int cairn_duration_parse(const char *s, int64_t *seconds)
{
  int64_t total = 0;
  const char *p = s;

  if (!s || !*s) return cairn_seterr(CAIRN_ERR_PARSE, "empty duration");
  while (*p) {
    int64_t v = 0, mul;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (v > (INT64_MAX - 9) / 10)
        return cairn_seterr(CAIRN_ERR_PARSE, "duration '%s' too large", s);
      v = v * 10 + (*p - '0');
      p++;
      digits++;
    }
    if (!digits)
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "invalid duration '%s' (use e.g. 90s, 5m, 1h, 7d)",
                          s);
    switch (*p) {
      case 0:
        if (p - s != digits) /* a bare number only as the whole string */
          return cairn_seterr(CAIRN_ERR_PARSE,
                              "duration '%s': number without unit", s);
        mul = 1;
        break;
      case 's': mul = 1; p++; break;
      case 'm': mul = 60; p++; break;
      case 'h': mul = 3600; p++; break;
      case 'd': mul = 86400; p++; break;
      default:
        return cairn_seterr(CAIRN_ERR_PARSE,
                            "invalid duration '%s' (units are s, m, h, d)", s);
    }
    if (v > INT64_MAX / mul || total > INT64_MAX - v * mul)
      return cairn_seterr(CAIRN_ERR_PARSE, "duration '%s' too large", s);
    total += v * mul;
  }
  *seconds = total;
  return CAIRN_OK;
}

char *cairn_duration_format(int64_t seconds, char *out, size_t outlen)
{
  size_t o = 0;
  int64_t h, m, s;

  if (seconds < 0) {
    snprintf(out, outlen, "-");
    o = 1;
    seconds = seconds == INT64_MIN ? INT64_MAX : -seconds;
  }
  h = seconds / 3600;
  m = seconds / 60 % 60;
  s = seconds % 60;
  if (h) o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0,
                               "%lldh", (long long)h);
  if (m) o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0,
                               "%lldm", (long long)m);
  if (s || (!h && !m))
    snprintf(out + o, o < outlen ? outlen - o : 0, "%llds", (long long)s);
  return out;
}

char *cairn_time_format(time_t t, char *out, size_t outlen)
{
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, outlen, "(invalid time)");
  return out;
}

static time_t g_fake_now;

time_t cairn_now(void)
{
  return g_fake_now ? g_fake_now : time(NULL);
}

void cairn_time_set_fake(time_t t)
{
  g_fake_now = t;
}

void cairn_hex(const uint8_t *in, size_t n, char *out)
{
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[in[i] >> 4];
    out[2 * i + 1] = hx[in[i] & 15];
  }
  out[2 * n] = 0;
}

int cairn_utf8_check(const uint8_t *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    uint8_t b = s[i];
    size_t k;
    uint32_t cp, min;
    if (b == 0)
      return 2;
    if (b < 0x80) {
      i++;
      continue;
    }
    if (b >= 0xc2 && b <= 0xdf) {
      k = 1;
      cp = b & 0x1f;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      k = 2;
      cp = b & 0x0f;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      k = 3;
      cp = b & 0x07;
      min = 0x10000;
    } else {
      return 1;
    }
    if (n - i - 1 < k)
      return 1;
    for (size_t j = 1; j <= k; j++) {
      uint8_t cb = s[i + j];
      if ((cb & 0xc0) != 0x80)
        return 1;
      cp = (cp << 6) | (cb & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 1;
    i += k + 1;
  }
  return 0;
}
