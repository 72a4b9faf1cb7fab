import type { Command, StateMachine } from "../../mod.ts";
import { simulate, type Workload } from "../../testing/mod.ts";

const text = new TextDecoder();

/** Notes by title; each remembers when it was last edited. */
class Notes implements StateMachine<boolean> {
  notes: Record<string, { body: string; editedAt: number }> = {};

  apply(commands: readonly Command[]): boolean[] {
    return commands.map((c) => {
      const [title, body] = JSON.parse(text.decode(c.data));
      this.notes[title] = { body, editedAt: Date.now() }; // the bug: differs per replica
      return true;
    });
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.notes));
  }
  restore(data: Uint8Array): void {
    this.notes = JSON.parse(text.decode(data));
  }
}

type Edit = { title: string; body: string } | { read: string };

const workload = (): Workload<Notes, boolean, Edit, string | boolean> => ({
  next: (rand) =>
    rand.chance(0.5)
      ? { read: `n${rand.int(3)}` }
      : { title: `n${rand.int(3)}`, body: `v${rand.int(100)}` },
  request: (op) =>
    "read" in op ? { read: (notes) => notes.notes[op.read]?.body ?? "" } : {
      propose: new TextEncoder().encode(JSON.stringify([op.title, op.body])),
      output: (ok) => ok,
    },
});

const report = await simulate({
  stateMachine: () => new Notes(),
  workload,
  seeds: 20,
  steps: 5000,
});
if (!report.ok) console.log(report.failure!.text);
// simulation failed: seed 1, step …: state-consistent
// after command …, node 2's state (digest …) differs from node 1's (…)
// …
// replay: RAFT_SIM_REPLAY=1:…:f:o… deno test -A
export { Notes, report, workload };
