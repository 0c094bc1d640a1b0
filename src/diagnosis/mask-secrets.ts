const MASK = "****";

/**
 * Secret-looking values in free text (log lines, messages) replaced by `****`, keeping the name
 * so a reader still sees which setting was printed. Errs on masking: a hidden harmless value costs
 * less than a leaked token.
 */
const PATTERNS: ReadonlyArray<[RegExp, (match: string, ...groups: string[]) => string]> = [
  // PEM blocks, whole.
  [
    /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
    () => `-----BEGIN PRIVATE KEY----- ${MASK}`,
  ],
  // Authorization headers and bearer/basic tokens.
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}/gi, (_m, scheme) => `${scheme} ${MASK}`],
  // Credentials in URLs: scheme://user:password@host
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+):[^\s@/]+@/gi, (_m, head) => `${head}:${MASK}@`],
  // key=value, key: value, "key": "value" where the key names a secret.
  [
    /(["']?[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|auth|authorization|signature|session[_-]?id|cookie)(?:[_.-][\w.-]*)?["']?\s*[:=]\s*)(["']?)([^\s"',;&]+)\2/gi,
    (_m, head, quote) => `${head}${quote}${MASK}${quote}`,
  ],
  // Query parameters that carry secrets.
  [
    /([?&](?:X-Amz-Signature|X-Amz-Credential|sig|signature|token|access_token|key|api_key)=)[^&\s"']+/gi,
    (_m, head) => `${head}${MASK}`,
  ],
  // Well-known token shapes: AWS access keys, GitHub, Slack, JWTs, Slack webhook paths.
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, () => MASK],
  [/\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, () => MASK],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g, () => MASK],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g, () => MASK],
  [/(hooks\.slack\.com\/services\/)[A-Za-z0-9/]+/g, (_m, head) => `${head}${MASK}`],
  [/\bsk_(live|test)_[A-Za-z0-9]{10,}\b/g, () => MASK],
];

export function maskSecrets(text: string): string {
  let masked = text;
  for (const [pattern, replace] of PATTERNS)
    masked = masked.replace(pattern, replace as (substring: string, ...args: unknown[]) => string);
  return masked;
}
