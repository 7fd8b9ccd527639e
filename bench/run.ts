// npm run bench [-- --quick] [-- --only=jetsocket,raw ws]
// → markdown table on stdout, bench/results.json, bench/chart.svg
//
// The bench code and ../src are bundled with esbuild first (node_modules stay external) and run as plain
// JavaScript, so jetsocket is measured as shipped — not through tsx's on-the-fly transform, which wraps every
// closure in `__name(...)` (keepNames) and costs jetsocket, and only jetsocket, time and memory per connection.
import { spawn } from "node:child_process"
import * as esbuild from "esbuild"
import { fileURLToPath } from "node:url"

const dir = fileURLToPath(new URL(".", import.meta.url))
// inside node_modules (git-ignored) so the bundle still resolves the external packages
const out = fileURLToPath(new URL("../node_modules/.cache/jetsocket-bench/", import.meta.url))
await esbuild.build({
  entryPoints: { main: `${dir}main.ts`, memory: `${dir}memory.ts`, blaster: `${dir}blaster.ts` },
  outdir: out,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  logLevel: "warning"
})
const child = spawn(process.execPath, [`${out}main.mjs`, ...process.argv.slice(2)], {
  stdio: "inherit",
  env: { ...process.env, BENCH_DIR: dir }
})
child.once("exit", (code) => process.exit(code ?? 1))
