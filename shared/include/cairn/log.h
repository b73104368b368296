/* cairn/log.h - logging.
 *
 * One process-wide logger writing lines to stderr (default) or a FILE*:
 *   2026-11-22T18:00:00Z INFO  [module] message
 * Nothing here ever logs key material; callers must not either.
 */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include <stdio.h>

enum cairn_log_level {
  CAIRN_LOG_ERROR = 0,
  CAIRN_LOG_WARN = 1,
  CAIRN_LOG_INFO = 2,
  CAIRN_LOG_DEBUG = 3
};

/* Sets the lowest level that is printed (default CAIRN_LOG_INFO). */
void cairn_log_set_level(enum cairn_log_level level);
enum cairn_log_level cairn_log_get_level(void);

/* Parses "error", "warn", "info", "debug" (case-insensitive, SPIRE's
 * log_level values). Returns CAIRN_OK or CAIRN_ERR_INVAL. */
int cairn_log_level_parse(const char *s, enum cairn_log_level *out);

/* Redirects output; NULL means stderr. The FILE is not owned. */
void cairn_log_set_stream(FILE *f);

/* Prints one line if level is enabled. module may be NULL. */
void cairn_log(enum cairn_log_level level, const char *module,
               const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define CAIRN_LOGE(mod, ...) cairn_log(CAIRN_LOG_ERROR, (mod), __VA_ARGS__)
#define CAIRN_LOGW(mod, ...) cairn_log(CAIRN_LOG_WARN, (mod), __VA_ARGS__)
#define CAIRN_LOGI(mod, ...) cairn_log(CAIRN_LOG_INFO, (mod), __VA_ARGS__)
#define CAIRN_LOGD(mod, ...) cairn_log(CAIRN_LOG_DEBUG, (mod), __VA_ARGS__)

#endif
