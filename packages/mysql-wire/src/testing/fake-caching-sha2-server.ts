import {
  createHash,
  constants as cryptoConstants,
  generateKeyPairSync,
  privateDecrypt,
  randomBytes,
} from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { Capability, Command, ServerStatus } from "../constants";
import { serializeErr, serializeOk } from "../generic-packets";
import { isSslRequest, parseHandshakeResponse, serializeInitialHandshake } from "../handshake-packets";
import { PacketChannel } from "../packet-channel";
import { withLeftover } from "../with-leftover";

const sha256 = (...p: Buffer[]) => createHash("sha256").update(Buffer.concat(p)).digest();

export interface FakeServerOptions {
  users: Record<string, string>;
  /** TLS key and certificate; when given the server offers CLIENT_SSL. */
  tls?: { key: string; cert: string };
}

export interface FakeCachingSha2Server {
  port: number;
  publicKeyPem: string;
  /** Users whose fast-auth digest is cached (after one full authentication). */
  cached: Set<string>;
  /** How each login finished: "fast", "full-tls", "full-rsa", or "denied". */
  log: string[];
  close(): Promise<void>;
}

/**
 * A small MySQL 8-like server speaking caching_sha2_password: fast auth against a cache of
 * SHA256(SHA256(password)), full auth by cleartext over TLS or by RSA-OAEP with its key
 * (sent on request 0x02). After login it answers COM_PING with OK and closes on COM_QUIT.
 */
export async function startFakeCachingSha2Server(options: FakeServerOptions): Promise<FakeCachingSha2Server> {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const cached = new Set<string>();
  const log: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    serve(socket).catch(() => socket.destroy());
  });

  async function serve(socket: Duplex): Promise<void> {
    const nonce = Buffer.from(randomBytes(20).map((b) => (b % 94) + 33));
    let ch = new PacketChannel(socket);
    let caps =
      Capability.LONG_PASSWORD |
      Capability.PROTOCOL_41 |
      Capability.SECURE_CONNECTION |
      Capability.PLUGIN_AUTH |
      Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
      Capability.CONNECT_WITH_DB |
      Capability.DEPRECATE_EOF |
      Capability.MULTI_RESULTS |
      Capability.MULTI_STATEMENTS |
      Capability.PS_MULTI_RESULTS |
      Capability.CONNECT_ATTRS |
      Capability.TRANSACTIONS |
      Capability.FOUND_ROWS |
      Capability.LONG_FLAG |
      Capability.IGNORE_SPACE;
    if (options.tls) caps |= Capability.SSL;
    ch.write(
      0,
      serializeInitialHandshake({
        serverVersion: "8.0.36-fake",
        connectionId: 7,
        authData: nonce,
        capabilities: caps,
        charset: 255,
        status: ServerStatus.AUTOCOMMIT,
        authPluginName: "caching_sha2_password",
        mariadbCapabilities: 0,
      }),
    );
    let p = await ch.read(5000);
    let tls = false;
    if (isSslRequest(p.payload) && options.tls) {
      const { socket: plain, leftover } = ch.release();
      const t = new TLSSocket(withLeftover(plain, leftover), {
        isServer: true,
        key: options.tls.key,
        cert: options.tls.cert,
      });
      ch = new PacketChannel(t);
      tls = true;
      p = await ch.read(5000);
    }
    const resp = parseHandshakeResponse(p.payload);
    const password = options.users[resp.username];
    let seq = p.seq + 1;
    const send = (payload: Buffer) => ch.write(seq++, payload);
    const readNext = async () => {
      const r = await ch.read(5000);
      seq = r.seq + 1;
      return r.payload;
    };
    const finish = (ok: boolean, how: string) => {
      log.push(ok ? how : "denied");
      send(
        ok
          ? serializeOk({ status: ServerStatus.AUTOCOMMIT }, 0)
          : serializeErr({
              errorCode: 1045,
              sqlState: "28000",
              message: `Access denied for user '${resp.username}'`,
            }),
      );
      return ok;
    };
    if (password === undefined) return void finish(false, "");
    const stored = sha256(sha256(Buffer.from(password)));
    const x = resp.authResponse;
    const mask = sha256(stored, nonce);
    const stage1 = Buffer.from(x.map((b, i) => b ^ mask[i]!));
    const scrambleOk = x.length === 32 && sha256(stage1).equals(stored);
    let ok: boolean;
    if (scrambleOk && cached.has(resp.username)) {
      send(Buffer.from([0x01, 0x03]));
      ok = finish(true, "fast");
    } else {
      send(Buffer.from([0x01, 0x04]));
      let data = await readNext();
      let how = "full-tls";
      if (!tls) {
        let enc = data;
        if (data.length === 1 && data[0] === 0x02) {
          send(Buffer.concat([Buffer.from([0x01]), Buffer.from(publicKeyPem)]));
          enc = await readNext();
        }
        const plain = privateDecrypt(
          { key: privateKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING },
          enc,
        );
        data = Buffer.from(plain.map((b, i) => b ^ nonce[i % nonce.length]!));
        how = "full-rsa";
      }
      const clear = data.subarray(0, data.indexOf(0) < 0 ? data.length : data.indexOf(0)).toString();
      ok = finish(clear === password, how);
      if (ok) cached.add(resp.username);
    }
    if (!ok) return;
    for (;;) {
      const cmd = await ch.read(60_000);
      if (cmd.payload[0] === Command.QUIT) return void ch.socket.end();
      ch.write(cmd.seq + 1, serializeOk({ status: ServerStatus.AUTOCOMMIT }, 0));
    }
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    publicKeyPem,
    cached,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
