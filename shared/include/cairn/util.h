/* cairn/util.h - memory, files, time and small string helpers. */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Zeroises n bytes in a way the compiler cannot remove. NULL-safe. */
void cairn_memzero(void *p, size_t n);
/* Zeroises n bytes then frees p. NULL-safe. */
void cairn_freezero(void *p, size_t n);
/* Frees *pp and sets it to NULL. */
#define CAIRN_SAFEFREE(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

/* Constant-time comparison; returns 0 when equal. */
int cairn_memeq_ct(const void *a, const void *b, size_t n);

/* strdup / strndup that return NULL on failure (and on s == NULL). */
char *cairn_strdup(const char *s);
char *cairn_strndup(const char *s, size_t n);

/* Reads a whole regular file of at most max bytes into a new buffer
 * (NUL-terminated, *len excludes the NUL). Caller frees *data with free()
 * (or cairn_freezero() for secrets). CAIRN_ERR_TOO_BIG past max,
 * CAIRN_ERR_NOT_FOUND when absent, CAIRN_ERR_IO otherwise. */
int cairn_file_read(const char *path, size_t max, uint8_t **data,
                    size_t *len);

/* Like cairn_file_read but first refuses (CAIRN_ERR_PERM) a file that is
 * not a regular file or is readable/writable by group or other. Use for
 * private keys. */
int cairn_file_read_private(const char *path, size_t max, uint8_t **data,
                            size_t *len);

/* Writes data atomically: a temp file in the same directory created with
 * the given mode (e.g. 0600), fsync, rename over path. The mode is applied
 * with fchmod so the umask cannot loosen or tighten it. */
int cairn_file_write_atomic(const char *path, const void *data, size_t len,
                            mode_t mode);

/* Creates dir (and parents) with mode if missing. */
int cairn_mkdir_p(const char *dir, mode_t mode);

/* Parses a duration: a bare integer is seconds, otherwise a sequence of
 * <number><unit> with units s, m, h, d (e.g. "1h30m", "90s", "24h").
 * Rejects negatives, overflow, empty strings. Result in seconds. */
int cairn_duration_parse(const char *s, int64_t *seconds);
/* Formats seconds as "1h2m3s" ("0s" for 0). Returns out. */
char *cairn_duration_format(int64_t seconds, char *out, size_t outlen);

/* Formats t as RFC 3339 UTC ("2026-11-22T18:00:00Z"). Returns out. */
char *cairn_time_format(time_t t, char *out, size_t outlen);

/* Current wall-clock time in seconds (time(NULL)). Tests may override it
 * with cairn_time_set_fake(t) (0 restores the real clock). */
time_t cairn_now(void);
void cairn_time_set_fake(time_t t);

/* Lower-case hex encoding of n bytes into out (needs 2n+1). */
void cairn_hex(const uint8_t *in, size_t n, char *out);

/* Checks n bytes of text: 0 when they are well-formed UTF-8 (no overlong
 * forms, UTF-16 surrogates or code points past U+10FFFF) without U+0000,
 * 1 when they are not UTF-8, 2 when they are but contain a NUL. */
int cairn_utf8_check(const uint8_t *s, size_t n);

#endif
