/**
 * Snapshot install over the network (§7 InstallSnapshot, done as SOFAJraft
 * does it: the follower pulls the leader's files in chunks): identical
 * copies, resume after a broken connection or an abort without fetching a
 * byte twice, damage caught before publish, retries, the shared throttle,
 * a snapshot replaced mid-copy, and bad requests answered with clear errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RaftError, type RaftErrorCode } from "../src/errors.js";
import type { SnapshotMeta } from "../src/core/types.js";
import { copySnapshot, serveSnapshots, SnapshotThrottle, type CopySnapshotOptions, type SnapshotService } from "../src/node/snapshot-copier.js";
import { CHUNK_SERVICE, MANIFEST_SERVICE, decodeChunkRequest, encodeChunkRequest, encodeManifestRequest } from "../src/node/snapshot-copy-codec.js";
import type { TransferProgress } from "../src/storage/snapshot-receiver.js";
import { SnapshotStore, type SnapshotRef } from "../src/storage/snapshot-store.js";
import { MemoryNetwork, type MemoryTransport } from "../src/transport/memory-transport.js";
import { TcpTransport } from "../src/transport/tcp-transport.js";
import type { RequestHandler, Transport } from "../src/transport/transport.js";

const TEST_TIMEOUT_MS = 10_000;
const GROUP = "group-1";
const CHUNK_BYTES = 32 * 1024;
const FAST_RETRIES = { retries: 3, retryDelayMs: 1 };
const meta = (index: number): SnapshotMeta => ({ index, term: 3, conf: { voters: ["10.0.0.1:1", "10.0.0.2:1"], outgoing: [], learners: [] } });

/** Several chunks, an exact multiple of the chunk size, an empty file, and a small one. */
function sampleFiles(): Record<string, Uint8Array> {
  return {
    "a-state.bin": randomBytes(7 * CHUNK_BYTES + 1234),
    "b-empty": new Uint8Array(0),
    "c-index.bin": randomBytes(2 * CHUNK_BYTES),
    "d-meta.json": Buffer.from('{"k":"v"}'),
  };
}

async function publish(store: SnapshotStore, index: number, files: Record<string, Uint8Array>): Promise<SnapshotRef> {
  const writer = await store.beginSnapshot(meta(index));
  for (const [name, data] of Object.entries(files)) await writer.addFile(name, data);
  return writer.publish();
}

interface Setup {
  readonly network: MemoryNetwork;
  readonly leader: MemoryTransport;
  readonly follower: MemoryTransport;
  readonly leaderStore: SnapshotStore;
  readonly followerStore: SnapshotStore;
  readonly service: SnapshotService;
  /** `group@requesterAddress` for each manifest or chunk served, in order. */
  readonly served: string[];
  readonly root: string;
}

/** A leader and a follower in memory, each with a store in a temp folder removed afterwards. */
async function withSetup(
  body: (setup: Setup) => Promise<void>,
  options: { keepCount?: number; wrapLeader?: (transport: Transport) => Transport; idleReaderTimeoutMs?: number } = {},
): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-copy-"));
  const network = new MemoryNetwork();
  const leader = network.createTransport({ clusterName: "test", address: "10.0.0.1:7000" });
  const follower = network.createTransport({ clusterName: "test", address: "10.0.0.2:7000" });
  try {
    const leaderStore = await SnapshotStore.open(join(root, "leader"), { keepCount: options.keepCount ?? 2 });
    const followerStore = await SnapshotStore.open(join(root, "follower"));
    const served: string[] = [];
    const service = serveSnapshots(options.wrapLeader?.(leader) ?? leader, {
      resolveStore: (groupId) => (groupId === GROUP ? leaderStore : undefined),
      onServed: (groupId, requesterAddress) => void served.push(`${groupId}@${requesterAddress}`),
      maxChunkBytes: 4 * CHUNK_BYTES,
      ...(options.idleReaderTimeoutMs === undefined ? {} : { idleReaderTimeoutMs: options.idleReaderTimeoutMs }),
    });
    try {
      await body({ network, leader, follower, leaderStore, followerStore, service, served, root });
    } finally {
      await service.close();
    }
  } finally {
    await Promise.all([leader.close(), follower.close()]);
    await rm(root, { recursive: true, force: true });
  }
}

function copyOptions(setup: Setup, index: number, overrides: Partial<CopySnapshotOptions> = {}): CopySnapshotOptions {
  return {
    transport: setup.follower,
    leaderAddress: setup.leader.localAddress,
    groupId: GROUP,
    index,
    store: setup.followerStore,
    chunkBytes: CHUNK_BYTES,
    ...FAST_RETRIES,
    ...overrides,
  };
}

/** `transport` with its request() replaced; everything else goes to the real one. */
function withRequest(transport: Transport, request: Transport["request"]): Transport {
  return new Proxy(transport, {
    get: (target, property) => (property === "request" ? request : bound(target, property)),
  });
}

/** `transport` whose handlers are wrapped as they are registered. */
function withHandle(transport: Transport, wrap: (service: string, handler: RequestHandler) => RequestHandler): Transport {
  const handle: Transport["handle"] = (service, handler) => transport.handle(service, wrap(service, handler));
  return new Proxy(transport, {
    get: (target, property) => (property === "handle" ? handle : bound(target, property)),
  });
}

function bound(target: Transport, property: string | symbol): unknown {
  const value: unknown = Reflect.get(target, property);
  return typeof value === "function" ? value.bind(target) : value;
}

/** Counts the bytes of chunks the follower asks for. */
function countingRequests(transport: Transport): { transport: Transport; requestedBytes: () => number } {
  let requestedBytes = 0;
  const counted = withRequest(transport, (address, service, payload, options) => {
    if (service === CHUNK_SERVICE) requestedBytes += decodeChunkRequest(Buffer.from(payload)).lengthBytes;
    return transport.request(address, service, payload, options);
  });
  return { transport: counted, requestedBytes: () => requestedBytes };
}

async function assertSameSnapshot(source: SnapshotRef, copy: SnapshotRef): Promise<void> {
  assert.deepEqual(copy.meta, source.meta);
  assert.deepEqual(copy.manifest, source.manifest);
  for (const file of source.manifest.files) {
    assert.ok((await readFile(join(copy.dir, file.name))).equals(await readFile(join(source.dir, file.name))), `${file.name} differs`);
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail("expected a rejection"),
    (error: unknown) => error,
  );
}

async function expectCode(promise: Promise<unknown>, codes: RaftErrorCode | RaftErrorCode[], pattern: RegExp): Promise<RaftError> {
  const error = await rejection(promise);
  assert.ok(error instanceof RaftError, `expected a RaftError, got ${String(error)}`);
  assert.ok(([] as RaftErrorCode[]).concat(codes).includes(error.code), error.message);
  assert.match(error.message, pattern);
  return error;
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test("a multi-file snapshot (multi-chunk files, an empty one) arrives identical; progress runs from 0 to bytesTotal", { timeout: TEST_TIMEOUT_MS }, () =>
  withSetup(async (setup) => {
    const source = await publish(setup.leaderStore, 10, sampleFiles());
    const progress: TransferProgress[] = [];
    const copy = await copySnapshot(copyOptions(setup, 10, { onProgress: (p) => progress.push(p) }));
    await assertSameSnapshot(source, copy);
    await assertSameSnapshot(source, (await setup.followerStore.latest())!);

    const bytesTotal = source.manifest.files.reduce((sum, file) => sum + file.sizeBytes, 0);
    assert.deepEqual(progress[0], { bytesDone: 0, bytesTotal });
    assert.deepEqual(progress.at(-1), { bytesDone: bytesTotal, bytesTotal });
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.bytesDone > progress[i - 1]!.bytesDone, "progress only grows");
    assert.equal(progress.length, 1 + 8 + 2 + 1, "one report at the start and one per chunk");
    assert.deepEqual(setup.served, Array(1 + 8 + 2 + 1).fill(`${GROUP}@10.0.0.2:7000`), "the leader hears of the manifest and each chunk served, and to whom");
    assert.equal(setup.service.openReaders(), 1, "the leader keeps the reader open until it idles");

    // The follower already has it: the store refuses, and the error says which copy failed.
    await expectCode(copySnapshot(copyOptions(setup, 10)), "EPERM", /index 10 of group "group-1" from 10\.0\.0\.1:7000: .*already published/);
  }),
);

test("a copy broken by the leader's transport closing resumes on the next call, fetching only the missing bytes", { timeout: TEST_TIMEOUT_MS }, () =>
  withSetup(async (setup) => {
    const source = await publish(setup.leaderStore, 10, sampleFiles());
    let durable: TransferProgress | undefined;
    let leaderClosed: Promise<void> | undefined;
    const first = copySnapshot(
      copyOptions(setup, 10, {
        onProgress: (progress) => {
          durable = progress;
          if (progress.bytesDone >= 3 * CHUNK_BYTES) leaderClosed ??= setup.leader.close();
        },
      }),
    );
    await expectCode(first, ["EAGAIN", "ESHUTDOWN"], /index 10 of group "group-1"/);
    await leaderClosed;
    assert.ok(durable !== undefined && durable.bytesDone >= 3 * CHUNK_BYTES && durable.bytesDone < durable.bytesTotal);

    // The leader comes back at the same address.
    await setup.service.close();
    const leaderAgain = setup.network.createTransport({ clusterName: "test", address: setup.leader.localAddress });
    const service = serveSnapshots(leaderAgain, { resolveStore: () => setup.leaderStore });
    try {
      const counting = countingRequests(setup.follower);
      const resumed: TransferProgress[] = [];
      const copy = await copySnapshot(copyOptions(setup, 10, { transport: counting.transport, onProgress: (p) => resumed.push(p) }));
      assert.deepEqual(resumed[0], durable, "the second call starts where the first one's last durable chunk ended");
      assert.equal(counting.requestedBytes(), durable.bytesTotal - durable.bytesDone);
      await assertSameSnapshot(source, copy);
    } finally {
      await service.close();
      await leaderAgain.close();
    }
  }),
);

test("a copy aborted by its signal rejects with the signal's reason and resumes on the next call", { timeout: TEST_TIMEOUT_MS }, () =>
  withSetup(async (setup) => {
    const source = await publish(setup.leaderStore, 10, sampleFiles());
    const controller = new AbortController();
    const reason = new Error("the node is shutting down");
    let durable: TransferProgress | undefined;
    const first = copySnapshot(
      copyOptions(setup, 10, {
        signal: controller.signal,
        onProgress: (progress) => {
          durable = progress;
          if (progress.bytesDone >= progress.bytesTotal / 2) controller.abort(reason);
        },
      }),
    );
    assert.equal(await rejection(first), reason);
    assert.ok(durable !== undefined && durable.bytesDone < durable.bytesTotal);

    const counting = countingRequests(setup.follower);
    const copy = await copySnapshot(copyOptions(setup, 10, { transport: counting.transport }));
    assert.equal(counting.requestedBytes(), durable.bytesTotal - durable.bytesDone);
    await assertSameSnapshot(source, copy);
    await assert.rejects(copySnapshot(copyOptions(setup, 10, { signal: AbortSignal.abort() })), { name: "AbortError" });
  }),
);

test("a byte flipped on the way is caught at publish (ECORRUPT); the data is discarded and a fresh copy succeeds", { timeout: TEST_TIMEOUT_MS }, () =>
  withSetup(async (setup) => {
    const source = await publish(setup.leaderStore, 10, sampleFiles());
    let chunks = 0;
    const flipping = withRequest(setup.follower, async (address, service, payload, options) => {
      const answer = await setup.follower.request(address, service, payload, options);
      if (service === CHUNK_SERVICE && ++chunks === 2) answer[100] = answer[100]! ^ 0x40;
      return answer;
    });
    await expectCode(copySnapshot(copyOptions(setup, 10, { transport: flipping })), "ECORRUPT", /index 10 .*a-state\.bin/);
    assert.deepEqual(await setup.followerStore.publishedIndexes(), []);
    assert.deepEqual(await readdir(setup.followerStore.dir), [], "the damaged receive was discarded");

    const progress: TransferProgress[] = [];
    const copy = await copySnapshot(copyOptions(setup, 10, { onProgress: (p) => progress.push(p) }));
    assert.equal(progress[0]!.bytesDone, 0, "the fresh copy starts over");
    await assertSameSnapshot(source, copy);
  }),
);

/** Makes the chunk service fail (EBUSY) the first `failures(offset)` attempts at each range. */
function flakyChunks(failures: (fileName: string, offset: number) => number): { wrap: (transport: Transport) => Transport; injected: () => number } {
  const attempts = new Map<string, number>();
  let injected = 0;
  const wrap = (transport: Transport): Transport =>
    withHandle(transport, (service, handler) =>
      service !== CHUNK_SERVICE
        ? handler
        : async (payload, from) => {
            const { fileName, offset } = decodeChunkRequest(payload);
            const key = `${fileName}@${offset}`;
            const attempt = (attempts.get(key) ?? 0) + 1;
            attempts.set(key, attempt);
            if (attempt <= failures(fileName, offset)) {
              injected++;
              throw new RaftError("EBUSY", `flaky: attempt ${attempt} at ${key}`);
            }
            return handler(payload, from);
          },
    );
  return { wrap, injected: () => injected };
}

test("retries: chunks failing their first attempts still arrive; more failures than retries reject with a clear error", { timeout: TEST_TIMEOUT_MS }, async () => {
  const flaky = flakyChunks((_, offset) => (offset / CHUNK_BYTES) % 3 === 0 ? 3 : 0);
  await withSetup(
    async (setup) => {
      const source = await publish(setup.leaderStore, 10, sampleFiles());
      await assertSameSnapshot(source, await copySnapshot(copyOptions(setup, 10)));
      assert.ok(flaky.injected() >= 9, `expected at least 9 injected failures, got ${flaky.injected()}`);
    },
    { wrapLeader: flaky.wrap },
  );

  const broken = flakyChunks((fileName, offset) => (fileName === "c-index.bin" && offset === CHUNK_BYTES ? 4 : 0));
  await withSetup(
    async (setup) => {
      await publish(setup.leaderStore, 10, sampleFiles());
      await expectCode(
        copySnapshot(copyOptions(setup, 10)),
        "EBUSY",
        /index 10 of group "group-1" from 10\.0\.0\.1:7000: the chunk of c-index\.bin at offset 32768 \(32768 bytes\) failed 4 times \(1 attempt and 3 retries\); the last failure: flaky: attempt 4/,
      );
    },
    { wrapLeader: broken.wrap },
  );
});

test("throttle: 1 MiB at 4 MiB/s takes at least ~250 ms, and copies sharing a throttle share its rate", { timeout: TEST_TIMEOUT_MS }, () =>
  withSetup(async (setup) => {
    const mebibyte = 1024 * 1024;
    await publish(setup.leaderStore, 10, { "data.bin": randomBytes(mebibyte) });
    const throttle = new SnapshotThrottle(4 * mebibyte);
    const startedMs = performance.now();
    await copySnapshot(copyOptions(setup, 10, { throttle, chunkBytes: 128 * 1024 }));
    const elapsedMs = performance.now() - startedMs;
    assert.ok(elapsedMs >= 225, `1 MiB at 4 MiB/s took only ${elapsedMs.toFixed(0)} ms`);

    // Two followers at once through the same throttle: 2 x 512 KiB at 4 MiB/s.
    await publish(setup.leaderStore, 11, { "data.bin": randomBytes(mebibyte / 2) });
    const otherStore = await SnapshotStore.open(join(setup.root, "follower-2"));
    const bothStartedMs = performance.now();
    await Promise.all([
      copySnapshot(copyOptions(setup, 11, { throttle, chunkBytes: 128 * 1024 })),
      copySnapshot(copyOptions(setup, 11, { throttle, chunkBytes: 128 * 1024, store: otherStore })),
    ]);
    const bothElapsedMs = performance.now() - bothStartedMs;
    assert.ok(bothElapsedMs >= 225, `2 x 512 KiB sharing 4 MiB/s took only ${bothElapsedMs.toFixed(0)} ms`);
    assert.throws(() => new SnapshotThrottle(-1), /whole number of bytes per second/);
  }),
);

test("the leader's snapshot replaced mid-copy: the copy fails naming the index, and the old snapshot can be pruned", { timeout: TEST_TIMEOUT_MS }, async () => {
  let replace: (() => Promise<unknown>) | null = null;
  let chunkRequests = 0;
  const replacing = (transport: Transport): Transport =>
    withHandle(transport, (service, handler) =>
      service !== CHUNK_SERVICE
        ? handler
        : async (payload, from) => {
            if (++chunkRequests === 3) await replace!();
            return handler(payload, from);
          },
    );
  await withSetup(
    async (setup) => {
      await publish(setup.leaderStore, 10, sampleFiles());
      const newer = sampleFiles();
      replace = () => publish(setup.leaderStore, 20, newer);
      await expectCode(copySnapshot(copyOptions(setup, 10)), "EPERM", /index 10 of group "group-1" .*no longer served: a newer one at index 20 replaced it/);
      // keepCount 1: the old snapshot goes as soon as its reader is closed.
      assert.deepEqual(await setup.leaderStore.publishedIndexes(), [20]);
      assert.equal(setup.service.openReaders(), 0);
      const copy = await copySnapshot(copyOptions(setup, 20));
      assert.deepEqual(copy.meta, meta(20));
      assert.deepEqual(await readdir(setup.followerStore.dir), ["snapshot_00000000000000000020"], "the abandoned receive of index 10 is gone");
    },
    { keepCount: 1, wrapLeader: replacing },
  );
});

test("an idle reader is closed after idleReaderTimeoutMs, letting retention remove its snapshot", { timeout: TEST_TIMEOUT_MS }, () =>
  withSetup(
    async (setup) => {
      await publish(setup.leaderStore, 10, sampleFiles());
      await setup.follower.request(setup.leader.localAddress, MANIFEST_SERVICE, encodeManifestRequest({ groupId: GROUP, index: 10 }));
      assert.equal(setup.service.openReaders(), 1);
      await publish(setup.leaderStore, 20, sampleFiles());
      assert.deepEqual(await setup.leaderStore.publishedIndexes(), [10, 20], "pinned while its reader is open");
      await eventually("the idle reader to close and index 10 to be pruned", async () => (await setup.leaderStore.publishedIndexes()).length === 1);
      assert.equal(setup.service.openReaders(), 0);
    },
    { keepCount: 1, idleReaderTimeoutMs: 50 },
  ),
);

test("bad requests get clear errors, and the service goes on serving", { timeout: TEST_TIMEOUT_MS }, () =>
  withSetup(async (setup) => {
    await publish(setup.leaderStore, 10, sampleFiles());
    const ask = (service: string, payload: Uint8Array) => setup.follower.request(setup.leader.localAddress, service, payload);
    const chunk = (fileName: string, offset: number, lengthBytes: number, groupId = GROUP, index = 10) =>
      ask(CHUNK_SERVICE, encodeChunkRequest({ groupId, index, fileName, offset, lengthBytes }));

    await expectCode(ask(MANIFEST_SERVICE, encodeManifestRequest({ groupId: "nope", index: 10 })), "EINVAL", /group "nope" is not served by this process/);
    await expectCode(ask(MANIFEST_SERVICE, encodeManifestRequest({ groupId: GROUP, index: 99 })), "EINVAL", /no snapshot at index 99 .*newest is at index 10/);
    await expectCode(ask(MANIFEST_SERVICE, encodeManifestRequest({ groupId: GROUP, index: 0 })), "EINVAL", /index 0/);
    await expectCode(ask(MANIFEST_SERVICE, Buffer.from([1, 2, 3])), "ECORRUPT", /snapshot manifest request is truncated/);
    await expectCode(chunk("a-state.bin", 0, 10, "nope"), "EINVAL", /group "nope"/);
    await expectCode(chunk("../../etc/passwd", 0, 10), "EINVAL", /"..\/..\/etc\/passwd" is not a file of the snapshot at index 10/);
    await expectCode(chunk("_manifest", 0, 10), "EINVAL", /"_manifest" is not a file of the snapshot/);
    await expectCode(chunk("d-meta.json", 5, 10), "EINVAL", /range \[5, 15\) is past the end of d-meta\.json \(9 bytes\)/);
    await expectCode(chunk("a-state.bin", 0, 4 * CHUNK_BYTES + 1), "EINVAL", /at most 131072 bytes a request/);
    await expectCode(chunk("x".repeat(300), 0, 1), "EINVAL", /file name of a snapshot request must be 1 to 255 bytes/);

    const bytes = await chunk("d-meta.json", 0, 9);
    assert.equal(bytes.toString(), '{"k":"v"}');
    assert.throws(() => serveSnapshots(setup.follower, { resolveStore: () => undefined, maxChunkBytes: 0 }), /maxChunkBytes must be an integer from 1/);
    await expectCode(copySnapshot(copyOptions(setup, 10, { chunkBytes: 0 })), "EINVAL", /chunkBytes must be an integer from 1/);
    await expectCode(copySnapshot(copyOptions(setup, 10, { chunkBytes: 5 * CHUNK_BYTES })), "EINVAL", /from 10\.0\.0\.1:7000: .*at most 131072 bytes a request/);
  }),
);

test("over real TCP on 127.0.0.1: the snapshot arrives identical", { timeout: TEST_TIMEOUT_MS }, async () => {
  const root = await mkdtemp(join(tmpdir(), "tsraft-copy-tcp-"));
  const leader = await TcpTransport.start({ clusterName: "test", listen: { host: "127.0.0.1", port: 0 } });
  const follower = await TcpTransport.start({ clusterName: "test" });
  let service: SnapshotService | undefined;
  try {
    const leaderStore = await SnapshotStore.open(join(root, "leader"));
    const followerStore = await SnapshotStore.open(join(root, "follower"));
    service = serveSnapshots(leader, { resolveStore: (groupId) => (groupId === GROUP ? leaderStore : undefined) });
    const source = await publish(leaderStore, 10, sampleFiles());
    const copy = await copySnapshot({ transport: follower, leaderAddress: leader.localAddress!, groupId: GROUP, index: 10, store: followerStore });
    await assertSameSnapshot(source, copy);
  } finally {
    await service?.close();
    await Promise.all([leader.close(), follower.close()]);
    await rm(root, { recursive: true, force: true });
  }
});
