// npm run bench [-- --quick] [-- --only=jetsocket,raw ws] [-- --baseline=<git-ref>]
// → markdown table on stdout, bench/results.json, bench/chart.svg
//
// The bench code and ../src are bundled with esbuild first (node_modules stay external) and run as plain
// JavaScript, so jetsocket is measured as shipped — not through tsx's on-the-fly transform, which wraps every
// closure in `__name(...)` (keepNames) and costs jetsocket, and only jetsocket, time and memory per connection.
//
// `--baseline=<git-ref>`: the library's src/ at that ref (`git archive`) is bundled with this bench's
// own code into baseline/, and main.ts runs its jetsocket contender as "jetsocket@<ref>" beside the
// others, interleaved with them in the same run (a before/after budget measured on one machine state).
// Several refs, comma-separated (`--baseline=8503373,main`), each become a contender of their own.
import { execFileSync, spawn } from "node:child_process"
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const dir = fileURLToPath(new URL(".", import.meta.url))
const repo = path.resolve(dir, "..")
// inside node_modules (git-ignored) so the bundle still resolves the external packages
const out = fileURLToPath(new URL("../node_modules/.cache/jetsocket-bench/", import.meta.url))
/** The bundles: main and what it runs in child processes or imports by path (also for the baseline). */
const entries = ["memory", "restart", "multiplex", "scale", "fresh"] as const

const bundle = (from: string, to: string, names: ReadonlyArray<string>) =>
  esbuild.build({
    entryPoints: Object.fromEntries(names.map((name) => [name, `${from}${name}.ts`])),
    outdir: to,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning"
  })

await bundle(dir, out, ["main", "blaster", ...entries])

/** `--baseline=<ref>[,<ref>...]`: each ref's library becomes a contender (bundled into baseline/<i>/). */
const baselines = process.argv.find((a) => a.startsWith("--baseline="))?.slice(11).split(",") ?? []
const git = (...args: Array<string>) => execFileSync("git", ["-C", repo, ...args], { encoding: "utf8" })
fs.rmSync(`${out}baseline`, { recursive: true, force: true })
for (const [i, baseline] of baselines.entries()) {
  // The ref's src/ and this bench's code side by side in a temp dir, bundled into baseline/<i>/.
  try {
    git("rev-parse", "--verify", "--quiet", `${baseline}^{commit}`)
  } catch {
    console.error(`--baseline=${baseline}: not a commit in ${repo}`)
    process.exit(2)
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jetsocket-baseline-"))
  try {
    execFileSync("sh", ["-c", `git -C "$1" archive "$2" src | tar -x -C "$3"`, "sh", repo, baseline, tmp])
    fs.mkdirSync(`${tmp}/bench`)
    for (const file of fs.readdirSync(dir)) if (file.endsWith(".ts")) fs.copyFileSync(`${dir}${file}`, `${tmp}/bench/${file}`)
    await bundle(`${tmp}/bench/`, `${out}baseline/${i}/`, ["contenders", ...entries])
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

// The scale workload holds 10 000 sockets in one process (and as many in the blaster): raise the soft
// file-descriptor limit to the hard one for the bench's processes (Node has no setrlimit; a shell does).
const args = [`${out}main.mjs`, ...process.argv.slice(2)]
const env = { ...process.env, BENCH_DIR: dir, ...(baselines.length === 0 ? {} : { BENCH_BASELINE: baselines.join(",") }) }
const child = process.platform === "win32"
  ? spawn(process.execPath, args, { stdio: "inherit", env })
  : spawn("/bin/sh", ["-c", `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`, "sh", process.execPath, ...args], { stdio: "inherit", env })
child.once("exit", (code) => process.exit(code ?? 1))
