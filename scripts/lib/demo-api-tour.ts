import https from "node:https";

/** The demo API's policy: customers are never deleted through Sluice; emails and card numbers are masked. */
export const DEMO_API_POLICY = {
  name: "demo-api-safety",
  description: "no customer deletes on the demo API; emails and card numbers masked",
  guardrails: [
    {
      name: "no-customer-deletes",
      http: { methods: ["DELETE"], paths: ["/v1/customers/*"] },
      message: "customers are not deleted through Sluice",
    },
  ],
  masking: [
    { name: "emails", detector: "email", action: "redact" },
    { name: "cards", jsonPaths: ["$..card"], action: "keep_last", keep: 4 },
  ],
};

/** The agent's native HTTP listener, and the Sluice credential a caller presents to it. */
export interface AgentHttpListener {
  host: string;
  port: number;
  /** The CA that signed the agent's certificate (GET /api/v1/ca on the control plane). */
  caPem: string;
  /** A Sluice API key, access token or grant, sent as the bearer token. */
  token: string;
}

export interface AgentHttpResponse {
  status: number;
  body: string;
}

/** Sends one request to `/<connection><path>` on the agent's native listener, over TLS. */
export function throughAgent(
  agent: AgentHttpListener,
  method: string,
  path: string,
): Promise<AgentHttpResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: agent.host,
        port: agent.port,
        method,
        path,
        ca: agent.caPem,
        headers: { authorization: `Bearer ${agent.token}` },
        agent: false,
        timeout: 30_000,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.once("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8") }),
        );
        res.once("error", reject);
      },
    );
    req.once("timeout", () => req.destroy(new Error("the agent did not answer within 30 s")));
    req.once("error", reject);
    req.end();
  });
}

function parse(body: string): any {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export interface DemoApiTour {
  /** The first customer of GET /v1/customers, as the caller received it. */
  listed: string;
  /** The agent's answer to DELETE /v1/customers/1. */
  deleted: string;
}

/** Lists the demo API's customers and tries a delete, through the agent as the caller of `agent.token`. */
export async function demoApiTour(agent: AgentHttpListener, connection: string): Promise<DemoApiTour> {
  const list = await throughAgent(agent, "GET", `/${connection}/v1/customers`);
  const first = parse(list.body)?.customers?.[0];
  const listed =
    list.status === 200 && first
      ? `${first.name} <${first.email}>, card ${first.card}`
      : `${list.status} ${list.body.slice(0, 200)}`;
  const del = await throughAgent(agent, "DELETE", `/${connection}/v1/customers/1`);
  const error = parse(del.body)?.error;
  const deleted = error?.rule
    ? `${del.status} ${error.code} (rule ${error.rule}): ${error.message}`
    : `${del.status} ${del.body.slice(0, 200)}`;
  return { listed, deleted };
}
