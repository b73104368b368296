/* tests/fuzz/fuzz_jwt_keys.h - the fixed, public test keys behind the jwt
 * fuzz target's bundle, shared with cairn-jwttool (which signs the seed
 * corpus with them so the corpus reaches the checks after the signature).
 * These keys are published test material and protect nothing. */
#ifndef FUZZ_JWT_KEYS_H
#define FUZZ_JWT_KEYS_H

#define FUZZ_JWT_TD "example.org"
#define FUZZ_JWT_AUD "spiffe://example.org/db"
#define FUZZ_JWT_NOW ((time_t)1800000000)
#define FUZZ_JWT_KID256 "fuzz-256"
#define FUZZ_JWT_KID384 "fuzz-384"

static const char FUZZ_JWT_P256_PEM[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIMJl6LUkSMw8G0vrDGiGgAFxuymmVAga+F5BMlJ1s+gDoAoGCCqGSM49\n"
    "AwEHoUQDQgAEFwqILcTr2vGBi7AktxF6+33lG79hw6mQaYvga+kUjIQvCpiIwmc6\n"
    "jwiJXDZo1FrPGdQlIZk+0NKX8O/W1vlQZQ==\n"
    "-----END EC PRIVATE KEY-----\n";

static const char FUZZ_JWT_P384_PEM[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MIGkAgEBBDAcimBBpTYUwybTN4PTXi8zzBvckQHrQSq0pALMMkeFoLbwRstQ0jk9\n"
    "Ah80k/HgzwegBwYFK4EEACKhZANiAAQ7iDWmxZw9D3pNiHA4VoavZNcZ9WYBHhja\n"
    "prSiR/L5Ik/AcyJEwgvXndDzOqEWHejcsCqUSGskQt3egPDJjHciDJvAQZQ5ZRdf\n"
    "A62bA5wlwEorbZRDcjUKMp2i1zinWM8=\n"
    "-----END EC PRIVATE KEY-----\n";

#endif
