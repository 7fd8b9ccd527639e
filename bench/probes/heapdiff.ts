// Heap-snapshot diff: objects present in `after` but not in `before` (same process: V8 keeps an
// object's snapshot id), grouped by kind and name, with bytes per connection and the edge that holds them.
// node heapdiff.mjs before.heapsnapshot after.heapsnapshot connections [top]
import * as fs from "node:fs"

interface Snapshot {
  snapshot: { meta: { node_fields: Array<string>; edge_fields: Array<string>; node_types: [Array<string>]; edge_types: [Array<string>] } }
  nodes: Array<number>
  edges: Array<number>
  strings: Array<string>
}

const load = (file: string) => JSON.parse(fs.readFileSync(file, "utf8")) as Snapshot
const [beforeFile, afterFile, nStr = "300", topStr = "40"] = process.argv.slice(2)
const n = Number(nStr)
const before = load(beforeFile!)
const after = load(afterFile!)
const nf = after.snapshot.meta.node_fields.length
const ef = after.snapshot.meta.edge_fields.length
const types = after.snapshot.meta.node_types[0]
const etypes = after.snapshot.meta.edge_types[0]
const idOf = (s: Snapshot, i: number) => s.nodes[i * nf + 2]!
const old = new Set<number>()
for (let i = 0; i < before.nodes.length / nf; i++) old.add(idOf(before, i))

const count = after.nodes.length / nf
// retainer: for every node, the first edge pointing at it (from a node that is not weak)
const firstEdgeOf = new Int32Array(count).fill(-1)
const parentOf = new Int32Array(count).fill(-1)
let e = 0
for (let i = 0; i < count; i++) {
  const edges = after.nodes[i * nf + 4]!
  for (let k = 0; k < edges; k++, e++) {
    const type = etypes[after.edges[e * ef]!]
    if (type === "weak") continue
    const to = after.edges[e * ef + 2]! / nf
    if (firstEdgeOf[to] === -1) {
      firstEdgeOf[to] = e
      parentOf[to] = i
    }
  }
}
const label = (i: number) => `${types[after.nodes[i * nf]!]}:${after.strings[after.nodes[i * nf + 1]!]!.slice(0, 60)}`
const edgeName = (e: number) => {
  const type = etypes[after.edges[e * ef]!]
  const name = after.edges[e * ef + 1]!
  return type === "element" || type === "hidden" ? `[${name}]` : after.strings[name]!
}
const groups = new Map<string, { count: number; bytes: number; via: Map<string, number> }>()
let total = 0
for (let i = 0; i < count; i++) {
  if (old.has(idOf(after, i))) continue
  const size = after.nodes[i * nf + 3]!
  total += size
  const key = label(i)
  const g = groups.get(key) ?? groups.set(key, { count: 0, bytes: 0, via: new Map() }).get(key)!
  g.count++
  g.bytes += size
  const p = parentOf[i]!
  const via = p === -1 ? "(none)" : `${label(p)} .${edgeName(firstEdgeOf[i]!)}`
  g.via.set(via, (g.via.get(via) ?? 0) + size)
}
console.log(`new objects: ${(total / n).toFixed(0)} B per connection (${n} connections)`)
const top = [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(topStr))
for (const [key, g] of top) {
  const via = [...g.via].sort((a, b) => b[1] - a[1]).slice(0, 2).map(([v, b]) => `${v} ${(b / n).toFixed(0)}`).join("; ")
  console.log(`${(g.bytes / n).toFixed(1).padStart(7)} B ${(g.count / n).toFixed(2).padStart(6)}× ${key}  ← ${via}`)
}

// HEAPDIFF_CHAIN=<label substring>: the retaining chains (4 parents) of the new objects so labelled
const chainOf = process.env.HEAPDIFF_CHAIN
if (chainOf !== undefined) {
  const chains = new Map<string, number>()
  for (let i = 0; i < count; i++) {
    if (old.has(idOf(after, i)) || !label(i).includes(chainOf)) continue
    const parts: Array<string> = []
    let at = i
    for (let depth = 0; depth < 5 && parentOf[at]! !== -1; depth++) {
      parts.push(`.${edgeName(firstEdgeOf[at]!)} ${label(parentOf[at]!)}`)
      at = parentOf[at]!
    }
    const key = `${label(i)} ${parts.join(" ← ")}`
    chains.set(key, (chains.get(key) ?? 0) + after.nodes[i * nf + 3]!)
  }
  for (const [key, bytes] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${(bytes / n).toFixed(1)} B  ${key}`)
}
