import { request } from "undici";
import { ManagerError } from "../errors.js";
import { ManagerDatabase } from "../storage/manager-database.js";
import { TokenService } from "./token-service.js";

/** The body of `POST /api/v1/personal-access-tokens`. */
export interface TokenRequest {
  name: string;
  bio?: string;
  scopes?: string[];
  expired_at?: string;
}

/**
 * Creates a token in the data dir directly. LevelDB allows one process: this works only while the manager
 * using that data dir is stopped (otherwise a ManagerError says so).
 */
export async function createTokenInDataDir(dataDir: string, body: TokenRequest): Promise<string> {
  const db = new ManagerDatabase(dataDir);
  await db.open();
  try {
    const { token } = await new TokenService(db, Date.now).create(body);
    return token;
  } finally {
    await db.close();
  }
}

/** Creates a token through a running manager's REST API. */
export async function createTokenThroughApi(managerUrl: string, body: TokenRequest): Promise<string> {
  const url = new URL("/api/v1/personal-access-tokens", managerUrl);
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  } catch (error) {
    throw new ManagerError("unavailable", `cannot reach the manager at ${url.origin}: ${(error as Error).message}`);
  }
  const answer = (await response.body.json().catch(() => ({}))) as { token?: string; message?: string };
  if (response.statusCode !== 200 || typeof answer.token !== "string") {
    throw new ManagerError("upstream", `the manager answered ${response.statusCode}: ${answer.message ?? "no token"}`);
  }
  return answer.token;
}
