// The part of xml-encryption (no types of its own) this code uses: decrypt (src/sso/saml/decrypt.ts)
// and, in the test IdP double, encrypt.
declare module "xml-encryption" {
  export interface DecryptOptions {
    key: string;
    disallowDecryptionWithInsecureAlgorithm?: boolean;
    warnInsecureAlgorithm?: boolean;
  }
  export interface EncryptOptions {
    rsa_pub: string;
    pem: string;
    encryptionAlgorithm: string;
    keyEncryptionAlgorithm: string;
    keyEncryptionDigest?: string;
    disallowEncryptionWithInsecureAlgorithm?: boolean;
    warnInsecureAlgorithm?: boolean;
  }
  export function decrypt(
    xml: string | object,
    options: DecryptOptions,
    callback: (err: Error | null, result?: string) => void,
  ): void;
  export function encrypt(
    content: string,
    options: EncryptOptions,
    callback: (err: Error | null, result?: string) => void,
  ): void;
}
