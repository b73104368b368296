/* edge/agent/wl/wl_unix.h - the "unix" workload attestor: selectors for
 * the process on the other end of a Workload API connection.
 *
 * Input is the peer's kernel credentials, taken with SO_PEERCRED when the
 * connection was accepted (struct cairn_grpc_peer). Selectors have type
 * "unix" and SPIRE's values:
 *
 *   uid:<n>  user:<name>          the peer's effective uid (SO_PEERCRED)
 *   gid:<n>  group:<name>         the peer's effective gid (SO_PEERCRED)
 *                                 and every supplementary group
 *   supplementary_gid:<n>         supplementary groups only, with SPIRE's
 *   supplementary_group:<name>    names for them
 *   path:<exe>                    readlink(/proc/<pid>/exe)
 *   sha256:<hex>                  SHA-256 of that binary
 *
 * Names come from getpwuid_r/getgrgid_r and are left out when there is
 * none. Supplementary groups come from the "Groups:" line of
 * /proc/<pid>/status. path and sha256 are produced only when the binary
 * can be opened through /proc/<pid>/exe (an agent that is not root sees
 * only processes of its own uid) and, for sha256, when it is at most
 * hash_max bytes; hashes are cached by (device, inode, size, mtime).
 *
 * Pid reuse: SO_PEERCRED's pid may belong to another process by the time
 * /proc is read. The /proc-derived selectors (supplementary groups, path,
 * sha256) are kept only when the process start time (/proc/<pid>/stat) is
 * the same before and after reading, and the process's effective uid and
 * gid still equal the peer's credentials; otherwise only the
 * SO_PEERCRED-derived selectors are returned. Fewer selectors can only
 * match fewer entries. A process of the same user that takes over the pid
 * of an exited caller within that window is indistinguishable (Linux 6.1
 * has no SO_PEERPIDFD).
 *
 * Thread safety: wl_unix_attest() may run on several threads at once
 * (the Workload API calls it from the libuv thread pool).
 */
#ifndef CAIRN_EDGE_WL_UNIX_H
#define CAIRN_EDGE_WL_UNIX_H

#include <stdint.h>

#include "cairn/grpc.h"
#include "wl_cache.h"

struct wl_unix;

#define WL_UNIX_HASH_MAX_DEFAULT (512ull * 1024 * 1024)
#define WL_UNIX_HASH_CACHE_DEFAULT 256

struct wl_unix_opts {
  const char *proc_root;     /* NULL: "/proc" */
  uint64_t hash_max;         /* largest binary hashed; 0 = default */
  size_t hash_cache;         /* cached hashes; 0 = default */
  int no_path;               /* 1: neither path nor sha256 selectors */
  int no_sha256;             /* 1: path, but no sha256 */
};

void wl_unix_opts_init(struct wl_unix_opts *o);

/* *out: wl_unix_free(). */
int wl_unix_new(const struct wl_unix_opts *opts, struct wl_unix **out);
void wl_unix_free(struct wl_unix *u);

/* Appends the peer's selectors to *out and sorts it. CAIRN_ERR_DENIED
 * when the kernel gave no credentials (uid (uid_t)-1). A vanished process
 * is not an error: the SO_PEERCRED selectors are still returned. */
int wl_unix_attest(struct wl_unix *u, const struct cairn_grpc_peer *peer,
                   struct wl_selectors *out);

/* Hash-cache counters (tests). */
struct wl_unix_stats {
  uint64_t hashes;           /* binaries hashed */
  uint64_t hash_hits;        /* answered from the cache */
  uint64_t reuse_detected;   /* /proc selectors dropped (pid reuse) */
};
void wl_unix_get_stats(struct wl_unix *u, struct wl_unix_stats *st);

#endif
