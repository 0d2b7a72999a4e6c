import { StringDecoder } from "node:string_decoder";

/** A prompt after which typed input is a secret (password, passphrase, PIN, token). */
export const SECRET_PROMPT = /(password|passphrase|passcode|pin|token|secret)[^\n]{0,80}:\s*$/i;

/** Strips terminal escape sequences from typed input. */
export const ESCAPES = new RegExp(`${String.fromCharCode(27)}(?:\\[[0-9;?]*[ -/]*[@-~]|O.|.)`, "g");

/** Terminal bytes as recorded text: UTF-8 decoded across chunk edges, small writes merged, big ones split. */
export class DataBatch {
  private text = "";
  private timer: NodeJS.Timeout | undefined;
  private readonly decoder = new StringDecoder("utf8");

  constructor(
    private readonly emit: (data: string) => void,
    private readonly maxChars: number,
    private readonly batchMs: number,
  ) {}

  add(chunk: Buffer): void {
    this.text += this.decoder.write(chunk);
    while (this.text.length >= this.maxChars) {
      this.emit(this.text.slice(0, this.maxChars));
      this.text = this.text.slice(this.maxChars);
    }
    if (this.text && !this.timer) this.timer = setTimeout(() => this.flush(), this.batchMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.text += this.decoder.end();
    if (this.text) this.emit(this.text);
    this.text = "";
  }
}
