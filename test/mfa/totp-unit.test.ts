import { randomBytes } from "node:crypto";
import { generate } from "otplib";
import { describe, expect, it } from "vitest";
import { generateBackupCode, normalizeBackupCode } from "../../src/mfa/backup-codes.js";
import {
  base32Decode,
  base32Encode,
  generateTotpSecret,
  hotp,
  matchingSteps,
  otpauthUri,
  timeStep,
} from "../../src/mfa/totp.js";

describe("TOTP arithmetic (RFC 6238, by hand)", () => {
  // RFC 6238 appendix B, SHA-1 seed, the last 6 of the 8 digits.
  const seed = Buffer.from("12345678901234567890", "ascii");
  const vectors: Array<[number, string]> = [
    [59, "94287082"],
    [1111111109, "07081804"],
    [1111111111, "14050471"],
    [1234567890, "89005924"],
    [2000000000, "69279037"],
    [20000000000, "65353130"],
  ];

  it.each(vectors)("matches the RFC 6238 vector at T=%i", (seconds, eight) => {
    const at = new Date(seconds * 1000);
    expect(hotp(seed, timeStep(at))).toBe(eight.slice(-6));
    expect(matchingSteps(base32Encode(seed), eight.slice(-6), at)).toEqual([timeStep(at)]);
  });

  it("agrees with otplib on random secrets and instants, within ±1 step only", async () => {
    for (let i = 0; i < 25; i++) {
      const secret = generateTotpSecret();
      const seconds = 1_600_000_000 + Math.floor(Math.random() * 400_000_000);
      const at = new Date(seconds * 1000);
      const step = timeStep(at);
      for (const offset of [-2, -1, 0, 1, 2]) {
        const code = await generate({ secret, epoch: seconds + offset * 30 });
        const steps = matchingSteps(secret, code, at);
        // (a chance collision with a neighbouring step's code is one in a million: ignored)
        expect(steps).toEqual(Math.abs(offset) <= 1 ? [step + offset] : []);
      }
    }
  });

  it("round-trips base32 and makes 160-bit secrets", () => {
    for (let n = 0; n < 40; n++) {
      const bytes = randomBytes(n);
      expect(base32Decode(base32Encode(bytes)).equals(bytes)).toBe(true);
    }
    expect(base32Encode(Buffer.from("foobar"))).toBe("MZXW6YTBOI"); // RFC 4648 §10
    expect(base32Decode(generateTotpSecret())).toHaveLength(20);
  });

  it("refuses malformed codes", () => {
    const secret = generateTotpSecret();
    const at = new Date();
    for (const code of ["", "12345", "1234567", "abcdef", "12 34 5"]) {
      expect(matchingSteps(secret, code, at)).toEqual([]);
    }
  });

  it("builds the otpauth URI authenticator apps expect", () => {
    const uri = otpauthUri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "a+b@acme.test");
    expect(uri).toBe(
      "otpauth://totp/CoPilot:a%2Bb%40acme.test?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=CoPilot&algorithm=SHA1&digits=6&period=30",
    );
  });
});

describe("backup codes", () => {
  it("are 10 symbols of a 32-symbol alphabet without look-alikes, grouped 5-5", () => {
    for (let i = 0; i < 50; i++)
      expect(generateBackupCode()).toMatch(/^[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}$/);
  });

  it("normalize case, spaces and dashes; anything else is no code", () => {
    expect(normalizeBackupCode(" abcde-fghjk ")).toBe("ABCDEFGHJK");
    expect(normalizeBackupCode("ab cd ef gh jk")).toBe("ABCDEFGHJK");
    expect(normalizeBackupCode("ABCDEFGHJK")).toBe("ABCDEFGHJK");
    expect(normalizeBackupCode("ABCDEFGHJ")).toBeNull();
    expect(normalizeBackupCode("ABCDEFGHJ0")).toBeNull();
    expect(normalizeBackupCode("ABCDE_FGHJK")).toBeNull();
  });
});
