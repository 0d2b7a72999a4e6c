import { existsSync, readFileSync, writeFileSync } from "node:fs";

const begin = (name: string) => `<!-- begin:${name} -->`;
const end = (name: string) => `<!-- end:${name} -->`;

/**
 * `text` with the section `name` (between `<!-- begin:name -->` and `<!-- end:name -->`)
 * replaced by `markdown`; a missing section is appended. Other sections are untouched.
 */
export function replaceSection(text: string, name: string, markdown: string): string {
  const block = `${begin(name)}\n${markdown.trim()}\n${end(name)}`;
  const from = text.indexOf(begin(name));
  const to = text.indexOf(end(name));
  if (from >= 0 && to > from) return `${text.slice(0, from)}${block}${text.slice(to + end(name).length)}`;
  const head = text.trimEnd();
  return `${head ? `${head}\n\n` : ""}${block}\n`;
}

/** Rewrites only this benchmark's section of a results file, so benchmarks never clobber each other. */
export function writeResultsSection(file: string, name: string, markdown: string): void {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  writeFileSync(file, replaceSection(text, name, markdown));
}
