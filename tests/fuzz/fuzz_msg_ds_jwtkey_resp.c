/* Fuzz target: cairn_msg_ds_jwtkey_resp_decode,
 * the POST /v1/downstream/jwt-key response body (see fuzz_msg.h). */
#define MSG ds_jwtkey_resp
#include "fuzz_msg.h"
