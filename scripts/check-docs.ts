/**
 * `npm run check-docs`: type-checks every ```ts code block of README.md and
 * docs/*.md against the library's sources.
 *
 * Each block is written, as its own module, to `.docs-check/` (gitignored)
 * and compiled with tsc under the project's strict settings, with
 * `jetsocket`, `jetsocket/node`, `jetsocket/testing`, `jetsocket/promise`
 * and `jetsocket/web` mapped to `src/` through `paths`, so blocks import the
 * package exactly as users do. A failure is reported at the Markdown file and
 * line it comes from:
 *
 *   docs/getting-started.md:42: error TS2339: Property 'sendd' does not exist ...
 *
 * `npm run check-docs -- some.md` checks only the given files.
 *
 * Write blocks as complete modules (imports included). A block that is a
 * deliberate fragment can opt out with the info string ```ts no-check.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

export interface Block {
  /** The Markdown file, relative to the repository root. */
  readonly file: string
  /** 1-based line of the first code line (the line after the fence). */
  readonly line: number
  readonly code: string
  readonly skipped: boolean
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
      blocks.push({ file, line: i + 2, code: body.join("\n"), skipped: /\bno-check\b/.test(ts[4] ?? "") })
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

const main = (only: ReadonlyArray<string>): number => {
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

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // With file arguments, only those Markdown files are checked.
  process.exitCode = main(process.argv.slice(2))
}
