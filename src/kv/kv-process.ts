/**
 * One KV server process, as `tsraft serve` runs it: a TCP transport on the
 * server's address (shared by the node, the CLI service and the KV service),
 * a RaftNode driving a KvStateMachine, and the KV service for its group.
 * Role changes and node warnings go to the given log functions.
 */
import type { NodeId } from "../core/types.js";
import { RaftNode, routeUnreachable } from "../node/raft-node.js";
import type { StateMachine } from "../node/state-machine.js";
import { parsePeerId } from "../transport/peer-address.js";
import { refusalLogger } from "../transport/refusal-log.js";
import { TcpTransport, type TlsOptions } from "../transport/tcp-transport.js";
import { KvService, type KvGroupServer } from "./kv-server.js";
import { KvStateMachine } from "./kv-state-machine.js";

export interface KvProcessOptions {
  /** This server's peer id; its host:port is where it listens. */
  readonly serverId: NodeId;
  /** host:port to bind, when peers reach this server through a proxy; default: the server id's. */
  readonly listenAddress?: string;
  readonly dataDir: string;
  readonly groupId: string;
  readonly clusterName: string;
  /** Voters on the first boot of an empty dataDir; empty: wait to be added by a leader (`--join`). */
  readonly initialServerList: readonly NodeId[];
  readonly electionTimeoutMs?: number;
  readonly snapshotIntervalSecs?: number;
  readonly snapshotLogIndexMargin?: number;
  readonly sync?: boolean;
  /** Peers and clients must prove it (see TcpTransportOptions.clusterSecret). */
  readonly clusterSecret?: string | Uint8Array;
  /** Mutual TLS: peers and clients must present a certificate the CA signed. */
  readonly tls?: TlsOptions;
  readonly info: (line: string) => void;
  readonly warn: (line: string) => void;
}

export interface KvProcess {
  readonly node: RaftNode;
  readonly stateMachine: KvStateMachine;
  readonly server: KvGroupServer;
  /** Stops serving, shuts the node down, then closes the transport. */
  stop(): Promise<void>;
}

export async function startKvProcess(options: KvProcessOptions): Promise<KvProcess> {
  const advertised = parsePeerId(options.serverId);
  const listen = options.listenAddress === undefined ? advertised : parsePeerId(options.listenAddress);
  const transport = await TcpTransport.start({
    clusterName: options.clusterName,
    listen: { host: listen.host, port: listen.port },
    advertisedHost: advertised.host,
    advertisedPort: advertised.port,
    onUnreachable: routeUnreachable,
    onError: refusalLogger((line) => options.warn(`[tsraft ${options.groupId}/${options.serverId}] ${line}`)),
    clusterSecret: options.clusterSecret,
    tls: options.tls,
  });
  const service = KvService.on(transport);
  // Clients reach the listener while the node still loads its log: they are told to retry.
  service.starting(options.groupId);
  const stateMachine = new KvStateMachine();
  let node: RaftNode;
  try {
    node = await RaftNode.start({
      groupId: options.groupId,
      serverId: options.serverId,
      dataDir: options.dataDir,
      initialServerList: options.initialServerList,
      stateMachine: withRoleLog(stateMachine, (line) => options.info(`[tsraft ${options.groupId}/${options.serverId}] ${line}`)),
      transport,
      logger: { info: options.info, warn: options.warn, error: options.warn },
      // Lets reads that ask for it use the leader's lease; linearizable reads still take a quorum round.
      readOnly: "lease",
      ...(options.electionTimeoutMs !== undefined ? { electionTimeoutMs: options.electionTimeoutMs } : {}),
      ...(options.snapshotIntervalSecs !== undefined ? { snapshotIntervalSecs: options.snapshotIntervalSecs } : {}),
      ...(options.snapshotLogIndexMargin !== undefined ? { snapshotLogIndexMargin: options.snapshotLogIndexMargin } : {}),
      ...(options.sync !== undefined ? { sync: options.sync } : {}),
    });
  } catch (error) {
    await transport.close();
    throw error;
  }
  const server = service.addGroup({ node, stateMachine });
  return {
    node,
    stateMachine,
    server,
    async stop() {
      service.removeGroup(options.groupId);
      await node.shutdown();
      await transport.close();
    },
  };
}

/** The state machine, with a log line for each role change (the operator's view of elections). */
function withRoleLog(inner: StateMachine, log: (line: string) => void): StateMachine {
  return {
    onApply: (iterator) => inner.onApply(iterator),
    onSnapshotSave: (writer) => inner.onSnapshotSave(writer),
    onSnapshotLoad: (reader) => inner.onSnapshotLoad(reader),
    onLeaderStart(term) {
      log(`became the leader in term ${term}`);
      inner.onLeaderStart?.(term);
    },
    onLeaderStop(status) {
      log(`stopped leading in term ${status.term}: ${status.reason}`);
      inner.onLeaderStop?.(status);
    },
    onStartFollowing(context) {
      log(`following ${context.leaderId} in term ${context.term}`);
      inner.onStartFollowing?.(context);
    },
    onStopFollowing(context) {
      log(`stopped following ${context.leaderId} (term ${context.term})`);
      inner.onStopFollowing?.(context);
    },
    onConfigurationCommitted(conf) {
      const learners = conf.learners.length > 0 ? `; learners ${conf.learners.join(", ")}` : "";
      log(`configuration committed: voters ${[...conf.voters, ...conf.outgoing.filter((id) => !conf.voters.includes(id))].join(", ")}${learners}`);
      inner.onConfigurationCommitted?.(conf);
    },
    onError(error) {
      log(`entered the ERROR state: ${error.message}`);
      inner.onError?.(error);
    },
    onShutdown: () => inner.onShutdown?.(),
  };
}
