import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SecretScrubber } from "./secret-scrubber";

async function scrub(chunks: string[], secrets: string[]): Promise<string> {
  return text(Readable.from(chunks.map((c) => Buffer.from(c))).pipe(new SecretScrubber(secrets)));
}

describe("SecretScrubber", () => {
  it("replaces a secret split across chunks anywhere", async () => {
    const body = "error: token tok-123456 is invalid; tok-123456 again";
    for (let i = 0; i <= body.length; i++) {
      for (const j of [i, Math.min(body.length, i + 3)]) {
        const out = await scrub([body.slice(0, i), body.slice(i, j), body.slice(j)], ["tok-123456"]);
        expect(out).toBe("error: token [redacted] is invalid; [redacted] again");
      }
    }
  });

  it("passes text through unchanged when no secret is in it, whatever the chunking", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ maxLength: 20 }), { maxLength: 10 }), async (chunks) => {
        const joined = chunks.join("");
        fc.pre(!joined.includes("secret-x"));
        expect(await scrub(chunks, ["secret-x"])).toBe(joined);
      }),
    );
  });

  it("holds back only a possible prefix of a secret, so a stream keeps flowing", async () => {
    const s = new SecretScrubber(["abcdef-1"]);
    const seen: string[] = [];
    s.on("data", (c: Buffer) => seen.push(c.toString()));
    s.write(Buffer.from("data: 1\n\n"));
    s.write(Buffer.from("data: abc"));
    await new Promise((r) => setImmediate(r));
    expect(seen.join("")).toBe("data: 1\n\ndata: ");
    s.end(Buffer.from("xyz\n"));
    await new Promise((r) => s.once("end", r));
    expect(seen.join("")).toBe("data: 1\n\ndata: abcxyz\n");
  });

  it("ignores secrets too short to scrub safely", async () => {
    expect(await scrub(["a b c"], ["b"])).toBe("a b c");
    expect(new SecretScrubber(["", "abc"]).active).toBe(false);
  });
});
