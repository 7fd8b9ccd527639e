/**
 * The browser / Deno / Bun entry point, `jetsocket/web`: everything of the
 * main entry plus the portable `WebSocketTransport`. It imports neither `ws`
 * nor any `node:` module.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * from "./index.js"
/** @since 0.1.0 */
export * as WebSocketTransport from "./WebSocketTransport.js"
