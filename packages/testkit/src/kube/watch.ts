/**
 * Watches: a chunked stream of newline-delimited `{"type","object"}` events that stays open until
 * the client leaves, `timeoutSeconds` passes or the fake closes. Without a resourceVersion (or
 * with "0") the stream starts with ADDED for what exists, like the API server's watch cache;
 * with one it replays the events after it.
 */
import type { ServerResponse } from "node:http";
import type { ResourceRequest } from "./rest";
import { fieldMatcher, labelMatcher } from "./selectors";
import { resourceKey, type Store, type StoreEvent } from "./store";
import { type IncludeObject, toTable, wantsTable } from "./tables";

export interface WatchRegistry {
  open: Set<ServerResponse>;
}

export function serveWatch(store: Store, req: ResourceRequest, res: ServerResponse, registry: WatchRegistry) {
  const labels = labelMatcher(req.query.get("labelSelector"));
  const fields = fieldMatcher(req.query.get("fieldSelector"));
  const key = resourceKey(req.def);
  const asTable = wantsTable(String(req.headers.accept ?? ""));
  const include = (req.query.get("includeObject") ?? "Metadata") as IncludeObject;
  let first = true;

  const matches = (e: StoreEvent) =>
    e.resourceKey === key &&
    (!req.namespace || e.namespace === req.namespace) &&
    (!req.name || e.object.metadata.name === req.name) &&
    labels(e.object) &&
    fields(e.object);

  const write = (type: string, object: StoreEvent["object"]) => {
    const payload = asTable
      ? toTable(req.def, [object], include, { resourceVersion: object.metadata.resourceVersion }, first)
      : object;
    first = false;
    res.write(`${JSON.stringify({ type, object: payload })}\n`);
  };

  res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" });
  res.flushHeaders();

  const rvParam = req.query.get("resourceVersion");
  const fromRv = rvParam && rvParam !== "0" ? Number(rvParam) : Number.NaN;
  const subscription = store.subscribe(Number.isNaN(fromRv) ? Number.POSITIVE_INFINITY : fromRv, (e) => {
    if (matches(e)) write(e.type, e.object);
  });
  if (Number.isNaN(fromRv)) {
    for (const obj of store.list(req.def, req.namespace)) {
      const e: StoreEvent = {
        type: "ADDED",
        rv: 0,
        resourceKey: key,
        namespace: obj.metadata.namespace ?? "",
        object: obj,
      };
      if (matches(e)) write("ADDED", obj);
    }
  } else {
    for (const e of subscription.past) if (matches(e)) write(e.type, e.object);
  }

  registry.open.add(res);
  const timeoutSeconds = Number(req.query.get("timeoutSeconds") ?? "0");
  const timer = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined;
  const finish = () => {
    subscription.stop();
    if (timer) clearTimeout(timer);
    registry.open.delete(res);
  };
  res.once("close", finish);
  res.once("finish", finish);
}
