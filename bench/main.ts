// The bench proper, run bundled by bench/run.ts (see there). Writes bench/results.json and bench/chart.svg.
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { fileURLToPath, pathToFileURL } from "node:url"
import { writeChart } from "./chart.js"
import { type Contender, contenders, type FeedConsumer, floorName } from "./contenders.js"
import { feedMessage } from "./blaster.js"

const quick = process.argv.includes("--quick")
const only = process.argv.find((a) => a.startsWith("--only="))?.slice(7).split(",")
/** `--workloads=feed,echo,large,fresh,memory,multiplex,scale,restart`: run only these (all by default). */
const workloads = process.argv.find((a) => a.startsWith("--workloads="))?.slice(12).split(",")
const runs = (workload: string) => workloads === undefined || workloads.includes(workload)
/**
 * `--busy-cpus`: keep every CPU out of idle while the bench runs, with one lowest-priority
 * (nice 19) spinning process per CPU, as `idle=poll` would. On a VM, a round trip between two
 * processes that both sleep in `epoll_wait` is mostly the hypervisor waking halted vCPUs (~2/3 of
 * a 32 B echo here, docs/performance.md); with the CPUs kept busy it measures the clients.
 */
const busyCpus = process.argv.includes("--busy-cpus")
// 7 (the issue asks ≥ 5): the shared machine's slow phases last seconds; more interleaved rounds
// make the median less dependent on which round one of them hit.
const RUNS = quick ? 1 : 7
const FEED_N = quick ? 20_000 : 200_000
const ECHO_N = quick ? 1_000 : 20_000
const LARGE_N = quick ? 300 : 10_000
/** Each run of feed, echo and large is split in this many parts, interleaved with the other contenders' (see `rounds`). */
const SEGMENTS = quick ? 1 : 4
/**
 * Large messages get more runs: a run there is either fast or ~2× slower, for every contender alike,
 * depending on whether V8 falls into a cycle of external-memory-triggered mark-compacts (64 KiB
 * ArrayBuffers, see docs/performance.md); more rounds keep the median off that coin toss.
 */
const LARGE_RUNS = quick ? 1 : 11
// this file runs bundled from node_modules/.cache/jetsocket-bench/ (see run.ts); outputs go to bench/
const dir = process.env.BENCH_DIR ?? fileURLToPath(new URL("../../../bench/", import.meta.url))
const build = fileURLToPath(new URL(".", import.meta.url))
/**
 * `--baseline=<git-ref>[,<git-ref>...]` (see run.ts): the library at each ref, bundled with this
 * bench's code into `baseline/<i>/` next to this file; its jetsocket contender runs as
 * "jetsocket@<ref>" beside the others.
 */
const baseline = process.env.BENCH_BASELINE
const baselineNames = baseline === undefined ? [] : baseline.split(",").map((ref) => `jetsocket@${ref}`)
const isBaseline = (name: string) => baselineNames.includes(name)
const baselineBuild = (name: string) => `${build}baseline/${baselineNames.indexOf(name)}/`

/** The bundle (and the name inside it) that runs a contender's child-process or in-process workloads. */
const libOf = (name: string): { readonly build: string; readonly name: string } =>
  isBaseline(name) ? { build: baselineBuild(name), name: "jetsocket" } : { build, name }
const importFrom = <M>(lib: { readonly build: string }, module: string): Promise<M> =>
  import(pathToFileURL(`${lib.build}${module}.mjs`).href) as Promise<M>

export interface Row {
  workload: string
  contender: string
  median: number
  min: number
  max: number
  unit: string
  ratioToRawWs: number | null
  /** Same-run median over the floor contender's (raw ws → Effect Queue), where it runs. */
  ratioToFloor: number | null
  /** The contender `ratioToFloor` divides by (the workload's floor), when it ran. */
  floor: string | null
}

const spawnBlaster = (port = 0): Promise<{ child: ChildProcess; port: number }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${build}blaster.mjs`, String(port)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.stdout!.on("data", (d: Buffer) => {
      const m = /PORT (\d+)/.exec(d.toString())
      if (m) resolve({ child, port: Number(m[1]) })
    })
    child.once("exit", (code) => reject(new Error(`blaster exited ${code}`)))
  })

const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const pct = (xs: Array<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

type Sample = Record<string, Record<string, Array<number>>> // workload → contender → per-run values
const samples: Sample = {}
const units: Record<string, string> = {}
const higherBetter: Record<string, boolean> = {}
const record = (workload: string, contender: string, v: number, unit: string, hb: boolean) => {
  ;((samples[workload] ??= {})[contender] ??= []).push(v)
  units[workload] = unit
  higherBetter[workload] = hb
}

const all: ReadonlyArray<Contender> = [
  ...contenders,
  // the current bench's jetsocket contender, bundled against the library at each ref
  ...(await Promise.all(baselineNames.map(async (name) =>
    (await importFrom<typeof import("./contenders.js")>({ build: baselineBuild(name) }, "contenders")).contenders
      .filter((c) => c.name === "jetsocket")
      .map((c) => ({ ...c, name }))
  ))).flat()
]
const active = all.filter((c) => !only || only.includes(c.name))
const withTimeout = <A>(p: Promise<A>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms).unref())])

const throughput = async (port: number) => {
  const feedBytes = feedMessage(120).length
  // warm-up (untimed): JIT every contender's receive path once so the first one measured is not penalised
  for (const c of active) {
    if (runs("feed") && c.feed) await c.feed(`ws://127.0.0.1:${port}/feed?n=20000&size=120`, 20000)
    if (runs("feed") && c.feedEach) await c.feedEach(`ws://127.0.0.1:${port}/feed?n=20000&size=120`, 20000, "runForEach")
    if (runs("echo") && c.echo) await c.echo(`ws://127.0.0.1:${port}/echo`, "warm", 500)
    if (runs("large") && c.large) await c.large(`ws://127.0.0.1:${port}/large?n=50&size=65536`, 50)
  }
  // One workload at a time, its runs back to back with the contenders interleaved: the shared
  // machine has slow phases of a few seconds (raw ws alone swings 500k ↔ 830k msgs/s), and a phase
  // must hit every contender of a workload alike, not whichever one ran during it. So each run is
  // made of SEGMENTS parts per contender, interleaved (a part is a quarter of the run's messages or
  // round trips, on a connection of its own, ~0.1–0.6 s), and the order rotates with every part:
  // each contender runs in every position, after each of the others, about equally often.
  const rounds = async <P>(
    part: (c: Contender) => Promise<P> | undefined,
    total: (c: Contender, parts: Array<P>) => void,
    count = RUNS
  ) => {
    for (let run = 0; run < count; run++) {
      const parts = new Map<Contender, Array<P>>()
      for (let segment = 0; segment < SEGMENTS; segment++) {
        for (let i = 0; i < active.length; i++) {
          const c = active[(i + run + segment) % active.length]!
          const done = part(c)
          if (done !== undefined) (parts.get(c) ?? parts.set(c, []).get(c)!).push(await done)
        }
      }
      for (const [c, ps] of parts) total(c, ps)
    }
  }
  const sum = (xs: Array<number>) => xs.reduce((a, b) => a + b, 0)
  if (runs("feed")) {
    const n = FEED_N / SEGMENTS
    const url = `ws://127.0.0.1:${port}/feed?n=${n}&size=120`
    await rounds(
      (c) => c.feed && withTimeout(c.feed(url, n), 120_000, `${c.name} feed`),
      (c, ms) => record(`feed ${feedBytes} B JSON (Stream.runDrain)`, c.name, FEED_N / (sum(ms) / 1000), "msgs/s", true)
    )
    // as users consume it, reading a field of each message: beside raw ws (a callback) and the floor
    for (const consumer of ["runForEach", "runForEachChunk"] as const satisfies ReadonlyArray<FeedConsumer>) {
      await rounds(
        (c) => c.feedEach && withTimeout(c.feedEach(url, n, consumer), 120_000, `${c.name} feed ${consumer}`),
        (c, ms) => record(`feed ${feedBytes} B JSON (Stream.${consumer}, a field)`, c.name, FEED_N / (sum(ms) / 1000), "msgs/s", true)
      )
    }
  }
  for (const [label, size] of runs("echo") ? [["32 B", 32], ["8 KiB", 8192]] as const : []) {
    const payload = "e".repeat(size)
    await rounds(
      (c) => {
        const echo = c.echo
        if (echo === undefined) return undefined
        return (async () => {
          // The process's CPU time (user + system) over the part: what a round trip costs the client
          // itself, whatever the latency (the blaster is another process).
          const cpu = process.cpuUsage()
          const latencies = await withTimeout(echo(`ws://127.0.0.1:${port}/echo`, payload, ECHO_N / SEGMENTS), 120_000, `${c.name} echo`)
          const used = process.cpuUsage(cpu)
          return { latencies, cpu: used.user + used.system }
        })()
      },
      (c, parts) => {
        const lat = parts.flatMap((p) => p.latencies) // the run's ECHO_N round trips
        record(`echo ${label} p50`, c.name, pct(lat, 50), "µs", false)
        record(`echo ${label} p99`, c.name, pct(lat, 99), "µs", false)
        record(`echo ${label} CPU per round trip`, c.name, sum(parts.map((p) => p.cpu)) / lat.length, "µs", false)
      }
    )
  }
  if (runs("large")) {
    const n = LARGE_N / SEGMENTS
    await rounds(
      (c) => c.large && withTimeout(c.large(`ws://127.0.0.1:${port}/large?n=${n}&size=65536`, n), 120_000, `${c.name} large`),
      (c, ms) => record("large 64 KiB binary", c.name, (LARGE_N * 65536) / 1e6 / (sum(ms) / 1000), "MB/s", true),
      LARGE_RUNS
    )
  }
}

// memory: each contender in a fresh child process (bench/memory.ts), alternating, RUNS times
const memory = async (port: number) => {
  const conns = quick ? 200 : 1000
  const names = active.filter((c) => !c.reference).map((c) => c.name).filter((n) => n !== "jetsocket+schema")
  // Then jetsocket's clients each opened by its own runPromise (and scope), beside raw ws opened the same way as above.
  const independent = names.filter((n) => n === "raw ws" || n === "jetsocket" || isBaseline(n))
  const probes = [
    ...names.map((name) => ({ name, mode: "one fiber", workload: `(${conns})` })),
    ...independent.map((name) => ({ name, mode: "independent", workload: `(${conns}, each connect its own runPromise)` }))
  ]
  for (let run = 0; run < Math.max(1, quick ? 1 : 3); run++) {
    for (const { name, mode, workload } of run % 2 ? [...probes].reverse() : probes) {
      const lib = libOf(name)
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ["--expose-gc", `${lib.build}memory.mjs`, lib.name, String(port), String(conns), mode],
          { stdio: ["ignore", "pipe", "inherit"] }
        )
        let text = ""
        child.stdout!.on("data", (d: Buffer) => (text += d.toString()))
        child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`memory ${name} exited ${code}`))))
      })
      const r = JSON.parse(out.trim().split("\n").pop()!) as { rss: number; heap: number }
      record(`memory/idle conn RSS ${workload}`, name, r.rss / 1024, "KiB", false)
      record(`memory/idle conn heap ${workload}`, name, r.heap / 1024, "KiB", false)
    }
  }
}

// restart → flowing: blaster killed, restarted on the same port; time from the new listen to first message
const restart = async () => {
  const reconnecting = active.filter((c) => !c.reference && c.name !== "raw ws" && c.name !== "jetsocket+schema")
  for (let run = 0; run < (quick ? 1 : RUNS); run++) {
    for (const c of run % 2 ? [...reconnecting].reverse() : reconnecting) {
      const lib = libOf(c.name)
      const { restartProbe } = await importFrom<typeof import("./restart.js")>(lib, "restart")
      const ms = await withTimeout(restartProbe(lib.name), 60_000, `${c.name} restart`)
      record("restart → flowing (base 100 ms)", c.name, ms, "ms", false)
    }
  }
}

/** Workloads whose floor is not the Queue floor (`floorName`): the multiplex rows, each with its own. */
const floorOf: Record<string, string> = {}

const multiplex = async (port: number) => {
  if (!fs.existsSync(`${dir}../src/Multiplex.ts`)) return
  type Module = typeof import("./multiplex.js")
  const measured: Array<{ name: string; module: Module; as: Module["multiplexContenders"][number] }> = []
  for (const c of active) {
    const lib = libOf(c.name)
    const module = await importFrom<Module>(lib, "multiplex")
    const as = module.multiplexContenders.find((m) => m === lib.name)
    if (as !== undefined) measured.push({ name: c.name, module, as })
  }
  const n = quick ? 10_000 : 100_000
  // Each row beside its floor: runForEach per subscription (floor: an Effect Queue per channel, the
  // same consumer), and mux.runForEach (the router runs each channel's handler; floor: one Effect
  // Queue, one fiber running an Effect handler per message). A baseline without mux.runForEach fails
  // its router runs: left out of that row, said so.
  const rows = [
    ["subscriptions", "multiplex 100 channels (runForEach per subscription)"],
    ["router", "multiplex 100 channels (mux.runForEach, router-level)"]
  ] as const
  for (const [consumer, workload] of rows) {
    const { contenders: names, floor } = measured[0]?.module.multiplexRows[consumer] ?? { contenders: [], floor: "" }
    floorOf[workload] = floor
    let inRow = measured.filter((m) => names.includes(m.as))
    for (let run = 0; run < RUNS; run++) {
      for (let i = 0; i < inRow.length; i++) {
        const m = inRow[(i + run) % inRow.length]!
        try {
          const v = await withTimeout(m.module.multiplexRun(m.as, port, n, consumer), 120_000, `${m.name} multiplex ${consumer}`)
          record(workload, m.name, v, "msgs/s", true)
        } catch (e) {
          if (!isBaseline(m.name)) throw e
          console.error(`${workload}: ${m.name} left out (${String(e)})`)
          inRow = inRow.filter((x) => x !== m)
          i--
        }
      }
    }
  }
}

/**
 * The feed as a user measures a client on its own (bench/fresh.ts): each client in a fresh process,
 * one connection of FEED_N messages, no warm-up; and a second connection in that process, warm.
 * The contenders alternate (the order rotates every run), so a slow phase of the machine hits all.
 */
const fresh = async (port: number) => {
  const names = active.map((c) => c.name).filter((n) => n === "raw ws" || n === "jetsocket" || isBaseline(n) || n === floorName)
  const feedBytes = feedMessage(120).length
  for (const consumer of ["runForEach", "runForEachChunk", "runDrain"] as const) {
    for (let run = 0; run < RUNS; run++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + run) % names.length]!
        const lib = libOf(name)
        const r = await withTimeout(
          runChild<{ coldMs: number; warmMs: number }>(`${lib.build}fresh.mjs`, [lib.name, String(port), String(FEED_N), consumer]),
          120_000,
          `${name} fresh ${consumer}`
        )
        // raw ws parses each message and reads a field whatever the Stream consumer (runDrain: parses only)
        const what = consumer === "runDrain" ? "Stream.runDrain" : `Stream.${consumer}, a field`
        record(`feed ${feedBytes} B JSON, fresh process, cold (${what})`, name, FEED_N / (r.coldMs / 1000), "msgs/s", true)
        record(`feed ${feedBytes} B JSON, fresh process, 2nd connection (${what})`, name, FEED_N / (r.warmMs / 1000), "msgs/s", true)
      }
    }
  }
  // raw ws after the other contenders' feeds ran in its process (as in the in-process rows, which
  // share one process): beside its 2nd connection in a process of its own, above.
  const others = active.filter((c) => c.name !== "raw ws" && (c.feed || c.feedEach) && !isBaseline(c.name)).map((c) => c.name)
  if (names.includes("raw ws") && others.length > 0) {
    for (let run = 0; run < RUNS; run++) {
      const r = await withTimeout(
        runChild<{ coldMs: number; warmMs: number }>(`${build}fresh.mjs`, ["raw ws", String(port), String(FEED_N), "runForEach", others.join(",")]),
        300_000,
        "raw ws after the others"
      )
      record(`feed ${feedBytes} B JSON, raw ws after the other contenders in its process (a field)`, "raw ws", FEED_N / (r.warmMs / 1000), "msgs/s", true)
    }
  }
}

/** Runs a bundled child script and parses the JSON line it prints last. */
const runChild = <R>(script: string, args: ReadonlyArray<string>): Promise<R> =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", script, ...args], { stdio: ["ignore", "pipe", "inherit"] })
    let text = ""
    child.stdout!.on("data", (d: Buffer) => (text += d.toString()))
    child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`${script} ${args.join(" ")} exited ${code}`))))
  }).then((out) => JSON.parse(out.trim().split("\n").pop()!) as R)

/** The soft limit on open files (Linux: /proc/self/limits; run.ts raised it to the hard one), or undefined. */
const fdLimit = (): number | undefined => {
  try {
    const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))
    const soft = line?.split(/\s{2,}/)[1]
    return soft === undefined || soft === "unlimited" ? undefined : Number(soft)
  } catch {
    return undefined
  }
}

/**
 * Scale (bench/scale.ts, each contender in a fresh child process): 10 000 idle connections in one
 * process with a heartbeat every second (time to open 200 at a time, RSS and heap per connection,
 * CPU per second while idle), and 100 connections fed at once (aggregate msgs/s).
 */
const scale = async (port: number) => {
  const names = active.map((c) => c.name).filter((n) => n === "raw ws" || n === "jetsocket" || isBaseline(n))
  let idle = quick ? 300 : 10_000
  const limit = fdLimit()
  if (limit !== undefined && limit < idle + 256) {
    console.error(`scale: the open-files limit is ${limit} (ulimit -n; the hard limit caps it): ${limit - 256} idle connections instead of ${idle}`)
    idle = limit - 256
  }
  const window = quick ? 1_000 : 5_000
  for (let run = 0; run < (quick ? 1 : 3); run++) {
    for (const name of run % 2 ? [...names].reverse() : names) {
      const lib = libOf(name)
      const r = await withTimeout(
        runChild<{ openMs: number; rss: number; heap: number; cpuPerSecond: number }>(
          `${lib.build}scale.mjs`,
          [lib.name, String(port), "idle", String(idle), "0", String(window)]
        ),
        300_000,
        `${name} scale idle`
      )
      const label = `${idle.toLocaleString("en-US")} idle, heartbeat 1 s`
      record(`scale: time to open ${label}`, name, r.openMs, "ms", false)
      record(`scale: RSS per connection, ${label}`, name, r.rss / 1024, "KiB", false)
      record(`scale: heap per connection, ${label}`, name, r.heap / 1024, "KiB", false)
      record(`scale: CPU per second, ${label}`, name, r.cpuPerSecond, "ms/s", false)
    }
  }
  const conns = 100
  const per = quick ? 200 : 5_000
  for (let run = 0; run < RUNS; run++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + run) % names.length]!
      const lib = libOf(name)
      const r = await withTimeout(
        runChild<{ msgsPerSecond: number }>(`${lib.build}scale.mjs`, [lib.name, String(port), "fed", String(conns), String(per)]),
        120_000,
        `${name} scale fed`
      )
      record(`scale: ${conns} connections fed at once (runForEach each)`, name, r.msgsPerSecond, "msgs/s", true)
    }
  }
}

/** The pids of the spinners started (written to the results, so a test can check exactly those are gone). */
const spinnerPids: Array<number> = []

/** One nice-19 spinner per CPU (see `busyCpus`); returns what stops them. */
const keepCpusBusy = (): (() => void) => {
  const spinners = os.cpus().map(() => {
    const child = spawn(process.execPath, ["-e", "for (;;);"], { stdio: "ignore" })
    if (child.pid !== undefined) {
      os.setPriority(child.pid, 19)
      spinnerPids.push(child.pid)
    }
    return child
  })
  return () => spinners.forEach((child) => child.kill("SIGKILL"))
}

const main = async () => {
  const started = performance.now()
  const stopSpinners = busyCpus ? keepCpusBusy() : undefined
  // On every way out (results written, or a failure): process.exit runs "exit" listeners.
  process.once("exit", () => stopSpinners?.())
  const { child, port } = await spawnBlaster()
  try {
    await throughput(port)
    if (runs("fresh")) await fresh(port)
    if (runs("memory")) await memory(port)
    if (runs("multiplex")) await multiplex(port).catch((e) => console.error("multiplex bench skipped:", String(e)))
    if (runs("scale")) await scale(port)
  } finally {
    child.kill("SIGTERM")
  }
  if (runs("restart")) await restart()

  const rows: Array<Row> = []
  for (const [workload, byC] of Object.entries(samples)) {
    const raw = byC["raw ws"] ? median(byC["raw ws"]) : null
    const floorContender = floorOf[workload] ?? floorName
    const floor = byC[floorContender] ? median(byC[floorContender]) : null
    for (const [contender, xs] of Object.entries(byC)) {
      const m = median(xs)
      rows.push({
        workload,
        contender,
        median: round(m),
        min: round(Math.min(...xs)),
        max: round(Math.max(...xs)),
        unit: units[workload]!,
        ratioToRawWs: raw ? round(m / raw, 3) : null,
        ratioToFloor: floor ? round(m / floor, 3) : null,
        floor: floor ? floorContender : null
      })
    }
  }
  const meta = {
    node: process.version,
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    runs: RUNS,
    largeRuns: LARGE_RUNS,
    segments: SEGMENTS,
    busyCpus,
    spinnerPids,
    quick,
    baseline: baseline ?? null,
    date: new Date().toISOString(),
    seconds: round((performance.now() - started) / 1000, 1)
  }
  const table = [
    "| workload | contender | median | min–max | unit | × raw ws | × floor |",
    "|---|---|---:|---:|---|---:|---:|",
    ...rows.map((r) =>
      `| ${r.workload} | ${r.contender} | ${fmt(r.median)} | ${fmt(r.min)}–${fmt(r.max)} | ${r.unit} | ${
        r.ratioToRawWs ?? "—"
      } | ${r.ratioToFloor ?? "—"} |`
    )
  ].join("\n")
  console.log(`Node ${meta.node}, ${meta.cpu} (${meta.cores} cores), ${RUNS} run(s) each (large messages: ${LARGE_RUNS}), each of ${SEGMENTS} interleaved part(s)${busyCpus ? ", CPUs kept busy" : ""}${quick ? " (quick)" : ""}\n`)
  console.log(table)
  // Only a full run replaces the published figures (bench/results.json, bench/chart.svg), and
  // without the baseline's rows: every row, the baseline's included, also goes to the temp dir.
  const full = !quick && !busyCpus && only === undefined && workloads === undefined
  const out = process.env.BENCH_OUT ?? (full ? `${dir}results.json` : `${os.tmpdir()}/jetsocket-bench-partial.json`)
  const published = baseline === undefined ? rows : rows.filter((r) => !isBaseline(r.contender))
  fs.writeFileSync(out, JSON.stringify({ ...meta, rows: full ? published : rows }, null, 2) + "\n")
  if (!process.env.BENCH_OUT && full) writeChart(`${dir}chart.svg`, published, higherBetter)
  console.log(`\nwrote ${out}`)
  if (baseline !== undefined && full) {
    const withBaseline = `${os.tmpdir()}/jetsocket-bench-baseline.json`
    fs.writeFileSync(withBaseline, JSON.stringify({ ...meta, rows }, null, 2) + "\n")
    console.log(`wrote ${withBaseline} (with ${baselineNames.join(", ")})`)
  }
  process.exit(0)
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d
const fmt = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: 1 })

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
