import { describe, expect, it } from "vitest";
import { md5PasswordHash } from "./auth-client";
import { ProtocolError } from "./errors";
import { createScramClient } from "./scram";

// RFC 7677 section 3.
const serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const clientFinal =
  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const serverFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

function rfcClient() {
  return createScramClient({ username: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO" });
}

describe("SCRAM-SHA-256 client", () => {
  it("reproduces the RFC 7677 exchange", async () => {
    const c = rfcClient();
    expect(c.clientFirst()).toBe("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    expect(await c.clientFinal(serverFirst)).toBe(clientFinal);
    expect(() => c.verifyServerFinal(serverFinal)).not.toThrow();
  });

  it("reuses a derived key only for the same password, salt and iteration count", async () => {
    const clients = [rfcClient(), rfcClient()];
    expect(await Promise.all(clients.map((c) => c.clientFinal(serverFirst)))).toEqual([
      clientFinal,
      clientFinal,
    ]);
    for (const c of clients) expect(() => c.verifyServerFinal(serverFinal)).not.toThrow();
    const other = createScramClient({ username: "user", password: "pencil2", nonce: "rOprNGfwEbeRWgbNEkqO" });
    expect(await other.clientFinal(serverFirst)).not.toBe(clientFinal);
    expect(() => other.verifyServerFinal(serverFinal)).toThrow(/server signature mismatch/);
    const moreRounds = rfcClient();
    expect(await moreRounds.clientFinal(serverFirst.replace("i=4096", "i=4097"))).not.toBe(clientFinal);
  });

  it("rejects a wrong server signature without naming the password", async () => {
    const c = rfcClient();
    await c.clientFinal(serverFirst);
    const bad = "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    expect(() => c.verifyServerFinal(bad)).toThrow(
      new ProtocolError("auth_failed", "SCRAM authentication failed: server signature mismatch"),
    );
    expect(() => c.verifyServerFinal("e=invalid-proof")).toThrow(/server reported invalid-proof/);
  });

  it("rejects a server nonce that does not extend ours and absurd iteration counts", async () => {
    await expect(rfcClient().clientFinal("r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")).rejects.toThrow(
      /nonce/,
    );
    await expect(
      rfcClient().clientFinal("r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999999"),
    ).rejects.toThrow(/iteration/);
    await expect(rfcClient().clientFinal("garbage")).rejects.toThrow(ProtocolError);
  });

  it("refuses a server-final before server-first", () => {
    expect(() => rfcClient().verifyServerFinal(serverFinal)).toThrow(ProtocolError);
  });

  it("escapes '=' and ',' in the user name", () => {
    expect(createScramClient({ username: "a=b,c", password: "p", nonce: "n" }).clientFirst()).toBe(
      "n,,n=a=3Db=2Cc,r=n",
    );
  });
});

describe("md5 password hash", () => {
  it("matches PostgreSQL's md5(md5(password || user) || salt)", () => {
    // Computed independently: md5(md5("pencil" + "alice").hexdigest() + b"\x01\x02\x03\x04").
    expect(md5PasswordHash("alice", "pencil", Buffer.from([1, 2, 3, 4]))).toBe(
      "md537cba386e8b90f1e3941a0e792722253",
    );
  });
});
