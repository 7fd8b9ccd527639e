/**
 * A tiny command-line flag parser shared by the examples (no dependency):
 * `--name value`, `--name=value`, repeated flags, and boolean `--flag`.
 */
export interface Args {
  readonly positional: ReadonlyArray<string>
  /** The last value of a flag. */
  readonly get: (name: string) => string | undefined
  /** Every value of a repeatable flag. */
  readonly all: (name: string) => ReadonlyArray<string>
  readonly has: (name: string) => boolean
  /** A number of seconds (`--duration 5`), or the fallback. */
  readonly seconds: (name: string, fallback: number) => number
}

export const parseArgs = (argv: ReadonlyArray<string> = process.argv.slice(2), booleans: ReadonlyArray<string> = []): Args => {
  const values = new Map<string, Array<string>>()
  const positional: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith("--")) {
      positional.push(arg)
      continue
    }
    const eq = arg.indexOf("=")
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    let value: string
    if (eq !== -1) value = arg.slice(eq + 1)
    else if (booleans.includes(name) || i + 1 >= argv.length || argv[i + 1]!.startsWith("--")) value = "true"
    else value = argv[++i]!
    const list = values.get(name) ?? []
    list.push(value)
    values.set(name, list)
  }
  return {
    positional,
    get: (name) => values.get(name)?.at(-1),
    all: (name) => values.get(name) ?? [],
    has: (name) => values.has(name),
    seconds: (name, fallback) => {
      const raw = values.get(name)?.at(-1)
      if (raw === undefined) return fallback
      const n = Number(raw)
      if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number of seconds, got ${raw}`)
      return n
    }
  }
}
