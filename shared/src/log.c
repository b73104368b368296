/* log.c - process-wide line logger. */
#include "cairn/log.h"
#include "cairn/err.h"

#include <stdarg.h>
#include <strings.h>
#include <time.h>

static enum cairn_log_level g_level = CAIRN_LOG_INFO;
static FILE *g_stream;

static const char *const g_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void cairn_log_set_level(enum cairn_log_level level)
{
  if (level >= CAIRN_LOG_ERROR && level <= CAIRN_LOG_DEBUG) g_level = level;
}

enum cairn_log_level cairn_log_get_level(void)
{
  return g_level;
}

int cairn_log_level_parse(const char *s, enum cairn_log_level *out)
{
  static const struct {
    const char *name;
    enum cairn_log_level level;
  } names[] = {{"error", CAIRN_LOG_ERROR}, {"warn", CAIRN_LOG_WARN},
               {"warning", CAIRN_LOG_WARN}, {"info", CAIRN_LOG_INFO},
               {"debug", CAIRN_LOG_DEBUG}};
  if (!s || !out) return cairn_seterr(CAIRN_ERR_INVAL, "no log level given");
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcasecmp(s, names[i].name) == 0) {
      *out = names[i].level;
      return CAIRN_OK;
    }
  }
  return cairn_seterr(CAIRN_ERR_INVAL,
                      "unknown log level '%s' (use error, warn, info or debug)",
                      s);
}

void cairn_log_set_stream(FILE *f)
{
  g_stream = f;
}

void cairn_log(enum cairn_log_level level, const char *module,
               const char *fmt, ...)
{
  FILE *f = g_stream ? g_stream : stderr;
  char ts[32];
  struct tm tm;
  time_t now;
  va_list ap;

  if (level > g_level || level < CAIRN_LOG_ERROR) return;
  now = time(NULL);
  gmtime_r(&now, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  flockfile(f);
  fprintf(f, "%s %-5s ", ts, g_names[level]);
  if (module) fprintf(f, "[%s] ", module);
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  funlockfile(f);
  fflush(f);
}
