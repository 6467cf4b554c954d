/**
 * One replica of the counter: a TCP transport listening on the replica's
 * address, a RaftNode driving the CounterStateMachine, and the "counter"
 * service that clients call.
 */
import { RaftError, RaftNode, TcpTransport, parsePeerId, routeUnreachable } from "../../index.js";
import {
  COUNTER_CLUSTER_NAME,
  COUNTER_GROUP_ID,
  COUNTER_SERVICE,
  decodeRequest,
  encodeDelta,
  encodeReply,
  replyFromError,
  type CounterReply,
} from "./counter-protocol.js";
import { CounterStateMachine } from "./counter-state-machine.js";

export interface CounterReplicaOptions {
  /** This replica's peer id; its host:port is where it listens. */
  readonly id: string;
  /** Every voter, this one included; used on the first boot of an empty data folder only. */
  readonly peers: readonly string[];
  readonly dataDir: string;
  readonly electionTimeoutMs: number;
  readonly snapshotIntervalSecs: number;
  readonly snapshotLogIndexMargin: number;
  readonly log: (line: string) => void;
}

export interface CounterReplica {
  /** Leaves the group and closes the listener; pending requests fail with ESHUTDOWN. */
  stop(): Promise<void>;
}

export async function startCounterReplica(options: CounterReplicaOptions): Promise<CounterReplica> {
  const { host, port } = parsePeerId(options.id);
  const transport = await TcpTransport.start({ clusterName: COUNTER_CLUSTER_NAME, listen: { host, port }, onUnreachable: routeUnreachable });
  const counter = new CounterStateMachine(options.log);
  // Peers and clients reach the listener while the node still loads its log; until it runs they are told to retry.
  let running: RaftNode | null = null;
  transport.handle(COUNTER_SERVICE, async (payload) =>
    encodeReply(running === null ? replyFromError(new RaftError("EAGAIN", "the replica is starting; retry shortly")) : await answer(running, counter, payload)),
  );
  let node: RaftNode;
  try {
    node = await RaftNode.start({
      groupId: COUNTER_GROUP_ID,
      serverId: options.id,
      dataDir: options.dataDir,
      initialServerList: options.peers,
      stateMachine: counter,
      transport,
      electionTimeoutMs: options.electionTimeoutMs,
      snapshotIntervalSecs: options.snapshotIntervalSecs,
      snapshotLogIndexMargin: options.snapshotLogIndexMargin,
    });
  } catch (error) {
    await transport.close();
    throw error;
  }
  running = node;
  return {
    async stop() {
      await node.shutdown();
      await transport.close();
    },
  };
}

async function answer(node: RaftNode, counter: CounterStateMachine, payload: Buffer): Promise<CounterReply> {
  try {
    const request = decodeRequest(payload);
    if (request.op === "incrementAndGet") {
      // A follower rejects with ENOTLEADER and the leader's id, which the reply passes on.
      const value = await node.apply({ data: encodeDelta(request.delta) });
      return { ok: true, value: value as number };
    }
    // Any member: readIndex waits until this replica has applied every write acknowledged before the read began.
    await node.readIndex();
    return { ok: true, value: counter.value };
  } catch (error) {
    if (error instanceof RaftError) return replyFromError(error);
    throw error;
  }
}
