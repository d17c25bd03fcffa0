import type { IncomingHttpHeaders } from "node:http";
import { ManagerError } from "../errors.js";
import type { TokenScope, TokenService } from "../token/token-service.js";

/** The personal access token of a request: `Authorization: Bearer <token>`, else `?access_token=`. */
export function requestToken(headers: IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  const header = headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match)
      throw new ManagerError("unauthorized", "the Authorization header must be: Bearer <personal access token>");
    return match[1];
  }
  return query.get("access_token") || undefined;
}

/** Checks a /oapi/v1 request's token; throws unauthorized (401) or forbidden (403). */
export async function authenticate(
  tokens: TokenService,
  headers: IncomingHttpHeaders,
  query: URLSearchParams,
  scope: TokenScope,
): Promise<void> {
  const token = requestToken(headers, query);
  if (!token) {
    throw new ManagerError(
      "unauthorized",
      "a personal access token is required: send Authorization: Bearer <token> or ?access_token=<token>",
    );
  }
  await tokens.verify(token, scope);
}
