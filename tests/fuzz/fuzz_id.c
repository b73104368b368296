/* Fuzz target: SPIFFE ID and trust-domain parsing. Checks invariants:
 * a parsed ID rebuilt from its parts is identical, its trust domain
 * validates, and the NUL-terminated entry points agree with the sized one;
 * the path of a valid ID is a valid scope covering it, and a scope only
 * matches when it and the ID are valid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/err.h"
#include "cairn/id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct cairn_id id, id2;
  char td[CAIRN_TD_MAX + 1], td2[CAIRN_TD_MAX + 1];
  char *s;
  int r;

  r = cairn_id_parse((const char *)data, size, &id);
  if (r == CAIRN_OK) {
    if (strlen(id.str) != size || size > CAIRN_ID_MAX)
      abort();
    cairn_id_td(&id, td);
    if (cairn_td_validate(td) != CAIRN_OK)
      abort();
    if (cairn_id_from_parts(td, cairn_id_path(&id), &id2) != CAIRN_OK ||
        !cairn_id_equal(&id, &id2))
      abort();
    if (cairn_td_parse(id.str, td2) != CAIRN_OK || strcmp(td, td2) != 0)
      abort();
    if (!cairn_id_member_of(&id, td))
      abort();
    if (!cairn_id_path_in_scope(cairn_id_path(&id), cairn_id_path(&id)))
      abort();
    /* Every ID path is a valid scope that covers the ID. */
    if (cairn_scope_validate(cairn_id_path(&id)) != CAIRN_OK ||
        !cairn_scope_match(cairn_id_path(&id), id.str))
      abort();
  } else if (r != CAIRN_ERR_PARSE || cairn_errdetail()[0] == '\0') {
    abort();
  }
  s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  if (strlen(s) == size && (cairn_id_validate(s) == CAIRN_OK) != (r == 0))
    abort();
  (void)cairn_td_parse(s, td);
  /* Split at the first '|' into a path and a scope. */
  {
    char *bar = strchr(s, '|');
    if (bar) {
      *bar = '\0';
      (void)cairn_id_path_in_scope(s, bar + 1);
      /* Here s is a full ID: a match needs a valid scope and ID. */
      if (cairn_scope_match(bar + 1, s) &&
          (cairn_scope_validate(bar + 1) != CAIRN_OK ||
           cairn_id_validate(s) != CAIRN_OK))
        abort();
    }
  }
  free(s);
  return 0;
}
