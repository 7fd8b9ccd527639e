import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as ParseResult from "effect/ParseResult"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import { CallbackError, InvalidMessageError } from "../JetSocketError.js"

/** The wire form of one message. */
export type Frame = string | Uint8Array

/**
 * A codec used on the hot path: both directions are synchronous and return
 * either the value or an `InvalidMessageError` (checked with `instanceof`, so
 * no wrapper is allocated per message).
 *
 * @internal
 */
export interface SyncCodec<A> {
  readonly decode: (frame: Frame) => A | InvalidMessageError
  readonly encode: (message: A) => Frame | InvalidMessageError
}

/**
 * A user codec: a pair of Effects. They run synchronously on the hot path,
 * so they must not suspend (an asynchronous codec is reported as an
 * `InvalidMessageError`).
 *
 * @since 0.1.0
 * @category models
 */
export interface CustomCodec<A> {
  readonly decode: (frame: Frame) => Effect.Effect<A, unknown>
  readonly encode: (message: A) => Effect.Effect<Frame, unknown>
}

/** @internal */
export type CodecOption<A> = "json" | "text" | "binary" | CustomCodec<A>

const PREVIEW_CHARS = 200

/** @internal */
export const preview = (frame: unknown): string => {
  if (typeof frame === "string") {
    return frame.length > PREVIEW_CHARS ? `${frame.slice(0, PREVIEW_CHARS)}… (${frame.length} chars)` : frame
  }
  if (frame instanceof Uint8Array) {
    let head = ""
    for (let i = 0; i < Math.min(frame.byteLength, 32); i++) head += frame[i]!.toString(16).padStart(2, "0")
    return `<${frame.byteLength} bytes: ${head}${frame.byteLength > 32 ? "…" : ""}>`
  }
  let text: string
  try {
    text = JSON.stringify(frame) ?? String(frame)
  } catch {
    text = String(frame)
  }
  return preview(text)
}

const invalid = (reason: string, frame: unknown, cause?: unknown) =>
  new InvalidMessageError({ reason, preview: preview(frame), cause })

const encodeJson = (message: unknown): Frame | InvalidMessageError => {
  if (typeof message === "string" || message instanceof Uint8Array) return message
  try {
    const text = JSON.stringify(message)
    return text === undefined ? invalid("the message has no JSON form", message) : text
  } catch (error) {
    return invalid(`the message cannot be encoded as JSON: ${(error as Error).message}`, message, error)
  }
}

/** Text frames are JSON-parsed; binary frames are passed through as `Uint8Array`. */
const json: SyncCodec<unknown> = {
  decode: (frame) => {
    if (typeof frame !== "string") return frame
    try {
      return JSON.parse(frame)
    } catch (error) {
      return invalid(`not valid JSON: ${(error as Error).message}`, frame, error)
    }
  },
  encode: encodeJson
}

const text: SyncCodec<unknown> = { decode: (frame) => frame, encode: encodeJson }

const utf8 = new TextEncoder()
const binary: SyncCodec<unknown> = {
  decode: (frame) => (typeof frame === "string" ? utf8.encode(frame) : frame),
  encode: encodeJson
}

/**
 * A codec that threw (or whose Effect died): an `InvalidMessageError` whose
 * `cause` is the `CallbackError` naming it. Carried in the codec's error slot
 * so that the hot path keeps its single `instanceof` check; the client
 * unwraps it (see {@link threw}) and ends with the `CallbackError`.
 */
const callbackFailed = (callback: string, frame: unknown, cause: unknown) =>
  invalid(`the ${callback} callback threw`, frame, new CallbackError({ callback, cause }))

/** @internal The `CallbackError` inside a codec failure, when the codec threw rather than rejected the message. */
export const threw = (error: InvalidMessageError): CallbackError | undefined =>
  error.cause instanceof CallbackError ? error.cause : undefined

const runSync = <A>(make: () => Effect.Effect<A, unknown>, frame: unknown, what: "decode" | "encode"): A | InvalidMessageError => {
  let exit: Exit.Exit<A, unknown>
  try {
    exit = Effect.runSyncExit(make())
  } catch (cause) {
    return callbackFailed(`codec.${what}`, frame, cause)
  }
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "Some") {
    return failure.value instanceof InvalidMessageError
      ? failure.value
      : invalid(`the codec could not ${what} the message`, frame, failure.value)
  }
  const defect = Cause.dieOption(exit.cause)
  if (defect._tag === "Some" && !Runtime.isAsyncFiberException(defect.value)) {
    return callbackFailed(`codec.${what}`, frame, defect.value)
  }
  return invalid(`the codec could not ${what} the message (it must be synchronous)`, frame, Cause.squash(exit.cause))
}

const custom = <A>(codec: CustomCodec<A>): SyncCodec<A> => ({
  decode: (frame) => runSync(() => codec.decode(frame), frame, "decode"),
  encode: (message) => runSync(() => codec.encode(message), message, "encode")
})

/** @internal */
export const fromOption = <A>(option: CodecOption<A> | undefined): SyncCodec<A> => {
  if (option === undefined || option === "json") return json as SyncCodec<A>
  if (option === "text") return text as SyncCodec<A>
  if (option === "binary") return binary as SyncCodec<A>
  return custom(option)
}

/**
 * Layers a Schema over a base codec: incoming values are decoded with the
 * Schema after the base codec, outgoing values are encoded with it and then
 * sent as JSON.
 *
 * @internal
 */
export const withSchema = <A, I>(base: SyncCodec<unknown>, schema: Schema.Schema<A, I, never>): SyncCodec<A> => {
  const decodeSchema = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
  const encodeSchema = Schema.encodeEither(schema)
  return {
    decode: (frame) => {
      const value = base.decode(frame)
      if (value instanceof InvalidMessageError) return value
      const result = decodeSchema(value)
      return Either.isRight(result)
        ? result.right
        : invalid(`does not match the schema: ${ParseResult.TreeFormatter.formatErrorSync(result.left)}`, frame, result.left)
    },
    encode: (message) => {
      const result = encodeSchema(message)
      if (Either.isLeft(result)) {
        return invalid(`cannot be encoded with the schema: ${ParseResult.TreeFormatter.formatErrorSync(result.left)}`, message, result.left)
      }
      const encoded = result.right
      if (encoded instanceof Uint8Array) return encoded
      try {
        return JSON.stringify(encoded)
      } catch (error) {
        return invalid(`the encoded message cannot be written as JSON: ${(error as Error).message}`, encoded, error)
      }
    }
  }
}
