/**
 * SlotSet, the client's set of calls in flight: membership, size, reuse of
 * freed slots, a copy of the members that may be walked while the set
 * changes, and a clear refusal of an object that belongs to another set.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { SlotSet, type Slotted } from "../src/kv/slot-set.js";

interface Call extends Slotted {
  readonly name: string;
}

const call = (name: string): Call => ({ name, slot: -1 });
const names = (set: SlotSet<Call>): string[] => set.members().map((member) => member.name).sort();

test("members join and leave; a freed slot is reused and the array stops growing", () => {
  const set = new SlotSet<Call>();
  const [a, b, c] = [call("a"), call("b"), call("c")];
  set.add(a);
  set.add(b);
  set.add(b); // already in: nothing changes
  assert.equal(set.size, 2);
  assert.ok(set.has(a) && set.has(b) && !set.has(c));

  assert.equal(set.delete(a), true);
  assert.equal(set.delete(a), false);
  assert.equal(a.slot, -1);
  assert.ok(!set.has(a));
  assert.equal(set.size, 1);

  set.add(c);
  assert.equal(c.slot, 0, "c takes the slot a left");
  assert.deepEqual(names(set), ["b", "c"]);

  // Churn at a steady 2 members never grows the slots past the most ever held.
  for (let i = 0; i < 1000; i++) {
    const next = call(`n${i}`);
    set.add(next);
    set.delete(next);
  }
  assert.ok(Math.max(b.slot, c.slot) <= 2);
  assert.deepEqual(names(set), ["b", "c"]);
});

test("members() is a copy: deleting while walking it visits every member once", () => {
  const set = new SlotSet<Call>();
  const calls = ["a", "b", "c", "d"].map(call);
  for (const member of calls) set.add(member);
  const visited: string[] = [];
  for (const member of set.members()) {
    visited.push(member.name);
    set.delete(member);
  }
  assert.deepEqual(visited.sort(), ["a", "b", "c", "d"]);
  assert.equal(set.size, 0);
  assert.deepEqual(set.members(), []);
});

test("an object in one set is refused by another, which would otherwise overwrite its slot", () => {
  const first = new SlotSet<Call>();
  const second = new SlotSet<Call>();
  const shared = call("shared");
  first.add(shared);
  assert.throws(() => second.add(shared), /a member of another SlotSet cannot join this one/);
  assert.ok(first.has(shared));
  assert.equal(second.size, 0);
});
