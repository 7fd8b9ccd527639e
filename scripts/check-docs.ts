/**
 * `npm run check-docs`: type-checks every ```ts code block of README.md and
 * docs/*.md against the library's sources, then RUNS the blocks that are
 * complete programs and the blocks that are `@effect/vitest` test files.
 *
 * Type-check: each block is written, as its own module, to `.docs-check/`
 * (gitignored) and compiled with tsc under the project's strict settings,
 * with `jetsocket`, `jetsocket/node`, `jetsocket/testing`, `jetsocket/promise`
 * and `jetsocket/web` mapped to `src/` through `paths`, so blocks import the
 * package exactly as users do. A failure is reported at the Markdown file and
 * line it comes from:
 *
 *   docs/getting-started.md:42: error TS2339: Property 'sendd' does not exist ...
 *
 * Run: a block with a top-level `Effect.runPromise(` / `Effect.runFork(` is a
 * complete program and must say how it runs in its info string:
 *
 *   ```ts run=echo            run against a local echo server
 *   ```ts run=exchange for=3  run against the exchange simulator; interrupted
 *                              (and passed) if still running after 3 s
 *   ```ts run=self            run as is: it starts its own servers (the test kit)
 *   ```ts no-run              never run (say why next to the block)
 *
 * The servers are in scripts/docs-servers.ts (echo, exchange, ticks, …), all
 * on 127.0.0.1: every ws:// / wss:// URL of the block (Binance, example.com,
 * 127.0.0.1:8080…) is rewritten to the server's address, path and query kept,
 * so no program touches the network. The program's top-level run call is
 * replaced by scripts/docs-harness.ts's `run`, and scripts/docs-runner.ts runs
 * the programs one after the other in one child process (node --import tsx).
 * One passes when it succeeds within 60 s, logged nothing at level ERROR or
 * FATAL, threw no stray exception, and its server accepted a connection while
 * it ran.
 *
 * A block importing `@effect/vitest` is a test file: all of them run in one
 * vitest run (with `jetsocket*` aliased to `src/`) and must pass.
 *
 * `npm run check-docs -- some.md` checks only the given files;
 * `--no-run` only type-checks. A block that is a deliberate fragment can opt
 * out of everything with the info string ```ts no-check.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type ServerName, serverNames } from "./docs-servers.js"

export interface Block {
  /** The Markdown file, relative to the repository root. */
  readonly file: string
  /** 1-based line of the first code line (the line after the fence). */
  readonly line: number
  readonly code: string
  /** ```ts no-check: neither type-checked nor run. */
  readonly skipped: boolean
  /** The info string after the language (`run=echo for=3`, `no-run`, …). */
  readonly info: string
}

const fenceOpen = /^(\s*)(`{3,}|~{3,})\s*(ts|typescript|tsx)\b(.*)$/
const anyFenceOpen = /^(\s*)(`{3,}|~{3,})(.*)$/

/** Every ```ts / ```typescript block of a Markdown text, with where it starts. */
export const extractBlocks = (markdown: string, file: string): ReadonlyArray<Block> => {
  const lines = markdown.split(/\r?\n/)
  const blocks: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    const open = anyFenceOpen.exec(lines[i]!)
    if (open === null) continue
    const [, indent, fence] = open
    const ts = fenceOpen.exec(lines[i]!)
    const body: Array<string> = []
    let j = i + 1
    for (; j < lines.length; j++) {
      const line = lines[j]!
      if (line.trim().startsWith(fence!) && line.trim().replace(/[`~]/g, "") === "") break
      body.push(line.startsWith(indent!) ? line.slice(indent!.length) : line.trimStart())
    }
    if (ts !== null) {
      const info = (ts[4] ?? "").trim()
      blocks.push({ file, line: i + 2, code: body.join("\n"), skipped: /\bno-check\b/.test(info), info })
    }
    i = j
  }
  return blocks
}

/** The name of a block's temporary module: `docs/x.md` line 12 → `docs_x.md_L12.ts`. */
export const moduleName = (block: Block): string =>
  `${block.file.replace(/\.\./g, "up").replace(/[\\/:]/g, "_")}_L${block.line}.ts`

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

const markdownFiles = (): ReadonlyArray<string> => {
  const files = fs.existsSync(path.join(root, "README.md")) ? ["README.md"] : []
  const docs = path.join(root, "docs")
  if (fs.existsSync(docs)) {
    for (const name of fs.readdirSync(docs).sort()) if (name.endsWith(".md")) files.push(`docs/${name}`)
  }
  return files
}

const tsconfig = {
  extends: "../tsconfig.base.json",
  compilerOptions: {
    noEmit: true,
    // Snippets often declare a program and leave it unused.
    noUnusedLocals: false,
    noUnusedParameters: false,
    paths: {
      "jetsocket": ["../src/index.ts"],
      "jetsocket/node": ["../src/node.ts"],
      "jetsocket/testing": ["../src/testing.ts"],
      "jetsocket/promise": ["../src/promise.ts"],
      "jetsocket/web": ["../src/web.ts"],
      "jetsocket/*": ["../src/*.ts"]
    }
  },
  include: ["./*.ts"]
}

const typecheck = (only: ReadonlyArray<string>): number => {
  const out = path.join(root, ".docs-check")
  fs.rmSync(out, { recursive: true, force: true })
  fs.mkdirSync(out, { recursive: true })
  const byModule = new Map<string, Block>()
  let skipped = 0
  const files = only.length > 0 ? only.map((f) => path.relative(root, path.resolve(f))) : markdownFiles()
  for (const file of files) {
    for (const block of extractBlocks(fs.readFileSync(path.resolve(root, file), "utf8"), file)) {
      if (block.skipped) {
        skipped++
        continue
      }
      const name = moduleName(block)
      byModule.set(name, block)
      // `export {}` keeps every block a module of its own (no clashes between blocks).
      fs.writeFileSync(path.join(out, name), `${block.code}\nexport {}\n`)
    }
  }
  fs.writeFileSync(path.join(out, "tsconfig.json"), JSON.stringify(tsconfig, null, 2))
  if (byModule.size === 0) {
    console.log(`check-docs: no ts blocks in ${files.length} file(s)`)
    return 0
  }
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
  const result = spawnSync(process.execPath, [tsc, "-p", path.join(out, "tsconfig.json"), "--pretty", "false"], {
    cwd: root,
    encoding: "utf8"
  })
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`
  const failed = new Set<string>()
  const report: Array<string> = []
  for (const line of output.split("\n")) {
    if (line.trim() === "" || line.includes("nodedir")) continue
    const m = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(line)
    const block = m === null ? undefined : byModule.get(path.basename(m[1]!))
    if (m !== null && block !== undefined) {
      failed.add(moduleName(block))
      report.push(`${block.file}:${block.line + Number(m[2]) - 1}:${m[3]}: ${m[4]} (block at ${block.file}:${block.line - 1})`)
    } else if (/^\s/.test(line) && report.length > 0) {
      report.push(line) // continuation of the previous diagnostic
    } else {
      report.push(line)
    }
  }
  for (const line of report) console.log(line)
  const total = byModule.size
  if (result.status === 0) {
    console.log(`check-docs: ${total} block(s) in ${files.length} file(s) type-check${skipped > 0 ? ` (${skipped} marked no-check)` : ""}`)
    return 0
  }
  console.log(`check-docs: ${failed.size} of ${total} block(s) failed to type-check`)
  return 1
}

/** A top-level run call: the block is a complete program. */
const programCall = /^(?:Effect\.run(?:Promise|Fork)|NodeRuntime\.runMain)\(/m

/** How a block runs: as a program against a server, as a vitest file, or not at all. */
export type RunPlan =
  | { readonly _tag: "Program"; readonly server: ServerName | "self"; readonly forSeconds: number | undefined }
  | { readonly _tag: "Test" }
  | { readonly _tag: "None" }
  | { readonly _tag: "Invalid"; readonly message: string }

export const runPlan = (block: Block): RunPlan => {
  if (block.skipped || /\bno-run\b/.test(block.info)) return { _tag: "None" }
  if (/from\s+["']@effect\/vitest["']/.test(block.code)) return { _tag: "Test" }
  const run = /\brun=(\S+)/.exec(block.info)
  const seconds = /\bfor=(\d+)\b/.exec(block.info)
  if (run === null) {
    return programCall.test(block.code)
      ? { _tag: "Invalid", message: `a complete program: say how it runs (\`\`\`ts run=<${[...serverNames, "self"].join("|")}> [for=N]) or \`\`\`ts no-run` }
      : { _tag: "None" }
  }
  const server = run[1] === "self" ? "self" : serverNames.find((name) => name === run[1])
  if (server === undefined) return { _tag: "Invalid", message: `unknown server "${run[1]}" (known: ${serverNames.join(", ")})` }
  if (!programCall.test(block.code)) return { _tag: "Invalid", message: "run= on a block with no top-level Effect.runPromise/runFork call" }
  return { _tag: "Program", server, forSeconds: seconds === null ? undefined : Number(seconds[1]) }
}

/** The block as a runnable module: URLs → the local server, the run call → the harness. */
export const runnable = (code: string, serverUrl: string | undefined, harness: string): string =>
  `${
    code
      .replace(/(["'`])wss?:\/\/[^/"'`\s?$]+/g, (url: string, quote: string) => serverUrl === undefined ? url : `${quote}${serverUrl}`)
      .replace(/^(?:Effect\.run(?:Promise|Fork)|NodeRuntime\.runMain)\(/gm, "__docsRun(")
  }\nimport { run as __docsRun } from ${JSON.stringify(harness)}\n`

interface ProcessResult {
  readonly code: number | null
  readonly output: string
}

const runChild = (args: ReadonlyArray<string>, env: Record<string, string>, timeoutMs: number): Promise<ProcessResult> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")))
    child.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")))
    const killer = setTimeout(() => {
      output += `\n(killed after ${timeoutMs / 1000} s)`
      child.kill("SIGKILL")
    }, timeoutMs)
    child.on("close", (code) => {
      clearTimeout(killer)
      resolve({ code, output })
    })
  })

const runAll = async (only: ReadonlyArray<string>): Promise<number> => {
  const files = only.length > 0 ? only.map((f) => path.relative(root, path.resolve(f))) : markdownFiles()
  const out = path.join(root, ".docs-check")
  const runDir = path.join(out, "run")
  const testDir = path.join(out, "tests")
  fs.mkdirSync(runDir, { recursive: true })
  fs.mkdirSync(testDir, { recursive: true })
  const programs: Array<{ block: Block; server: ServerName | "self"; forSeconds: number | undefined }> = []
  const tests: Array<Block> = []
  const problems: Array<string> = []
  for (const file of files) {
    for (const block of extractBlocks(fs.readFileSync(path.resolve(root, file), "utf8"), file)) {
      const plan = runPlan(block)
      if (plan._tag === "Invalid") problems.push(`${block.file}:${block.line - 1}: ${plan.message}`)
      else if (plan._tag === "Program") programs.push({ block, server: plan.server, forSeconds: plan.forSeconds })
      else if (plan._tag === "Test") tests.push(block)
    }
  }
  for (const problem of problems) console.log(problem)

  const { Effect, Exit, Scope } = await import("effect")
  const { start } = await import("./docs-servers.js")
  const scope = Effect.runSync(Scope.make())
  const { connectedAt, servers } = await Effect.runPromise(Scope.extend(start(), scope))
  const harness = path.join(root, "scripts", "docs-harness.ts")
  let failures = problems.length
  try {
    // Every program in one child process (scripts/docs-runner.ts), one after the other.
    const manifest = programs.map(({ block, forSeconds, server }) => {
      // run=self: the block starts its own servers (the test kit); its URLs are left alone.
      const file = path.join(runDir, moduleName(block))
      const url = server === "self" ? undefined : `ws://127.0.0.1:${servers[server].port}`
      fs.writeFileSync(file, runnable(block.code, url, harness))
      return { file, forSeconds }
    })
    fs.writeFileSync(path.join(runDir, "manifest.json"), JSON.stringify(manifest))
    const result = await runChild(
      ["--import", "tsx", path.join(root, "scripts", "docs-runner.ts"), path.join(runDir, "manifest.json")],
      { TSX_TSCONFIG_PATH: path.join(out, "tsconfig.json") },
      60_000 * (programs.length + 1)
    )
    const reports = new Map<number, { ok: boolean; startedAt: number; endedAt: number; output: string }>()
    for (const line of result.output.split("\n")) {
      if (!line.startsWith("{\"index\"")) continue
      const report = JSON.parse(line) as { index: number; ok: boolean; startedAt: number; endedAt: number; output: string }
      reports.set(report.index, report)
    }
    for (const [index, { block, forSeconds, server }] of programs.entries()) {
      const where = `${block.file}:${block.line - 1} (run=${server}${forSeconds === undefined ? "" : ` for=${forSeconds}`})`
      const report = reports.get(index)
      const why = report === undefined
        ? `no result (the runner ended: exit code ${result.code})`
        : !report.ok
        ? "failed"
        : /level=(ERROR|FATAL)/.test(report.output)
        ? "logged an error"
        : server !== "self" && !connectedAt[server].some((t) => t >= report.startedAt && t <= report.endedAt)
        ? "never connected to the local server"
        : undefined
      if (why === undefined) {
        console.log(`ran ${where} in ${((report!.endedAt - report!.startedAt) / 1000).toFixed(1)} s`)
      } else {
        failures++
        const shown = report?.output ?? result.output
        console.log(`FAILED ${where}: ${why}\n${shown.trim().split("\n").slice(-30).map((l) => `  | ${l}`).join("\n")}`)
      }
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }

  if (tests.length > 0) {
    for (const block of tests) fs.writeFileSync(path.join(testDir, moduleName(block).replace(/\.ts$/, ".test.ts")), `${block.code}\n`)
    const config = path.join(out, "vitest.config.ts")
    fs.writeFileSync(
      config,
      `import { defineConfig } from "vitest/config"
export default defineConfig({
  resolve: {
    alias: [
      { find: /^jetsocket$/, replacement: ${JSON.stringify(path.join(root, "src", "index.ts"))} },
      { find: /^jetsocket\\/(.*)$/, replacement: ${JSON.stringify(path.join(root, "src"))} + "/$1.ts" }
    ]
  },
  test: { root: ${JSON.stringify(root)}, include: [".docs-check/tests/*.test.ts"], testTimeout: 30_000, pool: "forks" }
})
`
    )
    const result = await runChild([path.join(root, "node_modules", "vitest", "vitest.mjs"), "run", "--config", config], {}, 300_000)
    // eslint-disable-next-line no-control-regex
    const summary = result.output.replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter((l) => /Tests |Test Files |FAIL|✓|×/.test(l))
    if (result.code === 0) {
      console.log(`ran ${tests.length} test block(s) with vitest:\n${summary.map((l) => `  ${l.trim()}`).join("\n")}`)
    } else {
      failures++
      console.log(`FAILED the test blocks (vitest exit ${result.code}):\n${result.output.split("\n").map((l) => `  | ${l}`).join("\n")}`)
    }
  }
  const total = programs.length + tests.length
  console.log(
    failures === 0
      ? `check-docs: ${programs.length} program(s) and ${tests.length} test block(s) ran`
      : `check-docs: ${failures} problem(s) running ${total} block(s)`
  )
  return failures === 0 ? 0 : 1
}

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const noRun = argv.includes("--no-run")
  const only = argv.filter((arg) => arg !== "--no-run")
  const typed = typecheck(only)
  if (typed !== 0 || noRun) return typed
  return runAll(only)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // With file arguments, only those Markdown files are checked.
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}
