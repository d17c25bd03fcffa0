import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { TOKEN_SCOPES } from "../config.js";
import { invalidInput, ManagerError, notFound } from "../errors.js";
import type { ManagerDatabase } from "../storage/manager-database.js";
import { idKey } from "../storage/record-table.js";
import type { TokenRecord } from "../storage/records.js";

export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** Prefix of every token: recognisable in logs and secret scanners. */
const TOKEN_PREFIX = "d7y_";
const TOKEN_BYTES = 32;

const futureDate = (now: () => number) =>
  z
    .string()
    .refine((value) => !Number.isNaN(Date.parse(value)), "must be an RFC 3339 date, e.g. 2030-01-01T00:00:00Z")
    .refine((value) => Date.parse(value) > now(), "must be in the future")
    .transform((value) => new Date(Date.parse(value)).toISOString());

const scopes = z
  .array(z.enum(TOKEN_SCOPES, { error: `must be one of ${TOKEN_SCOPES.join(", ")}` }))
  .min(1, "must name at least one scope");

function createSchema(now: () => number) {
  return z.object(
    {
      name: z.string({ error: "required" }).trim().min(1, "required").max(256),
      bio: z.string().max(1024).optional(),
      scopes: scopes.optional(),
      expired_at: futureDate(now).nullish(),
      user_id: z.number().int().min(0).optional(),
    },
    { error: "the body must be a JSON object" },
  );
}

function updateSchema(now: () => number) {
  return z.object(
    {
      name: z.string().trim().min(1).max(256).optional(),
      bio: z.string().max(1024).optional(),
      scopes: scopes.optional(),
      state: z.enum(["active", "inactive"], { error: 'must be "active" or "inactive"' }).optional(),
      expired_at: futureDate(now).nullish(),
    },
    { error: "the body must be a JSON object" },
  );
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Personal access tokens for /oapi/v1: the token is shown once at creation and only its sha256 is stored.
 * A token works while it is active, unexpired and has the scope asked for.
 */
export class TokenService {
  constructor(
    private readonly db: ManagerDatabase,
    private readonly now: () => number,
  ) {}

  /** Creates a token from a `POST /personal-access-tokens` body; returns the record and the token. */
  async create(body: unknown): Promise<{ record: TokenRecord; token: string }> {
    const input = createSchema(this.now).safeParse(body);
    if (!input.success) throw invalidInput(input.error);
    const token = `${TOKEN_PREFIX}${randomBytes(TOKEN_BYTES).toString("base64url")}`;
    const at = new Date(this.now()).toISOString();
    const record: TokenRecord = {
      id: await this.db.nextId("tokens"),
      name: input.data.name,
      bio: input.data.bio ?? "",
      scopes: [...new Set(input.data.scopes ?? TOKEN_SCOPES)],
      state: "active",
      expiredAt: input.data.expired_at ?? null,
      tokenHash: hashToken(token),
      userId: input.data.user_id ?? 0,
      createdAt: at,
      updatedAt: at,
    };
    await this.db.tokens.put(idKey(record.id), record);
    return { record, token };
  }

  list(): Promise<TokenRecord[]> {
    return this.db.tokens.all();
  }

  async get(id: number): Promise<TokenRecord> {
    const record = await this.db.tokens.get(idKey(id));
    if (!record) throw notFound(`personal access token ${id} not found`);
    return record;
  }

  /** Renames, rescopes, deactivates (state: inactive) or re-dates a token. */
  async update(id: number, body: unknown): Promise<TokenRecord> {
    const input = updateSchema(this.now).safeParse(body);
    if (!input.success) throw invalidInput(input.error);
    const record = await this.get(id);
    const patch = input.data;
    const updated: TokenRecord = {
      ...record,
      name: patch.name ?? record.name,
      bio: patch.bio ?? record.bio,
      scopes: patch.scopes ? [...new Set(patch.scopes)] : record.scopes,
      state: patch.state ?? record.state,
      expiredAt: patch.expired_at === undefined ? record.expiredAt : patch.expired_at,
      updatedAt: new Date(this.now()).toISOString(),
    };
    await this.db.tokens.put(idKey(id), updated);
    return updated;
  }

  /** Revokes a token for good. */
  async delete(id: number): Promise<void> {
    await this.get(id);
    await this.db.tokens.del(idKey(id));
  }

  /** The token's record if it may use `scope`; else unauthorized (unknown, revoked, expired) or forbidden (scope). */
  async verify(token: string, scope: TokenScope): Promise<TokenRecord> {
    const hash = hashToken(token);
    const record = (await this.db.tokens.all()).find((candidate) => candidate.tokenHash === hash);
    if (!record) throw new ManagerError("unauthorized", "invalid personal access token");
    if (record.state !== "active") throw new ManagerError("unauthorized", "personal access token is inactive");
    if (record.expiredAt !== null && Date.parse(record.expiredAt) <= this.now()) {
      throw new ManagerError("unauthorized", "personal access token has expired");
    }
    if (!record.scopes.includes(scope)) {
      throw new ManagerError("forbidden", `personal access token lacks the "${scope}" scope`);
    }
    return record;
  }
}
