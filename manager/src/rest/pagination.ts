import { PAGINATION } from "../config.js";
import { invalid } from "../errors.js";

export interface Pagination {
  page: number;
  perPage: number;
}

function positiveInteger(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw invalid(`${name}: must be a positive integer`);
  const value = Number(raw);
  if (value > max) throw invalid(`${name}: must be at most ${max}`);
  return value;
}

/** Dragonfly's `page` (from 1) and `per_page` (default 10). */
export function parsePagination(query: URLSearchParams): Pagination {
  return {
    page: positiveInteger(query, "page", PAGINATION.page, Number.MAX_SAFE_INTEGER),
    perPage: positiveInteger(query, "per_page", PAGINATION.perPage, PAGINATION.maxPerPage),
  };
}

/** An optional positive integer query parameter. */
export function optionalId(query: URLSearchParams, name: string): number | undefined {
  if (query.get(name) === null || query.get(name) === "") return undefined;
  return positiveInteger(query, name, 0, Number.MAX_SAFE_INTEGER);
}

/** `Link` (first, prev, next, last; RFC 8288, relative to the request) and `X-Total-Count`. */
export function paginationHeaders(url: URL, { page, perPage }: Pagination, total: number): Record<string, string> {
  const last = Math.max(1, Math.ceil(total / perPage));
  const link = (target: number, rel: string) => {
    const query = new URLSearchParams(url.searchParams);
    query.set("page", String(target));
    query.set("per_page", String(perPage));
    return `<${url.pathname}?${query}>; rel="${rel}"`;
  };
  const links = [link(1, "first")];
  if (page > 1) links.push(link(Math.min(page - 1, last), "prev"));
  if (page < last) links.push(link(page + 1, "next"));
  links.push(link(last, "last"));
  return { link: links.join(", "), "x-total-count": String(total) };
}

/** One page of a list. */
export function pageOf<T>(items: readonly T[], { page, perPage }: Pagination): T[] {
  return items.slice((page - 1) * perPage, page * perPage);
}
