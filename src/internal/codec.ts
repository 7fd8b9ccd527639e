import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as ParseResult from "effect/ParseResult"
import * as Runtime from "effect/Runtime"
import type * as AST from "effect/SchemaAST"
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

/**
 * Runs a user codec's Effect synchronously with `run`, the `runSyncExit` of
 * the user's runtime (captured when the client was made): its logger,
 * tracer, supervisor and FiberRefs see it, as they would any other Effect of
 * theirs.
 */
const runSync = <A>(
  run: <X, E>(effect: Effect.Effect<X, E>) => Exit.Exit<X, E>,
  make: () => Effect.Effect<A, unknown>,
  frame: unknown,
  what: "decode" | "encode"
): A | InvalidMessageError => {
  let exit: Exit.Exit<A, unknown>
  try {
    exit = run(make())
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

const custom = <A>(codec: CustomCodec<A>, runtime: Runtime.Runtime<never>): SyncCodec<A> => {
  const run = Runtime.runSyncExit(runtime)
  return {
    decode: (frame) => runSync(run, () => codec.decode(frame), frame, "decode"),
    encode: (message) => runSync(run, () => codec.encode(message), message, "encode")
  }
}

/**
 * The codec an option names. A custom codec's Effects run in `runtime` (the
 * user's); the built-in ones run no Effect and need none.
 *
 * @internal
 */
export function fromOption<A = unknown>(option: "json" | "text" | "binary" | undefined): SyncCodec<A>
/** @internal */
export function fromOption<A>(option: CodecOption<A> | undefined, runtime: Runtime.Runtime<never>): SyncCodec<A>
export function fromOption<A>(option: CodecOption<A> | undefined, runtime?: Runtime.Runtime<never>): SyncCodec<A> {
  if (option === undefined || option === "json") return json as SyncCodec<A>
  if (option === "text") return text as SyncCodec<A>
  if (option === "binary") return binary as SyncCodec<A>
  return custom(option, runtime!)
}

/**
 * Runs a Schema parser synchronously: a pure Schema gives its `Either` at
 * once (no fiber); a Schema whose transformations return Effects has them
 * run in `runtime` (the user's), not in Effect's default runtime (which
 * `Schema.decodeUnknownEither` would use). A transformation that suspends
 * (asynchronous) or dies is a `Forbidden` issue, as with `decodeUnknownEither`.
 */
const syncParser = <A>(
  parse: (input: unknown, options: AST.ParseOptions) => Effect.Effect<A, ParseResult.ParseIssue>,
  options: AST.ParseOptions | undefined,
  ast: AST.AST,
  runtime: Runtime.Runtime<never>
) => {
  // `ParseResult.decodeUnknown` runs the parser with a copy of the options plus `isEffectAllowed: true`
  // (Effect's internal flag), made per call. A copy that gains a key gets a new hidden class each time,
  // which made every property read in the parser slow (a 7-field Struct decoded several times slower
  // than with `decodeUnknownEither`); the copy of options that already carry the flag keeps their class.
  // Without the flag here the result is the same, only slower.
  const internal = { ...options, isEffectAllowed: true } as AST.ParseOptions
  const run = Runtime.runSyncExit(runtime)
  return (input: unknown): Either.Either<A, ParseResult.ParseError> => {
    const result = parse(input, internal)
    // A pure Schema's parser returns its Either as is (an Either is an Effect in Effect 3).
    if (Either.isEither(result)) {
      const either = result as Either.Either<A, ParseResult.ParseIssue>
      return Either.isRight(either) ? (either as Either.Either<A, never>) : Either.left(ParseResult.parseError(either.left))
    }
    const exit = run(result)
    if (Exit.isSuccess(exit)) return Either.right(exit.value)
    const issue = Cause.isFailType(exit.cause)
      ? exit.cause.error
      : new ParseResult.Forbidden(ast, input, Cause.pretty(exit.cause))
    return Either.left(ParseResult.parseError(issue))
  }
}

/**
 * A Schema's synchronous decoder whose Effectful transformations run in `runtime` (the user's).
 *
 * @internal
 */
export const schemaDecoder = <A, I>(
  schema: Schema.Schema<A, I, never>,
  runtime: Runtime.Runtime<never>,
  options?: AST.ParseOptions
): (input: unknown) => Either.Either<A, ParseResult.ParseError> =>
  syncParser(ParseResult.decodeUnknown(schema), options, schema.ast, runtime)

/**
 * Layers a Schema over a base codec: incoming values are decoded with the
 * Schema after the base codec, outgoing values are encoded with it and then
 * sent as JSON. Effectful transformations run in `runtime` (the user's).
 *
 * @internal
 */
export const withSchema = <A, I>(
  base: SyncCodec<unknown>,
  schema: Schema.Schema<A, I, never>,
  runtime: Runtime.Runtime<never>
): SyncCodec<A> => {
  const decodeSchema = schemaDecoder(schema, runtime, { errors: "all", onExcessProperty: "ignore" })
  const encodeSchema = syncParser(ParseResult.encodeUnknown(schema), undefined, schema.ast, runtime)
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
