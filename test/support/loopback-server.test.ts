// The loopback server behind the test doubles (test IdP, Cloudflare Access): it answers while up, fails
// each documented way while down, comes back on the same port, and sees every request for the log.
import { afterEach, describe, expect, it } from "vitest";
import { type LoopbackServer, startLoopbackServer } from "./loopback-server.js";

describe("startLoopbackServer", () => {
  const started: LoopbackServer[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.close()));
  });

  async function start(options: Parameters<typeof startLoopbackServer>[1] = {}) {
    const server = await startLoopbackServer((req, res) => {
      res.setHeader("content-type", "text/plain");
      res.end(`hello ${req.url}`);
    }, options);
    started.push(server);
    return server;
  }

  const get = (s: LoopbackServer, path = "/", ms = 1000) =>
    fetch(`${s.origin}${path}`, { signal: AbortSignal.timeout(ms) });

  it("answers on 127.0.0.1 while up, and logs every request, also the refused ones", async () => {
    const seen: string[] = [];
    const s = await start({ onRequest: (req) => seen.push(`${req.method} ${req.url}`) });
    expect(s.origin).toBe(`http://127.0.0.1:${s.port}`);
    expect(s.down).toBeNull();
    const res = await get(s, "/a");
    expect(await res.text()).toBe("hello /a");
    await s.setDown(true, "error");
    expect((await get(s, "/b")).status).toBe(503);
    await s.setDown(true, "reset");
    await expect(get(s, "/c")).rejects.toThrow();
    expect(seen).toEqual(["GET /a", "GET /b", "GET /c"]);
  });

  it("fails each documented way while down, and comes back on the same port", async () => {
    const s = await start({
      answerError: (res) => {
        res.setHeader("content-type", "application/json");
        res.end('{"error":"temporarily_unavailable"}');
      },
    });
    // reset: every connection is dropped, also the keep-alive one opened while up.
    expect((await get(s)).status).toBe(200);
    await s.setDown(true);
    expect(s.down).toBe("reset");
    await expect(get(s)).rejects.toThrow();

    await s.setDown(true, "hang");
    const started = Date.now();
    await expect(get(s, "/", 300)).rejects.toThrow(/timeout|aborted/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    await s.setDown(true, "refuse");
    await expect(get(s)).rejects.toMatchObject({ cause: { code: "ECONNREFUSED" } });
    await s.setDown(false);
    expect(s.down).toBeNull();
    const back = await get(s, "/again");
    expect(await back.text()).toBe("hello /again");
    expect(new URL(back.url).port).toBe(String(s.port));

    await s.setDown(true, "error");
    const error = await get(s);
    expect(error.status).toBe(503);
    expect(await error.json()).toEqual({ error: "temporarily_unavailable" });
    await s.setDown(false);
    expect((await get(s)).status).toBe(200);
  });

  it("answers an empty 503 in the error mode by default", async () => {
    const s = await start();
    await s.setDown(true, "error");
    const res = await get(s);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe("");
  });

  it("ends held requests when brought back up, and on close", async () => {
    const s = await start();
    await s.setDown(true, "hang");
    const held = get(s, "/", 5000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await s.setDown(false);
    await expect(held).rejects.toThrow();
    expect((await get(s)).status).toBe(200);

    await s.setDown(true, "hang");
    const heldAtClose = get(s, "/", 5000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await s.close();
    await expect(heldAtClose).rejects.toThrow();
    await expect(get(s)).rejects.toMatchObject({ cause: { code: "ECONNREFUSED" } });
  });
});
