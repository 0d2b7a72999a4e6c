import type { Role } from "@sluice/db";
import { z } from "zod";
import { errorBody } from "../lib/schemas";

export const anyRole: Role[] = ["admin", "auditor", "user"];
export const readers: Role[] = ["admin", "auditor"];
export const admins: Role[] = ["admin"];

/** Standard error responses for the OpenAPI document. */
export const errors = {
  400: errorBody,
  401: errorBody,
  403: errorBody,
  404: errorBody,
  409: errorBody,
};

export const noContent = { 204: z.null().describe("no content") };
