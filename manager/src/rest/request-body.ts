import type { IncomingMessage } from "node:http";
import { invalid, ManagerError } from "../errors.js";

/** Reads a request body of at most `limit` bytes and parses it as JSON. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) throw tooLarge(limit);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (error instanceof ManagerError) throw error;
    throw invalid(`the request body could not be read: ${(error as Error).message}`);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim().length === 0) throw invalid("the request body is empty: expected JSON");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalid(`the request body is not valid JSON: ${(error as Error).message}`);
  }
}

function tooLarge(limit: number): ManagerError {
  return new ManagerError("too_large", `the request body is larger than ${limit} bytes`);
}
