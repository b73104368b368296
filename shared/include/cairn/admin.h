/* cairn/admin.h - the admin gRPC API of a Cairn server (admin.proto).
 *
 * cairn_admin_register() adds every method of shared/proto/admin.proto
 * (package cairn.admin.v1: Entries, Agents, Bundles, SVIDs, Health) to a
 * gRPC server. The handlers work on the server's store and CA manager,
 * synchronously on the loop thread (both are single-threaded objects).
 *
 * Behaviour (see docs/cloud.md, "Admin API"):
 *   - Entries get owner opts->owner (clients cannot choose it). spiffe_id
 *     must be in the trust domain and have a path; parent_id must be in the
 *     trust domain and be the server ID (spiffe://<td>/spire/server), an
 *     attested agent, or the spiffe_id of an existing entry (also one
 *     created earlier in the same batch); selectors are 1..64 "type:value"
 *     pairs, both parts non-empty; federates_with names trust domains
 *     whose bundle is stored. Batch create/update/delete are atomic (one
 *     store transaction); errors name the entry: "entry <i>: <reason>".
 *     Update replaces every field except id/owner/created_at; a non-zero
 *     revision_number must match the stored one (else ABORTED); entries
 *     of another owner (replicated from a site) cannot be updated
 *     (PERMISSION_DENIED) but may be deleted.
 *   - ListEntries / ListAgents page by the last returned ID (page_token);
 *     page_size 0 means 500, at most 10000.
 *   - Join tokens: ttl > 0 required; token "" is generated (UUID v4).
 *     Tokens are secrets: the log shows their first 4 characters only.
 *   - Bundles: GetBundle is the CA manager's bundle. Federated bundles
 *     (other trust domains) are stored in the store's bundle table as
 *     canonical SPIFFE bundle JSON after parsing; the own trust domain is
 *     refused there. Deleting a bundle that entries federate with is
 *     FAILED_PRECONDITION.
 *   - Mint: X509-SVIDs from a DER CSR (only its key is used) and JWT-SVIDs;
 *     ttl 0 means the configured default.
 *   - Health: healthy when an X.509 CA and a JWT key are active; also
 *     the offline budget (life left on the active X.509 CA, whether the
 *     next one is prepared) and the text of
 *     cairn_admin_set_upstream_status().
 *   - Scope (cairn-edge): with opts->scope set, entries whose spiffe_id is
 *     outside it (cairn_scope_match(), id.h) are refused with
 *     PERMISSION_DENIED, and so are X509/JWT mints for such IDs.
 * Every mutating call is logged at INFO (module "admin").
 *
 * Errors: statuses per cairn_admin_grpc_status(), plus FAILED_PRECONDITION
 * for an unknown parent, a missing federated bundle, a bundle still used by
 * entries and a CA with no active authority; the message is the one-line
 * cairn_errdetail(). Failures mapped to INTERNAL are logged at ERROR.
 */
#ifndef CAIRN_ADMIN_H
#define CAIRN_ADMIN_H

#include <stdint.h>

struct cairn_grpc_server;
struct cairn_store;
struct cairn_ca;

#define CAIRN_ADMIN_PAGE_DEFAULT 500
#define CAIRN_ADMIN_PAGE_MAX 10000
#define CAIRN_ADMIN_OWNER_CLOUD "cloud"

struct cairn_admin_opts {
  int64_t default_x509_svid_ttl;  /* seconds, > 0; 0 = CA default (1h) */
  int64_t default_jwt_svid_ttl;   /* seconds, > 0; 0 = CA default (5m) */
  const char *owner;              /* owner of created entries; NULL =
                                   * CAIRN_ADMIN_OWNER_CLOUD */
  const char *version;            /* reported by Health; NULL = "" */
  int64_t started_at;             /* unix seconds; 0 = now */
  const char *scope;              /* cairn-edge: path scope of the entries
                                   * it may register; NULL/"" = none */
};

struct cairn_admin;

/* Creates the service over store and ca (neither owned; both must outlive
 * the service and the server it is registered on). The trust domain is
 * the CA's. opts is copied (strings too). *out: cairn_admin_free(). */
int cairn_admin_new(const struct cairn_admin_opts *opts,
                    struct cairn_store *store, struct cairn_ca *ca,
                    struct cairn_admin **out);

/* Registers every admin.proto method on srv (unary methods, paths such as
 * "/cairn.admin.v1.Entries/BatchCreateEntry"). The admin object must
 * outlive srv. CAIRN_ERR_EXISTS if a path is taken already. */
int cairn_admin_register(struct cairn_admin *a,
                         struct cairn_grpc_server *srv);

/* Sets the upstream connection text Health reports (cairn-edge), e.g.
 * "connected to 10.0.0.1:8081"; copied, cut at 255 bytes; NULL = "". */
void cairn_admin_set_upstream_status(struct cairn_admin *a, const char *s);

/* Frees the service (after cairn_grpc_server_free() of every server it
 * is registered on). NULL-safe. */
void cairn_admin_free(struct cairn_admin *a);

/* The gRPC status for a cairn_err code: CAIRN_OK -> OK; INVAL, PARSE,
 * POLICY, TOO_BIG, VERIFY, UNSUPPORTED, AUDIENCE -> INVALID_ARGUMENT;
 * NOT_FOUND -> NOT_FOUND; EXISTS -> ALREADY_EXISTS; CONFLICT -> ABORTED;
 * DENIED, PERM -> PERMISSION_DENIED; EXPIRED, NOT_YET_VALID, UNTRUSTED ->
 * FAILED_PRECONDITION; TIMEOUT -> UNAVAILABLE; anything else ->
 * INTERNAL. */
int cairn_admin_grpc_status(int err);

#endif
