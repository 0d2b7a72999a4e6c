/**
 * Whether a JSON text has an object with the same key twice. `JSON.parse` keeps the last
 * value and some upstreams keep the first, so a rule reading one could be walked around
 * with the other: a body with duplicate keys is one the rules cannot read.
 * Expects text that `JSON.parse` accepted.
 */
export function hasDuplicateKeys(text: string): boolean {
  const stack: (Set<string> | undefined)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(undefined);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] !== undefined;
    } else if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (expectKey) {
        const keys = stack[stack.length - 1];
        // Keys are compared decoded: "a" and "\u0061" are the same key.
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (keys?.has(key)) return true;
        keys?.add(key);
        expectKey = false;
      }
      i = j;
    }
  }
  return false;
}
