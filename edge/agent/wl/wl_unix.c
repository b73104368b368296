/* edge/agent/wl/wl_unix.c - the "unix" workload attestor (wl_unix.h). */
#include "wl_unix.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "cairn/buf.h"
#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/util.h"

#define MOD "wl.unix"
#define PROC_FILE_MAX (1024 * 1024)   /* /proc/<pid>/status with many groups */
#define GROUPS_MAX 65536              /* NGROUPS_MAX on Linux */
#define NAME_BUF_MAX (1024 * 1024)    /* getpw*_r scratch buffer */
#define HASH_CHUNK 65536

struct hash_ent {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  char hex[2 * WC_SHA256_DIGEST_SIZE + 1];
  uint64_t used;
};

struct wl_unix {
  char proc[256];
  struct wl_unix_opts opts;
  pthread_mutex_t mu;
  struct hash_ent *cache;
  size_t n_cache;
  uint64_t tick;
  struct wl_unix_stats st;
};

void wl_unix_opts_init(struct wl_unix_opts *o)
{
  memset(o, 0, sizeof *o);
}

int wl_unix_new(const struct wl_unix_opts *opts, struct wl_unix **out)
{
  struct wl_unix *u;
  const char *root = opts && opts->proc_root ? opts->proc_root : "/proc";

  *out = NULL;
  if (strlen(root) >= sizeof u->proc)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "proc root path too long");
  u = calloc(1, sizeof *u);
  if (!u) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if (opts) u->opts = *opts;
  snprintf(u->proc, sizeof u->proc, "%s", root);
  u->opts.proc_root = u->proc;
  if (!u->opts.hash_max) u->opts.hash_max = WL_UNIX_HASH_MAX_DEFAULT;
  if (!u->opts.hash_cache) u->opts.hash_cache = WL_UNIX_HASH_CACHE_DEFAULT;
  u->cache = calloc(u->opts.hash_cache, sizeof *u->cache);
  if (!u->cache || pthread_mutex_init(&u->mu, NULL) != 0) {
    free(u->cache);
    free(u);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  *out = u;
  return CAIRN_OK;
}

void wl_unix_free(struct wl_unix *u)
{
  if (!u) return;
  pthread_mutex_destroy(&u->mu);
  free(u->cache);
  free(u);
}

void wl_unix_get_stats(struct wl_unix *u, struct wl_unix_stats *st)
{
  pthread_mutex_lock(&u->mu);
  *st = u->st;
  pthread_mutex_unlock(&u->mu);
}

/* Reads a /proc file (at most PROC_FILE_MAX bytes) into a NUL-terminated
 * buffer (*out: free()). */
static int read_proc(const char *path, char **out)
{
  int fd, r = CAIRN_ERR_INTERNAL;
  struct cairn_buf b;
  char chunk[4096];

  *out = NULL;
  cairn_buf_init(&b, PROC_FILE_MAX);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cairn_seterr(CAIRN_ERR_NOT_FOUND, "%s: %s", path,
                                  strerror(errno));
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r = cairn_seterr(CAIRN_ERR_IO, "%s: %s", path, strerror(errno));
      goto out;
    }
    if (n == 0) break;
    if ((r = cairn_buf_append(&b, chunk, (size_t)n)) != CAIRN_OK) goto out;
  }
  *out = (char *)cairn_buf_steal(&b, NULL);
  r = *out ? CAIRN_OK : cairn_seterr(CAIRN_ERR_NOMEM, NULL);
out:
  close(fd);
  cairn_buf_cleanup(&b);
  return r;
}

/* Field 22 (starttime) of /proc/<pid>/stat. The command name (field 2)
 * may contain spaces and parentheses, so fields are counted after the
 * last ')'. */
static int proc_start_time(const struct wl_unix *u, pid_t pid,
                           unsigned long long *out)
{
  char path[300], *text = NULL, *p, *end;
  int r, field;

  snprintf(path, sizeof path, "%s/%d/stat", u->proc, (int)pid);
  if ((r = read_proc(path, &text)) != CAIRN_OK) return r;
  p = strrchr(text, ')');
  if (!p) {
    free(text);
    return cairn_seterr(CAIRN_ERR_PARSE, "%s: no command field", path);
  }
  p++;
  /* p is just before field 3. */
  for (field = 3; field < 22; field++) {
    while (*p == ' ') p++;
    while (*p && *p != ' ') p++;
    if (!*p) break;
  }
  while (*p == ' ') p++;
  errno = 0;
  *out = strtoull(p, &end, 10);
  r = (field == 22 && end != p && errno == 0)
          ? CAIRN_OK
          : cairn_seterr(CAIRN_ERR_PARSE, "%s: no start time", path);
  free(text);
  return r;
}

/* The value part of "<name>:\t..." in a status text, or NULL. */
static const char *status_field(const char *text, const char *name)
{
  size_t n = strlen(name);
  const char *p = text;

  while (p && *p) {
    if (strncmp(p, name, n) == 0 && p[n] == ':') return p + n + 1;
    p = strchr(p, '\n');
    if (p) p++;
  }
  return NULL;
}

/* Parses up to max unsigned numbers of a status line into v (or only
 * counts them when v is NULL). */
static size_t parse_ids(const char *p, unsigned long *v, size_t max)
{
  size_t n = 0;

  while (p && *p && *p != '\n' && n < max) {
    char *end;
    unsigned long x;
    while (*p == ' ' || *p == '\t') p++;
    if (*p < '0' || *p > '9') break;
    errno = 0;
    x = strtoul(p, &end, 10);
    if (errno != 0 || end == p) break;
    if (v) v[n] = x;
    n++;
    p = end;
  }
  return n;
}

struct proc_info {
  unsigned long euid, egid;
  unsigned long *groups;
  size_t n_groups;
};

static int proc_status(const struct wl_unix *u, pid_t pid,
                       struct proc_info *pi)
{
  char path[300], *text = NULL;
  const char *f;
  unsigned long ids[4];
  int r = CAIRN_ERR_PARSE;

  memset(pi, 0, sizeof *pi);
  snprintf(path, sizeof path, "%s/%d/status", u->proc, (int)pid);
  if ((r = read_proc(path, &text)) != CAIRN_OK) return r;
  if (!(f = status_field(text, "Uid")) || parse_ids(f, ids, 4) < 2) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "%s: no Uid line", path);
    goto out;
  }
  pi->euid = ids[1];
  if (!(f = status_field(text, "Gid")) || parse_ids(f, ids, 4) < 2) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "%s: no Gid line", path);
    goto out;
  }
  pi->egid = ids[1];
  if ((f = status_field(text, "Groups")) != NULL) {
    size_t cnt = parse_ids(f, NULL, GROUPS_MAX);
    if (cnt) {
      pi->groups = calloc(cnt, sizeof *pi->groups);
      if (!pi->groups) {
        r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
        goto out;
      }
      pi->n_groups = parse_ids(f, pi->groups, cnt);
    }
  }
  r = CAIRN_OK;
out:
  free(text);
  return r;
}

/* The name of a uid (group = 0) or gid (group = 1) from the NSS
 * databases into *name (free()); *name stays NULL when it has none, or
 * the lookup failed. CAIRN_ERR_NOMEM only. */
static int id_name(int group, unsigned long id, char **name)
{
  struct passwd pw, *pres = NULL;
  struct group gr, *gres = NULL;
  const char *found = NULL;
  size_t len = 1024;
  char *buf = NULL;
  int e;

  *name = NULL;
  for (;;) {
    char *nb = realloc(buf, len);
    if (!nb) {
      free(buf);
      return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    }
    buf = nb;
    if (group) {
      e = getgrgid_r((gid_t)id, &gr, buf, len, &gres);
      found = e == 0 && gres ? gres->gr_name : NULL;
    } else {
      e = getpwuid_r((uid_t)id, &pw, buf, len, &pres);
      found = e == 0 && pres ? pres->pw_name : NULL;
    }
    if (e != ERANGE || len >= NAME_BUF_MAX) break;
    len *= 2;
  }
  if (found && *found && !(*name = strdup(found))) {
    free(buf);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  free(buf);
  return CAIRN_OK;
}

static int add_user(struct wl_selectors *s, uid_t uid)
{
  char *name = NULL;
  int r = id_name(0, (unsigned long)uid, &name);

  if (r == CAIRN_OK && name)
    r = wl_selectors_addf(s, "unix", "user:%s", name);
  free(name);
  return r;
}

/* Adds <prefix>:<name> for each prefix (NULL-terminated) when gid has a
 * name: one lookup for all of them. */
static int add_group(struct wl_selectors *s, gid_t gid,
                     const char *const *prefixes)
{
  char *name = NULL;
  int r = id_name(1, (unsigned long)gid, &name);

  for (size_t i = 0; r == CAIRN_OK && name && prefixes[i]; i++)
    r = wl_selectors_addf(s, "unix", "%s:%s", prefixes[i], name);
  free(name);
  return r;
}

static struct hash_ent *hash_lookup(struct wl_unix *u, const struct stat *sb)
{
  size_t i;
  for (i = 0; i < u->n_cache; i++) {
    struct hash_ent *h = &u->cache[i];
    if (h->dev == sb->st_dev && h->ino == sb->st_ino &&
        h->size == sb->st_size && h->mtime.tv_sec == sb->st_mtim.tv_sec &&
        h->mtime.tv_nsec == sb->st_mtim.tv_nsec)
      return h;
  }
  return NULL;
}

/* SHA-256 of the open binary fd (a regular file of at most hash_max
 * bytes), from the cache when its identity is known. */
static int hash_fd(struct wl_unix *u, int fd, const struct stat *sb,
                   char hex[2 * WC_SHA256_DIGEST_SIZE + 1])
{
  wc_Sha256 sha;
  uint8_t *buf = NULL, dig[WC_SHA256_DIGEST_SIZE];
  struct hash_ent *h;
  uint64_t total = 0;
  int r = CAIRN_ERR_INTERNAL;
  size_t i, victim;

  pthread_mutex_lock(&u->mu);
  h = hash_lookup(u, sb);
  if (h) {
    memcpy(hex, h->hex, sizeof h->hex);
    h->used = ++u->tick;
    u->st.hash_hits++;
  }
  pthread_mutex_unlock(&u->mu);
  if (h) return CAIRN_OK;

  if (wc_InitSha256(&sha) != 0)
    return cairn_seterr(CAIRN_ERR_CRYPTO, "wc_InitSha256 failed");
  buf = malloc(HASH_CHUNK);
  if (!buf) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  for (;;) {
    ssize_t n = pread(fd, buf, HASH_CHUNK, (off_t)total);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r = cairn_seterr(CAIRN_ERR_IO, "reading the binary: %s",
                       strerror(errno));
      goto out;
    }
    if (n == 0) break;
    total += (uint64_t)n;
    if (total > u->opts.hash_max) {
      r = cairn_seterr(CAIRN_ERR_TOO_BIG, "binary grew past the hash limit");
      goto out;
    }
    if (wc_Sha256Update(&sha, buf, (word32)n) != 0) {
      r = cairn_seterr(CAIRN_ERR_CRYPTO, "wc_Sha256Update failed");
      goto out;
    }
  }
  if (total != (uint64_t)sb->st_size) {
    r = cairn_seterr(CAIRN_ERR_IO, "binary changed while it was hashed");
    goto out;
  }
  if (wc_Sha256Final(&sha, dig) != 0) {
    r = cairn_seterr(CAIRN_ERR_CRYPTO, "wc_Sha256Final failed");
    goto out;
  }
  cairn_hex(dig, sizeof dig, hex);

  pthread_mutex_lock(&u->mu);
  u->st.hashes++;
  if (!hash_lookup(u, sb)) {
    if (u->n_cache < u->opts.hash_cache) {
      victim = u->n_cache++;
    } else {
      victim = 0;
      for (i = 1; i < u->n_cache; i++)
        if (u->cache[i].used < u->cache[victim].used) victim = i;
    }
    h = &u->cache[victim];
    h->dev = sb->st_dev;
    h->ino = sb->st_ino;
    h->size = sb->st_size;
    h->mtime = sb->st_mtim;
    memcpy(h->hex, hex, sizeof h->hex);
    h->used = ++u->tick;
  }
  pthread_mutex_unlock(&u->mu);
  r = CAIRN_OK;
out:
  wc_Sha256Free(&sha);
  free(buf);
  return r;
}

/* The selectors that need /proc: supplementary groups, path, sha256. */
static int proc_selectors(struct wl_unix *u, pid_t pid,
                          const struct proc_info *pi, struct wl_selectors *s)
{
  char path[300], exe[PATH_MAX + 1];
  ssize_t n;
  size_t i;
  int r, fd;
  struct stat sb;
  char hex[2 * WC_SHA256_DIGEST_SIZE + 1];

  static const char *const both[] = {"group", "supplementary_group", NULL};

  for (i = 0; i < pi->n_groups; i++) {
    gid_t g = (gid_t)pi->groups[i];
    if ((r = wl_selectors_addf(s, "unix", "gid:%lu", pi->groups[i])) != 0 ||
        (r = wl_selectors_addf(s, "unix", "supplementary_gid:%lu",
                               pi->groups[i])) != 0 ||
        (r = add_group(s, g, both)) != 0)
      return r;
  }
  if (u->opts.no_path) return CAIRN_OK;
  snprintf(path, sizeof path, "%s/%d/exe", u->proc, (int)pid);
  n = readlink(path, exe, sizeof exe - 1);
  if (n <= 0 || (size_t)n >= sizeof exe - 1) {
    CAIRN_LOGD(MOD, "pid %d: binary path not readable: %s", (int)pid,
               n < 0 ? strerror(errno) : "too long");
    return CAIRN_OK;
  }
  exe[n] = '\0';
  if (strlen(exe) + 5 <= WL_SELECTOR_VALUE_MAX &&
      (r = wl_selectors_addf(s, "unix", "path:%s", exe)) != CAIRN_OK)
    return r;
  if (u->opts.no_sha256) return CAIRN_OK;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    CAIRN_LOGD(MOD, "pid %d: binary not readable: %s", (int)pid,
               strerror(errno));
    return CAIRN_OK;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
      (uint64_t)sb.st_size > u->opts.hash_max) {
    CAIRN_LOGD(MOD, "pid %d: binary not hashed (not a regular file or "
               "larger than %llu bytes)", (int)pid,
               (unsigned long long)u->opts.hash_max);
    close(fd);
    return CAIRN_OK;
  }
  r = hash_fd(u, fd, &sb, hex);
  close(fd);
  if (r != CAIRN_OK) {
    CAIRN_LOGW(MOD, "pid %d: cannot hash %s: %s", (int)pid, exe,
               cairn_errdetail());
    return CAIRN_OK;
  }
  return wl_selectors_addf(s, "unix", "sha256:%s", hex);
}

int wl_unix_attest(struct wl_unix *u, const struct cairn_grpc_peer *peer,
                   struct wl_selectors *out)
{
  int r = CAIRN_ERR_INTERNAL;
  struct wl_selectors proc = {0};
  struct proc_info pi = {0};
  unsigned long long st1 = 0, st2 = 0;
  size_t i;
  static const char *const primary[] = {"group", NULL};

  if (!peer || peer->uid == (uid_t)-1 || peer->gid == (gid_t)-1)
    return cairn_seterr(CAIRN_ERR_DENIED, "the caller's credentials are "
                        "unknown");
  if ((r = wl_selectors_addf(out, "unix", "uid:%lu",
                             (unsigned long)peer->uid)) != 0 ||
      (r = wl_selectors_addf(out, "unix", "gid:%lu",
                             (unsigned long)peer->gid)) != 0 ||
      (r = add_user(out, peer->uid)) != 0 ||
      (r = add_group(out, peer->gid, primary)) != 0)
    goto out;

  if (peer->pid > 0 && proc_start_time(u, peer->pid, &st1) == CAIRN_OK &&
      proc_status(u, peer->pid, &pi) == CAIRN_OK) {
    if ((r = proc_selectors(u, peer->pid, &pi, &proc)) != CAIRN_OK) goto out;
    if (proc_start_time(u, peer->pid, &st2) != CAIRN_OK || st1 != st2 ||
        pi.euid != (unsigned long)peer->uid ||
        pi.egid != (unsigned long)peer->gid) {
      CAIRN_LOGW(MOD, "pid %d changed while it was attested (exited, reused "
                 "or changed credentials); using its socket credentials only",
                 (int)peer->pid);
      pthread_mutex_lock(&u->mu);
      u->st.reuse_detected++;
      pthread_mutex_unlock(&u->mu);
      wl_selectors_clear(&proc);
    }
    for (i = 0; i < proc.n; i++)
      if ((r = wl_selectors_add(out, proc.v[i].type, proc.v[i].value)) != 0)
        goto out;
  }
  wl_selectors_sort(out);
  r = CAIRN_OK;
out:
  free(pi.groups);
  wl_selectors_clear(&proc);
  return r;
}
