/**
 * The run's trace: readable lines "time node event". A full trace (--trace)
 * goes to a sink as it happens; otherwise only the recent past is kept, in
 * two ring buffers (notable events, and message deliveries which are far more
 * numerous), formatted only when a violation needs them.
 */
import type { Message } from "../core/messages.js";

export type TraceSink = (line: string) => void;
export type NoteListener = (timeMs: number, nodeId: string, text: string) => void;

interface NoteRecord {
  seq: number;
  timeMs: number;
  nodeId: string;
  text: string;
}

interface MessageRecord {
  seq: number;
  timeMs: number;
  what: "recv" | "drop";
  message: Message;
  reason: string;
}

class Ring<T> {
  private items: T[] = [];
  private next = 0;
  constructor(private readonly capacity: number) {}

  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }

  toArray(): T[] {
    if (this.items.length < this.capacity) return [...this.items];
    return [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }
}

export function formatLine(timeMs: number, nodeId: string, text: string): string {
  return `${String(timeMs).padStart(7)}ms ${nodeId.padEnd(4)} ${text}`;
}

export function formatMessage(message: Message): string {
  const head = `${message.type} ${message.from}->${message.to} t${message.term}`;
  switch (message.type) {
    case "append":
      return `${head} prev=(${message.prevIndex},t${message.prevTerm}) entries=${message.entries.length} commit=${message.commit}`;
    case "appendResp":
      return `${head} ${message.reject ? `reject index=${message.index} hint=(${message.hintIndex},t${message.hintTerm})` : `ok index=${message.index}`}`;
    case "vote":
    case "preVote":
      return `${head} last=(${message.lastIndex},t${message.lastTerm})${message.type === "vote" && message.force ? " force" : ""}`;
    case "voteResp":
    case "preVoteResp":
      return `${head} ${message.reject ? "reject" : "grant"}`;
    case "heartbeat":
      return `${head} commit=${message.commit} readSeq=${message.readSeq}`;
    case "heartbeatResp":
      return `${head} readSeq=${message.readSeq}`;
    case "snapshot":
      return `${head} snapshot=(${message.snapshot.index},t${message.snapshot.term})`;
    case "snapshotStatus":
      return `${head} index=${message.index} ${message.reject ? "reject" : "ok"}`;
    case "readIndex":
      return `${head} ctx=${message.context}`;
    case "readIndexResp":
      return `${head} ctx=${message.context} index=${message.index}${message.error ? ` error=${message.error}` : ""}`;
    case "timeoutNow":
      return head;
  }
}

export class Trace {
  private seq = 0;
  private readonly notes: Ring<NoteRecord>;
  private readonly messages: Ring<MessageRecord>;
  private readonly listeners: NoteListener[] = [];

  /** With a sink every event is printed as it happens (messages included). */
  constructor(
    private readonly sink: TraceSink | null = null,
    noteCapacity = 200,
    messageCapacity = 200,
  ) {
    this.notes = new Ring(noteCapacity);
    this.messages = new Ring(messageCapacity);
  }

  /** Called for every notable event (the demo tells its story from these). */
  onNote(listener: NoteListener): void {
    this.listeners.push(listener);
  }

  note(timeMs: number, nodeId: string, text: string): void {
    this.notes.push({ seq: this.seq++, timeMs, nodeId, text });
    if (this.sink) this.sink(formatLine(timeMs, nodeId, text));
    for (const listener of this.listeners) listener(timeMs, nodeId, text);
  }

  message(timeMs: number, what: "recv" | "drop", message: Message, reason = ""): void {
    this.messages.push({ seq: this.seq++, timeMs, what, message, reason });
    if (this.sink) this.sink(formatLine(timeMs, what === "recv" ? message.to : message.from, describe(what, message, reason)));
  }

  /** The recent past, oldest first: the kept notes interleaved with the kept message deliveries. */
  recent(maxLines = 400): string[] {
    const merged: { seq: number; line: string }[] = [];
    for (const n of this.notes.toArray()) merged.push({ seq: n.seq, line: formatLine(n.timeMs, n.nodeId, n.text) });
    for (const m of this.messages.toArray()) {
      const nodeId = m.what === "recv" ? m.message.to : m.message.from;
      merged.push({ seq: m.seq, line: formatLine(m.timeMs, nodeId, describe(m.what, m.message, m.reason)) });
    }
    merged.sort((a, b) => a.seq - b.seq);
    return merged.slice(-maxLines).map((r) => r.line);
  }
}

function describe(what: "recv" | "drop", message: Message, reason: string): string {
  return what === "recv" ? `recv ${formatMessage(message)}` : `drop ${formatMessage(message)} (${reason})`;
}
