/**
 * MetaStore: the hard state (§5.1, Figure 2: term and vote "updated on stable
 * storage before responding to RPCs") survives restarts, a crash at any step
 * of a save leaves the old or the new state, and damage is a clear ECORRUPT.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import { InvariantError } from "../src/core/assert.js";
import { EMPTY_HARD_STATE, type HardState } from "../src/core/types.js";
import { RaftError } from "../src/errors.js";
import { isTempFileOf } from "../src/storage/atomic-file.js";
import { MetaStore } from "../src/storage/meta-store.js";

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-meta-"));
  try {
    await body(join(root, "node-a", "meta"));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function expectCorrupt(dir: string, pattern: RegExp): Promise<RaftError> {
  const error = await MetaStore.open(dir).then(
    () => assert.fail("open should have failed"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof RaftError, `expected a RaftError, got ${String(error)}`);
  assert.equal(error.code, "ECORRUPT");
  assert.match(error.message, new RegExp(MetaStore.FILE_NAME));
  assert.match(error.message, pattern);
  return error;
}

/** An envelope written by hand, to make files a tsraft of another version (or a bug) could leave. */
function envelope(magic: string, version: number, payload: string): Buffer {
  const body = Buffer.from(payload, "utf8");
  const bytes = Buffer.alloc(16 + body.byteLength);
  bytes.write(magic, 0, 4, "latin1");
  bytes.writeUInt32LE(version, 4);
  bytes.writeUInt32LE(body.byteLength, 8);
  body.copy(bytes, 16);
  bytes.writeUInt32LE(crc32c(body, crc32c(bytes.subarray(0, 12))), 12);
  return bytes;
}

const OLD: HardState = { term: 3, vote: "10.0.0.1:8080", commit: 7 };
const NEW: HardState = { term: 4, vote: null, commit: 9 };

test("a new store holds the empty hard state; its folder is private", () =>
  withDir(async (dir) => {
    const store = await MetaStore.open(dir);
    assert.deepEqual(store.hardState, EMPTY_HARD_STATE);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
  }));

test("saves round-trip through reopen, in call order; the file is private", () =>
  withDir(async (dir) => {
    const store = await MetaStore.open(dir);
    const states: HardState[] = [OLD, { ...OLD, commit: 8 }, NEW, { term: 5, vote: "nœud-β:1", commit: 9 }];
    await Promise.all(states.map((s) => store.save(s)));
    assert.deepEqual(store.hardState, states.at(-1));
    assert.deepEqual((await MetaStore.open(dir)).hardState, states.at(-1));
    assert.equal((await stat(join(dir, MetaStore.FILE_NAME))).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), [MetaStore.FILE_NAME], "no temp files are left behind");
  }));

test("a crash at any step of a save leaves the old state or the new one", () =>
  withDir(async (dir) => {
    const store = await MetaStore.open(dir);
    await store.save(OLD);
    const oldBytes = await readFile(join(dir, MetaStore.FILE_NAME));
    await store.save(NEW);
    const newBytes = await readFile(join(dir, MetaStore.FILE_NAME));
    const tempName = `${MetaStore.FILE_NAME}.4242-0.tmp`;
    assert.ok(isTempFileOf(tempName, MetaStore.FILE_NAME));

    // Before the rename: the target holds the old state; the temp file holds any prefix of the new one.
    for (let written = 0; written <= newBytes.byteLength; written++) {
      await writeFile(join(dir, MetaStore.FILE_NAME), oldBytes);
      await writeFile(join(dir, tempName), newBytes.subarray(0, written));
      assert.deepEqual((await MetaStore.open(dir)).hardState, OLD, `temp file of ${written} bytes`);
      assert.deepEqual(await readdir(dir), [MetaStore.FILE_NAME], "the leftover temp file is removed");
    }
    // The very first save, crashed before its rename: there was no state yet.
    await rm(join(dir, MetaStore.FILE_NAME));
    await writeFile(join(dir, tempName), newBytes);
    assert.deepEqual((await MetaStore.open(dir)).hardState, EMPTY_HARD_STATE);
    // After the rename (whether or not the folder fsync happened): the new state.
    await writeFile(join(dir, MetaStore.FILE_NAME), newBytes);
    assert.deepEqual((await MetaStore.open(dir)).hardState, NEW);
  }));

test("a byte flipped at any offset is ECORRUPT naming the file", () =>
  withDir(async (dir) => {
    await (await MetaStore.open(dir)).save(OLD);
    const path = join(dir, MetaStore.FILE_NAME);
    const good = await readFile(path);
    for (let offset = 0; offset < good.byteLength; offset++) {
      const bad = Buffer.from(good);
      bad[offset]! ^= 0x20;
      await writeFile(path, bad);
      await expectCorrupt(dir, /./);
    }
  }));

test("a truncated or extended file is ECORRUPT", () =>
  withDir(async (dir) => {
    await (await MetaStore.open(dir)).save(OLD);
    const path = join(dir, MetaStore.FILE_NAME);
    const good = await readFile(path);
    for (let length = 0; length < good.byteLength; length++) {
      await writeFile(path, good.subarray(0, length));
      await expectCorrupt(dir, /truncated/);
    }
    await writeFile(path, Buffer.concat([good, Buffer.alloc(3)]));
    await expectCorrupt(dir, /3 bytes after the end/);
  }));

test("wrong magic, a future version, a bad payload: each says what it is and what to do", () =>
  withDir(async (dir) => {
    await MetaStore.open(dir);
    const path = join(dir, MetaStore.FILE_NAME);
    const payload = JSON.stringify(OLD);
    await writeFile(path, envelope("TRSM", 1, payload));
    await expectCorrupt(dir, /not a tsraft hard state file.*restore the file from a backup/i);
    await writeFile(path, envelope("TRHS", 2, payload));
    const future = await expectCorrupt(dir, /format version 2, written by a newer tsraft; this build reads up to version 1/);
    assert.match(future.message, /Run the newer tsraft/);
    await writeFile(path, envelope("TRHS", 0, payload));
    await expectCorrupt(dir, /version is 0/);
    await writeFile(path, envelope("TRHS", 1, JSON.stringify({ term: -1, vote: null, commit: 0 })));
    await expectCorrupt(dir, /term -1/);
    await writeFile(path, envelope("TRHS", 1, JSON.stringify({ term: 1, vote: 5, commit: 0 })));
    await expectCorrupt(dir, /vote 5/);
    await writeFile(path, envelope("TRHS", 1, "{not json"));
    await expectCorrupt(dir, /not JSON/);
  }));

test("bad hard states are refused with EINVAL; a term going back is a bug (§5.1)", () =>
  withDir(async (dir) => {
    const store = await MetaStore.open(dir);
    for (const bad of [
      { term: 1.5, vote: null, commit: 0 },
      { term: 1, vote: "", commit: 0 },
      { term: 1, vote: null, commit: -2 },
      { term: 1, vote: "x".repeat(2000), commit: 0 },
    ]) {
      await assert.rejects(store.save(bad), (e: unknown) => e instanceof RaftError && e.code === "EINVAL");
    }
    await store.save(OLD);
    await assert.rejects(store.save({ ...OLD, term: 2 }), InvariantError);
    await assert.rejects(store.save({ ...OLD, vote: "someone-else" }), InvariantError, "§5.2: one vote per term");
    assert.deepEqual((await MetaStore.open(dir)).hardState, OLD);
  }));
