import type { FastifyReply } from "fastify";

/**
 * Not-found and conflict answers for identity resources, in the API's error body.
 * (The shared error table has no codes for these resources yet.)
 */
export class IdentityError extends Error {
  constructor(
    readonly status: 404 | 409,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "IdentityError";
  }
}

export async function answer<T>(reply: FastifyReply, fn: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof IdentityError) {
      return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    }
    throw err;
  }
}
