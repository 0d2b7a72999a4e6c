/**
 * Replaces number and plain string literals with placeholders so statements that differ
 * only in their values share one cache entry: `... WHERE aid = 17` and `... WHERE aid = 42`
 * classify alike, and parsing each costs tens of microseconds.
 *
 * Returns undefined (do not share) for anything whose literals could matter to the
 * classification or whose quoting this scanner does not model: dollar quotes and
 * parameters (`$`), backslashes, and E'', U&'', B'' or X'' strings.
 */
export function normalizeLiterals(sql: string): string | undefined {
  const n = sql.length;
  let out = "";
  let last = 0;
  let changed = false;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === 0x24 /* $ */ || c === 0x5c /* \ */) return undefined;
    if (c === 0x27 /* ' */) {
      const prev = i > 0 ? sql.charCodeAt(i - 1) : 0;
      // E'…', U&'…', B'…', X'…' and N'…' have their own escaping rules.
      if (isIdentChar(prev) || prev === 0x26 /* & */) return undefined;
      let j = i + 1;
      for (;;) {
        if (j >= n) return undefined;
        const d = sql.charCodeAt(j);
        if (d === 0x5c) return undefined;
        if (d === 0x27) {
          if (sql.charCodeAt(j + 1) === 0x27) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      out += `${sql.slice(last, i)}''`;
      last = j + 1;
      i = j + 1;
      changed = true;
      continue;
    }
    if (c === 0x22 /* " */) {
      const end = sql.indexOf('"', i + 1);
      if (end < 0) return undefined;
      i = end + 1;
      continue;
    }
    if (c === 0x2d /* - */ && sql.charCodeAt(i + 1) === 0x2d) {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === 0x2f /* / */ && sql.charCodeAt(i + 1) === 0x2a /* * */) {
      // Nested comments: leave the text alone rather than model the nesting.
      const end = sql.indexOf("*/", i + 2);
      if (end < 0 || sql.lastIndexOf("/*", end) !== i) return undefined;
      i = end + 2;
      continue;
    }
    if (isDigit(c) && !isIdentChar(i > 0 ? sql.charCodeAt(i - 1) : 0)) {
      let j = i + 1;
      while (j < n && (isDigit(sql.charCodeAt(j)) || sql.charCodeAt(j) === 0x2e) /* . */) j++;
      // 1e5, 0x1F, 1_000 and numbers glued to identifiers are left alone.
      if (j < n && isIdentChar(sql.charCodeAt(j))) return undefined;
      out += `${sql.slice(last, i)}0`;
      last = j;
      i = j;
      changed = true;
      continue;
    }
    i++;
  }
  if (!changed) return undefined;
  return out + sql.slice(last);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isIdentChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x5f /* _ */ ||
    c > 0x7f
  );
}
