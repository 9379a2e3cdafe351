import * as client from "openid-client";
import { describe, expect, it } from "vitest";
import { pkceChallenge } from "../../src/sso/oidc.js";

describe("pkceChallenge (RFC 7636 §4.2, S256)", () => {
  it("gives the challenge of RFC 7636 Appendix B", () => {
    expect(pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe(
      "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
  });

  it("agrees with openid-client for fresh verifiers", async () => {
    for (let i = 0; i < 20; i++) {
      const verifier = client.randomPKCECodeVerifier();
      expect(pkceChallenge(verifier)).toBe(await client.calculatePKCECodeChallenge(verifier));
    }
  });
});
