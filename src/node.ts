/**
 * The Node entry point, `jetsocket/node`: the `ws`-based transport.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as NodeTransport from "./NodeTransport.js"
