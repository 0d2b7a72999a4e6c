import { type ExecCommand, quoteArg } from "./exec-command";
import type { KubeRequestInfo } from "./request-info";

/**
 * The one-line text a reviewer approves and a verdict names, stable for a given request:
 * `delete namespaces prod`, `get deployments.apps prod/web`, `list secrets in prod -l app=web`,
 * `create pods/exec prod/web -c app -it -- sh -c "rm -rf /"`, `get /version`.
 */
export function kubeStatement(info: KubeRequestInfo, command?: ExecCommand): string {
  if (!info.isResourceRequest) return `${info.verb} ${info.path}`;
  const group = info.apiGroup === "" ? "" : `.${info.apiGroup}`;
  const resource = `${info.resource}${group}${info.subresource ? `/${info.subresource}` : ""}`;
  let text = `${info.verb} ${resource}`;
  if (info.name !== "") {
    const scoped = info.namespace !== "" && !(info.resource === "namespaces" && info.namespace === info.name);
    text += ` ${scoped ? `${info.namespace}/` : ""}${info.name}`;
  } else if (info.namespace !== "") text += ` in ${info.namespace}`;
  if (info.labelSelector !== undefined) text += ` -l ${quoteArg(info.labelSelector)}`;
  if (info.fieldSelector !== undefined) text += ` --field-selector ${quoteArg(info.fieldSelector)}`;
  const rest = info.parts.slice(info.verb === "proxy" ? 2 : 3);
  if ((info.verb === "proxy" || info.subresource === "proxy") && rest.length > 0)
    text += ` /${rest.join("/")}`;
  if (command && (info.subresource === "exec" || info.subresource === "attach")) {
    if (command.container !== undefined) text += ` -c ${quoteArg(command.container)}`;
    const flags = `${command.stdin ? "i" : ""}${command.tty ? "t" : ""}`;
    if (flags) text += ` -${flags}`;
    if (command.argv.length > 0) text += ` -- ${command.argv.map(quoteArg).join(" ")}`;
  }
  return text;
}
