/**
 * Preloaded by `npm start` (`node --import ./dist/src/startup-memory.js dist/src/main.js`), so that
 * it runs before any of the server's modules loads: ESM loads and compiles the whole import graph
 * before it evaluates any of it, so an import from main.ts would come too late. Loading several
 * hundred modules, building the routes' schemas and opening the database allocate in a burst that
 * makes V8 grow its young generation to its maximum (2 × 16 MB semi-spaces), which it then keeps
 * for the life of the process: about 30 MB of an idle server's resident memory that serves nothing.
 * The young generation is held at its initial size until the server listens (`startupDone`, called
 * by main.ts), and grows again as request load asks for it (issue 13 §6; bench/README.md table 5).
 * Without the preload (`node dist/src/main.js`, `npm run dev`) nothing changes but the memory.
 */
import v8 from "node:v8";

/** V8's default growth factor of the semi-spaces. */
const DEFAULT_GROWTH = 2;

v8.setFlagsFromString("--semi-space-growth-factor=1");

export function startupDone(): void {
  v8.setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH}`);
}
