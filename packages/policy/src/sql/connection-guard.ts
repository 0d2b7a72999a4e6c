import type { PolicyDocument } from "../rules";
import { compileGuard, type Guard, type GuardOptions } from "./guard";
import { compileLineageCheck } from "./masked-lineage";

/**
 * The one way to build a connection's guard, shared by the agent (which enforces) and the
 * control plane's dry run (`policies test`), so both give the same verdict for the same
 * statement: the connection's policies in order, plus the built-in refusal of `COPY … TO`
 * when any of them masks (COPY output bypasses the DataRow masking), plus `sluice.masked_lineage`
 * when a masking rule replaces whole values by column or table (see masked-lineage.ts).
 */

export const maskedCopyPolicy: PolicyDocument = {
  id: "",
  name: "sluice-masking",
  guardrails: [
    {
      name: "sluice.masked_copy",
      action: "deny",
      statementKinds: ["COPY TO"],
      message: "COPY … TO is not available on a masked connection; use SELECT, whose rows Sluice masks",
    },
  ],
  masking: [],
  reviewRules: [],
};

export function compileConnectionGuard(documents: PolicyDocument[], options: GuardOptions = {}): Guard {
  const masked = documents.some((d) => d.masking.length > 0);
  const lineage = options.lineage ?? compileLineageCheck(documents);
  const all = masked ? [...documents, maskedCopyPolicy] : documents;
  return compileGuard(all, lineage ? { ...options, lineage } : options);
}
