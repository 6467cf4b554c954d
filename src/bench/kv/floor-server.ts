/**
 * One process of the replication floor (floor.ts): the least a replicated
 * write can cost on this machine, with no Raft, no codec and no state machine.
 * A follower flushes each message it gets and answers 1 byte; the leader sends
 * each client message to both followers, flushes it itself, and answers the
 * client once its own flush and one follower's answer are in. Flushes are an
 * fdatasync on the thread pool into a preallocated file, as tsraft's log does;
 * with "no-flush" (kv-bench --no-sync) the write alone stands for the flush.
 */
import fs from "node:fs";
import net from "node:net";

const PREALLOCATED_BYTES = 64 * 1024 * 1024;

function flushingFile(path: string, flush: boolean): (data: Buffer, done: () => void) => void {
  const fd = fs.openSync(path, "w+", 0o600);
  fs.ftruncateSync(fd, PREALLOCATED_BYTES);
  let position = 0;
  return (data, done) => {
    if (position + data.length > PREALLOCATED_BYTES) position = 0;
    fs.writeSync(fd, data, 0, data.length, position);
    position += data.length;
    if (!flush) return done();
    fs.fdatasync(fd, (error) => {
      if (error) throw error;
      done();
    });
  };
}

function listen(port: number, onSocket: (socket: net.Socket) => void): void {
  net
    .createServer((socket) => {
      socket.setNoDelay(true);
      onSocket(socket);
    })
    .listen(port, "127.0.0.1", () => process.send!("listening"));
}

function follower(port: number, file: string, flushes: boolean): void {
  const flush = flushingFile(file, flushes);
  listen(port, (socket) => socket.on("data", (data) => flush(data, () => socket.write(Buffer.of(1)))));
}

function leader(port: number, followerPorts: number[], file: string, flushes: boolean): void {
  const flush = flushingFile(file, flushes);
  const followers = followerPorts.map((p) => ({ socket: net.connect(p, "127.0.0.1").setNoDelay(true), acked: 0 }));
  let sent = 0;
  let pending: { client: net.Socket; seq: number; flushed: boolean } | null = null;
  // Write n is replicated once a follower has answered n writes: a late answer to an earlier write does not count.
  const answerWhenDone = (): void => {
    if (pending === null || !pending.flushed || !followers.some((f) => f.acked >= pending!.seq)) return;
    pending.client.write(Buffer.of(1));
    pending = null;
  };
  for (const follower of followers) {
    follower.socket.on("data", (data) => {
      follower.acked += data.length;
      answerWhenDone();
    });
  }
  listen(port, (client) =>
    client.on("data", (data) => {
      const write = { client, seq: ++sent, flushed: false };
      pending = write;
      for (const follower of followers) follower.socket.write(data);
      flush(data, () => {
        write.flushed = true;
        answerWhenDone();
      });
    }),
  );
}

const [role, flushing, port, file, ...followerPorts] = process.argv.slice(2);
const flushes = flushing === "flush";
if (role === "follower") follower(Number(port), file!, flushes);
else leader(Number(port), followerPorts.map(Number), file!, flushes);
process.on("disconnect", () => process.exit(0));
