/**
 * DATA_DIR holds the embedded database (its WAL carries emails and password hashes), the
 * development secrets and the CLI's control socket: only the user running CoPilot may read or
 * write any of it (SPEC §10 secrets at rest). `secureDataDir` creates it 0700, makes the process
 * create everything else owner-only (umask 077, as PostgreSQL itself does), and tightens a
 * directory an earlier version or an operator left open — or refuses to start, naming the path.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";

export class DataDirPermissionError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(
      `${file} is readable or writable by other users and CoPilot cannot make it private ` +
        `(${(cause as NodeJS.ErrnoException)?.code ?? String(cause)}): run CoPilot as the owner of ` +
        `DATA_DIR, or fix it with chmod -R go-rwx ${JSON.stringify(path.dirname(file))}`,
    );
  }
}

/** No group or other permission bits on anything the process creates from now on. */
export function ownerOnlyUmask(): void {
  try {
    process.umask(process.umask() | 0o077);
  } catch {
    // Worker threads cannot set the umask; the main thread did (or the files get chmod on start).
  }
}

/** Creates dataDir 0700 and strips group/other bits from it and everything in it. */
export function secureDataDir(dataDir: string): void {
  ownerOnlyUmask();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o077) !== 0) {
      try {
        chmodSync(p, st.mode & 0o7700);
      } catch (err) {
        throw new DataDirPermissionError(p, err);
      }
    }
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
  };
  walk(dataDir);
}
