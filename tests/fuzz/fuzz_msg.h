/* tests/fuzz/fuzz_msg.h - the body of every fuzz_msg_<name>.c, which
 * defines MSG (attest_req, entries_resp, ...) and includes this file.
 *
 * Decodes the input as that message. A refusal must be CAIRN_ERR_PARSE or
 * CAIRN_ERR_TOO_BIG with a detail and must leave the struct zeroed. An
 * accepted message must re-encode (never longer than the input, since the
 * encoding is the shortest form and unknown keys are dropped), decode again
 * to an equal struct, and re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/err.h"
#include "cairn/msg.h"

#define MSG_T_(m) struct cairn_msg_##m
#define MSG_T(m) MSG_T_(m)
#define MSG_F_(m, s) cairn_msg_##m##_##s
#define MSG_F(m, s) MSG_F_(m, s)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  MSG_T(MSG) m, m2, zero;
  uint8_t *enc = NULL, *enc2 = NULL;
  size_t n = 0, n2 = 0;
  int r;

  memset(&zero, 0, sizeof zero);
  r = MSG_F(MSG, decode)(data, size, &m);
  if (r != CAIRN_OK) {
    if ((r != CAIRN_ERR_PARSE && r != CAIRN_ERR_TOO_BIG) ||
        cairn_errdetail()[0] == '\0' || memcmp(&m, &zero, sizeof m) != 0)
      abort();
    return 0;
  }
  if (MSG_F(MSG, encode)(&m, &enc, &n) != CAIRN_OK || n > size)
    abort();
  if (MSG_F(MSG, decode)(enc, n, &m2) != CAIRN_OK)
    abort();
  if (!MSG_F(MSG, equal)(&m, &m2) || !MSG_F(MSG, equal)(&m2, &m))
    abort();
  if (MSG_F(MSG, encode)(&m2, &enc2, &n2) != CAIRN_OK || n2 != n ||
      memcmp(enc, enc2, n) != 0)
    abort();
  free(enc);
  free(enc2);
  MSG_F(MSG, clear)(&m);
  MSG_F(MSG, clear)(&m2);
  if (memcmp(&m, &zero, sizeof m) != 0)
    abort();
  return 0;
}
