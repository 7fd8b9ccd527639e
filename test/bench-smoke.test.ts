// Runs `bench/run.ts --quick` so the bench never rots. Asserts only that it produced rows — no timings.
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

interface Results {
  node: string
  cpu: string
  busyCpus: boolean
  spinnerPids: Array<number>
  rows: Array<{ workload: string; contender: string; median: number; unit: string; ratioToRawWs: number | null }>
}

const runBench = (args: ReadonlyArray<string>, timeout: number) => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "jetsocket-bench-")), "results.json")
  const res = spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", "--quick", ...args], {
    cwd: path.resolve(__dirname, ".."),
    env: { ...process.env, BENCH_OUT: out },
    encoding: "utf8",
    timeout
  })
  expect(res.status, res.stderr).toBe(0)
  expect(res.stdout).toContain("| workload | contender |")
  return JSON.parse(fs.readFileSync(out, "utf8")) as Results
}

/**
 * Whether the spinner the bench started as `pid` still runs. Only that pid is
 * checked (other processes on the machine are none of this test's business);
 * on Linux its command line must still be the spinner's (a reused pid, or a
 * killed spinner left as a zombie with no command line, is not it).
 */
const spinnerAlive = (pid: number): boolean => {
  if (fs.existsSync("/proc/self/cmdline")) {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("for (;;);")
    } catch {
      return false // gone
    }
  }
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("bench (quick)", () => {
  it("produces a row per workload and contender", () => {
    const results = runBench([], 170_000)
    expect(results.node).toBe(process.version)
    expect(results.busyCpus).toBe(false)
    const workloads = new Set(results.rows.map((r) => r.workload.split(" ")[0]))
    for (const w of ["feed", "echo", "large", "memory/idle", "restart"]) expect(workloads.has(w)).toBe(true)
    const contenders = new Set(results.rows.map((r) => r.contender))
    for (const c of ["jetsocket", "jetsocket+schema", "raw ws", "@effect/platform Socket", "partysocket"]) {
      expect(contenders.has(c)).toBe(true)
    }
    for (const r of results.rows) expect(Number.isFinite(r.median)).toBe(true)
    const cpu = results.rows.filter((r) => r.workload === "echo 32 B CPU per round trip")
    expect(cpu.map((r) => r.contender)).toContain("jetsocket")
    for (const r of cpu) expect(r.median).toBeGreaterThan(0)
  }, 180_000)

  it("--busy-cpus runs with the CPUs kept busy and leaves no spinner behind", () => {
    const results = runBench(["--busy-cpus", "--workloads=echo", "--only=jetsocket,raw ws"], 50_000)
    expect(results.busyCpus).toBe(true)
    expect(new Set(results.rows.map((r) => r.contender))).toEqual(new Set(["jetsocket", "raw ws"]))
    expect(results.rows.map((r) => r.workload)).toContain("echo 32 B CPU per round trip")
    // one spinner per CPU was started, and each of them is gone once the bench exited
    expect(results.spinnerPids.length).toBe(os.cpus().length)
    expect(results.spinnerPids.filter(spinnerAlive)).toEqual([])
  }, 60_000)
})
