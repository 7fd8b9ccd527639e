// Runs `bench/run.ts --quick` so the bench never rots. Asserts only that it produced rows — no timings.
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

describe("bench (quick)", () => {
  it("produces a row per workload and contender", () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "jetsocket-bench-")), "results.json")
    const res = spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", "--quick"], {
      cwd: path.resolve(__dirname, ".."),
      env: { ...process.env, BENCH_OUT: out },
      encoding: "utf8",
      timeout: 170_000
    })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toContain("| workload | contender |")
    const results = JSON.parse(fs.readFileSync(out, "utf8")) as {
      node: string
      cpu: string
      rows: Array<{ workload: string; contender: string; median: number; unit: string; ratioToRawWs: number | null }>
    }
    expect(results.node).toBe(process.version)
    const workloads = new Set(results.rows.map((r) => r.workload.split(" ")[0]))
    for (const w of ["feed", "echo", "large", "memory/idle", "restart"]) expect(workloads.has(w)).toBe(true)
    const contenders = new Set(results.rows.map((r) => r.contender))
    for (const c of ["jetsocket", "jetsocket+schema", "raw ws", "@effect/platform Socket", "partysocket"]) {
      expect(contenders.has(c)).toBe(true)
    }
    for (const r of results.rows) expect(Number.isFinite(r.median)).toBe(true)
  }, 180_000)
})
