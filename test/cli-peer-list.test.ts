/** Server lists as SOFAJraft writes them: host:port[:idx[:priority]], learners with /learner; bad input says the expected form. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPeerList, parsePeerIds, parsePeerList } from "../src/cli/peer-list.js";
import { RaftError } from "../src/errors.js";

test("lists with idx, priority, learners and spaces parse, and format back", () => {
  const list = parsePeerList(" 127.0.0.1:8081, 127.0.0.1:8082:1 ,10.0.0.5:8083:0:100,host-a.example:9000/learner ");
  assert.deepEqual(list, { peers: ["127.0.0.1:8081", "127.0.0.1:8082:1", "10.0.0.5:8083:0:100"], learners: ["host-a.example:9000"] });
  assert.equal(formatPeerList(list), "127.0.0.1:8081,127.0.0.1:8082:1,10.0.0.5:8083:0:100,host-a.example:9000/learner");
  assert.deepEqual(parsePeerList(formatPeerList(list)), list);
  assert.deepEqual(parsePeerList("", { allowEmpty: true }), { peers: [], learners: [] });
  assert.deepEqual(parsePeerIds("127.0.0.1:1,127.0.0.1:2"), ["127.0.0.1:1", "127.0.0.1:2"]);
});

test("a bad list is EINVAL naming the entry and showing the expected form", () => {
  const cases: [string, RegExp][] = [
    ["", /is empty/],
    ["127.0.0.1:8081,,127.0.0.1:8082", /entry 2 is empty \(a stray comma\?\)/],
    ["127.0.0.1", /entry 1: peer id "127.0.0.1" is not of the form host:port\[:idx\[:priority\]\].*1 colon-separated parts/],
    ["127.0.0.1:8081,127.0.0.1:99999", /entry 2: .*port 99999 is above 65535/],
    ["127.0.0.1:8081:x", /idx "x" is not an integer/],
    ["127.0.0.1:8081:0:-2", /priority -2 is below -1/],
    ["127.0.0.1:8081/witness", /"\/witness" in entry 1 is not a known suffix; the only one is \/learner/],
    ["127.0.0.1:8081,127.0.0.1:8081", /127.0.0.1:8081 is listed twice/],
    ["127.0.0.1:8081,127.0.0.1:8081/learner", /127.0.0.1:8081 is listed twice/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parsePeerList(text, { what: "--conf" }),
      (error: unknown) => error instanceof RaftError && error.code === "EINVAL" && message.test(error.message) && error.message.includes("--conf") && error.message.includes("comma-separated peer ids host:port[:idx[:priority]]"),
      text,
    );
  }
  assert.throws(() => parsePeerIds("127.0.0.1:1,127.0.0.1:2/learner", { what: "--peers" }), /--peers names 127.0.0.1:2\/learner, but takes voters only/);
});
