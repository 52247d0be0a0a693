/**
 * Text that goes from a failure into a status condition, where anyone who can read the Database
 * reads it. Engine drivers and HTTP clients sometimes quote what they were given: a connection
 * string with a password, a `password=` option, an Authorization header. The activities blank
 * the Secret's values already (engines/credentials.ts redact); this is the second line, by shape,
 * for whatever they could not know. Pure: runs in workflow code.
 */

/** Conditions stay readable in `kubectl describe`; the full text is in the Temporal history. */
export const MAX_STATUS_MESSAGE = 512;

const REPLACEMENTS: ReadonlyArray<[RegExp, string]> = [
  // scheme://user:password@host → scheme://user:***@host (postgres://, mysql://, https://, s3://)
  [/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@]*):[^\s@/]*@/gi, '$1$2:***@'],
  // password=…, pwd: …, secret=…, token=…, api_key=… (quoted or not)
  [
    /\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&)]+)/gi,
    '$1$2***',
  ],
  // IDENTIFIED BY 'x', IDENTIFIED BY PASSWORD '*hash', MASTER_PASSWORD = 'x'
  [
    /\b(IDENTIFIED\s+BY(?:\s+PASSWORD)?|MASTER_PASSWORD\s*=|SOURCE_PASSWORD\s*=)\s*('[^']*'|"[^"]*"|\S+)/gi,
    '$1 ***',
  ],
  // Authorization: Bearer …, Basic …
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, '$1 ***'],
  // AWS access key ids
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, '***'],
];

/** `message` without anything credential-like, on one line, at most MAX_STATUS_MESSAGE long. */
export function statusText(message: string, max = MAX_STATUS_MESSAGE): string {
  let text = message.replace(/\s+/g, ' ').trim();
  for (const [pattern, replacement] of REPLACEMENTS) text = text.replace(pattern, replacement);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
