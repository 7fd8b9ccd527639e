// The probes compare source trees: the public `MessageBuffer.make` is an Effect (the buffer runs in
// the caller's runtime) since issue 29; trees before that made a buffer synchronously.
import { Effect } from "effect"
import type * as MessageBuffer from "../../src/MessageBuffer.js"

export const makeBuffer = <A, E>(
  lib: { readonly make: (options: MessageBuffer.make.Options<E>) => unknown },
  options: MessageBuffer.make.Options<E>
): MessageBuffer.ReceiveBuffer<A, E> => {
  const made = lib.make(options)
  return (Effect.isEffect(made) ? Effect.runSync(made as Effect.Effect<unknown>) : made) as MessageBuffer.ReceiveBuffer<A, E>
}
