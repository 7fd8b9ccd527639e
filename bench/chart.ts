// Hand-written SVG: one panel per workload, horizontal bars of the median ratio to raw ws (min–max whiskers).
import * as fs from "node:fs"
import type { Row } from "./main.js"


const colors: Record<string, string> = {
  "jetsocket": "#2563eb",
  "jetsocket+schema": "#60a5fa",
  "raw ws": "#6b7280",
  "@effect/platform Socket": "#f59e0b",
  "partysocket": "#10b981",
  "raw ws in Effect (floor)": "#9ca3af",
  "raw ws → Effect Queue (floor)": "#d1d5db"
}
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

export const writeChart = (file: string, rows: ReadonlyArray<Row>, higherBetter: Record<string, boolean>) => {
  const workloads = [...new Set(rows.map((r) => r.workload))]
  const W = 760
  const labelW = 190
  const barH = 16
  const gap = 4
  let y = 40
  const parts: Array<string> = []
  for (const w of workloads) {
    const rs = rows.filter((r) => r.workload === w)
    const maxV = Math.max(...rs.map((r) => r.max)) || 1
    const scale = (W - labelW - 130) / maxV
    parts.push(
      `<text x="10" y="${y}" font-weight="bold">${esc(w)} (${esc(rs[0]!.unit)}, ${
        higherBetter[w] ? "higher" : "lower"
      } is better)</text>`
    )
    y += 8
    for (const r of rs) {
      const bw = Math.max(1, r.median * scale)
      parts.push(
        `<text x="${labelW - 6}" y="${y + barH - 4}" text-anchor="end">${esc(r.contender)}</text>`,
        `<rect x="${labelW}" y="${y}" width="${bw.toFixed(1)}" height="${barH}" fill="${colors[r.contender] ?? "#999"}"/>`,
        `<line x1="${(labelW + r.min * scale).toFixed(1)}" x2="${(labelW + r.max * scale).toFixed(1)}" y1="${
          y + barH / 2
        }" y2="${y + barH / 2}" stroke="#111" stroke-width="1"/>`,
        `<text x="${(labelW + Math.max(bw, r.max * scale) + 6).toFixed(1)}" y="${y + barH - 4}">${
          r.median.toLocaleString("en-US", { maximumFractionDigits: 1 })
        }${r.ratioToRawWs !== null ? ` (${r.ratioToRawWs}×)` : ""}</text>`
      )
      y += barH + gap
    }
    y += 26
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="15" font-weight="bold">jetsocket benchmarks: medians, min–max whiskers, × raw ws</text>
${parts.join("\n")}
</svg>
`
  fs.writeFileSync(file, svg)
}
