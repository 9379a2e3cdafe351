/** Hashing of bearer secrets (session tokens, pending-2FA tokens, integration tokens). They are
 * 256-bit random values, so one SHA-256 is enough; only the hash is stored (Copenhagen Book). */
import { createHash, randomBytes } from "node:crypto";

export const newToken = (bytes = 32): string => randomBytes(bytes).toString("base64url");
export const tokenHash = (token: string): string => createHash("sha256").update(token).digest("hex");
