import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createSafeFetch,
  isAllowedAddress,
  isPublicAddress,
  type ResolvedAddress,
  SafeFetchError,
  type SafeLookup,
} from "../../src/net/safe-fetch.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface SeenRequest {
  method: string;
  url: string;
  host: string | undefined;
  authorization: string | undefined;
  contentType: string | undefined;
  acceptEncoding: string | undefined;
  body: string;
}

interface TestServer {
  port: number;
  seen: SeenRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** Closes the keep-alive connections that are idle, so the next request needs a new one. */
  dropIdle(): void;
  close(): Promise<void>;
}

const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Starts an HTTP (or HTTPS, with tls) server on 127.0.0.1 that records what it receives. */
async function startServer(handler: Handler, tls?: { key: Buffer; cert: Buffer }): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        host: req.headers.host,
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        acceptEncoding: req.headers["accept-encoding"],
        body: Buffer.concat(chunks).toString("utf8"),
      });
      handler(req, res);
    });
  };
  const server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  let connections = 0;
  server.on(tls ? "secureConnection" : "connection", () => connections++);
  const handle: TestServer = {
    port,
    seen,
    connections: () => connections,
    dropIdle: () => server.closeIdleConnections(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

/** A resolver mapping test host names to fixed answers, counting calls per name. */
function fakeDns(table: Record<string, string[] | (() => string[])>): SafeLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    const entry = table[hostname];
    if (!entry) throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    const answers = typeof entry === "function" ? entry() : entry;
    return answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(lookup, { calls });
}

async function failure(promise: Promise<unknown>): Promise<SafeFetchError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SafeFetchError);
    return error as SafeFetchError;
  }
  throw new Error("expected the request to fail");
}

/** Codes found along an error's `cause` chain. */
function causeCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let e = error as { cause?: unknown; code?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === "string") codes.push(e.code);
  }
  return codes;
}

const ok: Handler = (_req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ hello: "world" }));
};

describe("isPublicAddress", () => {
  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.32.0.1",
    "100.128.0.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:0808:0808::1",
  ])("%s is public", (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it.each([
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "fd00:ec2::254",
    "fe80::1",
    "fe80::1%eth0",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "2002:7f00:0001::1",
    "2001:db8::1",
    "2001::1",
    "100::1",
    "not-an-ip",
    "",
    "1.2.3",
  ])("%s is not public", (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });

  it("with allowPrivate, allows private addresses but never metadata, unspecified or multicast", () => {
    for (const ip of ["127.0.0.1", "::1", "10.0.0.1", "192.168.0.10", "fd12::1", "169.254.1.1"]) {
      expect(isAllowedAddress(ip, true)).toBe(true);
      expect(isAllowedAddress(ip, false)).toBe(false);
    }
    for (const ip of [
      "169.254.169.254",
      "fd00:ec2::254",
      "::ffff:169.254.169.254",
      "0.0.0.0",
      "::",
      "224.0.0.1",
    ]) {
      expect(isAllowedAddress(ip, true)).toBe(false);
    }
  });
});

describe("createSafeFetch — address and scheme policy", () => {
  it("refuses loopback targets when private addresses are not allowed", async () => {
    const server = await startServer(ok);
    const safeFetch = createSafeFetch({ allowPrivate: false });
    for (const url of [
      `https://127.0.0.1:${server.port}/`,
      `https://localhost:${server.port}/`,
      `https://[::1]:${server.port}/`,
      `https://[::ffff:127.0.0.1]:${server.port}/`,
    ]) {
      expect((await failure(safeFetch(url))).code).toBe("blocked_address");
    }
    expect(server.seen).toHaveLength(0);
  });

  it("refuses plain http unless private addresses are allowed, and other schemes always", async () => {
    const strict = createSafeFetch({ allowPrivate: false });
    expect((await failure(strict("http://example.com/"))).code).toBe("bad_scheme");
    const loose = createSafeFetch({ allowPrivate: true });
    expect((await failure(loose("file:///etc/passwd"))).code).toBe("bad_scheme");
    expect((await failure(loose("ftp://example.com/"))).code).toBe("bad_scheme");
    expect((await failure(loose("http://user:pass@127.0.0.1/"))).code).toBe("bad_scheme");
  });

  it("refuses a host when ANY of its addresses is blocked", async () => {
    const lookup = fakeDns({ "mixed.test": ["93.184.216.34", "10.0.0.1"], "meta.test": ["169.254.169.254"] });
    const safeFetch = createSafeFetch({ allowPrivate: false, lookup });
    expect((await failure(safeFetch("https://mixed.test/.well-known/openid-configuration"))).code).toBe(
      "blocked_address",
    );
    expect((await failure(safeFetch("https://meta.test/latest/meta-data"))).code).toBe("blocked_address");
  });

  it("never puts the path or query string in the error message", async () => {
    const safeFetch = createSafeFetch({ allowPrivate: false });
    const error = await failure(safeFetch("https://127.0.0.1/token?client_secret=SUPERSECRET&code=abc"));
    expect(error.message).toContain("127.0.0.1");
    expect(error.message).not.toContain("SUPERSECRET");
    expect(error.message).not.toContain("/token");
    expect(error.host).toBe("127.0.0.1");
  });

  it("works against loopback when private addresses are allowed, returning a plain Response", async () => {
    const server = await startServer(ok);
    const safeFetch = createSafeFetch({ allowPrivate: true });
    for (const host of ["127.0.0.1", "localhost"]) {
      const response = await safeFetch(`http://${host}:${server.port}/x?y=1`);
      expect(response).toBeInstanceOf(Response);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(await response.json()).toEqual({ hello: "world" });
      expect(response.url).toBe(`http://${host}:${server.port}/x?y=1`);
      expect(response.redirected).toBe(false);
    }
  });

  it("sends method, headers and body; accepts a Request object", async () => {
    const server = await startServer(ok);
    const safeFetch = createSafeFetch({ allowPrivate: true });
    await safeFetch(`http://127.0.0.1:${server.port}/token`, {
      method: "POST",
      headers: { authorization: "Basic abc" },
      body: new URLSearchParams({ grant_type: "authorization_code", code: "xyz" }),
    });
    await safeFetch(new Request(`http://127.0.0.1:${server.port}/req`, { method: "PUT", body: "hello" }));
    expect(server.seen[0]).toMatchObject({
      method: "POST",
      url: "/token",
      authorization: "Basic abc",
      contentType: "application/x-www-form-urlencoded;charset=UTF-8",
      body: "grant_type=authorization_code&code=xyz",
    });
    expect(server.seen[1]).toMatchObject({ method: "PUT", url: "/req", body: "hello" });
    await safeFetch(`http://127.0.0.1:${server.port}/text`, { method: "POST", body: "plain" });
    await safeFetch(`http://127.0.0.1:${server.port}/json`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(server.seen[2]).toMatchObject({ contentType: "text/plain;charset=UTF-8", body: "plain" });
    expect(server.seen[3]).toMatchObject({ contentType: "application/json", body: "{}" });
  });
});

describe("createSafeFetch — address pinning", () => {
  it("connects to the address it validated, with one lookup per hop and the original Host", async () => {
    const server = await startServer(ok);
    // A rebinding resolver: the first answer is validated, any later one points at metadata.
    let answers = 0;
    const lookup = fakeDns({ "idp.test": () => (answers++ === 0 ? ["127.0.0.1"] : ["169.254.169.254"]) });
    const safeFetch = createSafeFetch({ allowPrivate: true, lookup });
    const response = await safeFetch(`http://idp.test:${server.port}/jwks`);
    expect(response.status).toBe(200);
    // idp.test does not exist in real DNS: reaching the server proves the pinned address was used.
    expect(lookup.calls).toEqual(["idp.test"]);
    expect(server.seen[0]?.host).toBe(`idp.test:${server.port}`);
  });

  it("keeps one validated connection per origin, and validates the DNS answer of every new one", async () => {
    const server = await startServer(ok);
    let answers = 0;
    const lookup = fakeDns({ "idp.test": () => (answers++ === 0 ? ["127.0.0.1"] : ["169.254.169.254"]) });
    const safeFetch = createSafeFetch({ allowPrivate: true, lookup });
    const url = `http://idp.test:${server.port}/jwks`;
    // (undici hands a connection back to its pool just after the response ends: give it that moment)
    const settle = () => new Promise((r) => setTimeout(r, 20));
    expect((await safeFetch(url)).status).toBe(200);
    await settle();
    expect((await safeFetch(url)).status).toBe(200);
    // The second call reused the connection checked for the first: no handshake, no second lookup.
    expect(server.connections()).toBe(1);
    expect(lookup.calls).toEqual(["idp.test"]);
    // Once that connection is gone, the next one resolves again and the rebound answer is refused.
    await settle();
    server.dropIdle();
    await settle();
    const error = await failure(safeFetch(url));
    expect(error.code).toBe("blocked_address");
    expect(lookup.calls).toEqual(["idp.test", "idp.test"]);
    expect(server.seen).toHaveLength(2);
  });
});

/** Creates a self-signed certificate for idp.test with openssl; undefined when openssl is missing. */
function makeCertificate(): { key: Buffer; cert: Buffer } | undefined {
  const dir = mkdtempSync(join(tmpdir(), "safe-fetch-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=idp.test",
        "-addext",
        "subjectAltName=DNS:idp.test",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    return { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const certificate = makeCertificate();

describe.skipIf(!certificate)("createSafeFetch — TLS to a pinned address", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(ok, certificate);
    servers.splice(servers.indexOf(server), 1); // kept for the whole block
  });
  afterAll(async () => server.close());

  it("validates the certificate against the host name while connecting to the pinned IP", async () => {
    const lookup = fakeDns({ "idp.test": ["127.0.0.1"], "other.test": ["127.0.0.1"] });
    const safeFetch = createSafeFetch({ allowPrivate: true, lookup, ca: certificate!.cert });
    const response = await safeFetch(`https://idp.test:${server.port}/`);
    expect(await response.json()).toEqual({ hello: "world" });
    // Same IP, different name: the certificate does not match, so the connection is refused.
    const mismatch = await failure(safeFetch(`https://other.test:${server.port}/`));
    expect(mismatch.code).toBe("network");
    expect(causeCodes(mismatch)).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  it("refuses an untrusted certificate", async () => {
    const lookup = fakeDns({ "idp.test": ["127.0.0.1"] });
    const safeFetch = createSafeFetch({ allowPrivate: true, lookup });
    const untrusted = await failure(safeFetch(`https://idp.test:${server.port}/`));
    expect(untrusted.code).toBe("network");
    expect(causeCodes(untrusted).join(" ")).toMatch(/SELF_SIGNED/);
  });
});

describe("createSafeFetch — redirects", () => {
  it("follows redirects and reports the final URL", async () => {
    const server = await startServer((req, res) => {
      if (req.url === "/a") res.writeHead(302, { location: "/b" }).end();
      else if (req.url === "/b") res.writeHead(301, { location: "/c" }).end();
      else ok(req, res);
    });
    const safeFetch = createSafeFetch({ allowPrivate: true });
    const response = await safeFetch(`http://127.0.0.1:${server.port}/a`);
    expect(response.status).toBe(200);
    expect(response.url).toBe(`http://127.0.0.1:${server.port}/c`);
    expect(response.redirected).toBe(true);
    expect(server.seen.map((r) => r.url)).toEqual(["/a", "/b", "/c"]);
  });

  it("re-checks every hop: a redirect to a blocked address is refused after an allowed first hop", async () => {
    const server = await startServer((req, res) => {
      if (req.url === "/literal")
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      else res.writeHead(302, { location: "http://meta.test/computeMetadata/v1/" }).end();
    });
    const lookup = fakeDns({ "idp.test": ["127.0.0.1"], "meta.test": ["fd00:ec2::254"] });
    const safeFetch = createSafeFetch({ allowPrivate: true, lookup });
    expect((await failure(safeFetch(`http://idp.test:${server.port}/literal`))).code).toBe("blocked_address");
    const viaDns = await failure(safeFetch(`http://idp.test:${server.port}/dns`));
    expect(viaDns.code).toBe("blocked_address");
    expect(viaDns.host).toBe("meta.test");
    expect(server.seen).toHaveLength(2);
  });

  it("re-checks the scheme of every hop", async () => {
    const server = await startServer((_req, res) =>
      res.writeHead(302, { location: "file:///etc/passwd" }).end(),
    );
    const safeFetch = createSafeFetch({ allowPrivate: true });
    expect((await failure(safeFetch(`http://127.0.0.1:${server.port}/`))).code).toBe("bad_scheme");
  });

  it("stops after maxRedirects", async () => {
    const server = await startServer((req, res) => {
      const n = Number(req.url?.slice(1) ?? 0);
      res.writeHead(302, { location: `/${n + 1}` }).end();
    });
    const safeFetch = createSafeFetch({ allowPrivate: true, maxRedirects: 3 });
    expect((await failure(safeFetch(`http://127.0.0.1:${server.port}/0`))).code).toBe("too_many_redirects");
    expect(server.seen.map((r) => r.url)).toEqual(["/0", "/1", "/2", "/3"]);
  });

  it("returns the 3xx untouched when the caller asks for redirect: manual (openid-client)", async () => {
    const server = await startServer((_req, res) => res.writeHead(302, { location: "/elsewhere" }).end());
    const safeFetch = createSafeFetch({ allowPrivate: true });
    const response = await safeFetch(`http://127.0.0.1:${server.port}/`, { redirect: "manual" });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/elsewhere");
    expect(server.seen).toHaveLength(1);
  });

  it("turns POST into GET on 303 and keeps the body on 307", async () => {
    const server = await startServer((req, res) => {
      if (req.url === "/see-other") res.writeHead(303, { location: "/landing" }).end();
      else if (req.url === "/temporary") res.writeHead(307, { location: "/landing" }).end();
      else ok(req, res);
    });
    const safeFetch = createSafeFetch({ allowPrivate: true });
    await safeFetch(`http://127.0.0.1:${server.port}/see-other`, { method: "POST", body: "a=1" });
    await safeFetch(`http://127.0.0.1:${server.port}/temporary`, { method: "POST", body: "b=2" });
    expect(server.seen.map((r) => [r.method, r.url, r.body])).toEqual([
      ["POST", "/see-other", "a=1"],
      ["GET", "/landing", ""],
      ["POST", "/temporary", "b=2"],
      ["POST", "/landing", "b=2"],
    ]);
  });

  it("drops credentials when a redirect leaves the origin", async () => {
    const target = await startServer(ok);
    const origin = await startServer((_req, res) =>
      res.writeHead(302, { location: `http://localhost:${target.port}/next` }).end(),
    );
    const safeFetch = createSafeFetch({ allowPrivate: true });
    await safeFetch(`http://127.0.0.1:${origin.port}/`, { headers: { authorization: "Bearer secret" } });
    expect(origin.seen[0]?.authorization).toBe("Bearer secret");
    expect(target.seen[0]?.authorization).toBeUndefined();
  });
});

describe("createSafeFetch — limits", () => {
  it("times out when the server never answers", async () => {
    const server = await startServer(() => {
      /* never respond */
    });
    const safeFetch = createSafeFetch({ allowPrivate: true, timeoutMs: 300 });
    const started = Date.now();
    const error = await failure(safeFetch(`http://127.0.0.1:${server.port}/`));
    expect(error.code).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("times out when the body stalls after the headers", async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write("{");
    });
    const safeFetch = createSafeFetch({ allowPrivate: true, timeoutMs: 300 });
    expect((await failure(safeFetch(`http://127.0.0.1:${server.port}/`))).code).toBe("timeout");
  });

  it("caps a streamed body", async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const chunk = Buffer.alloc(64 * 1024, 97);
      for (let i = 0; i < 32; i++) res.write(chunk);
      res.end();
    });
    const safeFetch = createSafeFetch({ allowPrivate: true, maxBytes: 100_000 });
    expect((await failure(safeFetch(`http://127.0.0.1:${server.port}/`))).code).toBe("too_large");
  });

  it("refuses a declared Content-Length above the cap without reading it", async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { "content-length": "5000000" });
      res.write("x");
    });
    const safeFetch = createSafeFetch({ allowPrivate: true, maxBytes: 1000 });
    expect((await failure(safeFetch(`http://127.0.0.1:${server.port}/`))).code).toBe("too_large");
  });

  it("accepts a body of exactly maxBytes", async () => {
    const server = await startServer((_req, res) => res.end("x".repeat(1000)));
    const safeFetch = createSafeFetch({ allowPrivate: true, maxBytes: 1000 });
    expect((await (await safeFetch(`http://127.0.0.1:${server.port}/`)).text()).length).toBe(1000);
  });

  it("asks for an uncompressed body, and inflates one sent compressed anyway", async () => {
    const payload = JSON.stringify({ keys: ["k".repeat(2000)] });
    const encoders: Record<string, (b: Buffer) => Buffer> = {
      gzip: gzipSync,
      deflate: deflateSync,
      br: brotliCompressSync,
    };
    const server = await startServer((req, res) => {
      const coding = (req.url ?? "/").slice(1);
      const encode = encoders[coding];
      res.writeHead(200, { "content-type": "application/json", "content-encoding": coding });
      res.end(encode ? encode(Buffer.from(payload)) : payload);
    });
    const safeFetch = createSafeFetch({ allowPrivate: true });
    for (const coding of Object.keys(encoders)) {
      const response = await safeFetch(`http://127.0.0.1:${server.port}/${coding}`, {
        headers: { "accept-encoding": "gzip, br" },
      });
      expect(response.headers.get("content-encoding"), coding).toBeNull();
      expect(await response.text(), coding).toBe(payload);
    }
    expect(server.seen.map((r) => r.acceptEncoding)).toEqual(["identity", "identity", "identity"]);
    expect((await failure(safeFetch(`http://127.0.0.1:${server.port}/zstd-unknown`))).code).toBe("network");
  });

  it("caps the inflated size of a compressed body (decompression bomb)", async () => {
    const bomb = gzipSync(Buffer.alloc(5_000_000));
    expect(bomb.byteLength).toBeLessThan(10_000);
    const server = await startServer((_req, res) => {
      res.writeHead(200, { "content-encoding": "gzip", "content-length": String(bomb.byteLength) });
      res.end(bomb);
    });
    const safeFetch = createSafeFetch({ allowPrivate: true, maxBytes: 100_000 });
    expect((await failure(safeFetch(`http://127.0.0.1:${server.port}/`))).code).toBe("too_large");
  });

  it("times out when a compressed body stalls", async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { "content-encoding": "gzip" });
      res.write(gzipSync(Buffer.from("x".repeat(100))).subarray(0, 10));
    });
    const safeFetch = createSafeFetch({ allowPrivate: true, timeoutMs: 300 });
    expect((await failure(safeFetch(`http://127.0.0.1:${server.port}/`))).code).toBe("timeout");
  });

  it("reports a refused connection as a network error", async () => {
    const server = await startServer(ok);
    const port = server.port;
    await server.close();
    const safeFetch = createSafeFetch({ allowPrivate: true });
    expect((await failure(safeFetch(`http://127.0.0.1:${port}/`))).code).toBe("network");
  });

  it("re-throws the caller's own abort", async () => {
    const server = await startServer(() => {
      /* never respond */
    });
    const safeFetch = createSafeFetch({ allowPrivate: true, timeoutMs: 5000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("caller gave up")), 50);
    await expect(
      safeFetch(`http://127.0.0.1:${server.port}/`, { signal: controller.signal }),
    ).rejects.toThrow("caller gave up");
  });
});
