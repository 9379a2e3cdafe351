import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSecretBox, parseEncryptionKeys } from "../../src/crypto/secret-box.js";
import { hmacSha256, randomToken, sha256Hex, timingSafeEqualStr } from "../../src/crypto/tokens.js";

const keyA = randomBytes(32);
const keyB = randomBytes(32);

/** Flips one character of a base64url segment to another valid base64url character. */
function flipChar(text: string, index: number): string {
  const c = text[index];
  return text.slice(0, index) + (c === "A" ? "B" : "A") + text.slice(index + 1);
}

describe("parseEncryptionKeys", () => {
  it("accepts hex, base64 (padded or not) and base64url keys, comma-separated", () => {
    const b64 = keyA.toString("base64");
    const b64url = keyB.toString("base64url");
    const keys = parseEncryptionKeys(` ${keyA.toString("hex")} ,${b64url}`);
    expect(keys).toHaveLength(2);
    expect(keys[0]!.equals(keyA)).toBe(true);
    expect(keys[1]!.equals(keyB)).toBe(true);
    expect(parseEncryptionKeys(b64)[0]!.equals(keyA)).toBe(true);
    expect(parseEncryptionKeys(b64.replace(/=$/, ""))[0]!.equals(keyA)).toBe(true);
    expect(parseEncryptionKeys(keyA.toString("hex").toUpperCase())[0]!.equals(keyA)).toBe(true);
  });

  it("names ENCRYPTION_KEY and the faulty position, never the value", () => {
    const secretish = "not-a-key-but-very-secret-value";
    const attempt = () => parseEncryptionKeys(`${keyA.toString("hex")},${secretish}`);
    expect(attempt).toThrow(/ENCRYPTION_KEY entry 2 of 2/);
    try {
      attempt();
    } catch (error) {
      expect((error as Error).message).not.toContain(secretish);
    }
  });

  it.each([
    ["empty", ""],
    ["blank entry", `${keyA.toString("hex")},,`],
    ["31-byte hex", keyA.toString("hex").slice(2)],
    ["33 bytes base64", randomBytes(33).toString("base64")],
    ["16-byte key", randomBytes(16).toString("base64url")],
    ["mixed alphabets", `${"+_".repeat(21)}A`],
    ["bad characters", "!".repeat(43)],
  ])("rejects %s", (_, value) => {
    expect(() => parseEncryptionKeys(value)).toThrow(/ENCRYPTION_KEY/);
  });

  it("rejects the same key listed twice", () => {
    expect(() => parseEncryptionKeys(`${keyA.toString("hex")},${keyA.toString("base64")}`)).toThrow(
      /entries 1 and 2/,
    );
  });
});

describe("createSecretBox", () => {
  it("round-trips, with and without AAD, including empty and non-ASCII text", () => {
    const box = createSecretBox([keyA]);
    for (const plain of ["client-secret-123", "", "ünïcødé ✓ 秘密"]) {
      expect(box.decrypt(box.encrypt(plain))).toBe(plain);
      expect(box.decrypt(box.encrypt(plain, "conn-1"), "conn-1")).toBe(plain);
    }
  });

  it("produces the versioned v1.<keyId>.<iv>.<ct> format with a fresh IV each time", () => {
    const box = createSecretBox([keyA]);
    const sealed = box.encrypt("s3cret");
    expect(sealed).toMatch(/^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain("s3cret");
    expect(box.encrypt("s3cret")).not.toBe(sealed);
  });

  it("detects tampering in every segment", () => {
    const box = createSecretBox([keyA]);
    const sealed = box.encrypt("client-secret", "conn-1");
    const [v, id, iv, body] = sealed.split(".") as [string, string, string, string];
    const tampered = [
      [v, id, flipChar(iv, 0), body],
      [v, id, iv, flipChar(body, 0)],
      [v, id, iv, flipChar(body, body.length - 2)],
      [v, id, iv, body.slice(0, -4)],
      [v, "deadbeef", iv, body],
      ["v2", id, iv, body],
    ].map((parts) => parts.join("."));
    for (const value of tampered) {
      expect(() => box.decrypt(value, "conn-1")).toThrow();
    }
  });

  it("binds a ciphertext to its AAD", () => {
    const box = createSecretBox([keyA]);
    const sealed = box.encrypt("client-secret", "conn-1");
    expect(() => box.decrypt(sealed, "conn-2")).toThrow(/authentication/);
    expect(() => box.decrypt(sealed)).toThrow(/authentication/);
  });

  it("refuses a value sealed with a key it does not have", () => {
    const sealed = createSecretBox([keyA]).encrypt("x");
    expect(() => createSecretBox([keyB]).decrypt(sealed)).toThrow(/not in ENCRYPTION_KEY/);
  });

  it("rotates: the first key encrypts, any key decrypts, needsRotation flags old values", () => {
    const oldBox = createSecretBox([keyA]);
    const oldSealed = oldBox.encrypt("totp-secret", "user-1");
    const rotated = createSecretBox([keyB, keyA]);
    expect(rotated.decrypt(oldSealed, "user-1")).toBe("totp-secret");
    expect(rotated.needsRotation(oldSealed)).toBe(true);
    const resealed = rotated.encrypt(rotated.decrypt(oldSealed, "user-1"), "user-1");
    expect(rotated.needsRotation(resealed)).toBe(false);
    expect(oldBox.needsRotation(oldSealed)).toBe(false);
    // After removing the old key, the resealed value still opens; the old one no longer does.
    const newOnly = createSecretBox([keyB]);
    expect(newOnly.decrypt(resealed, "user-1")).toBe("totp-secret");
    expect(() => newOnly.decrypt(oldSealed, "user-1")).toThrow();
  });

  it("rejects malformed sealed values without echoing them", () => {
    const box = createSecretBox([keyA]);
    for (const value of ["", "plain-text-secret", "v1.abc", "v1.zzzzzzzz.aaa.bbb", "v1.0000000.a.b.c"]) {
      try {
        box.decrypt(value);
        expect.unreachable();
      } catch (error) {
        if (value) expect((error as Error).message).not.toContain(value);
      }
    }
    expect(() => box.needsRotation("garbage")).toThrow();
  });

  it("refuses bad key rings", () => {
    expect(() => createSecretBox([])).toThrow();
    expect(() => createSecretBox([randomBytes(16)])).toThrow();
    expect(() => createSecretBox([keyA, Buffer.from(keyA)])).toThrow();
  });
});

describe("tokens", () => {
  it("randomToken is base64url of the requested size and unique", () => {
    expect(randomToken()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomToken(16)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(randomToken()).not.toBe(randomToken());
    expect(() => randomToken(0)).toThrow();
    expect(() => randomToken(1.5)).toThrow();
  });

  it("sha256Hex and hmacSha256 match known vectors", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // RFC 4231 test case 2
    expect(hmacSha256("Jefe", "what do ya want for nothing?").toString("hex")).toBe(
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
  });

  it("timingSafeEqualStr compares content, including different lengths", () => {
    expect(timingSafeEqualStr("abc", "abc")).toBe(true);
    expect(timingSafeEqualStr("abc", "abd")).toBe(false);
    expect(timingSafeEqualStr("abc", "abcd")).toBe(false);
    expect(timingSafeEqualStr("", "")).toBe(true);
    expect(timingSafeEqualStr("", "a")).toBe(false);
  });
});
