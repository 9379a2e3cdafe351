import v8 from "node:v8";
if (process.env.XP_LAZY) v8.setFlagsFromString("--wasm-lazy-compilation");
import { readFileSync } from "node:fs";
const { PGlite } = await import("@electric-sql/pglite");
const pg = await PGlite.create(process.argv[2], { startParams: [...PGlite.defaultStartParams, "-c", "shared_buffers=16MB"] });
await pg.query("select 1");
const rows = []; let cur = null;
for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
  if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) { const p = line.split(/\s+/); const [a,b]=p[0].split("-").map(x=>parseInt(x,16)); cur = { name: p[5] || "[anon]", size: (b-a)/1048576, rss: 0 }; rows.push(cur); }
  else if (line.startsWith("Rss:")) cur.rss = Number(line.split(/\s+/)[1]) / 1024;
}
rows.sort((x, y) => y.rss - x.rss);
const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").physical_space_size/1048576;
console.log("total", Math.round(rows.reduce((s, r) => s + r.rss, 0)), "new space", ns, rows.slice(0,8).map(r=>`${r.rss.toFixed(0)}/${r.size.toFixed(0)}${r.name==="[anon]"?"":r.name.slice(-6)}`).join(" "));
await pg.close();
