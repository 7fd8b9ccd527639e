/**
 * Runs `f` after pending I/O callbacks: `setImmediate` on Node (the check
 * phase comes after the poll phase, so socket data already waiting is
 * processed first), `setTimeout(0)` where there is no `setImmediate`
 * (browsers), which also yields to pending events.
 *
 * @internal
 */
export const afterIo = (f: () => void): () => void => {
  if (typeof globalThis.setImmediate === "function") {
    const handle = globalThis.setImmediate(f)
    return () => globalThis.clearImmediate(handle)
  }
  const handle = setTimeout(f, 0)
  return () => clearTimeout(handle)
}
