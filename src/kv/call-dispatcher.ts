/**
 * The KV client's engine: it batches the calls made in one turn of the event
 * loop into request frames, sends leader-bound calls (writes, linearizable
 * and lease reads) to the leader its RouteTable knows (refreshing it when
 * unknown), and other calls (stale reads, watches) to any member, moving on
 * when one fails. A call is retried on ENOTLEADER (at once when the answer
 * names the leader), on a new leader not ready yet, overload, a lost
 * connection or a timeout, until its own deadline; a write keeps its
 * (clientId, seq) through every retry, so the servers apply it once.
 */
import type { NodeId } from "../core/types.js";
import { RaftError, type RaftErrorCode } from "../errors.js";
import type { RouteTable } from "../cli/route-table.js";
import { allPeers } from "../cli/peer-list.js";
import { parsePeerId, peerIdOrNull } from "../transport/peer-address.js";
import { plainMessage } from "../transport/protocol.js";
import type { Transport } from "../transport/transport.js";
import { MAX_CALLS_PER_REQUEST, type KvCall, type KvCallResult, type KvResponse } from "./commands.js";
import type { ClientSession } from "./client-session.js";
import { decodeKvResponse, encodeKvRequest } from "./kv-codec.js";
import { raftErrorOf } from "./kv-errors.js";
import { KV_SERVICE } from "./kv-service.js";
import { MAX_CALL_BYTES, callBytes } from "./op-size.js";
import { SlotSet, type Slotted } from "./slot-set.js";

/** Where a call goes: the leader, or any member of the group. */
export type CallRoute = "leader" | "any";

/** A request frame stays well below the transport's 16 MiB frames. */
const MAX_REQUEST_BYTES = 12 * 1024 * 1024;
/** Redirects one call follows at once; past it, it backs off like any retry. */
const MAX_REDIRECTS = 8;
const RETRY_MIN_DELAY_MS = 20;
const RETRY_MAX_DELAY_MS = 1000;
/** setTimeout's longest delay; a later deadline is checked again when the timer fires. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
/** Call results worth another try: the outcome may change with time or another member. */
const RETRIED_RESULT_CODES: ReadonlySet<RaftErrorCode> = new Set(["ENOTLEADER", "EAGAIN", "ESTEPPEDDOWN", "EBUSY", "ETIMEDOUT", "ESHUTDOWN"]);
/** Frame failures worth another try: the member was unreachable, slow, overloaded or stopping. */
const RETRIED_FRAME_CODES: ReadonlySet<RaftErrorCode> = new Set(["EAGAIN", "ETIMEDOUT", "EBUSY", "ESHUTDOWN"]);
/** Results after which the leader this client knows is doubtful. */
const LEADER_DOUBTED_CODES: ReadonlySet<RaftErrorCode> = new Set(["ENOTLEADER", "ESTEPPEDDOWN", "ESHUTDOWN"]);

export interface DispatcherOptions {
  readonly transport: Promise<Transport>;
  readonly routes: RouteTable;
  readonly groupId: string;
  readonly session: ClientSession;
  /** Calls unsettled at once; past it a call fails with EBUSY at once. */
  readonly maxInFlight: number;
}

export interface CallOptions {
  readonly route: CallRoute;
  /** The whole call, retries included. */
  readonly timeoutMs: number;
  /** In a frame of its own: the server holds it (a watch's long poll), which must not delay other calls. */
  readonly solo?: boolean;
}

interface PendingCall extends Slotted {
  readonly call: KvCall;
  readonly route: CallRoute;
  readonly solo: boolean;
  readonly bytes: number;
  readonly timeoutMs: number;
  readonly deadlineMs: number;
  readonly resolve: (result: KvCallResult) => void;
  readonly reject: (error: RaftError) => void;
  attempts: number;
  redirects: number;
  lastError: RaftError | null;
}

export class CallDispatcher {
  private readonly unsettled = new SlotSet<PendingCall>();
  private queued: PendingCall[] = [];
  private flushScheduled = false;
  private leaderRefresh: Promise<NodeId> | null = null;
  /**
   * One timer for every call's deadline, set for the earliest: a timer per call
   * cost more CPU per call (npm run bench:kv-client). Set while calls are
   * unsettled (it keeps the process alive for them, as their own timers did).
   */
  private deadlineTimer: NodeJS.Timeout | null = null;
  private deadlineTimerAtMs = Infinity;
  /** Which member "any" calls go to; moves on when that member fails. Starts at random to spread clients. */
  private anyCursor = Math.floor(Math.random() * 1024);
  private isClosed = false;

  constructor(private readonly options: DispatcherOptions) {}

  get closed(): boolean {
    return this.isClosed;
  }

  get inFlight(): number {
    return this.unsettled.size;
  }

  /** Resolves with the call's result (never an error result: those reject with a RaftError). */
  call(call: KvCall, options: CallOptions): Promise<KvCallResult> {
    if (this.isClosed) return Promise.reject(new RaftError("ESHUTDOWN", "the KV client is closed"));
    if (this.unsettled.size >= this.options.maxInFlight) {
      return Promise.reject(new RaftError("EBUSY", `${this.unsettled.size} calls of this client are in flight (maxInFlight ${this.options.maxInFlight}); wait for some to finish`));
    }
    const bytes = callBytes(call);
    if (bytes > MAX_CALL_BYTES) {
      return Promise.reject(new RaftError("EINVAL", `the ${opName(call)} call carries about ${bytes} bytes, above the ${MAX_CALL_BYTES} one call may carry; split it into smaller operations`));
    }
    return new Promise<KvCallResult>((resolve, reject) => {
      const pending: PendingCall = {
        call,
        route: options.route,
        solo: options.solo ?? false,
        bytes,
        timeoutMs: options.timeoutMs,
        deadlineMs: Date.now() + options.timeoutMs,
        resolve,
        reject,
        attempts: 0,
        redirects: 0,
        lastError: null,
        slot: -1,
      };
      this.unsettled.add(pending);
      this.armDeadlineTimer(pending.deadlineMs);
      this.enqueue(pending);
    });
  }

  /** Fails every unsettled call with ESHUTDOWN. */
  close(): void {
    this.isClosed = true;
    const error = new RaftError("ESHUTDOWN", "the KV client was closed before the call finished");
    for (const pending of this.unsettled.members()) this.fail(pending, error);
  }

  private enqueue(pending: PendingCall): void {
    if (!this.unsettled.has(pending)) return;
    this.queued.push(pending);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const queued = this.queued.filter((pending) => this.unsettled.has(pending));
    this.queued = [];
    const toLeader = queued.filter((pending) => pending.route === "leader");
    const toAny = queued.filter((pending) => pending.route === "any");
    if (toLeader.length > 0) void this.sendToLeader(toLeader);
    if (toAny.length > 0) {
      const member = this.anyMember();
      if (member !== null) this.sendFrames(member, toAny);
      else for (const pending of toAny) this.fail(pending, new RaftError("EINVAL", `group "${this.options.groupId}" has no known member; give the client its endpoints`));
    }
  }

  private async sendToLeader(calls: readonly PendingCall[]): Promise<void> {
    let leader: NodeId;
    try {
      leader = await this.leader();
    } catch (error) {
      const failure = asRaftError(error);
      // No leader yet, or no member reachable: worth waiting for; a wrong group id or cluster is not.
      const retried = RETRIED_FRAME_CODES.has(failure.code) || failure.code === "ENOTLEADER";
      for (const pending of calls) {
        if (retried) this.retryLater(pending, failure);
        else this.fail(pending, failure);
      }
      return;
    }
    this.sendFrames(leader, calls);
  }

  /** Splits the calls into frames: solo calls alone, the others by count and bytes. */
  private sendFrames(target: NodeId, calls: readonly PendingCall[]): void {
    let frame: PendingCall[] = [];
    let frameBytes = 0;
    for (const pending of calls) {
      if (pending.solo) {
        void this.sendFrame(target, [pending]);
        continue;
      }
      if (frame.length > 0 && (frame.length >= MAX_CALLS_PER_REQUEST || frameBytes + pending.bytes > MAX_REQUEST_BYTES)) {
        void this.sendFrame(target, frame);
        frame = [];
        frameBytes = 0;
      }
      frame.push(pending);
      frameBytes += pending.bytes;
    }
    if (frame.length > 0) void this.sendFrame(target, frame);
  }

  private async sendFrame(target: NodeId, calls: readonly PendingCall[]): Promise<void> {
    const live = calls.filter((pending) => this.unsettled.has(pending));
    if (live.length === 0) return;
    // Sent with every frame, so the servers forget the results this client holds already.
    const firstUnackedSeq = this.options.session.firstUnackedSeq;
    const wire = live.map((pending) => (pending.call.kind === "write" ? { ...pending.call, firstUnackedSeq } : pending.call));
    const timeoutMs = Math.max(1, Math.ceil(Math.max(...live.map((pending) => pending.deadlineMs)) - Date.now()));
    let response: KvResponse;
    try {
      const transport = await this.options.transport;
      const payload = encodeKvRequest({ groupId: this.options.groupId, calls: wire });
      response = decodeKvResponse(await transport.request(parsePeerId(target).address, KV_SERVICE, payload, { timeoutMs }));
      if (response.results.length !== live.length) {
        throw new RaftError("ECORRUPT", `${target} answered ${live.length} calls with ${response.results.length} results`);
      }
    } catch (error) {
      const failure = asRaftError(error);
      if (this.isClosed) return;
      if (!RETRIED_FRAME_CODES.has(failure.code)) {
        for (const pending of live) this.fail(pending, failure);
        return;
      }
      this.memberFailed(target);
      for (const pending of live) this.retryLater(pending, failure);
      return;
    }
    live.forEach((pending, i) => this.onResult(pending, response.results[i]!, target));
  }

  private onResult(pending: PendingCall, result: KvCallResult, target: NodeId): void {
    if (!this.unsettled.has(pending)) return;
    if (result.type !== "error") {
      this.settle(pending);
      pending.resolve(result);
      return;
    }
    const error = raftErrorOf(result);
    if (!RETRIED_RESULT_CODES.has(result.code)) {
      this.fail(pending, error);
      return;
    }
    if (LEADER_DOUBTED_CODES.has(result.code) && this.options.routes.selectLeader(this.options.groupId) === target) {
      this.options.routes.updateLeader(this.options.groupId, null);
    }
    if (pending.route === "any") this.memberFailed(target);
    const hint = result.code === "ENOTLEADER" ? peerIdOrNull(result.leaderHint) : null;
    if (hint !== null && hint !== target && pending.redirects < MAX_REDIRECTS) {
      pending.redirects++;
      pending.lastError = error;
      this.options.routes.updateLeader(this.options.groupId, hint);
      this.enqueue(pending);
      return;
    }
    this.retryLater(pending, error);
  }

  /** Backs off, longer with each attempt; the call's deadline timer ends it if time runs out first. */
  private retryLater(pending: PendingCall, error: RaftError): void {
    if (!this.unsettled.has(pending)) return;
    pending.lastError = error;
    const delayMs = Math.min(RETRY_MIN_DELAY_MS * 2 ** pending.attempts, RETRY_MAX_DELAY_MS);
    pending.attempts++;
    // The deadline timer keeps the process alive meanwhile.
    setTimeout(() => this.enqueue(pending), delayMs).unref();
  }

  /** The leader from the route table, or asked of the group (one refresh at a time). */
  private leader(): Promise<NodeId> {
    const cached = this.options.routes.selectLeader(this.options.groupId);
    if (cached !== null) return Promise.resolve(cached);
    this.leaderRefresh ??= this.options.routes
      .refreshConfiguration(this.options.groupId)
      .then(() => {
        const leader = this.options.routes.selectLeader(this.options.groupId);
        if (leader === null) throw new RaftError("ENOTLEADER", `group "${this.options.groupId}" named no leader; an election may be under way`);
        return leader;
      })
      .finally(() => {
        this.leaderRefresh = null;
      });
    return this.leaderRefresh;
  }

  private anyMember(): NodeId | null {
    const conf = this.options.routes.getConfiguration(this.options.groupId);
    const members = conf === null ? [] : allPeers(conf);
    return members.length === 0 ? null : members[this.anyCursor % members.length]!;
  }

  /** A member did not answer: forget it as the leader, and send "any" calls elsewhere. */
  private memberFailed(target: NodeId): void {
    const { routes, groupId } = this.options;
    if (routes.selectLeader(groupId) === target) routes.updateLeader(groupId, null);
    if (this.anyMember() === target) this.anyCursor++;
  }

  private armDeadlineTimer(deadlineMs: number): void {
    if (deadlineMs >= this.deadlineTimerAtMs) return;
    this.disarmDeadlineTimer();
    this.deadlineTimerAtMs = deadlineMs;
    this.deadlineTimer = setTimeout(() => this.expireCalls(), Math.min(Math.max(0, deadlineMs - Date.now()), MAX_TIMER_DELAY_MS));
  }

  private disarmDeadlineTimer(): void {
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    this.deadlineTimerAtMs = Infinity;
  }

  /** Fails the calls whose deadline has come, then waits for the earliest of the others. */
  private expireCalls(): void {
    this.disarmDeadlineTimer(); // it fired: clearing it changes nothing, the state is reset
    const nowMs = Date.now();
    let nextMs = Infinity;
    for (const pending of this.unsettled.members()) {
      if (pending.deadlineMs <= nowMs) this.fail(pending, this.timedOut(pending));
      else nextMs = Math.min(nextMs, pending.deadlineMs);
    }
    if (nextMs !== Infinity) this.armDeadlineTimer(nextMs);
  }

  private timedOut(pending: PendingCall): RaftError {
    const last = pending.lastError === null ? "" : `; the last answer: ${pending.lastError.code} ${plainMessage(pending.lastError)}`;
    const unknown = pending.call.kind === "write" ? " The write may or may not have been applied." : "";
    return new RaftError("ETIMEDOUT", `the ${opName(pending.call)} call to group "${this.options.groupId}" did not complete within ${pending.timeoutMs} ms${last}.${unknown}`);
  }

  private fail(pending: PendingCall, error: RaftError): void {
    if (!this.unsettled.has(pending)) return;
    this.settle(pending);
    pending.reject(error);
  }

  private settle(pending: PendingCall): void {
    this.unsettled.delete(pending);
    if (this.unsettled.size === 0) this.disarmDeadlineTimer();
    if (pending.call.kind === "write") this.options.session.finish(pending.call.seq);
  }
}

function opName(call: KvCall): string {
  return call.kind === "watch" ? "watch" : call.op.type;
}

function asRaftError(error: unknown): RaftError {
  return error instanceof RaftError ? error : new RaftError("EINVAL", `unexpected failure in the KV client: ${error instanceof Error ? error.message : String(error)}`);
}

