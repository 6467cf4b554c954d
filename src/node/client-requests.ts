/**
 * What clients ask of a RaftNode and wait for: tasks to apply, linearizable
 * reads and membership changes. Each is admitted (the node runs, leads where it
 * must, its queue has room: EBUSY otherwise), handed to the core, and waits in
 * its queue until it is applied, expires, or fails with the node.
 */
import { randomBytes } from "node:crypto";
import type { ReadOnlyMode } from "../core/options.js";
import type { RaftCore } from "../core/raft.js";
import type { ConfState } from "../core/types.js";
import { RaftError } from "../errors.js";
import { PendingConfChanges, membershipTarget, type MembershipChange } from "./membership.js";
import { notLeader } from "./node-state.js";
import type { ResolvedNodeOptions } from "./options.js";
import { PendingReads } from "./pending-reads.js";
import { PendingTasks } from "./pending-tasks.js";
import type { ApplyTask } from "./raft-node.js";

/** Membership requests in flight at once; the core runs one change at a time anyway. */
const MAX_PENDING_CONF_CHANGES = 16;

export interface RequestHost {
  readonly core: RaftCore;
  readonly options: ResolvedNodeOptions;
  requireRunning(): void;
  /** The core has work after a request. */
  kick(): void;
}

export class ClientRequests {
  readonly tasks: PendingTasks;
  readonly reads: PendingReads;
  readonly confChanges: PendingConfChanges;

  constructor(private readonly host: RequestHost) {
    const { options } = host;
    const idPrefix = `${options.serverId}/${randomBytes(6).toString("hex")}`;
    this.tasks = new PendingTasks(options.maxPendingTasks);
    this.reads = new PendingReads(options.maxPendingReads, idPrefix);
    this.confChanges = new PendingConfChanges(MAX_PENDING_CONF_CHANGES, idPrefix);
  }

  apply(task: ApplyTask): Promise<unknown> {
    const { core, options } = this.host;
    try {
      this.host.requireRunning();
      if (task === null || typeof task !== "object" || !(task.data instanceof Uint8Array)) throw new RaftError("EINVAL", "apply needs a task { data: Uint8Array, expectedTerm?: number }");
      const expectedTerm = task.expectedTerm;
      if (expectedTerm !== undefined && (!Number.isSafeInteger(expectedTerm) || expectedTerm < 0)) {
        throw new RaftError("EINVAL", `expectedTerm must be a non-negative integer, got ${String(expectedTerm)}`);
      }
      if (expectedTerm !== undefined || this.tasks.isFull()) {
        const status = core.status();
        if (status.role !== "leader") throw notLeader(status.leaderId);
        if (expectedTerm !== undefined && expectedTerm !== status.term) throw new RaftError("EPERM", `expectedTerm ${expectedTerm} differs from the current term ${status.term}; the leader changed since`);
        if (this.tasks.isFull()) throw new RaftError("EBUSY", `${this.tasks.size} tasks wait to be applied (maxPendingTasks ${options.maxPendingTasks}); slow down and retry`);
      }
      const { index, term } = core.propose(task.data);
      const promise = this.tasks.add(index, term, Date.now() + options.requestTimeoutMs, task.context);
      this.host.kick();
      return promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  readIndex(mode: ReadOnlyMode = this.host.options.readOnly): Promise<number> {
    const { core, options } = this.host;
    try {
      this.host.requireRunning();
      if (this.reads.isFull()) throw new RaftError("EBUSY", `${this.reads.size} reads are in progress (maxPendingReads ${options.maxPendingReads}); retry later`);
    } catch (error) {
      return Promise.reject(error);
    }
    const { context, promise } = this.reads.add(Date.now() + options.requestTimeoutMs);
    try {
      if (mode !== "safe" && mode !== "lease") throw new RaftError("EINVAL", `read mode must be "safe" or "lease", got ${String(mode)}`);
      core.readIndex(context, mode);
    } catch (error) {
      this.reads.fail(context, error);
    }
    this.host.kick();
    return promise;
  }

  changeMembership(change: MembershipChange): Promise<ConfState> {
    const { core, options } = this.host;
    try {
      this.host.requireRunning();
      const status = core.status();
      if (status.role !== "leader") throw notLeader(status.leaderId);
      if (this.confChanges.isFull()) throw new RaftError("EBUSY", `${this.confChanges.size} membership changes are in progress; retry once they complete`);
      const target = membershipTarget(status.conf, change);
      const { requestId, promise } = this.confChanges.add(Date.now() + options.requestTimeoutMs);
      try {
        core.proposeConfChange(target, requestId, "auto");
      } catch (error) {
        this.confChanges.fail(requestId, error);
      }
      this.host.kick();
      return promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  expire(nowMs: number): void {
    this.tasks.expire(nowMs);
    this.reads.expire(nowMs);
    this.confChanges.expire(nowMs);
  }

  failAll(error: RaftError): void {
    this.tasks.failAll(error);
    this.reads.failAll(error);
    this.confChanges.failAll(error);
  }
}
