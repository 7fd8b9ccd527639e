/**
 * The client's modules are layered (docs/concepts.md, "The two planes"): the
 * data plane imports nothing of the control plane at run time, and no runtime
 * import cycle runs among the client's modules. Read from the sources.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const dir = path.join(import.meta.dirname, "../src/internal/client")
const dataPlane = ["conn", "inbound", "outbound", "liveness", "stats"]
const controlPlane = ["supervisor", "reconnect", "connect", "close", "lifecycle"]

/** The sibling modules a module imports at run time (`import type` and `type`-only named imports excluded). */
const runtimeImports = (module: string): Array<string> => {
  const source = fs.readFileSync(path.join(dir, `${module}.ts`), "utf8")
  const found: Array<string> = []
  for (const match of source.matchAll(/^import\s+(type\s+)?(.*?)\s+from\s+"\.\/([a-zA-Z]+)\.js"/gm)) {
    const [, typeOnly, clause, target] = match
    if (typeOnly !== undefined) continue
    // `{ type A, type B }` imports only types
    if (/^\{[^}]*\}$/.test(clause!) && clause!.slice(1, -1).split(",").every((name) => name.trim().startsWith("type "))) continue
    found.push(target!)
  }
  return found
}

describe("the client's layers", () => {
  it("the data plane imports nothing of the control plane at run time", () => {
    for (const module of dataPlane) {
      const imports = runtimeImports(module)
      expect(imports.filter((target) => controlPlane.includes(target)), module).toEqual([])
    }
    // The reader above does see imports: the control plane's are found.
    expect(runtimeImports("supervisor")).toEqual(expect.arrayContaining(["reconnect", "connect", "close", "lifecycle"]))
  })

  it("no runtime import cycle among the client's modules", () => {
    const modules = fs.readdirSync(dir).filter((file) => file.endsWith(".ts")).map((file) => file.slice(0, -3))
    const graph = new Map(modules.map((module) => [module, runtimeImports(module)]))
    const cycles: Array<string> = []
    const visit = (module: string, trail: Array<string>) => {
      if (trail.includes(module)) {
        cycles.push([...trail.slice(trail.indexOf(module)), module].join(" → "))
        return
      }
      for (const next of graph.get(module) ?? []) visit(next, [...trail, module])
    }
    for (const module of modules) visit(module, [])
    expect(cycles).toEqual([])
  })
})
