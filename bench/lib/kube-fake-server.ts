/**
 * The Kubernetes bench's API server: the testkit's fake (`startFakeKubeApiServer`, TLS, real
 * processes for exec on this host) in its own process, so its CPU is apart from the bench's
 * client and from the agent.
 *   node --import tsx bench/lib/kube-fake-server.ts --list-pods 100 --list-namespace bench
 * Seeds pod `web` and Secret `db` in `default`, and `--list-pods` pods in `--list-namespace`
 * (the list workload). Prints one JSON line: {"ready":true,"port":…,"token":…,"caPem":…}.
 * The fake keeps every request it saw; the log is cleared every few seconds so a long run
 * does not grow it.
 */
import { parseArgs } from "node:util";
import { startFakeKubeApiServer } from "../../packages/testkit/src/kube/fake-kube";

const { values } = parseArgs({
  options: {
    "list-pods": { type: "string", default: "100" },
    "list-namespace": { type: "string", default: "bench" },
  },
});
const listPods = Number(values["list-pods"]);
const listNamespace = values["list-namespace"] ?? "bench";

function pod(name: string, namespace: string, i: number) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace,
      labels: { app: "web", tier: "frontend", shard: String(i % 8) },
      annotations: { "bench.sluice.dev/owner": "payments" },
    },
    spec: {
      containers: [
        {
          name: "app",
          image: "busybox:1.36",
          ports: [{ containerPort: 8080, protocol: "TCP" }],
          env: [
            { name: "MODE", value: "production" },
            { name: "REPLICA", value: String(i) },
          ],
          resources: { requests: { cpu: "100m", memory: "64Mi" } },
        },
      ],
    },
  };
}

try {
  const fake = await startFakeKubeApiServer();
  fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: listNamespace } });
  fake.seed(pod("web", "default", 0));
  for (let i = 0; i < listPods; i++) fake.seed(pod(`web-${String(i).padStart(3, "0")}`, listNamespace, i));
  fake.seed({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "db", namespace: "default" },
    type: "Opaque",
    data: {
      username: Buffer.from("app").toString("base64"),
      password: Buffer.from("hunter2-prod").toString("base64"),
    },
  });
  setInterval(() => fake.reset(), 5000).unref();
  process.stdout.write(
    `${JSON.stringify({ ready: true, port: fake.port, token: fake.token, caPem: fake.caPem })}\n`,
  );
  const quit = () => {
    setTimeout(() => process.exit(0), 3000).unref();
    void fake.close().finally(() => process.exit(0));
  };
  process.on("SIGTERM", quit);
  process.on("SIGINT", quit);
} catch (e) {
  process.stdout.write(
    `${JSON.stringify({ ready: false, reason: e instanceof Error ? e.message : String(e) })}\n`,
  );
  process.exit(3);
}
