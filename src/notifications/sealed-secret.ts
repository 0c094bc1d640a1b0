import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/**
 * Inline sink secrets (a webhook URL, an HMAC key) are sealed with AES-256-GCM before Restate
 * stores the config, under a key only the workflows process holds (PODMORTEM_SECRETS_KEY). Restate's
 * state, journals and answers then hold ciphertext; the value is opened inside the delivery step,
 * which never returns it. A sealed URL is itself a valid URL, so a stored config still validates.
 */
const SEALED_URL_PREFIX = "https://sealed.podmortem.invalid/v1/";
export const SEALED_TEXT_PREFIX = "sealed:v1:";
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const SECRETS_KEY_BYTES = 32;

export type Sealer = {
  sealUrl: (plain: string) => string;
  sealText: (plain: string) => string;
  /** The plain value of a sealed one; a value that is not sealed is returned as it is. */
  open: (value: string) => string;
};

export function isSealed(value: string): boolean {
  return value.startsWith(SEALED_URL_PREFIX) || value.startsWith(SEALED_TEXT_PREFIX);
}

export function createSealer(key: Buffer): Sealer {
  if (key.length !== SECRETS_KEY_BYTES)
    throw new Error(`the secrets key must be ${SECRETS_KEY_BYTES} bytes, not ${key.length}`);
  const seal = (plain: string) => {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
  };
  return {
    sealUrl: (plain) => (isSealed(plain) ? plain : `${SEALED_URL_PREFIX}${seal(plain)}`),
    sealText: (plain) => (isSealed(plain) ? plain : `${SEALED_TEXT_PREFIX}${seal(plain)}`),
    open: (value) => {
      const prefix = [SEALED_URL_PREFIX, SEALED_TEXT_PREFIX].find((p) => value.startsWith(p));
      if (!prefix) return value;
      const bytes = Buffer.from(value.slice(prefix.length), "base64url");
      const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      try {
        return Buffer.concat([
          decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)),
          decipher.final(),
        ]).toString("utf8");
      } catch {
        throw new Error("a sealed secret does not open with this PODMORTEM_SECRETS_KEY");
      }
    },
  };
}

/** PODMORTEM_SECRETS_KEY: 32 bytes, base64 (`openssl rand -base64 32`). */
export function parseSecretsKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), "base64");
  if (key.length !== SECRETS_KEY_BYTES)
    throw new Error(`must be ${SECRETS_KEY_BYTES} bytes in base64 (openssl rand -base64 32)`);
  return key;
}
