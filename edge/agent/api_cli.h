/* edge/agent/api_cli.h - the Workload API client subcommands of
 * cairn-agent, shaped like spire-agent's (docs/agent.md, "Workload API from
 * the command line"):
 *
 *   cairn-agent api fetch [x509] [-write DIR] [-silent] ...
 *   cairn-agent api fetch jwt -audience A [-audience B] [-spiffeID ID] ...
 *   cairn-agent api fetch x509-bundles | jwt-bundles ...
 *   cairn-agent api validate jwt -audience A -svid TOKEN ...
 *   cairn-agent healthcheck [-shallow] [-verbose] ...
 *
 * Each talks to the agent's Workload API socket (-socketPath, else the
 * socket_path of -config FILE, else /tmp/cairn-agent/public/api.sock;
 * SPIFFE_ENDPOINT_SOCKET is ignored, as by spire-agent's CLI) with the
 * blocking gRPC client of cairn/grpc.h, sending "workload.spiffe.io: true"
 * on every call. healthcheck asks grpc.health.v1.Health/Check
 * (edge/agent/wl/wl_health.h).
 *
 * Output: results on stdout; errors as one line "Error: <reason>" on
 * stderr (healthcheck: "Agent is unhealthy: <reason>", like
 * spire-agent). Exit status: 0 success, 1 failure, 2 bad command line.
 * Both functions print their own -h/--help.
 */
#ifndef CAIRN_EDGE_AGENT_API_CLI_H
#define CAIRN_EDGE_AGENT_API_CLI_H

/* argv[0] is "api"; argv[1..] the subcommand and its flags. Returns the
 * exit status. */
int ea_api_cli_main(int argc, char **argv);

/* argv[0] is "healthcheck"; argv[1..] its flags. Returns the exit
 * status. */
int ea_healthcheck_main(int argc, char **argv);

#endif
