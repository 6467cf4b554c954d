/** Turns the core's role changes into the StateMachine's onLeaderStart/Stop and onStart/StopFollowing, in order with the applies. */
import type { SoftState } from "../core/ready.js";
import type { NodeId } from "../core/types.js";
import type { FsmCaller } from "./fsm-caller.js";
import type { StateMachine } from "./state-machine.js";

interface Seen {
  readonly role: SoftState["role"];
  readonly leaderId: NodeId | null;
  readonly term: number;
}

export class RoleNotifier {
  private seen: Seen;

  constructor(
    private readonly selfId: NodeId,
    private readonly stateMachine: StateMachine,
    private readonly fsm: FsmCaller,
    term: number,
  ) {
    this.seen = { role: "follower", leaderId: null, term };
  }

  onSoftState(next: SoftState, term: number): void {
    const previous = this.seen;
    const sm = this.stateMachine;
    const wasFollowing = this.following(previous);
    const nowFollowing = this.following(next);
    const followingChanged = nowFollowing !== wasFollowing || term !== previous.term;
    if (previous.role === "leader" && next.role !== "leader") {
      const status = { term: previous.term, reason: next.leaderId === null ? "lost leadership" : `${next.leaderId} leads now` };
      this.fsm.enqueueNotify(() => sm.onLeaderStop?.(status));
    }
    if (wasFollowing !== null && followingChanged) {
      const context = { leaderId: wasFollowing, term: previous.term };
      this.fsm.enqueueNotify(() => sm.onStopFollowing?.(context));
    }
    if (next.role === "leader" && previous.role !== "leader") this.fsm.enqueueNotify(() => sm.onLeaderStart?.(term));
    if (nowFollowing !== null && followingChanged) {
      const context = { leaderId: nowFollowing, term };
      this.fsm.enqueueNotify(() => sm.onStartFollowing?.(context));
    }
    this.seen = { role: next.role, leaderId: next.leaderId, term };
  }

  private following(state: { role: SoftState["role"]; leaderId: NodeId | null }): NodeId | null {
    return state.role === "follower" && state.leaderId !== null && state.leaderId !== this.selfId ? state.leaderId : null;
  }
}
