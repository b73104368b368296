/* Fuzz target: cairn_msg_federated_resp_decode,
 * the GET /v1/federated response body (see fuzz_msg.h). */
#define MSG federated_resp
#include "fuzz_msg.h"
