/**
 * Where a RaftNode is in its life, and the two ways a running node fails.
 * ERROR: the state machine failed, so the node stops applying rather than
 * diverge, tells the user once, fails what waits and hands leadership over; it
 * still replicates, and a restart replays the log from the last snapshot.
 * Halt: storage or the core failed, and nothing may go on, not even replication.
 */
import type { RaftCore } from "../core/raft.js";
import { RaftError } from "../errors.js";
import { describeError, type FsmCaller } from "./fsm-caller.js";
import type { Lifecycle } from "./node-state.js";
import type { NodeLogger } from "./options.js";
import type { StateMachine } from "./state-machine.js";

export interface LifecycleHost {
  readonly core: RaftCore;
  readonly fsm: FsmCaller;
  readonly stateMachine: StateMachine;
  readonly logger: NodeLogger;
  /** Registered with the transport and ticking. */
  joined(): boolean;
  leaveGroup(): void;
  /** Fails every task, read and membership change that waits. */
  failPending(error: RaftError): void;
  kick(): void;
}

export class NodeLifecycle {
  private current: Lifecycle = "uninitialized";
  private failure: RaftError | null = null;
  /** A warning that would repeat every tick is given once. */
  private warnedTransfer = false;

  constructor(private readonly host: LifecycleHost) {}

  get stage(): Lifecycle {
    return this.current;
  }

  /** Why the node is in the ERROR state, if it is. */
  get lastError(): RaftError | null {
    return this.failure;
  }

  /** Boot, shutdown; the ERROR state is entered by enterError or halt only. */
  moveTo(stage: "running" | "shutting" | "shutdown"): void {
    this.current = stage;
  }

  /** Still taking part in the group (ERROR included: it replicates, it does not apply). */
  active(): boolean {
    return this.host.joined() && (this.current === "running" || this.current === "error");
  }

  requireRunning(): void {
    if (this.current === "running") return;
    if (this.current === "error") throw new RaftError(this.failure?.code ?? "ESTATEMACHINE", `the node is in the ERROR state: ${this.failure?.message ?? "unknown cause"}; restart it once the cause is fixed`);
    throw new RaftError("ESHUTDOWN", `the node is ${this.current}`);
  }

  /** The state machine failed. */
  enterError(error: RaftError): void {
    if (this.current !== "running") return;
    const { fsm, stateMachine, logger } = this.host;
    this.current = "error";
    this.failure = error;
    logger.error(`entered the ERROR state, applied up to index ${fsm.appliedIndex}; fix the cause and restart the node: ${error.message}`);
    void fsm.stop(error);
    try {
      stateMachine.onError?.(error);
    } catch (thrown) {
      logger.warn(`onError threw (ignored): ${describeError(thrown)}`);
    }
    this.host.failPending(error);
    this.giveUpLeadership();
    this.host.kick();
  }

  /** In ERROR, on every tick too: a node that stopped applying must not lead. */
  giveUpLeadership(): void {
    const core = this.host.core;
    const status = core.status();
    if (status.role !== "leader" || status.leadTransferee !== null) return;
    try {
      core.transferLeadership(null);
    } catch (error) {
      if (!this.warnedTransfer) this.host.logger.warn(`cannot hand over leadership yet (retried every tick): ${describeError(error)}`);
      this.warnedTransfer = true;
    }
  }

  /** Storage or the core failed. */
  halt(error: unknown): void {
    if (!this.active()) return;
    const failure = error instanceof RaftError ? error : new RaftError("EPERM", `the node stopped after an internal failure: ${describeError(error)}`);
    this.host.logger.error(`halted: ${failure.message}`);
    this.failure = failure;
    this.current = "error";
    this.host.leaveGroup();
    void this.host.fsm.stop(failure);
    this.host.failPending(failure);
  }
}
