/**
 * SnapshotStore (§7 log compaction; §7 InstallSnapshot in chunks): publish
 * by rename, keep-last-N, checksums caught on read, byte-range reads for the
 * leader, and a follower's receive that resumes after a crash or a broken
 * connection without skipping or corrupting a byte.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import type { SnapshotMeta } from "../src/core/types.js";
import { RaftError, type RaftErrorCode } from "../src/errors.js";
import { decodeManifest, encodeManifest, MANIFEST_FILE_NAME, type SnapshotManifest } from "../src/storage/snapshot-manifest.js";
import { SnapshotStore, type SnapshotRef } from "../src/storage/snapshot-store.js";

const CONF = { voters: ["a", "b", "c"], outgoing: [], learners: ["d"] };
const meta = (index: number, term = 2): SnapshotMeta => ({ index, term, conf: CONF });

async function withRoot(body: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-snap-"));
  try {
    await body(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function expectCode(promise: Promise<unknown>, code: RaftErrorCode, pattern: RegExp = /./): Promise<RaftError> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof RaftError, `expected a RaftError ${code}, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, pattern);
  return error;
}

/** Publishes a snapshot at `index` with the given files (half through addFile, half written directly). */
async function publish(store: SnapshotStore, index: number, files: Record<string, Uint8Array>): Promise<SnapshotRef> {
  const writer = await store.beginSnapshot(meta(index));
  for (const [i, [name, data]] of Object.entries(files).entries()) {
    if (i % 2 === 0) await writer.addFile(name, data);
    else await writeFile(join(writer.dir, name), data);
  }
  return writer.publish();
}

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"));

test("publish then latest() round-trips meta and files, across reopen; folders and files are private", () =>
  withRoot(async (root) => {
    const dir = join(root, "snapshots");
    const store = await SnapshotStore.open(dir);
    assert.equal(await store.latest(), null);
    const files = { "kv.data": bytes("key=value\n".repeat(100)), "empty.bin": new Uint8Array(0), "z-index": bytes("z") };
    const ref = await publish(store, 5, files);
    assert.equal(ref.dir, join(dir, "snapshot_00000000000000000005"));
    assert.deepEqual(ref.manifest.files.map((f) => [f.name, f.sizeBytes]), [["empty.bin", 0], ["kv.data", 1000], ["z-index", 1]]);

    const reopened = await (await SnapshotStore.open(dir)).latest();
    assert.deepEqual(reopened?.meta, meta(5));
    assert.deepEqual(reopened?.manifest, ref.manifest);
    for (const [name, data] of Object.entries(files)) assert.deepEqual(new Uint8Array(await readFile(join(ref.dir, name))), data);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(ref.dir, "kv.data"))).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ["snapshot_00000000000000000005"]);
  }));

test("an empty snapshot publishes; older or equal indexes are refused with EPERM", () =>
  withRoot(async (root) => {
    const store = await SnapshotStore.open(root);
    await publish(store, 3, {});
    assert.deepEqual((await store.latest())?.manifest.files, []);
    await expectCode(store.beginSnapshot(meta(3)), "EPERM", /index 3 is already published/);
    const writer = await store.beginSnapshot(meta(4));
    await publish(store, 9, {});
    await expectCode(writer.publish(), "EPERM", /index 9/);
    await writer.abort();
    assert.deepEqual(await readdir(root), ["snapshot_00000000000000000003", "snapshot_00000000000000000009"]);
  }));

test("the writer refuses bad names, subfolders and use after publish or abort", () =>
  withRoot(async (root) => {
    const store = await SnapshotStore.open(root);
    await expectCode(store.beginSnapshot({ index: 0, term: 1, conf: CONF }), "EINVAL", /index 0/);
    const writer = await store.beginSnapshot(meta(1));
    for (const name of ["../escape", "/etc/passwd", "a/b", "..", ".hidden", MANIFEST_FILE_NAME, "", "a\\b", "x..y"]) {
      await expectCode(writer.addFile(name, bytes("x")), "EINVAL");
    }
    await mkdir(join(writer.dir, "sub"));
    await expectCode(writer.publish(), "EINVAL", /"sub" is not a regular file/);
    await rm(join(writer.dir, "sub"), { recursive: true });
    await writer.addFile("ok", bytes("fine"));
    await writer.publish();
    await expectCode(writer.addFile("late", bytes("x")), "EPERM");
    const aborted = await store.beginSnapshot(meta(2));
    await aborted.abort();
    await expectCode(aborted.publish(), "EPERM");
    assert.deepEqual(await readdir(root), ["snapshot_00000000000000000001"]);
  }));

test("keeps the newest keepCount snapshots; a snapshot being read is kept until its reader closes", () =>
  withRoot(async (root) => {
    await expectCode(SnapshotStore.open(root, { keepCount: 0 }), "EINVAL");
    const store = await SnapshotStore.open(root); // keepCount 2
    for (const index of [1, 2, 3]) await publish(store, index, { f: bytes(`v${index}`) });
    assert.deepEqual(await store.publishedIndexes(), [2, 3]);

    const reader = await store.openReader(2);
    await publish(store, 4, { f: bytes("v4") });
    await publish(store, 5, { f: bytes("v5") });
    assert.deepEqual(await store.publishedIndexes(), [2, 4, 5], "index 2 is pinned by its reader");
    assert.deepEqual(Buffer.from(await reader.read("f", 0, 2)).toString(), "v2");
    await reader.close();
    assert.deepEqual(await store.publishedIndexes(), [4, 5]);
    await expectCode(store.openReader(2), "EINVAL", /no published snapshot at index 2/);

    const three = await SnapshotStore.open(join(root, "three"), { keepCount: 3 });
    for (const index of [10, 20, 30, 40, 50]) await publish(three, index, {});
    assert.deepEqual(await three.publishedIndexes(), [30, 40, 50]);
  }));

test("a crash at any step leaves the previous snapshot or the new one; leftovers are removed on open", () =>
  withRoot(async (root) => {
    const store = await SnapshotStore.open(root);
    await publish(store, 1, { f: bytes("one") });
    // Crash while the state machine writes its files, and after the manifest but before the rename.
    const partial = await store.beginSnapshot(meta(2));
    await partial.addFile("f", bytes("tw"));
    const unrenamed = await store.beginSnapshot(meta(3));
    await unrenamed.addFile("f", bytes("three"));
    await writeFile(join(unrenamed.dir, MANIFEST_FILE_NAME), encodeManifest({ meta: meta(3), files: [] }));
    // A crash while pruning (the folder was renamed away, half deleted), and a receive the snapshot made stale.
    await mkdir(join(root, "tmp_trash_snapshot_00000000000000000000_1-1"));
    await mkdir(join(root, "receiving_00000000000000000001"));

    const reopened = await SnapshotStore.open(root);
    assert.deepEqual((await reopened.latest())?.meta, meta(1));
    assert.deepEqual(await readdir(root), ["snapshot_00000000000000000001"]);
    // After the rename, the new snapshot is complete (its files were fsynced before).
    const done = await reopened.beginSnapshot(meta(2));
    await done.addFile("f", bytes("two"));
    await done.publish();
    assert.deepEqual((await (await SnapshotStore.open(root)).latest())?.meta, meta(2));
  }));

test("damage to the newest snapshot is ECORRUPT naming the file, never a silent fallback", () =>
  withRoot(async (root) => {
    const store = await SnapshotStore.open(root);
    await publish(store, 1, { f: bytes("old") });
    const ref = await publish(store, 2, { data: bytes("0123456789".repeat(50)), more: bytes("abc") });
    const manifestPath = join(ref.dir, MANIFEST_FILE_NAME);
    const goodManifest = await readFile(manifestPath);
    const goodData = await readFile(join(ref.dir, "data"));
    const restore = async (): Promise<void> => {
      await writeFile(manifestPath, goodManifest);
      await writeFile(join(ref.dir, "data"), goodData);
    };

    for (const offset of [0, 5, 9, 13, 16, 40, goodManifest.byteLength - 1]) {
      const bad = Buffer.from(goodManifest);
      bad[offset]! ^= 0x01;
      await writeFile(manifestPath, bad);
      await expectCode(store.latest(), "ECORRUPT", /_manifest.*Remove this snapshot's folder|_manifest.*newer tsraft/);
    }
    await writeFile(manifestPath, goodManifest.subarray(0, 30));
    await expectCode(store.latest(), "ECORRUPT", /_manifest: damaged tsraft snapshot manifest: it is truncated/);
    const future = Buffer.from(goodManifest);
    future.writeUInt32LE(7, 4);
    await writeFile(manifestPath, future);
    await expectCode(store.latest(), "ECORRUPT", /format version 7, written by a newer tsraft/);
    await rm(manifestPath);
    await expectCode(store.latest(), "ECORRUPT", /manifest is missing/);
    await restore();

    for (const offset of [0, 250, goodData.byteLength - 1]) {
      const bad = Buffer.from(goodData);
      bad[offset]! ^= 0x80;
      await writeFile(join(ref.dir, "data"), bad);
      await expectCode(store.latest(), "ECORRUPT", /snapshot_00000000000000000002\/data: checksum \d+ does not match/);
    }
    await truncate(join(ref.dir, "data"), 100);
    await expectCode(store.latest(), "ECORRUPT", /data: 100 bytes, the snapshot manifest says 500/);
    await rm(join(ref.dir, "data"));
    await expectCode(store.latest(), "ECORRUPT", /data: listed in the snapshot manifest but missing/);
    await restore();
    assert.deepEqual((await store.latest())?.meta, meta(2));

    await rename(join(root, "snapshot_00000000000000000001"), join(root, "snapshot_00000000000000000007"));
    await expectCode(store.latest(), "ECORRUPT", /manifest is for index 1 but its folder is named for index 7/);
  }));

test("the reader serves exact ranges of manifest files and refuses bad names and ranges (EINVAL)", () =>
  withRoot(async (root) => {
    const store = await SnapshotStore.open(root);
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
    await publish(store, 4, { data, empty: new Uint8Array(0) });
    await writeFile(join(root, "secret"), "not for peers");
    const reader = await store.openReader(4);
    assert.deepEqual(reader.manifest.meta, meta(4));
    assert.deepEqual(Buffer.from(await reader.read("data", 0, 300)), data);
    assert.deepEqual(Buffer.from(await reader.read("data", 17, 100)), data.subarray(17, 117));
    assert.equal((await reader.read("data", 300, 0)).byteLength, 0);
    assert.equal((await reader.read("empty", 0, 0)).byteLength, 0);

    for (const name of ["../secret", "/etc/passwd", "data/../data", "..", MANIFEST_FILE_NAME, "missing", "DATA"]) {
      await expectCode(reader.read(name, 0, 1), "EINVAL", /is not a file of the snapshot at index 4/);
    }
    await expectCode(reader.read("data", 299, 2), "EINVAL", /past the end of data \(300 bytes\)/);
    await expectCode(reader.read("data", 301, 0), "EINVAL", /past the end/);
    await expectCode(reader.read("empty", 0, 1), "EINVAL", /past the end/);
    for (const [offset, length] of [[-1, 1], [0, -1], [0.5, 1], [0, Number.NaN], [0, 2 ** 40]] as const) {
      await expectCode(reader.read("data", offset, length), "EINVAL", /bad range/);
    }
    await reader.close();
    await expectCode(reader.read("data", 0, 1), "EPERM");
  }));

/** Files of a leader's snapshot for the transfer tests. */
async function leaderSnapshot(root: string, files: readonly Uint8Array[]): Promise<SnapshotStore> {
  const leader = await SnapshotStore.open(join(root, "leader"));
  const named: Record<string, Uint8Array> = {};
  files.forEach((data, i) => (named[`part-${i}.bin`] = data));
  await publish(leader, 42, named);
  return leader;
}

test("a receive checks its input: order, names, ranges, completeness, one at a time", () =>
  withRoot(async (root) => {
    const leader = await leaderSnapshot(root, [bytes("hello"), new Uint8Array(0), bytes("world!")]);
    const reader = await leader.openReader(42);
    const wire = encodeManifest(reader.manifest);
    const follower = await SnapshotStore.open(join(root, "follower"));
    const rw = await follower.beginReceive(decodeManifest(wire, "leader a"));
    assert.deepEqual(rw.resumePoint(), { fileName: "part-0.bin", offset: 0 });
    assert.deepEqual(rw.progress(), { bytesDone: 0, bytesTotal: 11 });
    await expectCode(follower.beginReceive(reader.manifest), "EBUSY");
    await expectCode(rw.write("part-2.bin", 0, bytes("world!")), "EINVAL", /expected part-0.bin at offset 0/);
    await expectCode(rw.write("../part-0.bin", 0, bytes("h")), "EINVAL", /not a file of the snapshot/);
    await expectCode(rw.write("part-0.bin", 1, bytes("ello")), "EINVAL", /out of order/);
    await expectCode(rw.write("part-0.bin", 0, bytes("hello!")), "EINVAL", /runs past its size of 5 bytes/);
    await rw.write("part-0.bin", 0, bytes("hel"));
    await expectCode(rw.publish(), "EPERM", /incomplete \(3 of 11 bytes\): next is part-0.bin at offset 3/);
    await rw.write("part-0.bin", 3, bytes("lo"));
    assert.deepEqual(rw.resumePoint(), { fileName: "part-2.bin", offset: 0 }, "the empty file needs no chunk");
    await rw.write("part-2.bin", 0, bytes("world!"));
    assert.equal(rw.resumePoint(), null);
    assert.deepEqual(rw.progress(), { bytesDone: 11, bytesTotal: 11 });
    await expectCode(rw.write("part-2.bin", 6, bytes("x")), "EINVAL", /has arrived; publish it/);
    const ref = await rw.publish();
    assert.deepEqual(ref.manifest, reader.manifest);
    assert.deepEqual((await follower.latest())?.manifest, reader.manifest);
    assert.equal((await readFile(join(ref.dir, "part-1.bin"))).byteLength, 0);
    await expectCode(follower.beginReceive(reader.manifest), "EPERM", /index 42 is already published/);
    await expectCode(
      follower.beginReceive({ ...reader.manifest, files: [{ name: "../x", sizeBytes: 1, crc32c: 0 }] }),
      "EINVAL",
      /invalid snapshot manifest/,
    );
    await expectCode(Promise.resolve().then(() => decodeManifest(wire.subarray(0, 20), "leader a")), "ECORRUPT", /leader a: .*truncated/);
    await reader.close();
  }));

test("a corrupted chunk is caught at publish: ECORRUPT naming the file, and the transfer starts over", () =>
  withRoot(async (root) => {
    const leader = await leaderSnapshot(root, [bytes("a".repeat(1000)), bytes("b".repeat(1000))]);
    const reader = await leader.openReader(42);
    const follower = await SnapshotStore.open(join(root, "follower"));
    const rw = await follower.beginReceive(reader.manifest);
    for (const name of ["part-0.bin", "part-1.bin"]) {
      for (let offset = 0; offset < 1000; offset += 250) {
        const chunk = Buffer.from(await reader.read(name, offset, 250));
        if (name === "part-1.bin" && offset === 500) chunk[3]! ^= 0x04;
        await rw.write(name, offset, chunk);
      }
    }
    await expectCode(rw.publish(), "ECORRUPT", /part-1\.bin: checksum \d+ does not match.*leader must send it again/);
    assert.equal(await follower.latest(), null);
    assert.deepEqual(await readdir(join(root, "follower")), []);
    const again = await follower.beginReceive(reader.manifest);
    assert.deepEqual(again.resumePoint(), { fileName: "part-0.bin", offset: 0 });
    await again.abort();
    await reader.close();
  }));

test("a new manifest discards an unfinished receive of another snapshot", () =>
  withRoot(async (root) => {
    const follower = await SnapshotStore.open(root);
    const first: SnapshotManifest = { meta: meta(10), files: [{ name: "f", sizeBytes: 4, crc32c: 0 }] };
    const rw = await follower.beginReceive(first);
    await rw.write("f", 0, bytes("ab"));
    await rw.close();
    const resumed = await follower.beginReceive(first);
    assert.deepEqual(resumed.resumePoint(), { fileName: "f", offset: 2 });
    await resumed.close();
    const second = await follower.beginReceive({ meta: meta(11), files: first.files });
    assert.deepEqual(second.resumePoint(), { fileName: "f", offset: 0 });
    assert.deepEqual(await readdir(root), ["receiving_00000000000000000011"]);
    await second.close();
  }));

/** A crash (or lost connection) during the transfer, and what the disk may hold afterwards. */
type Interruption = "close" | "crash-with-unsynced-tail" | "crash-during-progress-save" | "disk-lost-a-file";

test("a chunked transfer interrupted at random points resumes and ends with identical files (fast-check)", () =>
  withRoot(async (root) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000, size: "max" }), { minLength: 0, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 8 }),
        fc.array(
          fc.record({
            afterChunks: fc.integer({ min: 0, max: 3 }),
            kind: fc.constantFrom<Interruption>("close", "crash-with-unsynced-tail", "crash-during-progress-save", "disk-lost-a-file"),
          }),
          { maxLength: 5 },
        ),
        async (files, chunkSizes, interruptions) => {
          const runRoot = join(root, `run-${run++}`);
          const leader = await leaderSnapshot(runRoot, files);
          const reader = await leader.openReader(42);
          const followerDir = join(runRoot, "follower");
          let follower = await SnapshotStore.open(followerDir);
          let rw = await follower.beginReceive(reader.manifest);
          let chunk = 0;
          const pending = [...interruptions];
          for (;;) {
            const next = rw.resumePoint();
            if (next === null) break;
            const entry = reader.manifest.files.find((f) => f.name === next.fileName)!;
            const length = Math.min(chunkSizes[chunk % chunkSizes.length]!, entry.sizeBytes - next.offset);
            await rw.write(next.fileName, next.offset, await reader.read(next.fileName, next.offset, length));
            chunk++;
            const before = rw.progress();
            if (pending.length > 0 && pending[0]!.afterChunks <= 0) {
              const { kind } = pending.shift()!;
              await rw.close();
              const receiving = join(followerDir, "receiving_00000000000000000042");
              const current = rw.resumePoint();
              if (kind === "crash-with-unsynced-tail" && current !== null) {
                await appendFile(join(receiving, current.fileName), Buffer.from("torn write, never acknowledged"));
              } else if (kind === "crash-during-progress-save") {
                await writeFile(join(receiving, "_progress.99-1.tmp"), Buffer.from("TRRP\x01"));
              } else if (kind === "disk-lost-a-file") {
                const lost = reader.manifest.files.find((f) => f.sizeBytes > 0);
                if (lost !== undefined) await rm(join(receiving, lost.name), { force: true });
              }
              follower = await SnapshotStore.open(followerDir);
              rw = await follower.beginReceive(reader.manifest);
              const after = rw.progress();
              assert.ok(after.bytesDone <= before.bytesDone, "a resume never claims more than arrived");
              if (kind !== "disk-lost-a-file") assert.deepEqual(after, before, "nothing durable is lost");
            } else if (pending.length > 0) {
              pending[0]!.afterChunks--;
            }
          }
          const ref = await rw.publish();
          for (const [i, data] of files.entries()) {
            assert.deepEqual(new Uint8Array(await readFile(join(ref.dir, `part-${i}.bin`))), data);
          }
          assert.deepEqual((await (await SnapshotStore.open(followerDir)).latest())?.manifest, reader.manifest);
          await reader.close();
          await rm(runRoot, { recursive: true, force: true });
        },
      ),
      // Every chunk costs fsyncs: no shrinking (the seed and path replay a failure).
      { numRuns: 30, seed: 20240601, endOnFailure: true },
    );
  }));
