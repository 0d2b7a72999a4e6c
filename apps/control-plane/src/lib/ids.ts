const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}

/** A Prisma `where` for a path parameter that may be an id or a unique name. */
export function byIdOrName(ref: string): { id: string } | { name: string } {
  return isUuid(ref) ? { id: ref } : { name: ref };
}
