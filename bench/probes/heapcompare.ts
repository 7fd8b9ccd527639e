// Compares two heapdiff.ts outputs (bytes per connection by object label): what the second run keeps
// per connection beyond the first, largest differences first, with the edges that hold them in the second.
// node heapcompare.mjs raw.txt independent.txt [top]
// (each file: `node heapdiff.mjs before.heapsnapshot after.heapsnapshot <n> 400 > file`)
import * as fs from "node:fs"

type Row = { bytes: number; count: number; via: string }
const parse = (file: string): Map<string, Row> => {
  const rows = new Map<string, Row>()
  for (const line of fs.readFileSync(file, "utf8").split("\n").slice(1)) {
    const match = line.match(/^\s*([\d.]+) B\s+([\d.]+)× (.*?)  ←(.*)$/)
    if (match !== null) rows.set(match[3]!, { bytes: Number(match[1]), count: Number(match[2]), via: match[4]!.trim() })
  }
  return rows
}
const [firstFile, secondFile, top = "40"] = process.argv.slice(2)
const first = parse(firstFile!)
const second = parse(secondFile!)
const none: Row = { bytes: 0, count: 0, via: "" }
const diffs = [...new Set([...first.keys(), ...second.keys()])].map((label) => {
  const a = first.get(label) ?? none
  const b = second.get(label) ?? none
  return { label, bytes: b.bytes - a.bytes, count: b.count - a.count, via: b.via }
}).sort((a, b) => Math.abs(b.bytes) - Math.abs(a.bytes))
console.log(`difference: ${diffs.reduce((sum, d) => sum + d.bytes, 0).toFixed(0)} B per connection`)
for (const d of diffs.slice(0, Number(top))) {
  console.log(`${d.bytes.toFixed(1).padStart(7)} B ${d.count.toFixed(2).padStart(6)}× ${d.label.padEnd(40)} ${d.via.slice(0, 120)}`)
}
