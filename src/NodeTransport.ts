/**
 * The Node transport, on `ws` (RFC 6455 + permessage-deflate). The only
 * module of the package that imports `ws`: import it from `jetsocket/node`
 * so the main entry stays bundleable for browsers.
 *
 * What it adds over a browser `WebSocket`: request headers (auth tokens),
 * WebSocket ping frames, permessage-deflate with a size threshold,
 * `maxMessageSize` enforced after decompression, TLS options, a proxy
 * `agent`, a handshake timeout, and the HTTP status, headers and body prefix
 * of a refused upgrade.
 *
 * @since 0.1.0
 */
import * as Layer from "effect/Layer"
import * as internal from "./internal/nodeTransport.js"
import * as Transport from "./Transport.js"

/**
 * The `Transport` implementation itself, for use without a layer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const transport: Transport.Transport = internal.transport

/**
 * Provides the `Transport` service on Node:
 * `program.pipe(Effect.provide(NodeTransport.layer))`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Transport.Transport> = Layer.succeed(Transport.Transport, internal.transport)
