/**
 * PGlite's Node filesystem, owner-only. Emscripten's NODEFS applies the modes PostgreSQL asks for
 * with an explicit chmod (0666 for data files: the WebAssembly build has no umask of its own), so
 * the process umask alone does not keep the WAL and pg_control private. This NodeFS strips the
 * group and other bits from every mode it sets; files and directories it creates get the process
 * umask, which secureDataDir makes 077.
 */
import { NodeFS } from "@electric-sql/pglite/nodefs";

type SetAttr = (
  path: unknown,
  node: unknown,
  attr: unknown,
  chmod: (p: unknown, mode: number) => void,
  ...rest: unknown[]
) => void;
interface EmscriptenModule {
  NODEFS: { doSetAttr: SetAttr };
}

export class PrivateNodeFS extends NodeFS {
  override async init(...args: Parameters<NodeFS["init"]>): ReturnType<NodeFS["init"]> {
    const result = await super.init(...args);
    const preRun = (result.emscriptenOpts.preRun ?? []) as Array<(module: EmscriptenModule) => void>;
    result.emscriptenOpts.preRun = [
      (module: EmscriptenModule) => {
        const doSetAttr = module.NODEFS.doSetAttr;
        module.NODEFS.doSetAttr = (path, node, attr, chmod, ...rest) =>
          doSetAttr(path, node, attr, (p, mode) => chmod(p, mode & ~0o077), ...rest);
      },
      ...preRun,
    ];
    return result;
  }
}
