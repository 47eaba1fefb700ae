import { FakeTextStream, flush } from "./testing/fakeRoom";
import { TranscriptAssembler, type TranscriptMessage } from "./transcript";

function setup() {
  const finals: TranscriptMessage[] = [];
  let messages: readonly TranscriptMessage[] = [];
  const assembler = new TranscriptAssembler(
    (m) => (messages = m),
    (m) => finals.push(m),
  );
  return { assembler, finals, get messages() { return messages; } };
}

const seg = (id: string, final: boolean) => ({ "lk.segment_id": id, "lk.transcription_final": String(final) });

describe("TranscriptAssembler", () => {
  it("replaces a user's interim text with each new stream and finalises once", async () => {
    const t = setup();
    const a = new FakeTextStream("s1", "lk.transcription", seg("U1", false)).push("what is").close();
    await t.assembler.consume(a, "user-1", "user");
    expect(t.messages).toEqual([expect.objectContaining({ id: "U1", text: "what is", final: false, speaker: "user" })]);
    const b = new FakeTextStream("s2", "lk.transcription", seg("U1", false)).push("what is the time").close();
    await t.assembler.consume(b, "user-1", "user");
    const c = new FakeTextStream("s3", "lk.transcription", seg("U1", true)).push("What is the time?").close();
    await t.assembler.consume(c, "user-1", "user");
    expect(t.messages).toHaveLength(1);
    expect(t.messages[0]).toMatchObject({ text: "What is the time?", final: true });
    expect(t.finals.map((m) => m.text)).toEqual(["What is the time?"]);
    // a late duplicate of a final segment changes nothing
    await t.assembler.consume(new FakeTextStream("s4", "lk.transcription", seg("U1", true)).push("x").close(), "user-1", "user");
    expect(t.finals).toHaveLength(1);
  });

  it("appends the assistant's deltas live and takes the final flag from the trailer", async () => {
    const t = setup();
    const stream = new FakeTextStream("s1", "lk.transcription", seg("A1", false));
    const done = t.assembler.consume(stream, "agent-1", "assistant");
    stream.push("It is ");
    await flush();
    expect(t.messages[0]).toMatchObject({ text: "It is ", final: false });
    stream.push("noon.");
    await flush();
    expect(t.messages[0]).toMatchObject({ text: "It is noon.", final: false });
    stream.close({ "lk.transcription_final": "true" });
    await done;
    expect(t.finals).toEqual([expect.objectContaining({ id: "A1", text: "It is noon.", final: true, interrupted: false })]);
  });

  it("marks an aborted assistant stream as interrupted and still keeps what was said", async () => {
    const t = setup();
    const stream = new FakeTextStream("s1", "lk.transcription", seg("A2", false));
    const done = t.assembler.consume(stream, "agent-1", "assistant");
    stream.push("Let me tell you a long").abort();
    await done;
    expect(t.finals).toEqual([expect.objectContaining({ text: "Let me tell you a long", interrupted: true })]);
  });

  it("does not persist a user's segment that never became final", async () => {
    const t = setup();
    await t.assembler.consume(new FakeTextStream("s1", "lk.transcription", seg("U2", false)).push("hm").close(), "u", "user");
    expect(t.finals).toEqual([]);
  });

  it("uses the stream id when there is no segment id, and keeps order of first appearance", async () => {
    const t = setup();
    await t.assembler.consume(new FakeTextStream("sA", "lk.transcription", {}).push("one").close(), "agent", "assistant");
    await t.assembler.consume(new FakeTextStream("sB", "lk.transcription", seg("U3", true)).push("two").close(), "u", "user");
    expect(t.messages.map((m) => [m.id, m.text])).toEqual([
      ["sA", "one"],
      ["U3", "two"],
    ]);
  });

  it("skips empty finals", async () => {
    const t = setup();
    await t.assembler.consume(new FakeTextStream("s", "lk.transcription", seg("U4", true)).close(), "u", "user");
    expect(t.finals).toEqual([]);
  });
});
