import { describe, expect, it } from "vitest"
import { redactUrl } from "../src/internal/redact.js"

describe("redactUrl", () => {
  it("removes user info and query values, keeps scheme, host, port, path, query keys and the fragment", () => {
    expect(redactUrl("ws://user:pass@host:8080/path?token=abc&x=1")).toBe("ws://host:8080/path?token=&x=")
    expect(redactUrl("ws://host/p?token=abc#frag")).toBe("ws://host/p?token=#frag")
    expect(redactUrl("ws://u@h/")).toBe("ws://h/")
    expect(redactUrl("ws://h:1/?a")).toBe("ws://h:1/?a=")
  })
  it("leaves a URL without secrets as it is", () => {
    expect(redactUrl("wss://h/p")).toBe("wss://h/p")
  })
  it("replaces a string that does not parse as a URL whole", () => {
    expect(redactUrl("nope secret")).toBe("<invalid url>")
  })
})
