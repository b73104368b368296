/* Fuzz target: cairn_msg_ds_ca_resp_decode,
 * the POST /v1/downstream/ca response body (see fuzz_msg.h). */
#define MSG ds_ca_resp
#include "fuzz_msg.h"
