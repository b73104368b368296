/* Fuzz target: cairn_msg_ds_ca_req_decode,
 * the POST /v1/downstream/ca request body (see fuzz_msg.h). */
#define MSG ds_ca_req
#include "fuzz_msg.h"
