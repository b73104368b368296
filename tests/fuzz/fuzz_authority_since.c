/* Fuzz target: cairn_authority_parse_since, the query of GET /v1/entries
 * (untrusted text from a node). An accepted query must be exactly
 * "since=<the value in canonical decimal>" or empty. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/authority.h"
#include "cairn/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *q, again[40];
  int64_t v = -1;

  if (size > 4096) return 0;
  if (!(q = malloc(size + 1))) return 0;
  memcpy(q, data, size);
  q[size] = '\0';
  if (cairn_authority_parse_since(q, &v) == CAIRN_OK) {
    if (v < 0) abort();
    if (q[0]) {
      snprintf(again, sizeof again, "since=%lld", (long long)v);
      if (strcmp(again, q) != 0) abort();
    } else if (v != 0) {
      abort();
    }
  } else if (v != 0) {
    abort();
  }
  free(q);
  return 0;
}
