import assert from "node:assert/strict";
import { HashRing } from "@d7y/proto";

const keys = Array.from({ length: 10_000 }, (_, index) => `task-${index}`);
const members = Array.from({ length: 8 }, (_, index) => `seed-${index}`);

describe("HashRing (schedulers for tasks, seeds for tasks)", () => {
  it("is a pure function of the member set (order and duplicates do not matter)", () => {
    const a = new HashRing(members);
    const b = new HashRing([...members].reverse().concat(members[0]!));
    assert.deepEqual(a.members, b.members);
    for (const key of keys.slice(0, 500)) assert.equal(a.get(key), b.get(key));
  });

  it("spreads keys over every member", () => {
    const ring = new HashRing(members);
    const counts = new Map<string, number>();
    for (const key of keys) counts.set(ring.get(key)!, (counts.get(ring.get(key)!) ?? 0) + 1);
    assert.equal(counts.size, members.length);
    for (const count of counts.values()) assert.ok(count > keys.length / members.length / 2, `uneven: ${count}`);
  });

  it("moves only about 1/n of the keys when a member joins, all to the new member", () => {
    const before = new HashRing(members);
    const after = new HashRing([...members, "seed-new"]);
    let moved = 0;
    for (const key of keys) {
      if (before.get(key) !== after.get(key)) {
        moved++;
        assert.equal(after.get(key), "seed-new");
      }
    }
    const fraction = moved / keys.length;
    assert.ok(fraction > 0.03 && fraction < 0.2, `moved ${fraction}`);
  });

  it("moves only the leaving member's keys when one leaves", () => {
    const before = new HashRing(members);
    const after = new HashRing(members.filter((member) => member !== "seed-3"));
    for (const key of keys) {
      if (before.get(key) !== "seed-3") assert.equal(after.get(key), before.get(key));
    }
  });

  it("answers undefined when empty and rejects bad virtual node counts", () => {
    assert.equal(new HashRing([]).get("x"), undefined);
    assert.equal(new HashRing(["only"]).get("x"), "only");
    assert.throws(() => new HashRing(["a"], 0), RangeError);
  });

  it("walks the owner first, then every other member once", () => {
    const ring = new HashRing(members);
    const order = ring.walk("task-42");
    assert.equal(order[0], ring.get("task-42"));
    assert.deepEqual([...order].sort(), [...members].sort());
  });
});
