/** One challenge of a WWW-Authenticate header, e.g. Bearer realm="...",service="...". */
export interface AuthChallenge {
  /** Lowercased: "bearer", "basic"... */
  scheme: string;
  /** Parameter names lowercased; values unquoted. */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;
/** A header longer than this is not parsed (a registry never sends one). */
const MAX_HEADER_LENGTH = 8192;

/**
 * Parses a WWW-Authenticate value (RFC 9110 §11.6.1): challenges separated by commas, each a scheme and
 * comma-separated `name=value` parameters whose values may be quoted strings with backslash escapes.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const input = header.slice(0, MAX_HEADER_LENGTH);
  const challenges: AuthChallenge[] = [];
  let at = 0;
  const skip = (pattern: RegExp) => {
    const match = pattern.exec(input.slice(at));
    if (match) at += match[0].length;
    return match?.[0];
  };
  // Each pass consumes at least one character or stops, so the loop ends within the header's length.
  while (at < input.length) {
    const before = at;
    skip(/^[\s,]+/);
    const scheme = skip(TOKEN);
    if (!scheme) break;
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    skip(/^\s+/);
    while (at < input.length) {
      const mark = at;
      skip(/^[\s,]*/);
      const name = skip(TOKEN);
      if (!name || !skip(/^\s*=\s*/)) {
        at = mark;
        break;
      }
      let value = "";
      if (input[at] === '"') {
        at++;
        while (at < input.length && input[at] !== '"') {
          if (input[at] === "\\" && at + 1 < input.length) at++;
          value += input[at];
          at++;
        }
        at++;
      } else {
        value = skip(/^[^\s,]*/) ?? "";
      }
      challenge.params[name.toLowerCase()] = value;
    }
    if (at === before) break;
  }
  return challenges;
}
